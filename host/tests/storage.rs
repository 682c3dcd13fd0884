//! The host's store on both backends, SQLite and PostgreSQL: the
//! connector's key-value semantics (atomic compare-and-swap commits,
//! namespaces, prefix scans, limits), durability across reopening, the
//! host's tables, the per-org lease, and the encrypted secret vault; then
//! what only one backend has (the SQLite file; the PostgreSQL server).

use std::sync::{Arc, Barrier};

use casebridge::runtime::BlockingKeyValueStore;
use casebridge::runtime::bindings::store::{Entry, Expectation, StoreError, Write};
use casebridge::storage::{
    ApiCalls, CycleEnd, CycleOutcome, MAX_KEY_BYTES, MAX_VALUE_BYTES, SqliteStore, StorageError, Store,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

#[macro_use]
#[path = "support/databases.rs"]
mod databases;
use databases::{Backend, TestDatabase};

fn put(key: &str, value: &str) -> Write {
    Write::Put(Entry { key: key.into(), value: value.into() })
}

fn delete(key: &str) -> Write {
    Write::Delete(key.into())
}

fn expect(key: &str, value: Option<&str>) -> Expectation {
    Expectation { key: key.into(), value: value.map(str::to_string) }
}

fn keys(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.key.as_str()).collect()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0).single().expect("valid time")
}

fn end(started: u32, finished: u32, outcome: CycleOutcome, report: Option<&str>) -> CycleEnd {
    CycleEnd {
        started_at: at(started),
        finished_at: at(finished),
        outcome,
        report_json: report.map(str::to_string),
        calls: ApiCalls { day: at(started).date_naive(), api: 0, token_requests: 0 },
        next_run_at: None,
    }
}

// ---- on both backends ----

on_both_backends! {
    // ---- commit ----

    fn commit_applies_every_write_when_every_expectation_holds(db) {
        let store = db.open();
        store.commit("acme", None, &[], &[put("a", "1"), put("b", "2"), put("gone", "x")]).expect("seed");

        store
            .commit(
                "acme",
                None,
                &[expect("a", Some("1")), expect("new", None)],
                &[put("a", "10"), put("new", "n"), delete("gone"), delete("never-there")],
            )
            .expect("commit");

        assert_eq!(store.get("acme", "a").expect("get").as_deref(), Some("10"));
        assert_eq!(store.get("acme", "new").expect("get").as_deref(), Some("n"));
        assert_eq!(store.get("acme", "gone").expect("get"), None);
        assert_eq!(store.get("acme", "b").expect("get").as_deref(), Some("2"));
    }

    fn commit_with_a_failed_expectation_writes_nothing(db) {
        let store = db.open();
        store.commit("acme", None, &[], &[put("watermark", "t1"), put("case/1", "old")]).expect("seed");

        let result = store.commit(
            "acme",
            None,
            &[expect("case/1", Some("old")), expect("watermark", Some("t0"))],
            &[put("case/1", "new"), put("case/2", "added"), delete("watermark")],
        );

        assert!(matches!(&result, Err(StoreError::Conflict(key)) if key == "watermark"), "{result:?}");
        assert_eq!(store.get("acme", "case/1").expect("get").as_deref(), Some("old"));
        assert_eq!(store.get("acme", "case/2").expect("get"), None);
        assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("t1"));
    }

    fn expecting_absence_fails_when_the_key_exists_and_holds_when_it_was_deleted(db) {
        let store = db.open();
        store.commit("acme", None, &[], &[put("lock", "held")]).expect("seed");

        let taken = store.commit("acme", None, &[expect("lock", None)], &[put("lock", "mine")]);
        assert!(matches!(&taken, Err(StoreError::Conflict(key)) if key == "lock"), "{taken:?}");
        store.commit("acme", None, &[expect("lock", Some("held"))], &[delete("lock")]).expect("release");
        store.commit("acme", None, &[expect("lock", None)], &[put("lock", "mine")]).expect("take");
        assert_eq!(store.get("acme", "lock").expect("get").as_deref(), Some("mine"));
    }

    fn later_writes_in_one_commit_win_over_earlier_ones(db) {
        let store = db.open();
        store.commit("acme", None, &[], &[put("k", "1"), put("k", "2"), delete("j"), put("j", "3")]).expect("commit");
        assert_eq!(store.get("acme", "k").expect("get").as_deref(), Some("2"));
        assert_eq!(store.get("acme", "j").expect("get").as_deref(), Some("3"));
    }

    fn concurrent_compare_and_swap_commits_have_exactly_one_winner(db) {
        let store = Arc::new(db.open());
        store.commit("acme", None, &[], &[put("watermark", "v0")]).expect("seed");

        const THREADS: usize = 8;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let value = format!("v1-from-{thread}");
                    store
                        .commit("acme", None, &[expect("watermark", Some("v0"))], &[put("watermark", &value)])
                        .map(|()| value)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|handle| handle.join().expect("thread")).collect();

        let winners: Vec<&String> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for result in &results {
            if let Err(error) = result {
                assert!(matches!(error, StoreError::Conflict(key) if key == "watermark"), "{error:?}");
            }
        }
        assert_eq!(store.get("acme", "watermark").expect("get").as_ref(), Some(winners[0]));
    }

    /// Commits queued behind one another go to disk together (group commit),
    /// each in its own savepoint: a commit that loses its compare-and-swap
    /// writes nothing, and the others in its group are not undone with it.
    fn commits_grouped_together_succeed_and_fail_one_by_one(db) {
        let store = Arc::new(db.open());
        const THREADS: usize = 12;
        const ROUNDS: usize = 40;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let own = format!("org-{thread}");
                    let mut conflicts = 0;
                    for round in 0..ROUNDS {
                        // Its own org: never contended, so never refused.
                        let before = (round > 0).then(|| round.to_string());
                        store
                            .commit(
                                &own,
                                None,
                                &[expect("count", before.as_deref())],
                                &[put("count", &(round + 1).to_string())],
                            )
                            .expect("an uncontended commit");
                        // One shared key: read, add one, commit expecting what was read; again on a conflict.
                        loop {
                            let read = store.get("shared", "count").expect("get");
                            let next = read.as_deref().map_or(0, |n| n.parse::<usize>().unwrap()) + 1;
                            match store.commit(
                                "shared",
                                None,
                                &[expect("count", read.as_deref())],
                                &[put("count", &next.to_string())],
                            ) {
                                Ok(()) => break,
                                Err(StoreError::Conflict(key)) => {
                                    assert_eq!(key, "count");
                                    conflicts += 1;
                                }
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        let conflicts: usize = handles.into_iter().map(|handle| handle.join().expect("thread")).sum();
        for thread in 0..THREADS {
            assert_eq!(
                store.get(&format!("org-{thread}"), "count").expect("get").as_deref(),
                Some(ROUNDS.to_string().as_str())
            );
        }
        let total = (THREADS * ROUNDS).to_string();
        assert_eq!(store.get("shared", "count").expect("get").as_deref(), Some(total.as_str()), "{conflicts} conflicts");
        // Reopened, everything is there: each commit returned only once on disk.
        drop(store);
        let reopened = db.open();
        assert_eq!(reopened.get("shared", "count").expect("get").as_deref(), Some(total.as_str()));
    }

    // ---- namespaces ----

    fn namespaces_are_isolated(db) {
        let store = db.open();
        store.commit("acme", None, &[], &[put("watermark", "acme-t"), put("case/1", "a")]).expect("acme");
        store.commit("globex", None, &[], &[put("case/2", "g")]).expect("globex");

        assert_eq!(store.get("globex", "watermark").expect("get"), None);
        assert_eq!(keys(&store.scan("acme", "").expect("scan")), ["case/1", "watermark"]);
        assert_eq!(keys(&store.scan("globex", "case/").expect("scan")), ["case/2"]);
        // An expectation sees only its own namespace: the key is absent in globex.
        store.commit("globex", None, &[expect("watermark", None)], &[put("watermark", "globex-t")]).expect("globex");
        assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("acme-t"));
        // Namespaces that are prefixes of each other do not leak either.
        store.commit("acme-2", None, &[], &[put("case/9", "x")]).expect("acme-2");
        assert_eq!(keys(&store.scan("acme", "case/").expect("scan")), ["case/1"]);
    }

    // ---- scan ----

    fn scan_returns_exactly_the_keys_with_the_prefix_in_key_order(db) {
        let store = db.open();
        let all = ["case", "case/", "case/10", "case/2", "case/1", "case0", "casf", "cas", "conversation/1"];
        store.commit("acme", None, &[], &all.map(|key| put(key, "v"))).expect("seed");

        assert_eq!(keys(&store.scan("acme", "case/").expect("scan")), ["case/", "case/1", "case/10", "case/2"]);
        assert_eq!(
            keys(&store.scan("acme", "case").expect("scan")),
            ["case", "case/", "case/1", "case/10", "case/2", "case0"]
        );
        assert!(store.scan("acme", "nothing/").expect("scan").is_empty());
        assert_eq!(store.scan("acme", "").expect("scan").len(), all.len());
    }

    fn scan_treats_percent_and_underscore_as_plain_characters(db) {
        let store = db.open();
        let all = ["a%b", "a%c", "axb", "a_b", "a_", "aXb", "a\\b", "a%"];
        store.commit("acme", None, &[], &all.map(|key| put(key, "v"))).expect("seed");

        assert_eq!(keys(&store.scan("acme", "a%").expect("scan")), ["a%", "a%b", "a%c"]);
        assert_eq!(keys(&store.scan("acme", "a_").expect("scan")), ["a_", "a_b"]);
        assert_eq!(keys(&store.scan("acme", "a\\").expect("scan")), ["a\\b"]);
    }

    fn scan_handles_multi_byte_and_extreme_unicode_prefixes(db) {
        let store = db.open();
        let all = [
            "é/1",
            "é",
            "ê",
            "e/1",
            "日本/1",
            "日本語",
            "日期",
            "🦀/1",
            "🦀🦀",
            "🦁",
            "\u{7F}/1",
            "\u{80}",
            "z\u{10FFFF}",
            "z\u{10FFFF}/1",
            "{",
            "\u{10FFFF}",
            "\u{10FFFF}a",
        ];
        store.commit("acme", None, &[], &all.map(|key| put(key, "v"))).expect("seed");

        assert_eq!(keys(&store.scan("acme", "é").expect("scan")), ["é", "é/1"]);
        assert_eq!(keys(&store.scan("acme", "日本").expect("scan")), ["日本/1", "日本語"]);
        assert_eq!(keys(&store.scan("acme", "🦀").expect("scan")), ["🦀/1", "🦀🦀"]);
        assert_eq!(keys(&store.scan("acme", "\u{7F}").expect("scan")), ["\u{7F}/1"]);
        assert_eq!(keys(&store.scan("acme", "z\u{10FFFF}").expect("scan")), ["z\u{10FFFF}", "z\u{10FFFF}/1"]);
        assert_eq!(keys(&store.scan("acme", "\u{10FFFF}").expect("scan")), ["\u{10FFFF}", "\u{10FFFF}a"]);
    }

    // ---- limits ----

    fn too_large_keys_and_values_are_refused_with_the_limit_and_nothing_is_written(db) {
        let store = db.open();
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let big_value = "v".repeat(MAX_VALUE_BYTES + 1);

        let key_error = store.commit("acme", None, &[], &[put("ok", "1"), put(&long_key, "v")]);
        match key_error {
            Err(StoreError::TooLarge(message)) => {
                assert!(message.contains(&MAX_KEY_BYTES.to_string()), "{message}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let value_error = store.commit("acme", None, &[], &[put("ok", "1"), put("big", &big_value)]);
        match value_error {
            Err(StoreError::TooLarge(message)) => {
                assert!(message.contains(&MAX_VALUE_BYTES.to_string()) && message.contains("big"), "{message}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(store.get("acme", "ok").expect("get"), None);
        assert!(matches!(store.get("acme", &long_key), Err(StoreError::TooLarge(_))));

        // Exactly at the limits is fine.
        let max_key = "k".repeat(MAX_KEY_BYTES);
        store.commit("acme", None, &[], &[put(&max_key, &"v".repeat(MAX_VALUE_BYTES))]).expect("at the limits");
        assert_eq!(store.get("acme", &max_key).expect("get").map(|v| v.len()), Some(MAX_VALUE_BYTES));
    }

    // ---- the database ----

    fn committed_data_is_there_after_reopening_the_database(db) {
        {
            let store = db.open();
            store
                .commit("acme", None, &[], &[put("watermark", "2025-03-01T12:00:00Z"), put("case/1", "{}")])
                .expect("commit");
            store.record_sent_mail("acme", "reply-1", "support@example.com", "<m1@example.com>").expect("mail");
            store.set_next_run("acme", at(0)).expect("next run");
        }
        let store = db.open();
        assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("2025-03-01T12:00:00Z"));
        assert_eq!(keys(&store.scan("acme", "case/").expect("scan")), ["case/1"]);
        assert!(store.find_sent_mail("acme", "reply-1").expect("mail").is_some());
        assert_eq!(store.org_status("acme").expect("status").and_then(|s| s.next_run_at), Some(at(0)));
        assert_eq!(store.schema_version().expect("version"), 7);
    }

    fn a_database_from_a_newer_casebridge_is_refused(db) {
        db.open();
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");

        let error = Store::open(db.location()).expect_err("newer schema");
        assert!(matches!(error, StorageError::NewerSchema { found: 99, supported: 7, .. }), "{error:?}");
        assert!(error.to_string().contains("upgrade") || error.to_string().contains("newer"), "{error}");
    }

    // ---- host tables ----


    fn cycles_update_the_org_status_and_count_failures_in_a_row(db) {
        let store = db.open();
        assert_eq!(store.org_status("acme").expect("status"), None);

        let unreachable = || CycleOutcome::error("transport", "cannot reach Salesforce (connection refused)");
        let status = store.record_cycle("acme", &end(0, 1, unreachable(), None), None).expect("record");
        assert_eq!(status.consecutive_failures, 1);
        assert_eq!(status.last_outcome, Some(unreachable()));
        assert_eq!(
            store.record_cycle("acme", &end(2, 3, unreachable(), None), None).expect("record").consecutive_failures,
            2
        );

        let status =
            store.record_cycle("acme", &end(4, 5, CycleOutcome::Ok, Some(r#"{"cases_seen":3}"#)), None).expect("record");
        assert_eq!(status.consecutive_failures, 0);
        assert_eq!(status.last_outcome, Some(CycleOutcome::Ok));
        assert_eq!(status.last_cycle_started_at, Some(at(4)));
        assert_eq!(status.last_cycle_finished_at, Some(at(5)));

        let log = store.recent_cycles("acme", 10).expect("log");
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].report_json.as_deref(), Some(r#"{"cases_seen":3}"#));
        assert_eq!(log[0].error, None);
        assert_eq!(log[0].finished_at, Some(at(5)));
        assert_eq!(log[2].error.as_deref(), Some("cannot reach Salesforce (connection refused)"));
        assert_eq!(store.org_status("acme").expect("status"), Some(status));
    }

    fn the_newest_report_survives_failed_cycles_and_the_next_run_is_recorded_with_the_cycle(db) {
        let store = db.open();
        store.record_cycle("acme", &end(0, 1, CycleOutcome::Ok, Some(r#"{"watermark":1}"#)), None).expect("record");
        let mut failed = end(2, 3, CycleOutcome::error("transport", "down"), None);
        failed.next_run_at = Some(at(4));
        let status = store.record_cycle("acme", &failed, None).expect("record");
        assert_eq!(status.last_report_json.as_deref(), Some(r#"{"watermark":1}"#));
        assert_eq!(status.next_run_at, Some(at(4)));
        assert_eq!(status.last_outcome, Some(CycleOutcome::error("transport", "down")));
    }

    fn the_requests_of_failed_cycles_count_too(db) {
        let store = db.open();
        let mut failed = end(0, 1, CycleOutcome::error("transport", "cannot reach Salesforce"), None);
        failed.calls = ApiCalls { day: at(0).date_naive(), api: 4, token_requests: 1 };
        store.record_cycle("acme", &failed, None).expect("record");
        let mut ok = end(2, 3, CycleOutcome::Ok, None);
        ok.calls = ApiCalls { day: at(0).date_naive(), api: 1, token_requests: 1 };
        let status = store.record_cycle("acme", &ok, None).expect("record");
        assert_eq!(status.api_calls_on(at(0).date_naive()), 5);
        assert_eq!(status.token_requests_on(at(0).date_naive()), 2);
    }

    fn the_cycle_log_keeps_only_the_newest_cycles_of_each_org(db) {
        let store = db.open().with_cycle_log_per_org(3);
        for minute in 0..5 {
            for org in ["acme", "globex"] {
                store.record_cycle(org, &end(minute, minute, CycleOutcome::Ok, None), None).expect("record");
            }
        }
        for org in ["acme", "globex"] {
            let started: Vec<_> = store.recent_cycles(org, 10).expect("log").iter().map(|c| c.started_at).collect();
            assert_eq!(started, [at(4), at(3), at(2)], "{org}");
        }
    }

    fn cycles_an_older_version_left_open_are_closed_at_start_up(db) {
        let store = db.open();
        store.record_cycle("acme", &end(0, 1, CycleOutcome::Ok, None), None).expect("record");
        // An open cycle, as casebridge before leases left them.
        db.execute(&format!("INSERT INTO cycle_log (org, started_at) VALUES ('acme', {})", at(2).timestamp_millis()));

        assert_eq!(store.close_interrupted_cycles(at(10)).expect("close"), 1);
        let log = store.recent_cycles("acme", 10).expect("log");
        assert_eq!(log[0].finished_at, Some(at(10)));
        assert!(log[0].error.as_deref().is_some_and(|e| e.contains("host stopped")));
        assert_eq!(log[1].error, None);
    }

    fn api_calls_add_up_within_a_day_and_restart_on_the_next(db) {
        let store = db.open();
        let day1 = NaiveDate::from_ymd_opt(2025, 3, 1).expect("date");
        let day2 = day1 + Duration::days(1);
        let calls = |day, api, token_requests| ApiCalls { day, api, token_requests };

        assert_eq!(store.count_calls("acme", &calls(day1, 3, 1)).expect("count"), calls(day1, 3, 1));
        assert_eq!(store.count_calls("acme", &calls(day1, 4, 0)).expect("count"), calls(day1, 7, 1));
        assert_eq!(store.count_calls("globex", &calls(day1, 1, 1)).expect("count"), calls(day1, 1, 1));
        assert_eq!(store.count_calls("acme", &calls(day2, 2, 0)).expect("count"), calls(day2, 2, 0));

        let status = store.org_status("acme").expect("status").expect("exists");
        assert_eq!(status.api_calls_day, Some(day2));
        assert_eq!(status.api_calls_on(day2), 2);
        assert_eq!(status.api_calls_on(day1), 0);
        assert_eq!(status.token_requests_on(day2), 0);
    }

    fn a_wake_request_is_seen_by_every_scheduler_until_a_newer_one(db) {
        let store = db.open();
        assert!(store.wake_requests().expect("wakes").is_empty());
        store.request_wake("acme", at(1)).expect("wake");
        store.request_wake("acme", at(2)).expect("wake again");
        assert_eq!(store.wake_requests().expect("wakes"), [("acme".to_string(), at(2))]);
        assert_eq!(
            store.wake_requests().expect("read twice"),
            [("acme".to_string(), at(2))],
            "reading does not consume it"
        );
    }

    fn next_run_is_stored_per_org(db) {
        let store = db.open();
        store.set_next_run("acme", at(7)).expect("set");
        store.set_next_run("globex", at(8)).expect("set");
        store.set_next_run("acme", at(9)).expect("set");
        let statuses = store.org_statuses().expect("statuses");
        let next: Vec<_> = statuses.iter().map(|s| (s.org.as_str(), s.next_run_at)).collect();
        assert_eq!(next, [("acme", Some(at(9))), ("globex", Some(at(8)))]);
    }

    fn the_first_record_of_a_sent_email_wins(db) {
        let store = db.open();
        assert_eq!(store.find_sent_mail("acme", "reply-1").expect("find"), None);
        store.record_sent_mail("acme", "reply-1", "support@example.com", "<first@example.com>").expect("record");
        store.record_sent_mail("acme", "reply-1", "other@example.com", "<second@example.com>").expect("record again");
        assert_eq!(
            store.find_sent_mail("acme", "reply-1").expect("find"),
            Some(("support@example.com".to_string(), "<first@example.com>".to_string()))
        );
        assert_eq!(store.find_sent_mail("globex", "reply-1").expect("find"), None);
    }


    /// The vault's sealed blobs, byte for byte.
    fn secret_blobs_are_stored_byte_for_byte_per_org_and_name(db) {
        let store = db.open();
        assert!(!store.has_secrets().expect("has secrets"));
        let blob: Vec<u8> = (0..=255).collect();
        store.put_secret_blob("acme", "refresh_token", &blob).expect("put");
        store.put_secret_blob("acme", "refresh_token", &blob[1..]).expect("replace");
        store.put_secret_blob("globex", "refresh_token", &blob).expect("put");
        assert!(store.has_secrets().expect("has secrets"));
        assert_eq!(store.secret_blob("acme", "refresh_token").expect("get").as_deref(), Some(&blob[1..]));
        assert_eq!(store.secret_blob("acme", "client_secret").expect("get"), None);
        assert!(store.delete_secret("acme", "refresh_token").expect("delete"));
        assert!(!store.delete_secret("acme", "refresh_token").expect("delete again"));
        assert_eq!(store.secret_blob("globex", "refresh_token").expect("get"), Some(blob));
    }
}

// ---- the SQLite file ----

mod sqlite_file {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_database_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.db");
        SqliteStore::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notes.db");
        std::fs::write(&path, "these are my notes, not a database. ".repeat(50)).expect("write");

        let error = SqliteStore::open(&path).expect_err("not a database");
        assert!(matches!(error, StorageError::NotADatabase { .. }), "{error:?}");
        assert!(error.to_string().contains("notes.db"), "{error}");
    }

    #[test]
    fn a_damaged_database_is_refused_with_its_name_and_never_written_to() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = dir.path().join("casebridge.db");
        {
            // A real database with many pages: a few thousand connector keys.
            let store = SqliteStore::open(&original).expect("open");
            for batch in 0..20 {
                let writes: Vec<_> = (0..100)
                    .map(|i| {
                        put(&format!("case/{batch:02}{i:03}"), &format!("{{\"subject\":\"{}\"}}", "x".repeat(300)))
                    })
                    .collect();
                store.commit("acme", None, &[], &writes).expect("commit");
            }
        }
        // Closing the last connection checkpointed the WAL into the file.
        let copy = dir.path().join("damaged.db");
        std::fs::copy(&original, &copy).expect("copy");
        let mut bytes = std::fs::read(&copy).expect("read");
        let page = 4096;
        let middle = bytes.len() / 2 / page * page;
        for byte in &mut bytes[middle..middle + 2 * page] {
            *byte = 0x5A;
        }
        std::fs::write(&copy, &bytes).expect("damage two pages in the middle");

        let error = SqliteStore::open(&copy).expect_err("a damaged database");
        assert!(matches!(error, StorageError::Damaged { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("damaged.db") && message.contains("backup"), "{message}");
        assert_eq!(std::fs::read(&copy).expect("read again"), bytes, "the damaged file is left exactly as it was");
        SqliteStore::open(&original).expect("the undamaged original still opens");
    }

    #[test]
    fn a_database_of_the_previous_version_is_upgraded_in_place_and_keeps_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.db");
        SqliteStore::open(&path).expect("create").commit("acme", None, &[], &[put("watermark", "w")]).expect("commit");
        // Back to schema 1: what casebridge before leases wrote.
        rusqlite::Connection::open(&path)
            .and_then(|conn| {
                conn.execute_batch(
                    "DROP TABLE api_usage_day;
                     DROP TABLE console_session;
                     DROP TABLE console_admin;
                     DROP TABLE value_description;
                     DROP TABLE messenger_visitor;
                     DROP TABLE messenger_file;
                     DROP TABLE platform_record;
                     DROP TABLE platform_note_key;
                     DROP TABLE platform_change;
                     DROP TABLE api_token;
                     DROP TABLE org_lease;
                     ALTER TABLE org_status DROP COLUMN token_requests;
                     ALTER TABLE org_status DROP COLUMN last_report;
                     ALTER TABLE org_status DROP COLUMN last_error_kind;
                     ALTER TABLE org_status DROP COLUMN wake_requested_at;
                     ALTER TABLE org_status DROP COLUMN stream;
                     INSERT INTO org_status (org, last_outcome, last_error, consecutive_failures)
                         VALUES ('acme', 'error', 'cannot reach Salesforce', 3);
                     DELETE FROM schema_version WHERE version >= 2;",
                )
            })
            .expect("downgrade");

        let store = SqliteStore::open(&path).expect("upgrade");
        assert_eq!(store.schema_version().expect("version"), 7);
        assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("w"));
        let status = store.org_status("acme").expect("status").expect("kept");
        assert_eq!(status.consecutive_failures, 3);
        assert_eq!(status.last_outcome, Some(CycleOutcome::error("unknown", "cannot reach Salesforce")));
    }

    #[test]
    fn a_write_lock_held_by_another_process_is_reported_as_such() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.db");
        let store = SqliteStore::open(&path).expect("open");
        let other = rusqlite::Connection::open(&path).expect("second connection");
        other.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");

        let error = store.commit("acme", None, &[], &[put("k", "v")]).expect_err("locked");
        match error {
            StoreError::Unavailable(message) => {
                assert!(message.contains("locked by another casebridge process"), "{message}");
                assert!(message.contains("casebridge.db"), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        other.execute_batch("ROLLBACK").expect("release");
        store.commit("acme", None, &[], &[put("k", "v")]).expect("commit after release");
    }
}

// ---- leases (one cycle per org across processes) ----

mod leases {
    use std::time::Duration;

    use casebridge::runtime::BlockingKeyValueStore;
    use casebridge::runtime::bindings::store::StoreError;
    use casebridge::storage::{Acquisition, Holder, Lease, Leases};

    use super::put;
    use crate::databases::{Backend, TestDatabase};

    const LONG: Duration = Duration::from_secs(3600);
    const SHORT: Duration = Duration::from_millis(60);

    fn acquired(answer: Acquisition) -> Lease {
        match answer {
            Acquisition::Acquired(lease) => lease,
            Acquisition::Held { holder, until } => panic!("held by {holder} until {until}"),
        }
    }

    /// The pid of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("`true` runs");
        let pid = child.id();
        child.wait().expect("reaped");
        pid
    }

    on_both_backends! {
        fn an_org_has_one_holder_at_a_time_and_every_grant_a_greater_token(db) {
            let store = db.open();
            let (first, second) = (Holder::this_process(), Holder::this_process());
            let lease = acquired(store.acquire("acme", &first, LONG).expect("acquire"));
            assert_eq!(lease.token(), 1);

            match store.acquire("acme", &second, LONG).expect("acquire") {
                Acquisition::Held { holder, until } => {
                    assert_eq!(holder, first);
                    // The same expiry, give or take the request (PostgreSQL
                    // counts it on the server's clock, the holder on its own).
                    let apart = (until - lease.expires_at()).abs();
                    assert!(apart < chrono::Duration::seconds(1), "{until} against {}", lease.expires_at());
                }
                other => panic!("the lease is held: {other:?}"),
            }
            // Another org is free.
            assert_eq!(acquired(store.acquire("globex", &second, LONG).expect("acquire")).token(), 1);

            store.release(lease).expect("release");
            let next = acquired(store.acquire("acme", &second, LONG).expect("acquire after release"));
            assert_eq!(next.token(), 2);
            let state = store.lease_state("acme").expect("state").expect("a lease row");
            assert_eq!((state.holder, state.token), (second, 2));
        }

        fn an_expired_lease_is_taken_over_and_its_holder_can_no_longer_renew_it(db) {
            let store = db.open();
            let stale =
                acquired(store.acquire("acme", &Holder::new("another-machine", 4242, "aa"), SHORT).expect("acquire"));
            std::thread::sleep(SHORT * 2);
            let fresh = acquired(store.acquire("acme", &Holder::this_process(), LONG).expect("take over"));
            assert!(fresh.token() > stale.token());
            assert!(!store.renew(&stale, LONG).expect("renew"), "the old holder learns it lost the lease");
            assert!(store.renew(&fresh, LONG).expect("renew"));
        }

        fn the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(db) {
            let store = db.open();
            let me = Holder::this_process();
            let dead = Holder::new(me.host(), dead_pid(), "killed");
            let killed = acquired(store.acquire("acme", &dead, LONG).expect("acquire"));
            let mine = acquired(store.acquire("acme", &me, LONG).expect("a dead holder's lease is not waited out"));
            assert_eq!(mine.token(), killed.token() + 1);
        }

        fn a_lease_held_on_another_machine_is_waited_out_even_if_its_pid_is_free_here(db) {
            let store = db.open();
            let elsewhere = Holder::new("another-machine", dead_pid(), "remote");
            acquired(store.acquire("acme", &elsewhere, LONG).expect("acquire"));
            let answer = store.acquire("acme", &Holder::this_process(), LONG).expect("acquire");
            assert!(matches!(answer, Acquisition::Held { ref holder, .. } if *holder == elsewhere), "{answer:?}");
        }

        fn a_commit_with_a_lost_lease_writes_nothing(db) {
            let store = db.open();
            let old = acquired(store.acquire("acme", &Holder::new("another-machine", 1, "old"), SHORT).expect("acquire"));
            let old_fence = old.fence();
            store.commit("acme", Some(&old_fence), &[], &[put("watermark", "t1")]).expect("a held lease commits");

            std::thread::sleep(SHORT * 2);
            let new = acquired(store.acquire("acme", &Holder::this_process(), LONG).expect("take over"));
            let refused = store.commit("acme", Some(&old_fence), &[], &[put("watermark", "t2"), put("case/1", "x")]);
            match refused {
                Err(StoreError::Conflict(message)) => {
                    assert!(message.contains("lease") && message.contains("acme"), "{message}");
                    assert!(message.contains("casebridge pid"), "names who took over: {message}");
                }
                other => panic!("expected a lease conflict, got {other:?}"),
            }
            assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("t1"));
            assert_eq!(store.get("acme", "case/1").expect("get"), None);

            store.commit("acme", Some(&new.fence()), &[], &[put("watermark", "t3")]).expect("the new holder commits");
            assert_eq!(store.get("acme", "watermark").expect("get").as_deref(), Some("t3"));
        }

        fn a_commit_after_the_lease_expired_or_was_released_writes_nothing(db) {
            let store = db.open();
            let expiring = acquired(store.acquire("acme", &Holder::this_process(), SHORT).expect("acquire"));
            std::thread::sleep(SHORT * 2);
            let expired = store.commit("acme", Some(&expiring.fence()), &[], &[put("k", "v")]);
            assert!(matches!(&expired, Err(StoreError::Conflict(m)) if m.contains("expired")), "{expired:?}");

            let released = acquired(store.acquire("acme", &Holder::this_process(), LONG).expect("acquire"));
            let fence = released.fence();
            store.release(released).expect("release");
            let after = store.commit("acme", Some(&fence), &[], &[put("k", "v")]);
            assert!(matches!(&after, Err(StoreError::Conflict(m)) if m.contains("released")), "{after:?}");
            assert_eq!(store.get("acme", "k").expect("get"), None);
        }

        fn a_renewed_lease_keeps_its_commits_going_past_the_first_expiry(db) {
            let store = db.open();
            let lease = acquired(store.acquire("acme", &Holder::this_process(), SHORT).expect("acquire"));
            assert!(store.renew(&lease, LONG).expect("renew"));
            std::thread::sleep(SHORT * 2);
            store.commit("acme", Some(&lease.fence()), &[], &[put("k", "v")]).expect("still held");
        }

        fn a_lease_covers_only_its_own_orgs_store(db) {
            let store = db.open();
            let lease = acquired(store.acquire("acme", &Holder::this_process(), LONG).expect("acquire"));
            let other = store.commit("globex", Some(&lease.fence()), &[], &[put("k", "v")]);
            assert!(matches!(&other, Err(StoreError::Conflict(m)) if m.contains("lease")), "{other:?}");
            assert_eq!(store.get("globex", "k").expect("get"), None);
        }

        fn two_processes_racing_for_one_org_get_one_lease(db) {
            db.open();
            const RACERS: usize = 6;
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(RACERS));
            let racers: Vec<_> = (0..RACERS)
                .map(|_| {
                    // Each its own connection to the database, as each process has.
                    let barrier = barrier.clone();
                    let store = db.open();
                    std::thread::spawn(move || {
                        barrier.wait();
                        store.acquire("acme", &Holder::this_process(), LONG).expect("acquire")
                    })
                })
                .collect();
            let answers: Vec<_> = racers.into_iter().map(|racer| racer.join().expect("racer")).collect();
            let winners = answers.iter().filter(|a| matches!(a, Acquisition::Acquired(_))).count();
            assert_eq!(winners, 1, "{answers:?}");
        }
    }
}

// ---- the secret vault (backed by the store's `org_secrets` table) ----

mod secret_vault {
    use std::collections::HashMap;
    use std::sync::Arc;

    use casebridge::config::Config;
    use casebridge::secrets::{EncryptionKey, KeyOrigin, OrgSecret, Secret, SecretError, SecretVault};
    use casebridge::storage::{SqliteStore, Store};

    const REFRESH_TOKEN: &str = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJo7Xr34yOQ7GP";

    fn vault() -> (Arc<Store>, SecretVault) {
        let store = Arc::new(Store::in_memory().expect("store"));
        let vault = SecretVault::new(Arc::clone(&store), EncryptionKey::generate().expect("key"));
        (store, vault)
    }

    #[test]
    fn a_stored_secret_reads_back() {
        let (_store, vault) = vault();
        assert!(vault.get("acme", OrgSecret::RefreshToken).expect("get").is_none());
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        let secret = vault.get("acme", OrgSecret::RefreshToken).expect("get").expect("stored");
        assert_eq!(secret.expose(), REFRESH_TOKEN);
        assert!(vault.get("acme", OrgSecret::ClientSecret).expect("get").is_none());
        assert!(vault.delete("acme", OrgSecret::RefreshToken).expect("delete"));
        assert!(vault.get("acme", OrgSecret::RefreshToken).expect("get").is_none());
    }

    #[test]
    fn the_same_secret_is_sealed_differently_each_time() {
        let (store, vault) = vault();
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        let first = store.secret_blob("acme", "refresh_token").expect("blob").expect("stored");
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        let second = store.secret_blob("acme", "refresh_token").expect("blob").expect("stored");
        assert_ne!(first, second, "a fresh nonce per value");
        assert_eq!(first[0], 1, "versioned format");
    }

    #[test]
    fn a_different_key_gives_a_clear_error() {
        let (store, vault) = vault();
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        let other = SecretVault::new(store, EncryptionKey::generate().expect("key"));

        let error = other.get("acme", OrgSecret::RefreshToken).expect_err("wrong key");
        assert!(matches!(error, SecretError::Undecryptable { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("acme") && message.contains("refresh token"), "{message}");
        assert!(message.contains("casebridge org connect acme"), "{message}");
    }

    #[test]
    fn a_tampered_blob_is_refused() {
        let (store, vault) = vault();
        vault.put("acme", OrgSecret::ClientSecret, &Secret::new("s3cr3t-consumer")).expect("put");
        let blob = store.secret_blob("acme", "client_secret").expect("blob").expect("stored");
        for index in [1, 13, blob.len() - 1] {
            let mut tampered = blob.clone();
            tampered[index] ^= 0x01;
            store.put_secret_blob("acme", "client_secret", &tampered).expect("tamper");
            assert!(
                matches!(vault.get("acme", OrgSecret::ClientSecret), Err(SecretError::Undecryptable { .. })),
                "byte {index}"
            );
        }
        store.put_secret_blob("acme", "client_secret", &blob[..10]).expect("truncate");
        assert!(matches!(vault.get("acme", OrgSecret::ClientSecret), Err(SecretError::Damaged { .. })));
        let mut future = blob.clone();
        future[0] = 2;
        store.put_secret_blob("acme", "client_secret", &future).expect("version");
        assert!(matches!(
            vault.get("acme", OrgSecret::ClientSecret),
            Err(SecretError::UnsupportedFormat { version: 2, .. })
        ));
    }

    #[test]
    fn a_blob_cannot_be_moved_to_another_org_or_secret() {
        let (store, vault) = vault();
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        let blob = store.secret_blob("acme", "refresh_token").expect("blob").expect("stored");

        store.put_secret_blob("globex", "refresh_token", &blob).expect("copy to another org");
        assert!(matches!(vault.get("globex", OrgSecret::RefreshToken), Err(SecretError::Undecryptable { .. })));
        store.put_secret_blob("acme", "client_secret", &blob).expect("copy to another secret");
        assert!(matches!(vault.get("acme", OrgSecret::ClientSecret), Err(SecretError::Undecryptable { .. })));
    }

    #[test]
    fn secrets_never_appear_in_debug_display_or_errors() {
        let secret = Secret::new(REFRESH_TOKEN);
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        let key = EncryptionKey::generate().expect("key");
        assert!(!format!("{key:?}").contains(&key.to_base64()));

        let (store, vault) = vault();
        vault.put("acme", OrgSecret::RefreshToken, &secret).expect("put");
        let config = Config::parse(casebridge::config::EXAMPLE_CONFIG).expect("config");
        let env = HashMap::from([("ACME_CLIENT_SECRET", "consumer-s3cr3t")]);
        let credentials =
            vault.credentials_with_env(&config.orgs[0], |name| env.get(name).map(|v| v.to_string())).expect("creds");
        let printed = format!("{credentials:?}");
        assert!(!printed.contains(REFRESH_TOKEN) && !printed.contains("consumer-s3cr3t"), "{printed}");

        let wrong = SecretVault::new(store, EncryptionKey::generate().expect("key"));
        let error = wrong.get("acme", OrgSecret::RefreshToken).expect_err("wrong key");
        assert!(!error.to_string().contains(REFRESH_TOKEN) && !format!("{error:?}").contains(REFRESH_TOKEN));
        let invalid = EncryptionKey::from_base64("bm90IGEga2V5").expect_err("short key");
        assert!(!invalid.contains("bm90IGEga2V5"), "{invalid}");
    }

    #[test]
    fn the_database_file_never_holds_the_plaintext() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.db");
        let store = Arc::new(Store::from(SqliteStore::open(&path).expect("open")));
        let vault = SecretVault::new(Arc::clone(&store), EncryptionKey::generate().expect("key"));
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN)).expect("put");
        vault.put("acme", OrgSecret::ClientSecret, &Secret::new("consumer-s3cr3t-value")).expect("put");

        // The main file and its WAL, before and after the store is closed.
        let contains_plaintext = || {
            std::fs::read_dir(dir.path()).expect("list").any(|entry| {
                let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
                [REFRESH_TOKEN, "consumer-s3cr3t-value"]
                    .iter()
                    .any(|needle| bytes.windows(needle.len()).any(|window| window == needle.as_bytes()))
            })
        };
        assert!(!contains_plaintext());
        drop(vault);
        drop(store);
        assert!(!contains_plaintext());
        assert!(std::fs::metadata(&path).expect("db").len() > 0);
    }

    #[test]
    fn credentials_come_from_the_environment_first_then_the_vault() {
        let (_store, vault) = vault();
        let config = Config::parse(casebridge::config::EXAMPLE_CONFIG).expect("config");
        let acme = &config.orgs[0];
        vault.put("acme", OrgSecret::ClientSecret, &Secret::new("stored-secret")).expect("put");
        vault.put("acme", OrgSecret::RefreshToken, &Secret::new("stored-token")).expect("put");

        let env = HashMap::from([("ACME_CLIENT_SECRET", "env-secret"), ("ACME_REFRESH_TOKEN", "")]);
        let credentials =
            vault.credentials_with_env(acme, |name| env.get(name).map(|v| v.to_string())).expect("credentials");
        assert_eq!(credentials.client_id, acme.client_id);
        assert_eq!(credentials.client_secret.expose(), "env-secret");
        assert_eq!(credentials.refresh_token.expose(), "stored-token", "an empty variable counts as unset");
    }

    #[test]
    fn a_missing_secret_says_how_to_provide_it() {
        let (_store, vault) = vault();
        let config = Config::parse(casebridge::config::EXAMPLE_CONFIG).expect("config");
        let error = vault.credentials_with_env(&config.orgs[0], |_| None).expect_err("missing");
        assert!(matches!(error, SecretError::Missing { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("casebridge org connect acme"), "{message}");
        assert!(message.contains("ACME_CLIENT_SECRET"), "{message}");
    }

    #[test]
    fn a_key_file_is_created_owner_only_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.key");

        let (created, origin) = EncryptionKey::load_or_create_file(&path).expect("create");
        assert_eq!(origin, KeyOrigin::Created(path.clone()));
        let (loaded, origin) = EncryptionKey::load_or_create_file(&path).expect("load");
        assert_eq!(origin, KeyOrigin::File(path.clone()));
        assert_eq!(created.to_base64(), loaded.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }

        std::fs::write(&path, "not base64 at all!").expect("damage");
        let error = EncryptionKey::load_or_create_file(&path).expect_err("damaged key file");
        assert!(matches!(error, SecretError::InvalidKeyFile { .. }), "{error:?}");
        assert!(error.to_string().contains("casebridge.key"), "{error}");
    }

    #[test]
    fn a_missing_key_file_beside_stored_secrets_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("casebridge.key");
        let store = Arc::new(Store::from(SqliteStore::open(dir.path().join("casebridge.db")).expect("open")));
        assert!(!store.has_secrets().expect("secrets"));
        let (key, _) = EncryptionKey::load_or_create_file(&path).expect("create");
        SecretVault::new(store.clone(), key)
            .put("acme", OrgSecret::RefreshToken, &Secret::new(REFRESH_TOKEN))
            .expect("put");
        std::fs::remove_file(&path).expect("the key file is lost");

        assert!(store.has_secrets().expect("secrets"));
        let error = EncryptionKey::load_file(&path).expect_err("no key file");
        assert!(matches!(error, SecretError::MissingKeyFile { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("casebridge.key") && message.contains("backup"), "{message}");
        assert!(message.contains("CASEBRIDGE_KEY"), "{message}");
        assert!(!path.exists(), "no new key was written");
    }

    #[test]
    fn a_key_in_base64_reads_back_and_a_wrong_length_is_named() {
        let key = EncryptionKey::generate().expect("key");
        let again = EncryptionKey::from_base64(&format!("  {}\n", key.to_base64())).expect("round trip");
        assert_eq!(again.to_base64(), key.to_base64());
        let error = EncryptionKey::from_base64("AAAA").expect_err("3 bytes");
        assert!(error.contains("3 bytes"), "{error}");
    }
}

// ---- the PostgreSQL server ----

mod postgres_server {
    use super::*;

    #[test]
    fn an_unreachable_server_is_named_without_its_password() {
        let error = Store::open(std::path::Path::new("postgres://casebridge:hunter2@127.0.0.1:1/casebridge"))
            .expect_err("nothing listens on port 1");
        assert!(matches!(error, StorageError::PostgresUnreachable { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("127.0.0.1:1") && !message.contains("hunter2"), "{message}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    }

    #[test]
    fn a_url_that_cannot_be_read_says_what_is_wrong() {
        let error = Store::open(std::path::Path::new("postgres://casebridge:hunter2@db.internal:port/casebridge"))
            .expect_err("not a port");
        assert!(matches!(error, StorageError::PostgresUrl { .. }), "{error:?}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    /// The server drops every connection of the database (a restart, a
    /// failover, a network cut) between a host's commits: a commit either
    /// lands whole or fails as unavailable with nothing written, and the
    /// store reconnects by itself for the next.
    #[test]
    fn dropped_connections_lose_no_commit_and_leave_no_half_of_one() {
        let Some(db) = TestDatabase::new(Backend::Postgres) else { return };
        let server = databases::postgres_server().expect("a server");
        let store = db.open();
        store.commit("acme", None, &[], &[put("count", "0")]).expect("seed");
        let name = db.location().to_str().and_then(|url| url.rsplit('/').next()).expect("a name").to_string();
        let mut landed = 0;
        for round in 0..10 {
            databases::sql(
                &server,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ),
            );
            let before = landed.to_string();
            let after = (landed + 1).to_string();
            let writes = [put("count", &after), put(&format!("round/{round}"), "x")];
            match store.commit("acme", None, &[expect("count", Some(&before))], &writes) {
                Ok(()) => landed += 1,
                Err(StoreError::Unavailable(message)) => {
                    assert!(message.contains("cannot reach the PostgreSQL database"), "{message}");
                    assert_eq!(read_again(&store, &format!("round/{round}")), None);
                }
                Err(other) => panic!("round {round}: {other:?}"),
            }
            assert_eq!(read_again(&store, "count").as_deref(), Some(landed.to_string().as_str()));
        }
        store.commit("acme", None, &[], &[put("after", "x")]).expect("the store reconnected");
        assert_eq!(keys(&store.scan("acme", "round/").expect("scan")).len(), landed);
    }

    /// A read on a connection the server had just closed fails, as the
    /// cycle it is part of does; the next one reconnects.
    fn read_again(store: &Store, key: &str) -> Option<String> {
        store.get("acme", key).or_else(|_| store.get("acme", key)).expect("the store reconnects")
    }

    /// Store calls block; made from inside a tokio task (as a careless
    /// caller might, without `spawn_blocking`) they still finish, well past
    /// the task's cooperative budget of 128 operations.
    #[test]
    fn many_calls_from_inside_async_code_finish() {
        let Some(db) = TestDatabase::new(Backend::Postgres) else { return };
        let store = db.open();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            for round in 0..300 {
                store.commit("acme", None, &[], &[put("count", &round.to_string())]).expect("commit");
                assert_eq!(store.get("acme", "count").expect("get"), Some(round.to_string()));
            }
        });
    }

    /// Several hosts starting at once on an empty database: one migrates,
    /// the others wait for it and find the schema done.
    #[test]
    fn hosts_starting_together_migrate_the_database_once() {
        let Some(db) = TestDatabase::new(Backend::Postgres) else { return };
        let barrier = Arc::new(Barrier::new(4));
        let location = db.location().to_path_buf();
        let hosts: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, location) = (barrier.clone(), location.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&location).map(|store| store.schema_version())
                })
            })
            .collect();
        for host in hosts {
            let version = host.join().expect("thread").expect("opens").expect("version");
            assert_eq!(version, 7);
        }
    }
}
