//! Figures 1 and 2: API calls and host CPU time per idle cycle and per
//! updated case, over a run of case updates of mixed kinds.
//!
//! One org, the real host (`Host::cycle`: SQLite store, cycle log), the
//! emulator in its own process. Before every cycle the emulator's clock moves
//! 60 s, the default poll interval, so each poll's look-back (the default
//! 120 s overlap) covers what it would in production: the last two polls.
//!
//! A run, on a fresh org and a fresh host:
//! 1. the first cycle (describe, the seeded cases) and a few idle cycles, not counted;
//! 2. idle A: idle cycles;
//! 3. mixed: cycles with 0..=N updates each until at least `mixed_updates`;
//! 4. idle B;
//! 5. single: `single_updates` cycles with exactly one update each;
//! 6. idle C.
//!
//! Every update phase ends with a few update-free cycles, counted in the
//! phase, so work a change causes in later polls is charged to it. Every
//! cycle with updates is preceded by an uncounted idle cycle at the same
//! state, the baseline its CPU time is compared with: the idle cycle's cost
//! grows with the cases the org knows, so idle phases before and after a
//! phase would not do.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use casebridge::host::Host;
use casebridge::runtime::BlockingKeyValueStore as _;
use serde_json::{Value, json};

use crate::measure::{Rng, median, ms, process_cpu};
use crate::remote::{Counts, RemoteOrg};

/// Update-free cycles at the end of each update phase.
const TRAILING_CYCLES: usize = 3;
/// Seconds the emulator's clock moves before each cycle: the default poll interval.
const POLL_INTERVAL_SECONDS: u64 = 60;

#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    pub idle_cycles: usize,
    pub mixed_updates: usize,
    /// Each mixed cycle carries 0..=this many updates.
    pub max_updates_per_cycle: usize,
    pub single_updates: usize,
}

/// The kinds of case update, with how often each comes in a mixed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NewCase,
    CustomerReply,
    HandOff,
    Confirmation,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::NewCase, Kind::CustomerReply, Kind::HandOff, Kind::Confirmation];

    fn weight(self) -> u32 {
        match self {
            Kind::NewCase => 30,
            Kind::CustomerReply => 40,
            Kind::HandOff => 15,
            Kind::Confirmation => 15,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Kind::NewCase => "new_case",
            Kind::CustomerReply => "customer_reply",
            Kind::HandOff => "hand_off",
            Kind::Confirmation => "confirmation",
        }
    }

    /// What the customer writes; the scripted agent answers a plain question,
    /// hands off on "person" and takes "fixed" as a confirmation.
    fn comment(self) -> &'static str {
        match self {
            Kind::NewCase => "",
            Kind::CustomerReply => "Thanks. One more question: how do I add a second admin to our workspace?",
            Kind::HandOff => "This still does not work. Can I talk to a person please?",
            Kind::Confirmation => "That fixed it, thanks!",
        }
    }
}

/// What a group of cycles cost.
#[derive(Debug, Default, Clone)]
struct Phase {
    cycles: u64,
    updates: u64,
    counts: Counts,
    reported_calls: u64,
    host_cpu: Duration,
    emulator_cpu: Duration,
    wall_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
    replies: u64,
    hand_offs: u64,
    state_changes: u64,
    expected_replies: u64,
    expected_hand_offs: u64,
    known_cases: usize,
    /// Calls of each single-update cycle, by kind (single phase only).
    by_kind: Vec<(Kind, u64)>,
    /// Updates in cycles that had a baseline, and the CPU time those cycles
    /// took beyond their baselines.
    paired_updates: u64,
    paired_extra_cpu_ms: f64,
}

impl Phase {
    fn to_json(&self) -> Value {
        let mut by_kind = serde_json::Map::new();
        for kind in Kind::ALL {
            let calls: Vec<u64> = self.by_kind.iter().filter(|(k, _)| *k == kind).map(|(_, c)| *c).collect();
            by_kind.insert(kind.key().into(), json!(calls));
        }
        json!({
            "cycles": self.cycles,
            "updates": self.updates,
            "calls": self.counts.calls,
            "token_requests": self.counts.tokens,
            "reported_calls": self.reported_calls,
            "host_cpu_ms": ms(self.host_cpu),
            "emulator_cpu_ms": ms(self.emulator_cpu),
            "median_cycle_wall_ms": median(&self.wall_ms),
            "median_cycle_cpu_ms": median(&self.cpu_ms),
            "replies": self.replies,
            "hand_offs": self.hand_offs,
            "state_changes": self.state_changes,
            "expected_replies": self.expected_replies,
            "expected_hand_offs": self.expected_hand_offs,
            "known_cases": self.known_cases,
            "cpu_ms_per_update_over_baseline": self.paired_extra_cpu_ms / self.paired_updates.max(1) as f64,
            "calls_by_kind": by_kind,
        })
    }
}

/// The org as the workload sees it: which cases the customer can write on.
struct Workload<'a> {
    remote: &'a RemoteOrg,
    host: &'a Host,
    name: String,
    rng: Rng,
    /// Cases in a session with the agent that a customer may write on.
    open: Vec<String>,
    customer: String,
    site_guest: String,
    agent_user: String,
    contacts: Vec<String>,
    serial: usize,
}

impl Workload<'_> {
    fn pick_kind(&mut self) -> Kind {
        let total: u32 = Kind::ALL.iter().map(|k| k.weight()).sum();
        let mut roll = self.rng.below(total as usize) as u32;
        for kind in Kind::ALL {
            if roll < kind.weight() {
                return kind;
            }
            roll -= kind.weight();
        }
        Kind::NewCase
    }

    /// Makes `count` updates on distinct cases; returns their kinds.
    fn update(&mut self, count: usize) -> anyhow::Result<Vec<Kind>> {
        let mut available = self.open.clone();
        let mut created = Vec::new();
        let mut kinds = Vec::with_capacity(count);
        for _ in 0..count {
            let mut kind = self.pick_kind();
            if kind != Kind::NewCase && available.is_empty() {
                kind = Kind::NewCase;
            }
            if kind == Kind::NewCase {
                created.push(self.new_case()?);
            } else {
                let case_id = available.swap_remove(self.rng.below(available.len()));
                let fields = json!({"ParentId": case_id, "CommentBody": kind.comment(), "IsPublished": true});
                self.remote.create_as(&self.customer, "CaseComment", fields)?;
                if matches!(kind, Kind::HandOff | Kind::Confirmation) {
                    self.open.retain(|c| *c != case_id);
                }
            }
            kinds.push(kind);
        }
        self.open.extend(created);
        Ok(kinds)
    }

    fn new_case(&mut self) -> anyhow::Result<String> {
        self.serial += 1;
        let contact = self.rng.pick(&self.contacts).clone();
        let priority = *self.rng.pick(&["Low", "Medium", "High"]);
        let fields = json!({
            "Subject": format!("Invoices export to an empty file (bench {})", self.serial),
            "Description": "When I export last month's invoices to CSV the file has only the header row. What should I do?",
            "Origin": "Web", "Status": "New", "Priority": priority,
            "OwnerId": self.agent_user, "ContactId": contact,
            "SuppliedEmail": format!("customer{}@example.com", self.serial), "SuppliedName": "Bench Customer",
        });
        self.remote.create_as(&self.site_guest, "Case", fields)
    }

    /// Moves the clock one poll interval, makes the updates, runs one cycle.
    ///
    /// A cycle with updates is preceded by a baseline: an idle cycle at the
    /// same state (same known cases), not counted in the phase, whose CPU time
    /// is subtracted from the update cycle's for the CPU time per updated case.
    /// Both cycles re-read the cases the previous updates changed (the poll's
    /// look-back), so that cost cancels out.
    async fn cycle(&mut self, updates: usize, phase: &mut Phase) -> anyhow::Result<()> {
        let baseline = if updates > 0 { Some(self.measured_cycle(0).await?.2) } else { None };
        let (kinds, counts, cpu, wall, report) = self.measured_cycle(updates).await?;
        if let Some(baseline) = baseline {
            phase.paired_updates += kinds.len() as u64;
            phase.paired_extra_cpu_ms += ms(cpu) - ms(baseline);
        }
        phase.cycles += 1;
        phase.updates += kinds.len() as u64;
        phase.counts.calls += counts.calls;
        phase.counts.tokens += counts.tokens;
        phase.reported_calls += u64::from(report.api_calls);
        phase.host_cpu += cpu;
        phase.wall_ms.push(ms(wall));
        phase.cpu_ms.push(ms(cpu));
        phase.replies += u64::from(report.replies_posted + report.emails_sent);
        phase.hand_offs += u64::from(report.hand_offs);
        phase.state_changes += u64::from(report.state_changes);
        // Every update gets a message from the agent; a hand-off also moves the case.
        phase.expected_replies += kinds.len() as u64;
        phase.expected_hand_offs += kinds.iter().filter(|k| **k == Kind::HandOff).count() as u64;
        if let [kind] = kinds[..] {
            phase.by_kind.push((kind, counts.calls));
        }
        Ok(())
    }

    async fn measured_cycle(
        &mut self,
        updates: usize,
    ) -> anyhow::Result<(Vec<Kind>, Counts, Duration, Duration, casebridge::runtime::bindings::sync::CycleReport)> {
        self.remote.advance_clock(POLL_INTERVAL_SECONDS)?;
        let kinds = self.update(updates)?;
        let before = self.remote.counts()?;
        let cpu = process_cpu();
        let started = Instant::now();
        let result = self.host.cycle(&self.name).await;
        let wall = started.elapsed();
        let cpu = process_cpu() - cpu;
        let counts = self.remote.counts()? - before;
        let report = result.with_context(|| format!("a cycle with {} update(s) failed", kinds.len()))?;
        Ok((kinds, counts, cpu, wall, report))
    }

    async fn idle(&mut self, cycles: usize) -> anyhow::Result<Phase> {
        let mut phase = Phase::default();
        let emulator_cpu = self.remote.cpu()?;
        for _ in 0..cycles {
            self.cycle(0, &mut phase).await?;
        }
        phase.emulator_cpu = self.remote.cpu()? - emulator_cpu;
        phase.known_cases = self.known_cases()?;
        Ok(phase)
    }

    fn known_cases(&self) -> anyhow::Result<usize> {
        Ok(self.host.store().scan(&self.name, "summary/").map_err(|e| anyhow::anyhow!("{e:?}"))?.len())
    }
}

/// One run on a fresh org and host; the figures as JSON.
pub async fn run(params: &Params, remote: &RemoteOrg, host: &Host, name: &str) -> anyhow::Result<Value> {
    let customer_username = remote.seeded["customer_username"].as_str().context("no community customer")?.to_string();
    let email_case = remote.seeded_id("email_case_id");
    let mut workload = Workload {
        remote,
        host,
        name: name.to_string(),
        rng: Rng::new(params.seed),
        // The seeded web cases; the email case's customer writes by email.
        open: remote.seeded_ids("agent_case_ids").into_iter().filter(|id| *id != email_case).collect(),
        customer: remote.user_id(&customer_username)?,
        site_guest: remote.user_id("support-site.guest@casebridge.example")?,
        agent_user: remote.seeded_id("agent_user_id"),
        contacts: remote.seeded_ids("contact_ids"),
        serial: 0,
    };

    let mut setup = Phase::default();
    workload.cycle(0, &mut setup).await?;
    let _warm_up = workload.idle(3).await?;
    let idle_a = workload.idle(params.idle_cycles).await?;

    let mut mixed = Phase::default();
    while mixed.updates < params.mixed_updates as u64 {
        let count = workload.rng.below(params.max_updates_per_cycle + 1);
        workload.cycle(count, &mut mixed).await?;
    }
    for _ in 0..TRAILING_CYCLES {
        workload.cycle(0, &mut mixed).await?;
    }
    mixed.known_cases = workload.known_cases()?;
    let endpoints_after_mixed = remote.endpoints()?;
    let idle_b = workload.idle(params.idle_cycles).await?;

    let mut single = Phase::default();
    for _ in 0..params.single_updates {
        workload.cycle(1, &mut single).await?;
    }
    for _ in 0..TRAILING_CYCLES {
        workload.cycle(0, &mut single).await?;
    }
    single.known_cases = workload.known_cases()?;
    let idle_c = workload.idle(params.idle_cycles).await?;

    Ok(json!({
        "setup": setup.to_json(),
        "idle_a": idle_a.to_json(),
        "mixed": mixed.to_json(),
        "idle_b": idle_b.to_json(),
        "single": single.to_json(),
        "idle_c": idle_c.to_json(),
        "endpoints_after_mixed": endpoints_after_mixed,
    }))
}
