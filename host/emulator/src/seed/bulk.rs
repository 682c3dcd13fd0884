//! Big orgs in seconds: [`bulk_seed`] adds thousands of support cases with
//! their conversations to a seeded org, for load tests and benchmarks.
//!
//! ```
//! use casebridge_emulator::db::Database;
//! use casebridge_emulator::schema::Schema;
//! use casebridge_emulator::seed::{self, BulkSeed, Seed};
//!
//! let mut db = Database::new(Schema::standard());
//! let now = chrono::Utc::now();
//! let seeded = seed::seed(&mut db, Seed::Demo, now).unwrap();
//! let options = BulkSeed { cases: 500, customer_last_every: Some(10), ..BulkSeed::default() };
//! let made = seed::bulk_seed(&mut db, &seeded, &options, now).unwrap();
//! assert_eq!(made.case_ids.len(), 500);
//! assert_eq!(made.customer_last_case_ids.len(), 50);
//! assert_eq!(made.feed_items + made.case_comments, 500 * 6);
//! ```
//!
//! Each case is a web case the support site's guest user opened for a
//! contact (contacts and their accounts are shared, one contact per
//! [`BulkSeed::cases_per_contact`] cases), owned by the agent user, open.
//! Its `Subject` and `Description` are the customer's opening message; then
//! [`BulkSeed::messages_per_case`] messages alternate between the customer (a
//! `TextPost` FeedItem by the guest user) and the agent (a public CaseComment
//! by the integration user). By default the agent wrote last and, at that
//! reply, set `FinInvolved__c = true` and `FinResolutionState__c = "Soft
//! Resolution"`; [`BulkSeed::customer_last_every`] makes every Nth case end
//! with the customer instead, leaving both unset.
//!
//! Cases open evenly over [`BulkSeed::history_days`] before now, in creation
//! order; each conversation follows at most [`REPLY_GAP`] apart, squeezed so
//! the newest end before now. Every record is back-dated to its moment
//! (`CreatedDate`, `SystemModstamp`), and a case's `SystemModstamp` is its
//! last change: its last message when the integration user then set the Fin
//! fields or closed it, else its creation (a new FeedItem or CaseComment does
//! not touch its case).
//!
//! Records go through [`Database::create_typed`] and
//! [`Database::update_typed`]: the same validation, ids, CaseNumbers and
//! indexes as API writes, without the JSON. The cost is the generating, not
//! a second code path.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::SeededOrg;
use crate::db::{Database, Value, WriteContext};
use crate::error::SfError;

/// The longest pause between two messages of a conversation.
pub const REPLY_GAP: Duration = Duration::minutes(15);

/// What [`bulk_seed`] creates. The admin API's `POST /__emulator/bulk` takes
/// the same options as JSON (snake_case names, every one optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkSeed {
    /// How many cases (default 1,000).
    pub cases: usize,
    /// The cases' owner: an active user or a queue taking cases. Default: the
    /// seeded agent user ([`SeededOrg::agent_user_id`]).
    pub owner_id: Option<String>,
    /// Messages after the opening one, alternating customer and agent (default 6; at least 1).
    pub messages_per_case: usize,
    /// Every Nth case ends with a customer message and has no Fin fields set. Default: none.
    pub customer_last_every: Option<usize>,
    /// Every Nth case is closed (at its last message). Default: none, all open.
    pub closed_every: Option<usize>,
    /// Cases per contact (default 10).
    pub cases_per_contact: usize,
    /// Contacts per account (default 10).
    pub contacts_per_account: usize,
    /// How many days before now the first case opens (default 30).
    pub history_days: u32,
}

impl Default for BulkSeed {
    fn default() -> Self {
        BulkSeed {
            cases: 1_000,
            owner_id: None,
            messages_per_case: 6,
            customer_last_every: None,
            closed_every: None,
            cases_per_contact: 10,
            contacts_per_account: 10,
            history_days: 30,
        }
    }
}

/// What [`bulk_seed`] created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkSeeded {
    /// Every case, in creation order (which is id order and opening order).
    pub case_ids: Vec<String>,
    /// The cases whose last message is the customer's.
    pub customer_last_case_ids: Vec<String>,
    /// The closed cases.
    pub closed_case_ids: Vec<String>,
    pub contact_ids: Vec<String>,
    pub account_ids: Vec<String>,
    /// Customer messages created.
    pub feed_items: usize,
    /// Agent replies created.
    pub case_comments: usize,
}

/// Why [`bulk_seed`] created nothing, or stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BulkSeedError {
    #[error("the org has no agent user to own the cases: start it with the demo seed or give owner_id")]
    NoOwner,
    #[error("the org has no support-site guest user to write the customers' messages: start it with the demo seed")]
    NoCustomer,
    #[error("{option} must be at least 1")]
    Zero { option: &'static str },
    #[error(
        "{cases} cases of {messages} messages do not fit in {days} days at one message per millisecond: give more history_days"
    )]
    HistoryTooShort { cases: usize, messages: usize, days: u32 },
    #[error("the org refused {record}: {}", describe(.errors))]
    Refused { record: String, errors: Vec<SfError> },
}

fn describe(errors: &[SfError]) -> String {
    errors.iter().map(|e| format!("{} {}", e.error_code, e.message)).collect::<Vec<_>>().join("; ")
}

/// Adds the cases, contacts, accounts and conversations `options` asks for
/// to a database seeded as `seeded`, dated up to `now` (the emulator clock).
/// Stops at the first record the org refuses (an inactive `owner_id`, say);
/// what was created before stays.
pub fn bulk_seed(
    db: &mut Database,
    seeded: &SeededOrg,
    options: &BulkSeed,
    now: DateTime<Utc>,
) -> Result<BulkSeeded, BulkSeedError> {
    for (option, value) in [
        ("messages_per_case", options.messages_per_case),
        ("cases_per_contact", options.cases_per_contact),
        ("contacts_per_account", options.contacts_per_account),
        ("customer_last_every", options.customer_last_every.unwrap_or(1)),
        ("closed_every", options.closed_every.unwrap_or(1)),
        ("history_days", options.history_days as usize),
    ] {
        if value == 0 {
            return Err(BulkSeedError::Zero { option });
        }
    }
    let owner = options.owner_id.clone().or_else(|| seeded.agent_user_id.clone()).ok_or(BulkSeedError::NoOwner)?;
    let customer = seeded.guest_user_id.clone().ok_or(BulkSeedError::NoCustomer)?;
    let timing = Timing::new(options, now)?;
    let customer_messages = options.cases * options.messages_per_case.div_ceil(2);
    for (object, records) in
        [("Case", options.cases), ("FeedItem", customer_messages), ("CaseComment", customer_messages)]
    {
        db.reserve(object, records);
    }
    let mut seeder = Seeder {
        db,
        integration: WriteContext { now, user_id: seeded.integration_user_id.clone() },
        customer: WriteContext { now, user_id: customer },
        out: BulkSeeded::default(),
    };
    let contacts = options.cases.div_ceil(options.cases_per_contact);
    let accounts = contacts.div_ceil(options.contacts_per_account);
    // Customers exist before their first case.
    let known_since = timing.start - Duration::days(1);
    for a in 0..accounts {
        let id = seeder.account(a, known_since)?;
        seeder.out.account_ids.push(id);
    }
    for c in 0..contacts {
        let account = seeder.out.account_ids[c / options.contacts_per_account].clone();
        let id = seeder.contact(c, &account, known_since)?;
        seeder.out.contact_ids.push(id);
    }
    for i in 0..options.cases {
        seeder.case(i, options, &timing, &owner)?;
    }
    Ok(seeder.out)
}

/// When each case opens and each message is written.
struct Timing {
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    /// Milliseconds between two cases opening.
    slot: i64,
    messages: i64,
}

impl Timing {
    fn new(options: &BulkSeed, now: DateTime<Utc>) -> Result<Timing, BulkSeedError> {
        let history = Duration::days(i64::from(options.history_days));
        let messages = options.messages_per_case as i64;
        let slot = history.num_milliseconds() / (options.cases.max(1) as i64);
        // The newest case has one slot for its conversation; its messages
        // must still fall on distinct milliseconds.
        if slot / (messages + 1) < 1 {
            return Err(BulkSeedError::HistoryTooShort {
                cases: options.cases,
                messages: options.messages_per_case,
                days: options.history_days,
            });
        }
        Ok(Timing { start: now - history, now, slot, messages })
    }

    /// When case `case` opens, to the second as Salesforce stamps records
    /// (records of one second are told apart by Id, in creation order).
    fn opened(&self, case: usize) -> DateTime<Utc> {
        to_the_second(self.start + Duration::milliseconds(self.slot * case as i64))
    }

    /// Message `k` (0-based) of the case opened at `opened`.
    fn message(&self, opened: DateTime<Utc>, k: usize) -> DateTime<Utc> {
        let gap = REPLY_GAP.min((self.now - opened) / (self.messages as i32 + 1));
        to_the_second(opened + gap * (k as i32 + 1))
    }
}

fn to_the_second(at: DateTime<Utc>) -> DateTime<Utc> {
    chrono::DurationRound::duration_trunc(at, Duration::seconds(1)).unwrap_or(at)
}

struct Seeder<'a> {
    db: &'a mut Database,
    /// Who writes the agent's replies, and the customers' posts; `now` is set per record.
    integration: WriteContext,
    customer: WriteContext,
    out: BulkSeeded,
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

impl Seeder<'_> {
    /// Creates a record from `(field, value)` pairs, written by `by` at `at`.
    fn create<const N: usize>(
        &mut self,
        object: &str,
        by: Author,
        at: DateTime<Utc>,
        values: [(&str, Value); N],
    ) -> Result<String, BulkSeedError> {
        let ctx = match by {
            Author::Customer => &mut self.customer,
            Author::Integration => &mut self.integration,
        };
        ctx.now = at;
        self.db
            .create_typed(object, values, ctx)
            .map_err(|errors| BulkSeedError::Refused { record: format!("a new {object}"), errors })
    }

    fn account(&mut self, a: usize, at: DateTime<Utc>) -> Result<String, BulkSeedError> {
        let company = COMPANIES[a % COMPANIES.len()];
        let branch = a / COMPANIES.len() + 1;
        self.create("Account", Author::Integration, at, [("Name", text(format!("{company} {branch}")))])
    }

    fn contact(&mut self, c: usize, account: &str, at: DateTime<Utc>) -> Result<String, BulkSeedError> {
        let (first, last) = person(c);
        let email = format!("{}.{}.{c}@customers.example", first.to_lowercase(), last.to_lowercase());
        self.create(
            "Contact",
            Author::Integration,
            at,
            [
                ("FirstName", text(first)),
                ("LastName", text(last)),
                ("Email", text(email)),
                ("AccountId", text(account)),
            ],
        )
    }

    fn case(&mut self, i: usize, options: &BulkSeed, timing: &Timing, owner: &str) -> Result<(), BulkSeedError> {
        let every = |n: Option<usize>| n.is_some_and(|n| (i + 1).is_multiple_of(n));
        let (customer_last, closed) = (every(options.customer_last_every), every(options.closed_every));
        let contact_index = i / options.cases_per_contact;
        let contact = self.out.contact_ids[contact_index].clone();
        let account = self.out.account_ids[contact_index / options.contacts_per_account].clone();
        let (first, last) = person(contact_index);
        let email = format!("{}.{}.{contact_index}@customers.example", first.to_lowercase(), last.to_lowercase());
        let issue = &ISSUES[i % ISSUES.len()];
        let opened = timing.opened(i);
        let case = self.create(
            "Case",
            Author::Customer,
            opened,
            [
                ("Subject", text(issue.subject)),
                ("Description", text(format!("Hello,\n\n{}\n\n{first} {last}", issue.opening))),
                ("Origin", text("Web")),
                ("Status", text("New")),
                ("Priority", text(["Medium", "High", "Low"][i % 3])),
                ("OwnerId", text(owner)),
                ("ContactId", text(contact)),
                ("AccountId", text(account)),
                ("SuppliedEmail", text(email)),
                ("SuppliedName", text(format!("{first} {last}"))),
            ],
        )?;
        let messages = options.messages_per_case;
        for k in 0..messages {
            // Counted back from the last message, whose author is decided.
            let from_customer = (messages - 1 - k).is_multiple_of(2) == customer_last;
            let at = timing.message(opened, k);
            if from_customer {
                let body =
                    format!("{} {}", issue.follow_ups[k / 2 % issue.follow_ups.len()], SIGN_OFFS[k % SIGN_OFFS.len()]);
                let values = [
                    ("ParentId", text(case.clone())),
                    ("Type", text("TextPost")),
                    ("Body", text(body)),
                    ("IsRichText", Value::Bool(false)),
                    ("Visibility", text("AllUsers")),
                ];
                self.create("FeedItem", Author::Customer, at, values)?;
                self.out.feed_items += 1;
            } else {
                let body = format!("Hi {first}, {}", REPLIES[(i + k / 2) % REPLIES.len()]);
                let values =
                    [("ParentId", text(case.clone())), ("CommentBody", text(body)), ("IsPublished", Value::Bool(true))];
                self.create("CaseComment", Author::Integration, at, values)?;
                self.out.case_comments += 1;
            }
        }
        let mut changes: Vec<(&str, Value)> = Vec::new();
        if !customer_last {
            changes.push(("FinInvolved__c", Value::Bool(true)));
            changes.push(("FinResolutionState__c", text("Soft Resolution")));
        }
        if closed {
            changes.push(("Status", text("Closed")));
        }
        if !changes.is_empty() {
            self.integration.now = timing.message(opened, messages - 1);
            self.db
                .update_typed("Case", &case, changes, &self.integration)
                .map_err(|errors| BulkSeedError::Refused { record: format!("the update of Case {case}"), errors })?;
        }
        if customer_last {
            self.out.customer_last_case_ids.push(case.clone());
        }
        if closed {
            self.out.closed_case_ids.push(case.clone());
        }
        self.out.case_ids.push(case);
        Ok(())
    }
}

/// Who writes a record.
#[derive(Clone, Copy)]
enum Author {
    /// The support site's guest user, for the customer.
    Customer,
    /// The integration user, for the agent.
    Integration,
}

/// The first and last name of contact `c`: every pair once before any repeats.
fn person(c: usize) -> (&'static str, &'static str) {
    (FIRST_NAMES[c % FIRST_NAMES.len()], LAST_NAMES[(c / FIRST_NAMES.len()) % LAST_NAMES.len()])
}

/// What a customer writes about, from the opening message on.
struct Issue {
    subject: &'static str,
    opening: &'static str,
    follow_ups: &'static [&'static str],
}

const ISSUES: &[Issue] = &[
    Issue {
        subject: "Can't reset my password",
        opening: "I asked for a password reset twice this morning but the email never arrives. I checked spam and the quarantine.",
        follow_ups: &[
            "Still no reset email, and I have tried from two browsers now.",
            "The link arrived but it says it has expired already.",
            "That worked, I am in again.",
        ],
    },
    Issue {
        subject: "Invoice shows the wrong amount",
        opening: "Our latest invoice charges for 12 seats, but our contract says 10. Could you send a corrected invoice before our payment run on Friday?",
        follow_ups: &[
            "Our contract number is on the first page of the invoice, if that helps.",
            "Finance asks whether the credit note will show the VAT separately.",
            "Received, thank you.",
        ],
    },
    Issue {
        subject: "How do I export all our project data?",
        opening: "We need a full export of our projects, tasks and comments for our quarterly audit. Is there a way to get everything as CSV in one go?",
        follow_ups: &[
            "The audit deadline is next Wednesday, so we need it by Monday.",
            "Does the export include the file attachments too?",
            "The export finished, but the comments file is empty.",
        ],
    },
    Issue {
        subject: "iOS app crashes when I open Reports",
        opening: "Since this morning's update the iPhone app closes as soon as I tap the Reports tab. Reinstalling did not help.",
        follow_ups: &[
            "It is an iPhone 14 on iOS 17.4.",
            "Same on my colleague's iPad.",
            "The new version from the App Store fixed it.",
        ],
    },
    Issue {
        subject: "New shipping address won't save",
        opening: "When I save our new address under Settings > Shipping, the page reloads with the old address. I tried Chrome and Edge.",
        follow_ups: &[
            "There is no error message, it just reloads.",
            "Clearing the cache did not change anything.",
            "It saved this time, thanks.",
        ],
    },
    Issue {
        subject: "Add 5 more seats to our plan",
        opening: "We are onboarding five new colleagues next week. Please add 5 seats to our Team plan and tell me how the charge is prorated.",
        follow_ups: &[
            "Can the new seats start on the 1st instead?",
            "Who needs to approve the change on our side?",
            "Approved, please go ahead.",
        ],
    },
    Issue {
        subject: "Two-factor codes arrive late",
        opening: "The SMS codes take three to four minutes to arrive and expire before I can use them.",
        follow_ups: &[
            "It happens on two different phone networks.",
            "Can I switch to an authenticator app instead?",
            "The app works much better, thanks.",
        ],
    },
    Issue {
        subject: "Calendar integration fails to connect",
        opening: "Connecting our calendar fails with 'permission denied', although I am an administrator of both accounts.",
        follow_ups: &[
            "I granted every permission the dialog asked for.",
            "Here is the time it failed, in case you can find it in the logs: just now.",
            "Connected now, all meetings show up.",
        ],
    },
];

/// Endings of the customers' messages.
const SIGN_OFFS: &[&str] = &["Thanks.", "Any news?", "Thank you for your help.", "Best regards."];

/// What the agent answers (after "Hi {name}, ").
const REPLIES: &[&str] = &[
    "thanks for the details. I have looked into your account and can see what happened; I am fixing it now.",
    "thank you for your patience. The team has confirmed the cause and a fix is on its way.",
    "I have made the change on our side. Could you try again and tell me whether it works now?",
    "good news: this is resolved. Let me know if anything else comes up.",
    "I understand this is urgent. I have raised the priority and will update you within the hour.",
];

const FIRST_NAMES: &[&str] = &[
    "Amelia", "Ben", "Carla", "Dmitri", "Eva", "Farah", "George", "Hana", "Ivan", "Julia", "Kenji", "Lena", "Mateo",
    "Nora", "Omar", "Priya",
];

const LAST_NAMES: &[&str] = &[
    "Clarke",
    "Okafor",
    "Mendes",
    "Volkov",
    "Lindqvist",
    "Haddad",
    "Tanaka",
    "Kowalski",
    "Petrov",
    "Schmidt",
    "Rossi",
    "Nakamura",
    "Garcia",
    "Dubois",
    "Novak",
    "Singh",
];

const COMPANIES: &[&str] = &[
    "Northwind Traders",
    "Globex Corporation",
    "Initech",
    "Umbrella Health",
    "Vandelay Industries",
    "Stark Logistics",
    "Acme Supplies",
    "Wayne Fabrics",
    "Soylent Foods",
    "Hooli Analytics",
    "Cyberdyne Robotics",
    "Tyrell Biotech",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::QueryContext;
    use crate::schema::Schema;
    use crate::seed::{Seed, seed};
    use serde_json::json;

    fn demo() -> (Database, SeededOrg, DateTime<Utc>) {
        let mut db = Database::new(Schema::standard());
        let now = Utc::now();
        let seeded = seed(&mut db, Seed::Demo, now).unwrap();
        (db, seeded, now)
    }

    fn query(db: &Database, now: DateTime<Utc>, soql: &str) -> Vec<serde_json::Value> {
        let ctx = QueryContext { now, api_version: "59.0".into(), user_id: String::new() };
        db.query(soql, false, &ctx).unwrap_or_else(|e| panic!("{soql}: {e:?}")).records
    }

    #[test]
    fn conversations_alternate_and_end_with_the_agent_unless_asked() {
        // Cases, messages and stamps as the module documentation describes them.
        let (mut db, seeded, now) = demo();
        let options = BulkSeed {
            cases: 60,
            messages_per_case: 5,
            customer_last_every: Some(4),
            closed_every: Some(10),
            history_days: 3,
            ..BulkSeed::default()
        };
        let made = bulk_seed(&mut db, &seeded, &options, now).unwrap();
        assert_eq!(made.case_ids.len(), 60);
        assert_eq!(made.customer_last_case_ids.len(), 15);
        assert_eq!(made.closed_case_ids.len(), 6);
        assert_eq!((made.contact_ids.len(), made.account_ids.len()), (6, 1));
        assert_eq!(made.feed_items + made.case_comments, 300);
        let agent = seeded.agent_user_id.clone().unwrap();
        let guest = seeded.guest_user_id.clone().unwrap();
        let integration = &seeded.integration_user_id;
        let start = now - Duration::days(3);
        let mut numbers = Vec::new();
        for (i, id) in made.case_ids.iter().enumerate() {
            let case = &query(
                &db,
                now,
                &format!(
                    "SELECT CaseNumber, Status, IsClosed, OwnerId, CreatedById, Origin, Subject, Description, ContactId, Contact.Email, SuppliedEmail, FinInvolved__c, FinResolutionState__c, CreatedDate, SystemModstamp FROM Case WHERE Id = '{id}'"
                ),
            )[0];
            numbers.push(case["CaseNumber"].as_str().unwrap().to_string());
            assert_eq!(
                (case["OwnerId"].as_str(), case["CreatedById"].as_str()),
                (Some(agent.as_str()), Some(guest.as_str()))
            );
            assert_eq!(case["Origin"], "Web");
            assert!(!case["Subject"].as_str().unwrap().is_empty() && !case["Description"].as_str().unwrap().is_empty());
            assert_eq!(case["Contact"]["Email"], case["SuppliedEmail"]);
            let closed = made.closed_case_ids.contains(id);
            assert_eq!((case["Status"] == "Closed", case["IsClosed"] == true), (closed, closed));
            let customer_last = made.customer_last_case_ids.contains(id);
            assert_eq!(customer_last, (i + 1) % 4 == 0);
            if customer_last {
                assert_eq!(
                    (case["FinInvolved__c"].clone(), case["FinResolutionState__c"].clone()),
                    (json!(false), json!(null))
                );
            } else {
                assert_eq!(
                    (case["FinInvolved__c"].clone(), case["FinResolutionState__c"].clone()),
                    (json!(true), json!("Soft Resolution"))
                );
            }
            let posts = query(
                &db,
                now,
                &format!("SELECT CreatedDate, CreatedById, Type, Body FROM FeedItem WHERE ParentId = '{id}'"),
            );
            let replies = query(
                &db,
                now,
                &format!(
                    "SELECT CreatedDate, CreatedById, IsPublished, CommentBody FROM CaseComment WHERE ParentId = '{id}'"
                ),
            );
            let mut messages: Vec<(String, bool)> = posts
                .iter()
                .map(|p| {
                    assert_eq!(
                        (p["Type"].as_str(), p["CreatedById"].as_str()),
                        (Some("TextPost"), Some(guest.as_str()))
                    );
                    (p["CreatedDate"].as_str().unwrap().to_string(), true)
                })
                .chain(replies.iter().map(|r| {
                    assert_eq!(
                        (r["IsPublished"].clone(), r["CreatedById"].as_str()),
                        (json!(true), Some(integration.as_str()))
                    );
                    (r["CreatedDate"].as_str().unwrap().to_string(), false)
                }))
                .collect();
            messages.sort();
            let authors: Vec<bool> = messages.iter().map(|(_, customer)| *customer).collect();
            let expected: Vec<bool> = (0..5).map(|k| ((4 - k) % 2 == 0) == customer_last).collect();
            assert_eq!(authors, expected, "case {i}: alternating, the last as asked");
            let parse = |s: &str| crate::db::parse_datetime(s).unwrap();
            let created = parse(case["CreatedDate"].as_str().unwrap());
            let times: Vec<DateTime<Utc>> = messages.iter().map(|(t, _)| parse(t)).collect();
            assert!(
                created >= start - Duration::seconds(1) && times.windows(2).all(|w| w[0] < w[1]) && times[0] > created
            );
            assert!(*times.last().unwrap() < now);
            let modstamp = parse(case["SystemModstamp"].as_str().unwrap());
            let last_change = if customer_last && !closed { created } else { *times.last().unwrap() };
            assert_eq!(modstamp, last_change, "case {i}: SystemModstamp is the last change");
        }
        numbers.dedup();
        assert_eq!(numbers.len(), 60, "CaseNumbers are unique");
        // Queries see them as they see any record: the demo's own posts plus these.
        let ctx = QueryContext { now, api_version: "59.0".into(), user_id: String::new() };
        let soql =
            format!("SELECT COUNT() FROM FeedItem WHERE ParentId IN (SELECT Id FROM Case WHERE OwnerId = '{agent}')");
        let demo_posts = 2;
        assert_eq!(db.query(&soql, false, &ctx).unwrap().total_size, made.feed_items + demo_posts);
    }

    #[test]
    fn bulk_seeding_explains_what_it_cannot_do() {
        let mut empty = Database::new(Schema::standard());
        let now = Utc::now();
        let seeded = seed(&mut empty, Seed::Empty, now).unwrap();
        assert_eq!(bulk_seed(&mut empty, &seeded, &BulkSeed::default(), now), Err(BulkSeedError::NoOwner));
        let owned = BulkSeed { owner_id: Some(seeded.integration_user_id.clone()), ..BulkSeed::default() };
        assert_eq!(bulk_seed(&mut empty, &seeded, &owned, now), Err(BulkSeedError::NoCustomer));

        let (mut db, seeded, now) = demo();
        let zero = BulkSeed { messages_per_case: 0, ..BulkSeed::default() };
        assert_eq!(bulk_seed(&mut db, &seeded, &zero, now), Err(BulkSeedError::Zero { option: "messages_per_case" }));
        let crowded = BulkSeed { cases: 20_000_000, history_days: 1, ..BulkSeed::default() };
        assert!(matches!(bulk_seed(&mut db, &seeded, &crowded, now), Err(BulkSeedError::HistoryTooShort { .. })));
        let inactive =
            query(&db, now, "SELECT Id FROM User WHERE IsActive = false")[0]["Id"].as_str().unwrap().to_string();
        let refused = bulk_seed(&mut db, &seeded, &BulkSeed { owner_id: Some(inactive), ..BulkSeed::default() }, now);
        let Err(BulkSeedError::Refused { errors, .. }) = refused else { panic!("{refused:?}") };
        assert_eq!(errors[0].error_code, "INACTIVE_OWNER_OR_USER");
    }

    #[test]
    fn options_parse_from_the_admin_json_with_defaults() {
        let options: BulkSeed = serde_json::from_value(json!({"cases": 5, "customer_last_every": 2})).unwrap();
        assert_eq!(options, BulkSeed { cases: 5, customer_last_every: Some(2), ..BulkSeed::default() });
        assert!(serde_json::from_value::<BulkSeed>(json!({"case": 5})).is_err(), "typos are refused");
    }
}
