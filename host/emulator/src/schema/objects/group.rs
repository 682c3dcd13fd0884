//! Group.

use super::fields::{flag, of, owner, pick, text};
use super::record_type::default_developer_name;
use crate::db::{Database, Record, Values, WriteContext};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The Group object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Group",
        "Group",
        "Groups",
        "00G",
        vec![
            text("Name", "Name", 40).required().name_field(),
            text("DeveloperName", "Developer Name", 80).defaulted(),
            pick(
                "Type",
                "Type",
                &["Regular", "Queue", "Role", "RoleAndSubordinates", "Organization", "Manager"],
                Some("Regular"),
            )
            .restricted()
            .required()
            .create_only(),
            of("Email", "Email", T::Email),
            flag("DoesSendEmailToMembers", "Send Email to Members"),
            owner(&["User"]),
        ],
    )
    .children(&[("QueueSobjects", "QueueSobject", "QueueId", true)])
    .with_hooks(&GroupHooks)
}

/// `DeveloperName` defaults to the name.
struct GroupHooks;

impl ObjectHooks for GroupHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, _ctx: &WriteContext) {
        default_developer_name(values, previous);
    }
}
