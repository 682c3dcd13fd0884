//! Opportunity.

use super::fields::{area, flag, lookup, of, owner, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The Opportunity object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        vec![
            lookup("AccountId", "Account ID", &["Account"], "Account"),
            text("Name", "Name", 120).required().name_field(),
            area("Description", "Description", 32000),
            pick(
                "StageName",
                "Stage",
                &[
                    "Prospecting",
                    "Qualification",
                    "Needs Analysis",
                    "Value Proposition",
                    "Id. Decision Makers",
                    "Perception Analysis",
                    "Proposal/Price Quote",
                    "Negotiation/Review",
                    "Closed Won",
                    "Closed Lost",
                ],
                None,
            )
            .required(),
            of("Amount", "Amount", T::Currency),
            of("Probability", "Probability (%)", T::Percent).precision(3, 0),
            of("CloseDate", "Close Date", T::Date).required(),
            pick(
                "Type",
                "Opportunity Type",
                &["Existing Customer - Upgrade", "Existing Customer - Replacement", "New Customer"],
                None,
            ),
            pick(
                "LeadSource",
                "Lead Source",
                &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
                None,
            ),
            flag("IsClosed", "Closed").derived(),
            flag("IsWon", "Won").derived(),
            owner(&["User"]),
        ],
    )
    .children(&[
        ("OpportunityContactRoles", "OpportunityContactRole", "OpportunityId", true),
        ("Tasks", "Task", "WhatId", true),
        ("Feeds", "FeedItem", "ParentId", true),
    ])
    .searchable()
    .with_hooks(&OpportunityHooks)
}

/// The default sales process: each stage's probability (%), and whether it
/// closes the opportunity and wins it, as Setup's Opportunity Stages list them.
const STAGES: &[(&str, f64, bool, bool)] = &[
    ("Prospecting", 10.0, false, false),
    ("Qualification", 10.0, false, false),
    ("Needs Analysis", 20.0, false, false),
    ("Value Proposition", 50.0, false, false),
    ("Id. Decision Makers", 60.0, false, false),
    ("Perception Analysis", 70.0, false, false),
    ("Proposal/Price Quote", 75.0, false, false),
    ("Negotiation/Review", 90.0, false, false),
    ("Closed Won", 100.0, true, true),
    ("Closed Lost", 0.0, true, false),
];

/// `IsClosed` and `IsWon` follow the stage; `Probability` takes the stage's
/// when the opportunity is created without one or changes stage without a new one.
struct OpportunityHooks;

impl ObjectHooks for OpportunityHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, _ctx: &WriteContext) {
        let stage_name = values.get("StageName").and_then(Value::as_str).unwrap_or_default().to_string();
        let stage = STAGES.iter().find(|(name, ..)| *name == stage_name);
        let (closed, won) = stage.map_or((false, false), |(_, _, closed, won)| (*closed, *won));
        values.insert("IsClosed", Value::Bool(closed));
        values.insert("IsWon", Value::Bool(won));
        let Some((_, probability, ..)) = stage else {
            return;
        };
        let given = values.get("Probability").filter(|v| !v.is_null());
        let take_stage = match previous {
            None => given.is_none(),
            Some(before) => {
                before.get("StageName").as_str() != Some(stage_name.as_str())
                    && given.is_none_or(|p| p == before.get("Probability"))
            }
        };
        if take_stage {
            values.insert("Probability", Value::Double(*probability));
        }
    }
}
