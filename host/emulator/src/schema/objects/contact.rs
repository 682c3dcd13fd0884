//! Contact.

use super::fields::{address, area, flag, lookup, of, owner, person_name, pick, text};
use crate::schema::{FieldType as T, ObjectDef};

/// The Contact object.
pub(crate) fn object() -> ObjectDef {
    let mut contact_fields = vec![pick("Salutation", "Salutation", &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], None)];
    contact_fields.extend(person_name(true));
    contact_fields.extend([
        lookup("AccountId", "Account ID", &["Account"], "Account"),
        of("Email", "Email", T::Email),
        of("Phone", "Business Phone", T::Phone),
        of("MobilePhone", "Mobile Phone", T::Phone),
        text("Title", "Title", 128),
        text("Department", "Department", 80),
        pick(
            "LeadSource",
            "Lead Source",
            &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
            None,
        ),
        flag("HasOptedOutOfEmail", "Email Opt Out"),
        area("Description", "Contact Description", 32000),
        owner(&["User"]),
    ]);
    contact_fields.extend(address("Mailing", "Mailing"));
    ObjectDef::new("Contact", "Contact", "Contacts", "003", contact_fields)
        .children(&[
            ("Cases", "Case", "ContactId", false),
            ("Tasks", "Task", "WhoId", true),
            ("OpportunityContactRoles", "OpportunityContactRole", "ContactId", true),
            ("Feeds", "FeedItem", "ParentId", true),
            ("TopicAssignments", "TopicAssignment", "EntityId", true),
            ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
        ])
        .searchable()
}
