//! The resolution state machine (A10): what happened in a conversation → the
//! value of `FinResolutionState__c`.
//!
//! ```
//! use casebridge_guest::model::{ResolutionState, Timeouts};
//! use casebridge_guest::resolution::{decide, Event, Phase};
//!
//! const HOUR: i64 = 60 * 60 * 1000;
//! let events = [Event::CustomerMessage(0), Event::AgentAnswer(HOUR)];
//!
//! // An hour after the answer the conversation is still open; the state
//! // changes by time alone one day after the answer.
//! let decision = decide(&events, 2 * HOUR, &Timeouts::default());
//! assert_eq!(decision.state, ResolutionState::None);
//! assert_eq!(decision.phase, Phase::Answered);
//! assert_eq!(decision.changes_at, Some(25 * HOUR));
//!
//! // A quiet day later it counts as a soft resolution.
//! let decision = decide(&events, 25 * HOUR, &Timeouts::default());
//! assert_eq!(decision.state, ResolutionState::SoftResolution);
//! assert_eq!(decision.changes_at, None);
//! ```
//!
//! The rules are the table in `wit/since_v0.2.0/logic.wit` (interface
//! `resolution`): [`next`] is its event rows, [`decide`] adds the time rows.
//! Events are de-duplicated and folded in time order, so a poll that sees an
//! event twice, or sees events out of order, gets the same answer.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{ResolutionState, Timeouts, Timestamp};

/// Quiet time after the agent's answer before the case counts as softly
/// resolved: 24 h. Cases are asynchronous — a customer answering an
/// email-like case within a day is normal, and a shorter wait would write
/// Soft Resolution on cases the customer is still working on.
pub const DEFAULT_SOFT_RESOLUTION_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// Quiet time after the agent's question before the case counts as
/// abandoned: 24 h, for the same reason — a customer who replies the next
/// morning has not abandoned the case.
pub const DEFAULT_ABANDONED_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            soft_resolution_after_ms: DEFAULT_SOFT_RESOLUTION_AFTER_MS,
            abandoned_after_ms: DEFAULT_ABANDONED_AFTER_MS,
        }
    }
}

/// A fact about the conversation, with when it happened (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// The customer wrote.
    CustomerMessage(Timestamp),
    /// The agent replied with an answer.
    AgentAnswer(Timestamp),
    /// The agent replied with a question only.
    AgentQuestion(Timestamp),
    /// The customer confirmed the issue is solved.
    CustomerConfirmed(Timestamp),
    /// The customer asked for a person.
    CustomerAskedForPerson(Timestamp),
    /// The agent could not help and handed off.
    AgentCouldNotHelp(Timestamp),
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match *self {
            Event::CustomerMessage(at)
            | Event::AgentAnswer(at)
            | Event::AgentQuestion(at)
            | Event::CustomerConfirmed(at)
            | Event::CustomerAskedForPerson(at)
            | Event::AgentCouldNotHelp(at) => at,
        }
    }
}

/// Where the conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// The customer wrote last (or nothing happened yet); the agent owes a turn.
    AwaitingAgent,
    /// The agent answered last.
    Answered,
    /// The agent asked a question last.
    Asked,
    /// The customer confirmed it is solved; reopens when the customer writes again.
    Confirmed,
    /// Handed to a person; final.
    Routed,
}

/// The outcome of folding the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The state to write.
    pub state: ResolutionState,
    /// The phase the conversation is in.
    pub phase: Phase,
    /// When the state will change by time alone (strictly after `now`), if it
    /// will: schedule the next look at the case for then.
    pub changes_at: Option<Timestamp>,
}

/// Folds `events` into a decision as of `now`.
///
/// Events are sorted by time (ties keep their given order) and an event
/// repeated with the same kind and time counts once. "Quiet" is the time from
/// the latest event to `now`; a timeout has passed when the quiet time is at
/// least the timeout. Events later than `now` (clock skew) are folded like any
/// other and count as zero quiet time.
pub fn decide(events: &[Event], now: Timestamp, timeouts: &Timeouts) -> Decision {
    let events = in_time_order(events);
    let phase = events.iter().fold(Phase::AwaitingAgent, next);
    let state_by_events = state_of(phase);

    // Exact arithmetic in i128: no timestamp or timeout can overflow it.
    let timer = timeout_of(phase, timeouts).zip(events.last());
    let Some(((after_ms, state_by_time), last)) = timer else {
        return Decision { state: state_by_events, phase, changes_at: None };
    };
    let deadline = i128::from(last.at()) + i128::from(after_ms);
    if i128::from(now) >= deadline {
        Decision { state: state_by_time, phase, changes_at: None }
    } else {
        // A deadline past the end of representable time never comes.
        let changes_at = Timestamp::try_from(deadline).ok();
        Decision { state: state_by_events, phase, changes_at }
    }
}

/// The event rows of the transition table in `logic.wit`.
///
/// Every event is idempotent here (`next(next(p, e), e) == next(p, e)`).
/// Besides routed's "anything", every phase and event is named, so a new
/// phase or event must be placed in the table before this compiles.
pub fn next(phase: Phase, event: &Event) -> Phase {
    use Event::*;
    use Phase::*;
    match (phase, event) {
        // Routed is final: a person owns the case now.
        (Routed, _) => Routed,
        (AwaitingAgent | Answered | Asked | Confirmed, CustomerAskedForPerson(_) | AgentCouldNotHelp(_)) => Routed,
        (AwaitingAgent | Answered | Asked, CustomerMessage(_)) => AwaitingAgent,
        (AwaitingAgent | Answered | Asked, AgentAnswer(_)) => Answered,
        (AwaitingAgent | Answered | Asked, AgentQuestion(_)) => Asked,
        (AwaitingAgent | Answered | Asked, CustomerConfirmed(_)) => Confirmed,
        // Reopened: the customer writes again after confirming.
        (Confirmed, CustomerMessage(_)) => AwaitingAgent,
        // The agent's "glad I could help" or a second confirmation changes nothing.
        (Confirmed, AgentAnswer(_) | AgentQuestion(_) | CustomerConfirmed(_)) => Confirmed,
    }
}

/// The state a phase has before any timeout passes.
fn state_of(phase: Phase) -> ResolutionState {
    match phase {
        Phase::AwaitingAgent | Phase::Answered | Phase::Asked => ResolutionState::None,
        Phase::Confirmed => ResolutionState::HardResolution,
        Phase::Routed => ResolutionState::RoutedToTeam,
    }
}

/// The time rows of the table: how long a phase may stay quiet, and the state
/// it has once it has been quiet that long.
fn timeout_of(phase: Phase, timeouts: &Timeouts) -> Option<(u64, ResolutionState)> {
    match phase {
        Phase::Answered => Some((timeouts.soft_resolution_after_ms, ResolutionState::SoftResolution)),
        Phase::Asked => Some((timeouts.abandoned_after_ms, ResolutionState::Abandoned)),
        Phase::AwaitingAgent | Phase::Confirmed | Phase::Routed => None,
    }
}

/// The events without repeats (first occurrence kept), stably sorted by time.
fn in_time_order(events: &[Event]) -> Vec<Event> {
    let mut seen = HashSet::with_capacity(events.len());
    let mut unique: Vec<Event> = events.iter().copied().filter(|event| seen.insert(*event)).collect();
    unique.sort_by_key(Event::at);
    unique
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 24 * 60 * 60 * 1000;

    fn timeouts(soft: u64, abandoned: u64) -> Timeouts {
        Timeouts { soft_resolution_after_ms: soft, abandoned_after_ms: abandoned }
    }

    fn decision(state: ResolutionState, phase: Phase, changes_at: Option<Timestamp>) -> Decision {
        Decision { state, phase, changes_at }
    }

    /// One event of each kind at `at`, in declaration order.
    fn every_event(at: Timestamp) -> [Event; 6] {
        [
            Event::CustomerMessage(at),
            Event::AgentAnswer(at),
            Event::AgentQuestion(at),
            Event::CustomerConfirmed(at),
            Event::CustomerAskedForPerson(at),
            Event::AgentCouldNotHelp(at),
        ]
    }

    const EVERY_PHASE: [Phase; 5] =
        [Phase::AwaitingAgent, Phase::Answered, Phase::Asked, Phase::Confirmed, Phase::Routed];

    // --- the table, row by row ----------------------------------------------

    #[test]
    fn no_events_await_the_agent_with_no_state_and_no_deadline() {
        let expected = decision(ResolutionState::None, Phase::AwaitingAgent, None);
        assert_eq!(decide(&[], 0, &Timeouts::default()), expected);
        assert_eq!(decide(&[], i64::MAX, &timeouts(0, 0)), expected);
    }

    #[test]
    fn every_cell_of_the_transition_table() {
        use Phase::*;
        // Rows: phase; columns: customer-message, agent-answer, agent-question,
        // customer-confirmed, customer-asked-for-person, agent-could-not-help.
        let table = [
            (AwaitingAgent, [AwaitingAgent, Answered, Asked, Confirmed, Routed, Routed]),
            (Answered, [AwaitingAgent, Answered, Asked, Confirmed, Routed, Routed]),
            (Asked, [AwaitingAgent, Answered, Asked, Confirmed, Routed, Routed]),
            (Confirmed, [AwaitingAgent, Confirmed, Confirmed, Confirmed, Routed, Routed]),
            (Routed, [Routed, Routed, Routed, Routed, Routed, Routed]),
        ];
        for (phase, expected_row) in table {
            for (event, expected) in every_event(7).iter().zip(expected_row) {
                assert_eq!(next(phase, event), expected, "{phase:?} + {event:?}");
            }
        }
    }

    #[test]
    fn every_transition_is_idempotent() {
        for phase in EVERY_PHASE {
            for event in every_event(0) {
                let once = next(phase, &event);
                assert_eq!(next(once, &event), once, "{phase:?} + {event:?} twice");
            }
        }
    }

    #[test]
    fn customer_message_awaits_the_agent_with_no_deadline() {
        let events = [Event::AgentAnswer(0), Event::CustomerMessage(10)];
        let got = decide(&events, 10 * DAY, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::None, Phase::AwaitingAgent, None));
    }

    #[test]
    fn agent_answer_is_open_until_the_soft_resolution_timeout() {
        let events = [Event::CustomerMessage(0), Event::AgentAnswer(100)];
        let got = decide(&events, 150, &timeouts(1_000, 5));
        assert_eq!(got, decision(ResolutionState::None, Phase::Answered, Some(1_100)));
    }

    #[test]
    fn agent_question_is_open_until_the_abandoned_timeout() {
        let events = [Event::CustomerMessage(0), Event::AgentQuestion(100)];
        let got = decide(&events, 150, &timeouts(5, 2_000));
        assert_eq!(got, decision(ResolutionState::None, Phase::Asked, Some(2_100)));
    }

    #[test]
    fn customer_confirmation_is_a_hard_resolution_from_every_open_phase() {
        for before in [vec![], vec![Event::AgentAnswer(1)], vec![Event::AgentQuestion(1)]] {
            let mut events = before.clone();
            events.push(Event::CustomerConfirmed(2));
            let got = decide(&events, 3 * DAY, &Timeouts::default());
            assert_eq!(got, decision(ResolutionState::HardResolution, Phase::Confirmed, None), "after {before:?}");
        }
    }

    #[test]
    fn hand_off_is_routed_to_team_from_every_phase() {
        let lead_ins = [
            vec![],
            vec![Event::AgentAnswer(1)],
            vec![Event::AgentQuestion(1)],
            vec![Event::CustomerConfirmed(1)],
            vec![Event::AgentCouldNotHelp(1)],
        ];
        for hand_off in [Event::CustomerAskedForPerson(5), Event::AgentCouldNotHelp(5)] {
            for lead_in in &lead_ins {
                let mut events = lead_in.clone();
                events.push(hand_off);
                let got = decide(&events, 6, &timeouts(0, 0));
                assert_eq!(got, decision(ResolutionState::RoutedToTeam, Phase::Routed, None), "{events:?}");
            }
        }
    }

    #[test]
    fn routed_is_final_whatever_follows() {
        let mut events = vec![Event::CustomerAskedForPerson(0)];
        events.extend(every_event(1));
        events.push(Event::AgentAnswer(2));
        let got = decide(&events, 10 * DAY, &timeouts(0, 0));
        assert_eq!(got, decision(ResolutionState::RoutedToTeam, Phase::Routed, None));
    }

    #[test]
    fn customer_message_after_confirmation_reopens_the_case() {
        let events = [Event::AgentAnswer(0), Event::CustomerConfirmed(1), Event::CustomerMessage(2)];
        let got = decide(&events, 3, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::None, Phase::AwaitingAgent, None));

        // …and the reopened case resolves again by the usual rules.
        let mut events = events.to_vec();
        events.push(Event::AgentAnswer(10));
        let got = decide(&events, 10 + DAY, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::SoftResolution, Phase::Answered, None));
    }

    #[test]
    fn agent_messages_after_confirmation_keep_the_hard_resolution() {
        let events = [Event::CustomerConfirmed(0), Event::AgentAnswer(1), Event::AgentQuestion(2)];
        let got = decide(&events, 10 * DAY, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::HardResolution, Phase::Confirmed, None));
    }

    #[test]
    fn customer_message_after_soft_resolution_reopens_the_case() {
        let events = [Event::AgentAnswer(0), Event::CustomerMessage(3 * DAY)];
        let got = decide(&events, 3 * DAY + 1, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::None, Phase::AwaitingAgent, None));
    }

    #[test]
    fn awaiting_agent_never_times_out() {
        let got = decide(&[Event::CustomerMessage(0)], i64::MAX, &timeouts(0, 0));
        assert_eq!(got, decision(ResolutionState::None, Phase::AwaitingAgent, None));
    }

    // --- timeout boundaries ---------------------------------------------------

    #[test]
    fn soft_resolution_starts_exactly_at_the_timeout() {
        let events = [Event::AgentAnswer(1_000)];
        let t = timeouts(500, 7);
        assert_eq!(decide(&events, 1_499, &t), decision(ResolutionState::None, Phase::Answered, Some(1_500)));
        assert_eq!(decide(&events, 1_500, &t), decision(ResolutionState::SoftResolution, Phase::Answered, None));
    }

    #[test]
    fn abandoned_starts_exactly_at_the_timeout() {
        let events = [Event::AgentQuestion(1_000)];
        let t = timeouts(7, 500);
        assert_eq!(decide(&events, 1_499, &t), decision(ResolutionState::None, Phase::Asked, Some(1_500)));
        assert_eq!(decide(&events, 1_500, &t), decision(ResolutionState::Abandoned, Phase::Asked, None));
    }

    #[test]
    fn default_timeouts_are_a_day_each() {
        let t = Timeouts::default();
        let answered = [Event::AgentAnswer(0)];
        assert_eq!(decide(&answered, DAY - 1, &t).state, ResolutionState::None);
        assert_eq!(decide(&answered, DAY, &t).state, ResolutionState::SoftResolution);
        let asked = [Event::AgentQuestion(0)];
        assert_eq!(decide(&asked, DAY - 1, &t).state, ResolutionState::None);
        assert_eq!(decide(&asked, DAY, &t).state, ResolutionState::Abandoned);
    }

    #[test]
    fn zero_timeout_resolves_at_once() {
        let got = decide(&[Event::AgentAnswer(5)], 5, &timeouts(0, 0));
        assert_eq!(got, decision(ResolutionState::SoftResolution, Phase::Answered, None));
    }

    #[test]
    fn quiet_is_measured_from_the_latest_event_of_either_side() {
        // The customer's reply restarts the clock even though the agent answered again later.
        let events = [Event::AgentAnswer(0), Event::CustomerMessage(DAY), Event::AgentAnswer(DAY + 10)];
        let got = decide(&events, DAY + 20, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::None, Phase::Answered, Some(2 * DAY + 10)));
    }

    #[test]
    fn events_after_now_count_as_no_quiet_time() {
        let got = decide(&[Event::AgentAnswer(1_000)], 0, &timeouts(10, 10));
        assert_eq!(got, decision(ResolutionState::None, Phase::Answered, Some(1_010)));
    }

    #[test]
    fn huge_timeouts_and_extreme_timestamps_do_not_overflow() {
        // The deadline lies past the end of i64 time: it never comes.
        let got = decide(&[Event::AgentAnswer(i64::MAX - 1)], i64::MAX, &timeouts(u64::MAX, u64::MAX));
        assert_eq!(got, decision(ResolutionState::None, Phase::Answered, None));
        // i64::MIN + u64::MAX is exactly i64::MAX.
        let got = decide(&[Event::AgentQuestion(i64::MIN)], i64::MIN, &timeouts(u64::MAX, u64::MAX));
        assert_eq!(got, decision(ResolutionState::None, Phase::Asked, Some(i64::MAX)));
        // Negative timestamps (before 1970) work like any other.
        let got = decide(&[Event::AgentQuestion(-DAY)], 0, &Timeouts::default());
        assert_eq!(got, decision(ResolutionState::Abandoned, Phase::Asked, None));
    }

    // --- order and repetition -------------------------------------------------

    #[test]
    fn events_are_folded_in_time_order_not_input_order() {
        let events = [Event::AgentAnswer(20), Event::CustomerMessage(10)];
        let got = decide(&events, 21, &Timeouts::default());
        assert_eq!(got.phase, Phase::Answered);
    }

    #[test]
    fn events_with_the_same_time_keep_their_input_order() {
        let got = decide(&[Event::CustomerMessage(5), Event::AgentAnswer(5)], 6, &Timeouts::default());
        assert_eq!(got.phase, Phase::Answered);
        let got = decide(&[Event::AgentAnswer(5), Event::CustomerMessage(5)], 6, &Timeouts::default());
        assert_eq!(got.phase, Phase::AwaitingAgent);
    }

    #[test]
    fn an_event_repeated_with_the_same_time_counts_once() {
        let once = [Event::CustomerMessage(5), Event::AgentAnswer(5)];
        let repeated = [Event::CustomerMessage(5), Event::AgentAnswer(5), Event::CustomerMessage(5)];
        let t = Timeouts::default();
        assert_eq!(decide(&repeated, 6, &t), decide(&once, 6, &t));
        assert_eq!(decide(&repeated, 6, &t).phase, Phase::Answered);
    }

    #[test]
    fn a_reopening_message_after_confirmation_is_not_a_repeat() {
        // Same kind, later time: a new fact, not a repeat.
        let events = [Event::CustomerMessage(0), Event::CustomerConfirmed(1), Event::CustomerMessage(2)];
        assert_eq!(decide(&events, 3, &Timeouts::default()).phase, Phase::AwaitingAgent);
    }

    fn event_of(kind: u8, at: Timestamp) -> Event {
        every_event(at)[usize::from(kind % 6)]
    }

    /// Any instant, often near the others so that timeouts matter.
    fn any_time() -> impl Strategy<Value = Timestamp> {
        prop_oneof![any::<i64>(), -5_000i64..5_000]
    }

    /// Events of any kinds at distinct times, in time order.
    fn distinct_time_events() -> impl Strategy<Value = Vec<Event>> {
        prop::collection::btree_set(any_time(), 0..24).prop_flat_map(|times| {
            let len = times.len();
            prop::collection::vec(0u8..6, len).prop_map(move |kinds| {
                times.iter().zip(kinds).map(|(&at, kind)| event_of(kind, at)).collect::<Vec<_>>()
            })
        })
    }

    fn any_timeouts() -> impl Strategy<Value = Timeouts> {
        prop_oneof![
            Just(Timeouts::default()),
            (0u64..1_000, 0u64..1_000).prop_map(|(s, a)| timeouts(s, a)),
            (any::<u64>(), any::<u64>()).prop_map(|(s, a)| timeouts(s, a)),
        ]
    }

    proptest! {
        #[test]
        fn any_permutation_of_events_gives_the_same_decision(
            (events, shuffled) in distinct_time_events()
                .prop_flat_map(|events| (Just(events.clone()), Just(events).prop_shuffle())),
            now in any_time(),
            t in any_timeouts(),
        ) {
            prop_assert_eq!(decide(&shuffled, now, &t), decide(&events, now, &t));
        }

        #[test]
        fn repeating_events_anywhere_gives_the_same_decision(
            (events, repeated) in distinct_time_events().prop_flat_map(|events| {
                let copies = prop::sample::subsequence(events.clone(), 0..=events.len());
                (Just(events.clone()), copies.prop_flat_map(move |copies| {
                    let mut all = events.clone();
                    all.extend(copies);
                    Just(all).prop_shuffle()
                }))
            }),
            now in any_time(),
            t in any_timeouts(),
        ) {
            prop_assert_eq!(decide(&repeated, now, &t), decide(&events, now, &t));
        }

        #[test]
        fn the_state_changes_at_changes_at_and_not_before(
            events in distinct_time_events(),
            now in any_time(),
            t in any_timeouts(),
        ) {
            let at_now = decide(&events, now, &t);
            match at_now.changes_at {
                Some(changes_at) => {
                    prop_assert!(changes_at > now);
                    prop_assert_eq!(decide(&events, changes_at - 1, &t).state, at_now.state);
                    let later = decide(&events, changes_at, &t);
                    prop_assert_ne!(later.state, at_now.state);
                    prop_assert_eq!(later.phase, at_now.phase);
                }
                None => {
                    prop_assert_eq!(decide(&events, i64::MAX, &t).state, at_now.state);
                }
            }
        }
    }
}
