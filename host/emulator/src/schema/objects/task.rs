//! Task.

use super::fields::{area, flag, lookup, of, owner, pick};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldDef, FieldType as T, ObjectDef, ObjectHooks};

/// The Task object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Task",
        "Task",
        "Tasks",
        "00T",
        vec![
            lookup("WhoId", "Name ID", &["Contact", "Lead"], "Who"),
            lookup("WhatId", "Related To ID", &["Account", "Case", "Opportunity"], "What"),
            FieldDef::new("Subject", "Subject", T::Combobox)
                .values(&["Call", "Send Letter", "Send Quote", "Other"], None)
                .name_field(),
            of("ActivityDate", "Due Date Only", T::Date),
            pick(
                "Status",
                "Status",
                &["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
                Some("Not Started"),
            )
            .required(),
            pick("Priority", "Priority", &["High", "Normal", "Low"], Some("Normal")).required(),
            owner(&["Group", "User"]),
            area("Description", "Description", 32000),
            pick("Type", "Type", &["Call", "Email", "Meeting", "Other"], None),
            pick(
                "TaskSubtype",
                "Task Subtype",
                &["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
                Some("Task"),
            )
            .restricted()
            .create_only(),
            flag("IsClosed", "Closed").derived(),
            flag("IsHighPriority", "High Priority").derived(),
            lookup("AccountId", "Account ID", &["Account"], "Account").derived(),
        ],
    )
    .with_hooks(&TaskHooks)
}

/// `IsClosed` follows `Status`; `AccountId` is the account of what the task
/// is about (`WhatId`: the account itself, or the case's or opportunity's
/// account), else of who it is with (`WhoId`: the contact's account).
struct TaskHooks;

impl ObjectHooks for TaskHooks {
    fn derive(&self, db: &Database, values: &mut Values, _previous: Option<&Record>, _ctx: &WriteContext) {
        let text = |f: &str| values.get(f).and_then(Value::as_str).map(str::to_string);
        let closed = text("Status").is_some_and(|s| s == "Completed");
        let high = text("Priority").is_some_and(|p| p == "High");
        let account = text("WhatId")
            .and_then(|what| db.live_record(&what))
            .and_then(|(o, r)| {
                if o.name == "Account" { Some(r.id.clone()) } else { r.reference("AccountId").map(str::to_string) }
            })
            .or_else(|| {
                text("WhoId")
                    .and_then(|who| db.live_record(&who))
                    .and_then(|(_, r)| r.reference("AccountId").map(str::to_string))
            });
        values.insert("IsClosed", Value::Bool(closed));
        values.insert("IsHighPriority", Value::Bool(high));
        values.insert("AccountId", account.map(Value::Text).unwrap_or(Value::Null));
    }
}
