//! Case.

use super::fields::{area, flag, lookup, of, owner, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext, stamp};
use crate::schema::{FieldDef, FieldType as T, ObjectDef, ObjectHooks};

/// The Case object.
pub(crate) fn object() -> ObjectDef {
    let case_fields = vec![
        text("CaseNumber", "Case Number", 30).auto_number().name_field(),
        lookup("ContactId", "Contact ID", &["Contact"], "Contact"),
        lookup("AccountId", "Account ID", &["Account"], "Account"),
        lookup("ParentId", "Parent Case ID", &["Case"], "Parent"),
        FieldDef::new("SuppliedName", "Name", T::String).length(80),
        FieldDef::new("SuppliedEmail", "Email Address", T::Email),
        FieldDef::new("SuppliedPhone", "Phone", T::String).length(40),
        FieldDef::new("SuppliedCompany", "Company", T::String).length(80),
        pick("Type", "Case Type", &["Mechanical", "Electrical", "Electronic", "Structural", "Other"], None),
        pick("Status", "Status", &["New", "Working", "Escalated", "Closed"], Some("New")),
        pick(
            "Reason",
            "Case Reason",
            &[
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Equipment Design",
                "Feedback",
                "Other",
            ],
            None,
        ),
        pick("Origin", "Case Origin", &["Phone", "Email", "Web"], None),
        text("Subject", "Subject", 255),
        pick("Priority", "Priority", &["High", "Medium", "Low"], Some("Medium")),
        area("Description", "Description", 32000),
        flag("IsClosed", "Closed").derived(),
        of("ClosedDate", "Closed Date", T::Datetime).derived(),
        flag("IsEscalated", "Escalated"),
        owner(&["Group", "User"]),
        flag("FinInvolved__c", "Fin Involved"),
        pick(
            "FinResolutionState__c",
            "Fin Resolution State",
            &["Soft Resolution", "Hard Resolution", "Abandoned", "Routed to team"],
            None,
        )
        .restricted(),
    ];
    ObjectDef::new("Case", "Case", "Cases", "500", case_fields)
        .children(&[
            ("Cases", "Case", "ParentId", false),
            ("CaseComments", "CaseComment", "ParentId", true),
            ("EmailMessages", "EmailMessage", "ParentId", true),
            ("Feeds", "FeedItem", "ParentId", true),
            ("Tasks", "Task", "WhatId", true),
            ("TopicAssignments", "TopicAssignment", "EntityId", true),
            ("Attachments", "Attachment", "ParentId", true),
            ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
        ])
        .searchable()
        .with_hooks(&CaseHooks)
}

/// `IsClosed` follows `Status`; `ClosedDate` is stamped when a case closes
/// and cleared when it reopens.
struct CaseHooks;

impl ObjectHooks for CaseHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, ctx: &WriteContext) {
        let closed = values.get("Status").and_then(Value::as_str) == Some("Closed");
        let was_closed = previous.is_some_and(|p| p.get("IsClosed").as_bool());
        values.insert("IsClosed", Value::Bool(closed));
        if closed && !was_closed {
            values.insert("ClosedDate", Value::DateTime(stamp(ctx.now)));
        } else if !closed {
            values.insert("ClosedDate", Value::Null);
        }
    }
}
