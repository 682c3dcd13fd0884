//! The poll (A3, E2, E7) as sweeps: where each sweep reads next, and how far
//! it has read after a page.
//!
//! Five sweeps run side by side, each in `(timestamp, Id)` order with its own
//! key: the agent's cases by `SystemModstamp`, and the new CaseComments,
//! EmailMessages, FeedItems and FeedComments on them by `CreatedDate` (a new
//! post does not change its case). A page reads every sweep that may have
//! more; each page is bounded, so any backlog completes page by page in
//! bounded memory, with the progress committed after each page.
//!
//! - **First sweep.** The agent's open cases, from the beginning of time.
//!   The child sweeps start when it starts (their history comes with each
//!   case). When it reaches its end, the case sweep goes back to when it
//!   started, now for every change of the agent's cases (a case closed during
//!   the first sweep is seen), and carries on incrementally.
//! - **Caught up.** A sweep whose page is not full has read everything up to
//!   the moment of the query. Its key moves to that moment minus the overlap,
//!   by Salesforce's clock (records committed late carry an earlier stamp, so
//!   the last overlap is read again and de-duplicated), so once the overlap
//!   has passed, an idle cycle reads no record at all.

use std::collections::BTreeSet;

use crate::model::Timestamp;
use crate::salesforce::cases::{ChildKind, SweepKey, SweepPage};

use super::state::PollState;

/// Which sweeps may have more to read in this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub cases: bool,
    pub children: BTreeSet<ChildKind>,
}

impl Pending {
    /// At the start of a cycle every sweep is read once.
    pub fn start() -> Self {
        Pending { cases: true, children: ChildKind::ALL.into_iter().collect() }
    }

    pub fn any(&self) -> bool {
        self.cases || !self.children.is_empty()
    }
}

/// What the next page reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cases: Option<SweepKey>,
    pub open_cases_only: bool,
    pub children: Vec<(ChildKind, SweepKey)>,
}

/// The next page of the sweeps that may have more. The child sweeps start
/// once the first page has told the time the first sweep started.
pub fn plan(poll: &PollState, pending: &Pending, overlap_ms: i64) -> Plan {
    let children = match poll.started_at {
        Some(started) => pending
            .children
            .iter()
            .map(|kind| (*kind, poll.children.get(kind).cloned().unwrap_or_else(|| SweepKey::at(started - overlap_ms))))
            .collect(),
        None => Vec::new(),
    };
    Plan { cases: pending.cases.then(|| poll.cases.clone()), open_cases_only: !poll.first_sweep_done, children }
}

/// Move the keys after `page` (read at Salesforce time `now`) and note which
/// sweeps have more.
pub fn advance(
    poll: &mut PollState,
    pending: &mut Pending,
    plan: &Plan,
    page: &SweepPage,
    now: Timestamp,
    overlap_ms: i64,
) {
    let started = *poll.started_at.get_or_insert(now);
    let caught_up = SweepKey::at(now - overlap_ms);
    if let (Some(before), Some(cases)) = (&plan.cases, &page.cases) {
        let last = cases.last().map(|c| SweepKey { stamp: c.modstamp, id: c.id.clone() });
        match last.filter(|last| page.cases_full() && last > before) {
            Some(last) => poll.cases = last,
            None => {
                pending.cases = false;
                if poll.first_sweep_done {
                    poll.cases = caught_up.clone();
                } else {
                    poll.first_sweep_done = true;
                    poll.cases = SweepKey::at(started - overlap_ms);
                }
            }
        }
    }
    for (kind, before) in &plan.children {
        let records = page.children.iter().find(|(k, _)| k == kind).map(|(_, r)| r.as_slice()).unwrap_or_default();
        let last = records.last().map(|r| SweepKey { stamp: r.created_at, id: r.id.clone() });
        match last.filter(|last| page.children_full(*kind) && last > before) {
            Some(last) => {
                poll.children.insert(*kind, last);
            }
            None => {
                pending.children.remove(kind);
                poll.children.insert(*kind, caught_up.clone());
            }
        }
    }
    if poll.started_at.is_some() {
        for kind in ChildKind::ALL {
            poll.children.entry(kind).or_insert_with(|| SweepKey::at(started - overlap_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::cases::{CASES_PER_PAGE, CaseRecord};

    const OVERLAP: i64 = 120_000;

    fn case(stamp: Timestamp, n: usize) -> CaseRecord {
        CaseRecord {
            id: format!("500{n:012}AAA"),
            case_number: String::new(),
            subject: None,
            description: None,
            origin: None,
            is_closed: false,
            owner_id: String::new(),
            supplied_email: None,
            supplied_name: None,
            created_at: None,
            modstamp: stamp,
            involved: None,
            resolution_state: None,
            contact_email: None,
            fields: vec![],
            contact: None,
            account: None,
        }
    }

    fn page(cases: Vec<CaseRecord>) -> SweepPage {
        SweepPage { cases: Some(cases), children: ChildKind::ALL.iter().map(|k| (*k, vec![])).collect() }
    }

    #[test]
    fn the_first_page_reads_cases_only_and_starts_the_child_sweeps_at_its_time() {
        let mut poll = PollState::default();
        let mut pending = Pending::start();
        let first = plan(&poll, &pending, OVERLAP);
        assert!(first.children.is_empty() && first.open_cases_only);
        let full: Vec<CaseRecord> = (0..CASES_PER_PAGE as usize).map(|n| case(1_000 + n as i64, n)).collect();
        advance(&mut poll, &mut pending, &first, &page(full), 1_000_000, OVERLAP);
        assert_eq!(poll.started_at, Some(1_000_000));
        assert_eq!(poll.cases.stamp, 1_000 + CASES_PER_PAGE as i64 - 1, "a full page continues after its last case");
        assert!(pending.cases);
        let second = plan(&poll, &pending, OVERLAP);
        assert_eq!(second.children.len(), 4);
        assert!(second.children.iter().all(|(_, key)| key.stamp == 1_000_000 - OVERLAP));
    }

    #[test]
    fn the_end_of_the_first_sweep_goes_back_to_when_it_started() {
        let mut poll = PollState { started_at: Some(500_000), ..Default::default() };
        let mut pending = Pending::start();
        let p = plan(&poll, &pending, OVERLAP);
        advance(&mut poll, &mut pending, &p, &page(vec![case(10, 1)]), 2_000_000, OVERLAP);
        assert!(poll.first_sweep_done && !pending.cases);
        assert_eq!(poll.cases, SweepKey::at(500_000 - OVERLAP));
        assert!(!plan(&poll, &Pending::start(), OVERLAP).open_cases_only);
    }

    #[test]
    fn a_quiet_org_reads_nothing_once_the_overlap_has_passed() {
        let mut poll = PollState { started_at: Some(0), first_sweep_done: true, ..Default::default() };
        let mut pending = Pending::start();
        let p = plan(&poll, &pending, OVERLAP);
        advance(&mut poll, &mut pending, &p, &page(vec![]), 10_000_000, OVERLAP);
        // The next query starts at the last query's time minus the overlap:
        // records older than that are never read again.
        assert_eq!(poll.cases, SweepKey::at(10_000_000 - OVERLAP));
        assert!(poll.children.values().all(|k| *k == SweepKey::at(10_000_000 - OVERLAP)));
        assert!(!pending.any());
    }
}
