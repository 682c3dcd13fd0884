//! Figure 5: from a customer's message on a case to the agent's reply on it,
//! in polling mode, with the real scheduler running the org on its interval.
//!
//! Each sample case is first answered once (so it is in a session with the
//! agent); then the customer writes on each at a random moment spread over
//! `span_intervals` poll intervals. The latency of a sample is the reply's
//! `CreatedDate` minus the message's, both stamped by the emulated org (to the
//! millisecond), so how often the bench looks for replies does not matter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::measure::{Rng, max, median, ms, percentile};
use crate::remote::RemoteOrg;
use crate::setup::BenchHost;

#[derive(Debug, Clone)]
pub struct Params {
    pub interval: Duration,
    pub samples: usize,
    pub span_intervals: f64,
    pub seed: u64,
}

const MESSAGE: &str = "One more thing: where do I find the API key for our integration?";

fn created(record: &Value) -> anyhow::Result<DateTime<Utc>> {
    let text = record["CreatedDate"].as_str().context("no CreatedDate")?;
    Ok(DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")?.with_timezone(&Utc))
}

pub async fn run(params: &Params, remote: Arc<RemoteOrg>, bench: &BenchHost) -> anyhow::Result<Value> {
    let host = bench.host.clone();
    let name = bench.names[0].clone();
    let site_guest = remote.user_id("support-site.guest@casebridge.example")?;
    let customer = remote.user_id(remote.seeded["customer_username"].as_str().context("no customer")?)?;
    let integration = remote.seeded_id("integration_user_id");
    let agent_user = remote.seeded_id("agent_user_id");
    let contacts = remote.seeded_ids("contact_ids");
    let mut rng = Rng::new(params.seed);

    // Sample cases, each answered once by a first cycle.
    let mut cases = Vec::new();
    for i in 0..params.samples {
        let fields = json!({
            "Subject": format!("Latency sample {i}: integration setup"),
            "Description": "We are setting up the integration and need help with the first steps.",
            "Origin": "Web", "Status": "New", "OwnerId": agent_user, "ContactId": rng.pick(&contacts),
        });
        cases.push(remote.create_as(&site_guest, "Case", fields)?);
    }
    let first = host.cycle(&name).await.map_err(|e| anyhow::anyhow!("the first cycle failed: {e}"))?;
    ensure!(first.replies_posted as usize >= params.samples, "the first cycle did not answer every sample: {first:?}");

    // The scheduler runs the org; the customer writes at random moments.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    }));
    let span = params.interval.mul_f64(params.span_intervals);
    let mut moments: Vec<Duration> = (0..params.samples).map(|_| span.mul_f64(rng.unit())).collect();
    moments.sort();
    let writer = {
        let (remote, cases) = (remote.clone(), cases.clone());
        let interval = params.interval;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let started = Instant::now();
            for (case, moment) in cases.iter().zip(moments) {
                std::thread::sleep((started + moment).saturating_duration_since(Instant::now()));
                let fields = json!({"ParentId": case, "CommentBody": MESSAGE, "IsPublished": true});
                remote.create_as(&customer, "CaseComment", fields)?;
            }
            // Wait for the replies: at most a few intervals after the last message.
            let deadline = Instant::now() + interval * 5 + Duration::from_secs(30);
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                if latencies(&remote, &cases, &integration)?.len() == cases.len() {
                    break;
                }
            }
            Ok(())
        })
    };
    writer.await??;
    let _ = stop.send(());
    let stats = scheduler.await?;

    let latencies_ms = latencies(&remote, &cases, &remote.seeded_id("integration_user_id"))?;
    let cycles = host.store().recent_cycles(&name, 10_000)?;
    let cycle_ms: Vec<f64> =
        cycles.iter().filter_map(|c| c.finished_at.map(|f| (f - c.started_at).num_milliseconds() as f64)).collect();
    Ok(json!({
        "interval_s": params.interval.as_secs_f64(),
        "samples": params.samples,
        "answered": latencies_ms.len(),
        "median_ms": median(&latencies_ms),
        "p99_ms": percentile(&latencies_ms, 99.0),
        "max_ms": max(&latencies_ms),
        "latencies_ms": latencies_ms,
        "median_cycle_ms": median(&cycle_ms),
        "cycles": stats.cycles_started,
        "span_ms": ms(span),
    }))
}

/// For each sample case whose message has a reply: reply time minus message time, in ms.
fn latencies(remote: &RemoteOrg, cases: &[String], integration: &str) -> anyhow::Result<Vec<f64>> {
    let ids: Vec<String> = cases.iter().map(|c| format!("'{c}'")).collect();
    let comments = remote.query(&format!(
        "SELECT ParentId, CommentBody, CreatedById, CreatedDate FROM CaseComment WHERE ParentId IN ({}) ORDER BY CreatedDate",
        ids.join(", ")
    ))?;
    let mut out = Vec::new();
    for case in cases {
        let on_case: Vec<&Value> = comments.iter().filter(|c| c["ParentId"].as_str() == Some(case.as_str())).collect();
        let Some(message) = on_case.iter().find(|c| c["CommentBody"].as_str() == Some(MESSAGE)) else { continue };
        let asked = created(message)?;
        let reply = on_case
            .iter()
            .filter(|c| c["CreatedById"].as_str() == Some(integration))
            .map(|c| created(c))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .filter(|at| *at >= asked)
            .min();
        if let Some(answered) = reply {
            out.push((answered - asked).num_milliseconds() as f64);
        }
    }
    Ok(out)
}
