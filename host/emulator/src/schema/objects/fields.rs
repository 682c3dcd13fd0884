//! The field builders every object definition uses, so each standard field
//! is written the way describe shows it.

use crate::schema::{FieldDef, FieldType as T};

pub(super) fn text(name: &str, label: &str, length: u32) -> FieldDef {
    FieldDef::new(name, label, T::String).length(length)
}
pub(super) fn area(name: &str, label: &str, length: u32) -> FieldDef {
    FieldDef::new(name, label, T::Textarea).length(length)
}
pub(super) fn pick(name: &str, label: &str, values: &[&str], default: Option<&str>) -> FieldDef {
    FieldDef::new(name, label, T::Picklist).length(255).values(values, default)
}
pub(super) fn lookup(name: &str, label: &str, targets: &[&str], relationship: &str) -> FieldDef {
    FieldDef::new(name, label, T::Reference).references(targets, relationship)
}
pub(super) fn flag(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, T::Boolean)
}
pub(super) fn of(name: &str, label: &str, t: T) -> FieldDef {
    FieldDef::new(name, label, t)
}
/// `OwnerId`: filled with the running user on insert.
pub(super) fn owner(targets: &[&str]) -> FieldDef {
    lookup("OwnerId", "Owner ID", targets, "Owner").required().defaulted()
}
/// A person's name: `FirstName`, `LastName`, and the derived `Name`.
pub(super) fn person_name(last_required: bool) -> Vec<FieldDef> {
    let last = text("LastName", "Last Name", 80);
    vec![
        text("FirstName", "First Name", 40),
        if last_required { last.required() } else { last },
        text("Name", "Full Name", 121).name_field().derived(),
    ]
}
pub(super) fn address(prefix: &str, label: &str) -> Vec<FieldDef> {
    vec![
        area(&format!("{prefix}Street"), &format!("{label} Street"), 255),
        text(&format!("{prefix}City"), &format!("{label} City"), 40),
        text(&format!("{prefix}State"), &format!("{label} State/Province"), 80),
        text(&format!("{prefix}PostalCode"), &format!("{label} Zip/Postal Code"), 20),
        text(&format!("{prefix}Country"), &format!("{label} Country"), 80),
        of(&format!("{prefix}Latitude"), &format!("{label} Latitude"), T::Double).precision(18, 15),
        of(&format!("{prefix}Longitude"), &format!("{label} Longitude"), T::Double).precision(18, 15),
        pick(
            &format!("{prefix}GeocodeAccuracy"),
            &format!("{label} Geocode Accuracy"),
            &[
                "Address",
                "NearAddress",
                "Block",
                "Street",
                "ExtendedZip",
                "Zip",
                "Neighborhood",
                "City",
                "County",
                "State",
                "Unknown",
            ],
            None,
        )
        .restricted(),
        of(&format!("{prefix}Address"), &format!("{label} Address"), T::Address).read_only(),
    ]
}
/// Everything a feed, file or topic can hang off.
pub(super) const FEED_PARENTS: &[&str] =
    &["Account", "Case", "Contact", "Lead", "Opportunity", "User", "Group", "Topic"];
/// Everything a file can be shared with.
pub(super) const FILE_LINK_TARGETS: &[&str] = &[
    "Account",
    "Case",
    "Contact",
    "Lead",
    "Opportunity",
    "User",
    "Group",
    "Topic",
    "EmailMessage",
    "MessagingSession",
];
