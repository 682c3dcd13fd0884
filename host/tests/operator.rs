//! An operator can act on every state: `status` in words and typed JSON,
//! errors that name the option to change (a refused origin, a deadline, an
//! out-of-memory connector, an API budget), a damaged database refused and
//! left untouched, a lost key file named, no colour codes in logs that are
//! not a terminal, and the scheduler woken by `casebridge org connect`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use casebridge::config::Config;
use casebridge::host::{ApiLimit, Host, OrgError, Stop};
use casebridge::runtime::GuestLimits;
use casebridge::secrets::{OrgSecret, Secret};
use casebridge_emulator::{Credentials, EmulatorOptions, Fault, FaultTarget, RunningEmulator, Seed};
use serde_json::Value;

mod support;
use support::{casebridge, write_config};

const ORG: &str = "acme";

fn demo_emulator() -> RunningEmulator {
    casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts")
}

/// Runs `casebridge <args>` on `config`; returns (success, stdout, stderr).
fn run(config: &Path, credentials: &Credentials, args: &[&str]) -> (bool, String, String) {
    let output = casebridge(config, credentials).args(args).output().expect("casebridge runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An in-process host for the org on `emulator`, its secrets in the vault.
fn host(dir: &Path, emulator: &RunningEmulator, edit: impl FnOnce(String) -> String) -> Host {
    let path = write_config(dir, emulator, ORG, 60);
    let text = edit(std::fs::read_to_string(&path).expect("read"));
    std::fs::write(&path, text).expect("write");
    let host = Host::open(Config::load(&path).expect("the configuration loads")).expect("the host opens");
    let credentials = emulator.credentials();
    host.vault().put(ORG, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone())).expect("secret");
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone())).expect("token");
    host
}

#[test]
fn status_prints_words_by_default_and_typed_json_on_request() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let (ok, stdout, stderr) = run(&config, &credentials, &["cycle", "--org", ORG]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.starts_with(&format!("{ORG}: ok — ")), "{stdout}");

    let (ok, text, stderr) = run(&config, &credentials, &["status"]);
    assert!(ok, "{stderr}");
    eprintln!("status:\n{text}");
    for expected in [
        "last cycle",
        ": ok — ",
        "replies",
        "failures       0 in a row",
        "next attempt",
        "API calls",
        "token request",
        "watermark      20",
        "open errors    0",
    ] {
        assert!(text.contains(expected), "`{expected}` in:\n{text}");
    }
    for debug in ["Some(", "None", "Ok(", "Error {", "{\""] {
        assert!(!text.contains(debug), "no debug output (`{debug}`):\n{text}");
    }

    let (ok, json, stderr) = run(&config, &credentials, &["status", "--json"]);
    assert!(ok, "{stderr}");
    eprintln!("status --json:\n{json}");
    let status: Value = serde_json::from_str(&json).expect("status --json is JSON");
    let org = &status["orgs"][0];
    assert_eq!(org["org"], ORG);
    assert_eq!(org["open_errors"], 0, "a number: {org}");
    assert_eq!(org["last_cycle"]["outcome"], "ok");
    assert!(org["last_cycle"]["summary"].as_str().is_some_and(|s| s.starts_with("ok — ")), "{org}");
    assert!(org["api_calls_today"].as_u64().is_some_and(|n| n >= 1), "{org}");
    assert!(org["token_requests_today"].as_u64().is_some_and(|n| n >= 1), "{org}");
    assert!(org["watermark"].as_str().is_some_and(|w| w.parse::<chrono::DateTime<chrono::Utc>>().is_ok()), "{org}");
    assert_eq!(org["consecutive_failures"], 0);
    assert!(org["running"].is_null(), "{org}");
}

#[test]
fn logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let output = casebridge(&config, &credentials)
        .env_remove("NO_COLOR")
        .args(["cycle", "--org", ORG])
        .output()
        .expect("casebridge runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("INFO"), "the cycle logged at info: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escape codes in a pipe: {stderr:?}");
}

#[test]
fn a_refused_instance_is_named_with_the_option_that_allows_it() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    // The org logs in on the login origin and names no instance: the
    // instance the login answers with, on another origin, is not allowed.
    let instance = emulator.instance_url().trim_end_matches('/').to_string();
    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace(&format!("instance_url = \"{}\"\n", emulator.instance_url()), "");
    assert!(!text.contains("instance_url"), "{text}");
    std::fs::write(&config, &text).expect("write");

    let (ok, _, stderr) = run(&config, &credentials, &["cycle", "--org", ORG]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&format!("the connector was refused {instance}, which org `{ORG}` does not allow"))
            && stderr.contains(&format!("set instance_url = \"{instance}\" in its [[org]] section")),
        "{stderr}"
    );
    let (_, json, _) = run(&config, &credentials, &["status", "--json"]);
    let status: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(status["orgs"][0]["last_cycle"]["error"]["kind"], "refused_origin", "{json}");

    // Doing what the message says works.
    let text =
        text.replace("poll_overlap_seconds = 5", &format!("poll_overlap_seconds = 5\ninstance_url = \"{instance}\""));
    std::fs::write(&config, text).expect("write");
    let (ok, stdout, stderr) = run(&config, &credentials, &["cycle", "--org", ORG]);
    assert!(ok, "{stdout}\n{stderr}");
}

#[test]
fn a_damaged_database_is_refused_by_every_command_and_left_as_it_was() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let (ok, _, stderr) = run(&config, &credentials, &["cycle", "--org", ORG]);
    assert!(ok, "{stderr}");
    let database = dir.path().join("casebridge.db");
    let mut bytes = std::fs::read(&database).expect("read");
    let page = 4096;
    assert!(bytes.len() >= 8 * page, "a real database of several pages: {} bytes", bytes.len());
    let middle = bytes.len() / 2 / page * page;
    bytes[middle..middle + page].fill(0xA5);
    std::fs::write(&database, &bytes).expect("damage a page in the middle");

    for command in [&["status"][..], &["cycle", "--org", ORG]] {
        let (ok, _, stderr) = run(&config, &credentials, command);
        assert!(!ok, "{command:?}: {stderr}");
        assert!(
            stderr.contains("casebridge.db") && stderr.contains("damaged") && stderr.contains("backup"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&database).expect("read"), bytes, "{command:?} left the file as it was");
    }
}

#[test]
fn a_lost_key_file_beside_stored_secrets_is_named_and_never_replaced() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let connect = casebridge(&config, &credentials)
        .args(["org", "connect", ORG])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{}\n{}", credentials.client_secret, credentials.refresh_token)?;
            drop(stdin);
            child.wait_with_output()
        })
        .expect("org connect runs");
    assert!(connect.status.success(), "{}", String::from_utf8_lossy(&connect.stderr));
    let key = dir.path().join("casebridge.key");
    std::fs::remove_file(&key).expect("the key file is lost");

    let (ok, _, stderr) = run(&config, &credentials, &["status"]);
    assert!(!ok);
    assert!(
        stderr.contains("casebridge.key") && stderr.contains("backup") && stderr.contains("CASEBRIDGE_KEY"),
        "{stderr}"
    );
    assert!(!key.exists(), "no new key was created beside the stored secrets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_cycles_count_their_api_calls_and_token_requests() {
    let emulator = demo_emulator();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = host(dir.path(), &emulator, |text| text);
    emulator.inject(Fault::error(503).times(1).on(FaultTarget::Api));
    let error = host.cycle(ORG).await.expect_err("the poll meets a 503");
    assert_eq!(error.kind(), "salesforce_error", "{error}");
    let today = chrono::Utc::now().date_naive();
    let status = host.store().org_status(ORG).expect("status").expect("recorded");
    assert_eq!(status.api_calls_on(today), 1, "the refused poll counts");
    assert_eq!(status.token_requests_on(today), 1, "the token request counts apart");
    host.cycle(ORG).await.expect("the next cycle succeeds");
    let status = host.store().org_status(ORG).expect("status").expect("recorded");
    assert!(status.api_calls_on(today) >= 2, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_past_its_deadline_names_cycle_deadline_seconds() {
    let emulator = demo_emulator();
    emulator.inject(Fault::latency(Duration::from_millis(1500)).always().on(FaultTarget::Any));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut host = host(dir.path(), &emulator, |text| text);
    host.set_limits(GuestLimits { memory_bytes: 64 << 20, deadline: Duration::from_secs(1) });
    let error = host.cycle(ORG).await.expect_err("the deadline stops the cycle");
    assert!(matches!(error, OrgError::Stopped { stop: Stop::Deadline { seconds: 1 }, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("cycle_deadline_seconds = 1") && !message.contains('\n'), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_out_of_memory_names_guest_memory_mb() {
    let emulator = demo_emulator();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut host = host(dir.path(), &emulator, |text| text);
    host.set_limits(GuestLimits { memory_bytes: 16 << 20, deadline: Duration::from_secs(60) });
    // Open conversations larger than the connector's memory: three of 7 MiB
    // (under the store's 8 MiB value limit), all due, that its next cycle loads.
    let cases = ["500000000000001AAA", "500000000000002AAA", "500000000000003AAA"];
    let put = |key: String, value: String| {
        casebridge::runtime::bindings::store::Write::Put(casebridge::runtime::bindings::store::Entry { key, value })
    };
    let mut writes = Vec::new();
    for case in cases {
        let conversation = serde_json::json!({
            "conversation": {"id": case, "case_number": "1", "subject": null, "origin": null, "attributes": [],
                "person": [], "company": [], "resolution": "None",
                "parts": [{"id": "p", "source": "CaseComment", "author": "Customer", "author_name": null,
                    "text": "x".repeat(7 << 20), "created_at": 0, "attachments": []}]},
            "in_session": true, "last_modstamp": 0, "events": [], "agent_turns": 0, "written_state": null,
            "involved_written": false, "handed_off": false, "pending_owner": null, "refused_update": null,
            "topics_added": false, "changes_at": null, "next_outbox_seq": 0, "reply_to": null,
            "last_message_id": null, "updated_at": 0
        });
        writes.push(put(format!("conv/{case}"), conversation.to_string()));
    }
    let due: serde_json::Map<String, Value> = cases.iter().map(|c| (c.to_string(), Value::from(0))).collect();
    writes.push(put("hot".into(), Value::Object(due).to_string()));
    casebridge::runtime::BlockingKeyValueStore::commit(host.store().as_ref(), ORG, None, &[], &writes).expect("plant");
    let error = host.cycle(ORG).await.expect_err("the memory limit stops the cycle");
    assert!(matches!(error, OrgError::Stopped { stop: Stop::OutOfMemory { limit_mb: 16 }, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("guest_memory_mb = 16") && !message.contains('\n'), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_says_so_and_when_it_resets() {
    let emulator = demo_emulator();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = host(dir.path(), &emulator, |text| {
        text.replace("poll_overlap_seconds = 5", "poll_overlap_seconds = 5\ndaily_api_budget = 1")
    });
    let mut outcome = host.cycle(ORG).await;
    for _ in 0..3 {
        if outcome.is_err() {
            break;
        }
        outcome = host.cycle(ORG).await;
    }
    let error = outcome.expect_err("a budget of one call is soon spent");
    match &error {
        OrgError::ApiLimit { limit: ApiLimit::Budget { budget: 1, resets_at, .. }, .. } => {
            assert_eq!(*resets_at, casebridge::host::next_utc_midnight(chrono::Utc::now()));
        }
        other => panic!("expected the budget, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("daily_api_budget") && message.contains("00:00 UTC"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_connect_wakes_a_running_scheduler_out_of_its_reconnect_back_off() {
    let emulator = demo_emulator();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = host(dir.path(), &emulator, |text| text);
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new("revoked-token")).expect("a refused token");
    let host = Arc::new(host);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    }));
    let first = wait_for(&host, |status| status.consecutive_failures >= 1).await;
    let next = first.next_run_at.expect("planned");
    assert!(
        next - chrono::Utc::now() > chrono::Duration::hours(5),
        "refused credentials wait for a reconnect: {first:?}"
    );

    // What `casebridge org connect` does: store the secrets, ask for a wake.
    let token = emulator.credentials().refresh_token;
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(token)).expect("the right token");
    host.store().request_wake(ORG, chrono::Utc::now()).expect("wake");
    let woken = wait_for(&host, |status| status.consecutive_failures == 0 && status.last_outcome.is_some()).await;
    assert_eq!(woken.last_outcome, Some(casebridge::storage::CycleOutcome::Ok), "{woken:?}");
    let _ = stop.send(());
    scheduler.await.expect("the scheduler stops");
}

/// Polls the org's status until `done` (at most 20 s).
async fn wait_for(
    host: &Host,
    done: impl Fn(&casebridge::storage::OrgStatus) -> bool,
) -> casebridge::storage::OrgStatus {
    for _ in 0..200 {
        if let Some(status) = host.store().org_status(ORG).expect("status")
            && done(&status)
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the org's status never got there: {:?}", host.store().org_status(ORG));
}

#[test]
fn every_command_has_examples_and_every_argument_a_help_line() {
    let commands: &[&[&str]] = &[
        &[],
        &["demo"],
        &["run"],
        &["cycle"],
        &["org", "connect"],
        &["setup"],
        &["fields", "list"],
        &["fields", "add"],
        &["fields", "remove"],
        &["fields", "resync"],
        &["conversations", "list"],
        &["conversations", "show"],
        &["errors", "list"],
        &["errors", "retry"],
        &["status"],
        &["emulator"],
        &["component"],
    ];
    for command in commands {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .args(command.iter().copied())
            .arg("--help")
            .output()
            .expect("casebridge --help runs");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?}: {help}");
        assert!(help.contains("Example"), "`casebridge {}` has examples:\n{help}", command.join(" "));
        let lines: Vec<&str> = help.lines().collect();
        let mut in_arguments = false;
        for (index, line) in lines.iter().enumerate() {
            if line.ends_with(':') && !line.starts_with(' ') {
                in_arguments = matches!(*line, "Arguments:" | "Options:");
                continue;
            }
            let entry = line.trim_start();
            // `-c, --config …`, `--org …`, `<ORG> …`; not a possible value (`- users: …`).
            let is_entry = (entry.starts_with('-') && !entry.starts_with("- ")) || entry.starts_with('<');
            if in_arguments && is_entry {
                // The help follows on the line (short form) or on the next
                // line, indented further (clap's long form with possible values).
                let inline = entry.split("  ").filter(|part| !part.trim().is_empty()).count() >= 2;
                let below = lines.get(index + 1).is_some_and(|next| {
                    let text = next.trim_start();
                    next.len() - text.len() > line.len() - entry.len()
                        && !text.is_empty()
                        && !text.starts_with('-')
                        && !text.starts_with('<')
                });
                assert!(inline || below, "`casebridge {}`: `{entry}` has no help line:\n{help}", command.join(" "));
            }
        }
    }
}

/// `casebridge console password` (stdin) sets an Argon2id hash, never the
/// password; a short password is refused with the length it needs.
#[test]
fn console_password_is_read_from_stdin_and_kept_only_as_a_hash() {
    use std::io::Write as _;
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emulator, "acme", 60);
    let set = |password: &str| {
        let mut child = casebridge(&config, &credentials)
            .args(["console", "password", "--admin", "ops"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };
    let (ok, said) = set("short");
    assert!(!ok && said.contains("give at least 12"), "{said}");
    let (ok, said) = set("a long enough console password");
    assert!(ok && said.contains("/console"), "{said}");
    let host = Host::open(Config::load(&config).unwrap()).unwrap();
    let phc = host.store().console_admin("ops").unwrap().expect("the admin is kept");
    assert!(phc.starts_with("$argon2id$") && !phc.contains("console password"), "{phc}");
    let database = std::fs::read(dir.path().join("casebridge.db")).unwrap();
    assert!(!database.windows(13).any(|w| w == b"enough consol"), "the password is not stored");
}
