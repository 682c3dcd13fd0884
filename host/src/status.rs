//! `casebridge status`: per org, what happened last, what happens next and
//! what to do about it — as text for people, or as JSON with typed fields.
//!
//! ```no_run
//! # async fn example(host: &casebridge::host::Host) -> anyhow::Result<()> {
//! let status = casebridge::status::collect(host).await?;
//! println!("{status}"); // text
//! println!("{}", serde_json::to_string_pretty(&status)?); // JSON
//! # Ok(()) }
//! ```
//!
//! Everything comes from the host's own tables (the org's status row, its
//! newest cycle report, its lease) and the connector's list of open errors;
//! nothing is read from the connector's private keys.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::SyncMode;
use crate::host::Host;
use crate::storage::{CycleOutcome, LeaseState, Leases as _, OrgStatus, StorageError, StreamStatus};
use crate::text;

/// The status of every configured org.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// When the status was read.
    pub at: DateTime<Utc>,
    /// One entry per `[[org]]`, in configuration order.
    pub orgs: Vec<OrgReport>,
}

/// One org.
#[derive(Debug, Clone, Serialize)]
pub struct OrgReport {
    pub org: String,
    /// The last finished cycle; `None` before the first.
    pub last_cycle: Option<LastCycle>,
    /// Failed cycles in a row.
    pub consecutive_failures: u32,
    /// When `casebridge run` tries the org next; `None` until a scheduler planned it.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// API calls spent today (UTC), failed cycles included.
    pub api_calls_today: u32,
    /// OAuth token requests today (UTC), not counted by Salesforce as API calls.
    pub token_requests_today: u32,
    /// The org's `daily_api_budget`.
    pub daily_api_budget: u32,
    /// How far the poll has read (Salesforce's time), from the newest cycle report.
    pub watermark: Option<DateTime<Utc>>,
    /// Writes Salesforce refused that wait for `casebridge errors retry`;
    /// `None` when they could not be read (see `open_errors_problem`).
    pub open_errors: Option<u64>,
    /// Why `open_errors` could not be read.
    pub open_errors_problem: Option<String>,
    /// The write and agent errors the newest cycle report carried.
    pub last_report_errors: Vec<ReportedError>,
    /// The process cycling the org right now, if any.
    pub running: Option<RunningCycle>,
    /// `polling` or `streaming` (E4).
    pub mode: SyncMode,
    /// How the org's stream stood at its last step (streaming mode; `None`
    /// until a `casebridge run` started it).
    pub stream: Option<StreamStatus>,
}

/// How the last cycle went.
#[derive(Debug, Clone, Serialize)]
pub struct LastCycle {
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok` or `failed`.
    pub outcome: &'static str,
    /// In words: `ok — 3 cases, 2 replies, 1 hand-off`, `failed — cannot reach Salesforce (…)`.
    pub summary: String,
    /// The failure, when it failed.
    pub error: Option<CycleError>,
}

/// A failed cycle's error.
#[derive(Debug, Clone, Serialize)]
pub struct CycleError {
    /// A stable name: `transport`, `out_of_memory`, `refused_origin`, … (`host::OrgError::kind`).
    pub kind: String,
    /// One line that says what to do.
    pub message: String,
}

/// An error a cycle report carried: a write Salesforce refused, an email
/// the mail server rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedError {
    pub id: String,
    pub record_id: Option<String>,
    pub operation: String,
    /// Salesforce's HTTP status (0 when it is not Salesforce's).
    pub status: u64,
    pub code: String,
    pub message: String,
}

/// A cycle that is running now.
#[derive(Debug, Clone, Serialize)]
pub struct RunningCycle {
    /// `casebridge pid 1234 on host x`.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
    /// When its lease expires unless renewed.
    pub lease_until: DateTime<Utc>,
}

/// Reads the status of every configured org.
pub async fn collect(host: &Host) -> Result<StatusReport, StorageError> {
    let at = Utc::now();
    let mut orgs = Vec::new();
    for org in &host.config().orgs {
        let status = host.store().org_status(&org.name)?;
        let lease = host.store().lease_state(&org.name)?;
        let (open_errors, open_errors_problem) = match host.list_errors(&org.name).await {
            Ok(errors) => (Some(errors.len() as u64), None),
            Err(error) => (None, Some(error.reason())),
        };
        let mut report =
            org_report(&org.name, org.daily_api_budget, status, lease, at, open_errors, open_errors_problem);
        report.mode = org.mode;
        if org.mode == SyncMode::Polling {
            report.stream = None; // a stream row left from when the org streamed
        }
        orgs.push(report);
    }
    Ok(StatusReport { at, orgs })
}

fn org_report(
    name: &str,
    daily_api_budget: u32,
    status: Option<OrgStatus>,
    lease: Option<LeaseState>,
    at: DateTime<Utc>,
    open_errors: Option<u64>,
    open_errors_problem: Option<String>,
) -> OrgReport {
    let today = at.date_naive();
    let report = status
        .as_ref()
        .and_then(|s| s.last_report_json.as_deref())
        .and_then(|json| serde_json::from_str::<Value>(json).ok());
    let last_cycle = status.as_ref().and_then(|s| {
        let outcome = s.last_outcome.as_ref()?;
        Some(match outcome {
            CycleOutcome::Ok => LastCycle {
                started_at: s.last_cycle_started_at,
                finished_at: s.last_cycle_finished_at,
                outcome: "ok",
                summary: report.as_ref().map_or_else(|| "ok".into(), summary),
                error: None,
            },
            CycleOutcome::Error { kind, message } => {
                // One line: older versions stored multi-line trap messages.
                let message = message.lines().next().unwrap_or_default().to_string();
                LastCycle {
                    started_at: s.last_cycle_started_at,
                    finished_at: s.last_cycle_finished_at,
                    outcome: "failed",
                    summary: format!("failed — {message}"),
                    error: Some(CycleError { kind: kind.clone(), message }),
                }
            }
        })
    });
    OrgReport {
        org: name.to_string(),
        mode: SyncMode::Polling,
        stream: status.as_ref().and_then(|s| s.stream.clone()),
        last_cycle,
        consecutive_failures: status.as_ref().map_or(0, |s| s.consecutive_failures),
        next_attempt_at: status.as_ref().and_then(|s| s.next_run_at),
        api_calls_today: status.as_ref().map_or(0, |s| s.api_calls_on(today)),
        token_requests_today: status.as_ref().map_or(0, |s| s.token_requests_on(today)),
        daily_api_budget,
        watermark: report.as_ref().and_then(|r| r["watermark"].as_i64()).and_then(DateTime::from_timestamp_millis),
        open_errors,
        open_errors_problem,
        last_report_errors: report.as_ref().map(reported_errors).unwrap_or_default(),
        running: lease.filter(|lease| lease.is_held_at(at)).and_then(|lease| {
            Some(RunningCycle {
                holder: lease.holder.to_string(),
                host: lease.holder.host().to_string(),
                pid: lease.holder.pid(),
                since: lease.acquired_at,
                lease_until: lease.expires_at?,
            })
        }),
    }
}

/// A successful cycle's report (as [`report_json`](crate::host::report_json)
/// writes it) in words: `ok — 3 cases, 2 replies, 1 hand-off`.
pub fn summary(report: &Value) -> String {
    let n = |field: &str| report[field].as_u64().unwrap_or(0);
    let mut parts =
        vec![text::count(n("cases_seen"), "case", "cases"), text::count(n("replies_posted"), "reply", "replies")];
    for (field, one, many) in [
        ("emails_sent", "email", "emails"),
        ("hand_offs", "hand-off", "hand-offs"),
        ("conversations_created", "new conversation", "new conversations"),
        ("state_changes", "state change", "state changes"),
    ] {
        if n(field) > 0 {
            parts.push(text::count(n(field), one, many));
        }
    }
    let errors = report["errors"].as_array().map_or_else(|| report["errors"].as_u64().unwrap_or(0), |e| e.len() as u64);
    if errors > 0 {
        parts.push(text::count(errors, "error", "errors"));
    }
    format!("ok — {}", parts.join(", "))
}

fn reported_errors(report: &Value) -> Vec<ReportedError> {
    let Some(errors) = report["errors"].as_array() else { return Vec::new() };
    let text = |error: &Value, field: &str| error[field].as_str().unwrap_or_default().to_string();
    errors
        .iter()
        .map(|error| ReportedError {
            id: text(error, "id"),
            record_id: error["record_id"].as_str().map(str::to_string),
            operation: text(error, "operation"),
            status: error["status"].as_u64().unwrap_or(0),
            code: text(error, "code"),
            message: text(error, "message"),
        })
        .collect()
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.orgs.is_empty() {
            return writeln!(f, "no orgs are configured; add an [[org]] section to the configuration");
        }
        for (index, org) in self.orgs.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            org.write(f, self.at)?;
        }
        Ok(())
    }
}

/// The width of the labels in the text output.
const LABEL: usize = 14;

impl OrgReport {
    fn write(&self, f: &mut fmt::Formatter<'_>, now: DateTime<Utc>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, label: &str, value: String| writeln!(f, "  {label:<LABEL$} {value}");
        writeln!(f, "{}", self.org)?;
        match &self.last_cycle {
            None => line(f, "last cycle", "none yet".into())?,
            Some(cycle) => {
                let when = cycle.finished_at.or(cycle.started_at).map_or_else(String::new, |t| text::time_from(t, now));
                line(f, "last cycle", format!("{when}: {}", cycle.summary))?;
            }
        }
        if let Some(running) = &self.running {
            line(f, "running now", format!("by {} since {}", running.holder, text::time_from(running.since, now)))?;
        }
        line(f, "failures", format!("{} in a row", self.consecutive_failures))?;
        line(
            f,
            "next attempt",
            self.next_attempt_at.map_or_else(
                || "not planned (no `casebridge run` has cycled the org)".into(),
                |t| text::time_from(t, now),
            ),
        )?;
        line(
            f,
            "API calls",
            format!(
                "{} today (UTC) of a daily budget of {}, and {}",
                self.api_calls_today,
                self.daily_api_budget,
                text::count(u64::from(self.token_requests_today), "token request", "token requests")
            ),
        )?;
        if self.mode == SyncMode::Streaming {
            line(f, "stream", self.stream_line(now))?;
        }
        line(f, "watermark", self.watermark.map_or_else(|| "none yet (no poll has finished)".into(), text::time))?;
        match (self.open_errors, &self.open_errors_problem) {
            (Some(0), _) => line(f, "open errors", "0".into())?,
            (Some(count), _) => {
                line(f, "open errors", format!("{count} (`casebridge errors list --org {}`)", self.org))?
            }
            (None, problem) => line(f, "open errors", format!("unknown: {}", problem.as_deref().unwrap_or("")))?,
        }
        for error in &self.last_report_errors {
            let on = error.record_id.as_deref().map(|id| format!(" on {id}")).unwrap_or_default();
            let status = if error.status == 0 { String::new() } else { format!("{} ", error.status) };
            line(
                f,
                "last report",
                format!("{}{on} failed: {status}{} {}", error.operation, error.code, error.message),
            )?;
        }
        Ok(())
    }
}

impl OrgReport {
    /// The stream in words: `live since 3 min ago: … (12 events, 3 own writes, 4 woke a cycle)`.
    fn stream_line(&self, now: DateTime<Utc>) -> String {
        let Some(stream) = &self.stream else {
            return "not started (`casebridge run` starts it); polled every poll_interval_seconds meanwhile".into();
        };
        let counts = format!(
            "{}, {}, {} woke a cycle",
            text::count(stream.events, "event", "events"),
            text::count(stream.own_writes, "own write", "own writes"),
            stream.relevant
        );
        let fallback = if stream.health == "live" {
            String::new()
        } else {
            "; polled every poll_interval_seconds until it is live again".into()
        };
        format!(
            "{} since {}: {} ({counts}){fallback}",
            stream.health,
            text::time_from(stream.since, now),
            stream.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Holder;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn status(outcome: CycleOutcome, report: Option<&str>) -> OrgStatus {
        OrgStatus {
            org: "acme".into(),
            last_cycle_started_at: Some(at("2025-03-01T12:00:00Z")),
            last_cycle_finished_at: Some(at("2025-03-01T12:00:02Z")),
            last_outcome: Some(outcome),
            consecutive_failures: 0,
            next_run_at: Some(at("2025-03-01T12:01:02Z")),
            api_calls: 7,
            token_requests: 1,
            api_calls_day: Some(at("2025-03-01T00:00:00Z").date_naive()),
            last_report_json: report.map(str::to_string),
            wake_requested_at: None,
            stream: None,
        }
    }

    const REPORT: &str = r#"{"cases_seen":3,"conversations_created":1,"conversations_updated":2,"replies_posted":2,
        "emails_sent":0,"hand_offs":1,"state_changes":0,"api_calls":3,"api_usage":null,
        "errors":[{"id":"reply:500A","record_id":"500A","operation":"post reply","status":400,
                   "code":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"Comments are closed"}],
        "watermark":1740830520000}"#;

    #[test]
    fn a_successful_cycle_reads_in_words_with_its_watermark_and_errors() {
        let now = at("2025-03-01T12:00:30Z");
        let report = org_report("acme", 5000, Some(status(CycleOutcome::Ok, Some(REPORT))), None, now, Some(1), None);
        let last = report.last_cycle.as_ref().expect("a last cycle");
        assert_eq!(last.summary, "ok — 3 cases, 2 replies, 1 hand-off, 1 new conversation, 1 error");
        assert_eq!(report.watermark, Some(at("2025-03-01T12:02:00Z")));
        assert_eq!(report.api_calls_today, 7);
        assert_eq!(report.token_requests_today, 1);
        assert_eq!(report.last_report_errors[0].code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
        let text = StatusReport { at: now, orgs: vec![report.clone()] }.to_string();
        assert!(text.contains("ok — 3 cases"), "{text}");
        assert!(text.contains("next attempt   2025-03-01 12:01:02 UTC (in 32 s)"), "{text}");
        assert!(text.contains("post reply on 500A failed: 400 FIELD_CUSTOM_VALIDATION_EXCEPTION"), "{text}");
        assert!(!text.contains("Some(") && !text.contains("Ok(") && !text.contains("{"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["open_errors"], 1);
        assert_eq!(json["last_cycle"]["outcome"], "ok");
        assert_eq!(json["watermark"], "2025-03-01T12:02:00Z");
    }

    #[test]
    fn a_failed_cycle_reads_as_one_line_and_a_running_one_names_its_process() {
        let now = at("2025-03-01T12:00:30Z");
        let failed = CycleOutcome::error(
            "deadline",
            "the connector ran longer than [host] cycle_deadline_seconds = 300 and was stopped\nbacktrace",
        );
        let lease = LeaseState {
            holder: Holder::new("worker-3", 1234, "ab"),
            token: 9,
            acquired_at: at("2025-03-01T12:00:20Z"),
            expires_at: Some(at("2025-03-01T12:00:50Z")),
        };
        let report =
            org_report("acme", 5000, Some(status(failed, Some(REPORT))), Some(lease), now, None, Some("x".into()));
        let last = report.last_cycle.as_ref().expect("a last cycle");
        assert_eq!(
            last.summary,
            "failed — the connector ran longer than [host] cycle_deadline_seconds = 300 and was stopped"
        );
        assert_eq!(last.error.as_ref().map(|e| e.kind.as_str()), Some("deadline"));
        assert_eq!(
            report.watermark,
            Some(at("2025-03-01T12:02:00Z")),
            "the newest report's watermark survives a failure"
        );
        let text = StatusReport { at: now, orgs: vec![report] }.to_string();
        assert!(text.contains("running now    by casebridge pid 1234 on host worker-3"), "{text}");
        assert!(!text.contains("backtrace"), "{text}");
    }

    #[test]
    fn a_streaming_org_says_how_its_stream_stands_and_when_it_falls_back_to_polling() {
        let now = at("2025-03-01T12:10:00Z");
        let mut row = status(CycleOutcome::Ok, Some(REPORT));
        row.stream = Some(StreamStatus {
            health: "paused".into(),
            detail: "Salesforce's daily event delivery allocation is used up".into(),
            at: at("2025-03-01T12:09:00Z"),
            since: at("2025-03-01T12:05:00Z"),
            events: 12,
            own_writes: 3,
            relevant: 4,
        });
        let mut report = org_report("acme", 5000, Some(row), None, now, Some(0), None);
        let polling = StatusReport { at: now, orgs: vec![report.clone()] }.to_string();
        assert!(!polling.contains("stream"), "a polling org shows no stream: {polling}");
        report.mode = SyncMode::Streaming;
        let text = StatusReport { at: now, orgs: vec![report.clone()] }.to_string();
        assert!(text.contains("stream         paused since"), "{text}");
        assert!(text.contains("allocation is used up (12 events, 3 own writes, 4 woke a cycle)"), "{text}");
        assert!(text.contains("polled every poll_interval_seconds until it is live again"), "{text}");
        let json = serde_json::to_value(&report).expect("JSON");
        assert_eq!(json["mode"], "streaming");
        assert_eq!(json["stream"]["health"], "paused");
    }
}
