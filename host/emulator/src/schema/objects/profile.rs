//! Profile.

use super::fields::{pick, text};
use crate::schema::ObjectDef;

/// The Profile object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Profile",
        "Profile",
        "Profiles",
        "00e",
        vec![
            text("Name", "Name", 255).required().name_field(),
            pick("UserType", "User Type", &["Standard", "Guest"], Some("Standard")),
        ],
    )
}
