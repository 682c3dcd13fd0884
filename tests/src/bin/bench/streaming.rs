//! Figure 8: streaming mode (E4), with the real scheduler and stream tasks
//! against the emulator's CometD in its own process.
//!
//! - [`latency`]: from a customer's message to the agent's reply, for each
//!   kind of message: a new case and an email stream (Change Data Capture
//!   covers Case and EmailMessage); a case comment and a feed post do not
//!   (Salesforce has no change events for CaseComment or FeedItem), so the
//!   safety poll answers them, and their latency is that poll's. The org
//!   stamps records to the second, so the bench watches for each reply
//!   itself, every 100 ms (a latency includes up to that much of looking).
//! - the same run's idle phase: API calls while only the stream runs (no
//!   cycle due), and calls per idle safety-poll cycle, which give the calls
//!   per idle day at the default 15-minute safety poll.
//! - [`idle_orgs`]: many idle streaming orgs on one host, each with its
//!   held connect: host CPU share and memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use chrono::Utc;
use serde_json::{Value, json};

use crate::measure::{Rng, max, median, percentile, process_cpu, status_kib};
use crate::remote::RemoteOrg;
use crate::setup::BenchHost;

#[derive(Debug, Clone)]
pub struct Params {
    /// Messages of each kind.
    pub samples: usize,
    /// The messages of a kind are written at random moments over this span.
    pub span: Duration,
    /// How long the org stays idle for the idle-call figures.
    pub idle_window: Duration,
    pub seed: u64,
}

/// The kinds of customer message, with whether Change Data Capture carries them.
pub const KINDS: [(&str, bool); 4] =
    [("new case", true), ("email", true), ("case comment", false), ("feed post", false)];

const MESSAGE: &str = "One more thing: where do I find the API key for our integration?";

fn is_live(bench: &BenchHost, name: &str) -> bool {
    let status = bench.host.store().org_status(name).ok().flatten();
    status.and_then(|s| s.stream).is_some_and(|s| s.health == "live")
}

/// Waits until `done` (checked every 200 ms) or `limit`; whether it happened.
async fn wait_for(limit: Duration, mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<bool> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done()? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done()
}

pub async fn latency(params: &Params, remote: Arc<RemoteOrg>, bench: &BenchHost) -> anyhow::Result<Value> {
    let host = bench.host.clone();
    let name = bench.names[0].clone();
    let site_guest = remote.user_id("support-site.guest@casebridge.example")?;
    let customer = remote.user_id(remote.seeded["customer_username"].as_str().context("no customer")?)?;
    let integration = remote.seeded_id("integration_user_id");
    let agent_user = remote.seeded_id("agent_user_id");
    let contacts = remote.seeded_ids("contact_ids");
    let mut rng = Rng::new(params.seed);
    let new_case = |i: usize, origin: &str, contact: &String| {
        let fields = json!({
            "Subject": format!("Streaming sample {i}: integration setup"),
            "Description": "We are setting up the integration and need help with the first steps.",
            "Origin": origin, "Status": "New", "OwnerId": agent_user, "ContactId": contact,
            "SuppliedEmail": "amelia.clarke@northwind.example", "SuppliedName": "Amelia Clarke",
        });
        remote.create_as(&site_guest, "Case", fields)
    };

    // Idle first: the seeded cases handed to the queue, the first cycle
    // (describes, the catalogs), the org's clock past the poll's overlap;
    // then only the stream and the safety poll's idle cycles run.
    crate::orgs::make_org_idle(&remote)?;
    host.cycle(&name).await.map_err(|e| anyhow::anyhow!("the first cycle failed: {e}"))?;
    remote.advance_clock(300)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    }));
    ensure!(wait_for(Duration::from_secs(60), || Ok(is_live(bench, &name))).await?, "the stream did not go live");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = remote.counts()?;
    let cycles_before = host.store().recent_cycles(&name, 100_000)?.len();
    tokio::time::sleep(params.idle_window).await;
    let idle = remote.counts()? - before;
    let idle_cycles = host.store().recent_cycles(&name, 100_000)?.len() - cycles_before;

    // Sample cases for the kinds written on an existing case, each answered
    // once (streamed: they are new cases for the agent), so each is an open
    // conversation.
    let mut on_cases: Vec<Vec<String>> = Vec::new();
    for (kind, _) in &KINDS[1..] {
        let origin = if *kind == "email" { "Email" } else { "Web" };
        let cases: Vec<String> =
            (0..params.samples).map(|i| new_case(i, origin, rng.pick(&contacts))).collect::<anyhow::Result<_>>()?;
        on_cases.push(cases);
    }
    let all: Vec<String> = on_cases.concat();
    let answered = wait_for(Duration::from_secs(120), || {
        let counts = reply_counts(&remote, &all, &integration)?;
        Ok(all.iter().all(|case| counts.get(case).copied().unwrap_or(0) > 0))
    })
    .await?;
    ensure!(answered, "the sample cases were not all answered");

    // Each kind's messages at random moments over the span, one kind after
    // the other. The org stamps records to the second, so the bench watches
    // for each reply itself (every 100 ms): a latency is from just after the
    // message was written to the first look that found a reply.
    let mut by_kind = serde_json::Map::new();
    for (index, (kind, streams)) in KINDS.iter().enumerate() {
        let mut moments: Vec<Duration> = (0..params.samples).map(|_| params.span.mul_f64(rng.unit())).collect();
        moments.sort();
        let started = Instant::now();
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut latencies_ms = Vec::new();
        let watch = |waiting: &mut Vec<Waiting>, latencies_ms: &mut Vec<f64>| -> anyhow::Result<()> {
            let cases: Vec<String> = waiting.iter().map(|w| w.case.clone()).collect();
            let counts = reply_counts(&remote, &cases, &integration)?;
            let seen = Instant::now();
            waiting.retain(|w| {
                let answered = counts.get(&w.case).copied().unwrap_or(0) > w.replies_before;
                if answered {
                    latencies_ms.push((seen - w.written).as_secs_f64() * 1000.0);
                }
                !answered
            });
            Ok(())
        };
        for (i, moment) in moments.into_iter().enumerate() {
            while Instant::now() < started + moment {
                if !waiting.is_empty() {
                    watch(&mut waiting, &mut latencies_ms)?;
                }
                let left = (started + moment).saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(Duration::from_millis(100))).await;
            }
            let case = match *kind {
                "new case" => None,
                "email" => Some(on_cases[0][i].clone()),
                "case comment" => Some(on_cases[1][i].clone()),
                _ => Some(on_cases[2][i].clone()),
            };
            let replies_before = match &case {
                Some(case) => {
                    reply_counts(&remote, std::slice::from_ref(case), &integration)?.get(case).copied().unwrap_or(0)
                }
                None => 0,
            };
            let case = match (*kind, case) {
                ("new case", _) | (_, None) => new_case(1000 + i, "Web", rng.pick(&contacts))?,
                ("email", Some(case)) => {
                    let fields = json!({
                        "ParentId": case, "Incoming": true, "Status": "0",
                        "FromAddress": "amelia.clarke@northwind.example", "FromName": "Amelia Clarke",
                        "ToAddress": "support@casebridge.example", "Subject": "Re: integration setup",
                        "TextBody": MESSAGE, "MessageDate": Utc::now().to_rfc3339(),
                    });
                    remote.create_as(&customer, "EmailMessage", fields)?;
                    case
                }
                ("case comment", Some(case)) => {
                    let fields = json!({"ParentId": case, "CommentBody": MESSAGE, "IsPublished": true});
                    remote.create_as(&customer, "CaseComment", fields)?;
                    case
                }
                (_, Some(case)) => {
                    let fields = json!({"ParentId": case, "Body": MESSAGE, "Type": "TextPost"});
                    remote.create_as(&customer, "FeedItem", fields)?;
                    case
                }
            };
            waiting.push(Waiting { case, replies_before, written: Instant::now() });
        }
        // The safety poll answers what does not stream: wait up to two of its intervals.
        let safety = Duration::from_secs(u64::from(host.config().orgs[0].safety_poll_seconds));
        let limit = if *streams { Duration::from_secs(30) } else { safety * 2 + Duration::from_secs(30) };
        let deadline = Instant::now() + limit;
        while !waiting.is_empty() && Instant::now() < deadline {
            watch(&mut waiting, &mut latencies_ms)?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        by_kind.insert(
            kind.to_string(),
            json!({
                "streams": streams, "samples": params.samples, "answered": latencies_ms.len(),
                "median_ms": median(&latencies_ms), "p99_ms": percentile(&latencies_ms, 99.0),
                "max_ms": max(&latencies_ms), "order": index,
            }),
        );
    }
    let _ = stop.send(());
    scheduler.await?;
    let status = host.store().org_status(&name)?.and_then(|s| s.stream);
    Ok(json!({
        "samples": params.samples,
        "span_s": params.span.as_secs_f64(),
        "poll_interval_s": host.config().orgs[0].poll_interval_seconds,
        "safety_poll_s": host.config().orgs[0].safety_poll_seconds,
        "kinds": Value::Object(by_kind),
        "idle": {
            "window_s": params.idle_window.as_secs_f64(),
            "calls": idle.calls,
            "token_requests": idle.tokens,
            "safety_cycles": idle_cycles,
        },
        "stream": status.map(|s| json!({"events": s.events, "own_writes": s.own_writes, "relevant": s.relevant})),
    }))
}

/// A message that waits for its reply.
struct Waiting {
    case: String,
    /// The agent's replies on the case before the message.
    replies_before: usize,
    written: Instant,
}

/// The agent's replies (comments, posts, emails) on each of `cases`.
fn reply_counts(
    remote: &RemoteOrg,
    cases: &[String],
    integration: &str,
) -> anyhow::Result<std::collections::HashMap<String, usize>> {
    let list = cases.iter().map(|case| format!("'{case}'")).collect::<Vec<_>>().join(", ");
    let mut counts = std::collections::HashMap::new();
    for object in ["CaseComment", "FeedItem", "EmailMessage"] {
        let soql =
            format!("SELECT ParentId FROM {object} WHERE ParentId IN ({list}) AND CreatedById = '{integration}'");
        for record in remote.query(&soql)? {
            *counts.entry(record["ParentId"].as_str().unwrap_or_default().to_string()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Many idle streaming orgs: every org's stream live and held, then a
/// window of the host's CPU time and memory.
pub async fn idle_orgs(remote: Arc<RemoteOrg>, bench: &BenchHost, window: Duration) -> anyhow::Result<Value> {
    let host = bench.host.clone();
    let orgs = bench.names.len();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let rss_before = status_kib("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let scheduler = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    }));
    let all_live = || -> anyhow::Result<usize> {
        Ok(host
            .store()
            .org_statuses()?
            .iter()
            .filter(|s| s.stream.as_ref().is_some_and(|s| s.health == "live"))
            .count())
    };
    let warmed = wait_for(Duration::from_secs(300), || Ok(all_live()? == orgs)).await?;
    let warm_up = started.elapsed();
    // Past every org's first cycle (spread over the poll interval).
    let first_cycles = || -> anyhow::Result<usize> {
        Ok(host.store().org_statuses()?.iter().filter(|s| s.last_cycle_finished_at.is_some()).count())
    };
    wait_for(Duration::from_secs(300), || Ok(first_cycles()? == orgs)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu_start, calls_start, streaming_start) = (process_cpu(), remote.counts()?, remote.streaming()?);
    let at = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = at.elapsed();
    let (cpu_end, calls_end, streaming_end) = (process_cpu(), remote.counts()?, remote.streaming()?);
    let live_at_end = all_live()?;
    let _ = stop.send(());
    let stats = scheduler.await?;
    let rss = status_kib("VmRSS").unwrap_or(0);
    // What failed cycles said, by message, for the table's note.
    let mut errors = std::collections::BTreeMap::<String, u64>::new();
    for name in &bench.names {
        for cycle in host.store().recent_cycles(name, 10_000)? {
            if let Some(error) = cycle.error {
                *errors.entry(error.chars().take(160).collect()).or_default() += 1;
            }
        }
    }
    let connects = streaming_end["connects"].as_u64().unwrap_or(0) - streaming_start["connects"].as_u64().unwrap_or(0);
    Ok(json!({
        "orgs": orgs,
        "warm_up_s": warm_up.as_secs_f64(),
        "all_live": warmed,
        "live_at_end": live_at_end,
        "window_s": elapsed.as_secs_f64(),
        "host_cpu_share": (cpu_end - cpu_start).as_secs_f64() / elapsed.as_secs_f64(),
        "calls_window": calls_end.calls - calls_start.calls,
        "connects_window": connects,
        "rss_before_mib": rss_before as f64 / 1024.0,
        "rss_end_mib": rss as f64 / 1024.0,
        "peak_rss_mib": status_kib("VmHWM").unwrap_or(0) as f64 / 1024.0,
        "cycles_failed": stats.cycles_failed,
        "errors": errors,
    }))
}
