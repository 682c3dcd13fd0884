//! User.

use super::fields::{flag, lookup, of, person_name, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The User object.
pub(crate) fn object() -> ObjectDef {
    let mut user_fields = vec![text("Username", "Username", 80).required().unique()];
    user_fields.extend(person_name(true));
    user_fields.extend([
        text("Alias", "Alias", 8),
        of("Email", "Email", T::Email).required(),
        flag("IsActive", "Active").checkbox_default(true),
        pick(
            "UserType",
            "User Type",
            &[
                "Standard",
                "PowerPartner",
                "CspLitePortal",
                "CustomerSuccess",
                "PowerCustomerSuccess",
                "CsnOnly",
                "Guest",
                "SelfService",
                "AutomatedProcess",
            ],
            Some("Standard"),
        )
        .restricted()
        .create_only(),
        lookup("ProfileId", "Profile ID", &["Profile"], "Profile"),
        lookup("ManagerId", "Manager ID", &["User"], "Manager"),
        text("Title", "Title", 80),
        text("Department", "Department", 80),
        text("CompanyName", "Company Name", 80),
        of("Phone", "Phone", T::Phone),
        of("MobilePhone", "Mobile", T::Phone),
        pick(
            "TimeZoneSidKey",
            "Time Zone",
            &["GMT", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles"],
            Some("GMT"),
        ),
    ]);
    let user = ObjectDef::new("User", "User", "Users", "005", user_fields)
        .children(&[("Feeds", "FeedItem", "ParentId", true)])
        .searchable();
    ObjectDef { deletable: false, ..user.with_hooks(&UserHooks) }
}

/// `Alias` defaults to the first eight letters of the last name.
struct UserHooks;

impl ObjectHooks for UserHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, _ctx: &WriteContext) {
        if previous.is_none() && values.get("Alias").is_none_or(Value::is_null) {
            let alias: String =
                values.get("LastName").and_then(Value::as_str).unwrap_or_default().chars().take(8).collect();
            values.insert("Alias", Value::Text(alias));
        }
    }
}
