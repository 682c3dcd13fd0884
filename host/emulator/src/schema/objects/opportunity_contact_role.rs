//! OpportunityContactRole.

use super::fields::{flag, lookup, pick};
use crate::schema::ObjectDef;

/// The OpportunityContactRole object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "OpportunityContactRole",
        "Opportunity Contact Role",
        "Opportunity Contact Role",
        "00K",
        vec![
            lookup("OpportunityId", "Opportunity ID", &["Opportunity"], "Opportunity").required().create_only(),
            lookup("ContactId", "Contact ID", &["Contact"], "Contact").required(),
            pick(
                "Role",
                "Role",
                &[
                    "Business User",
                    "Decision Maker",
                    "Economic Buyer",
                    "Economic Decision Maker",
                    "Evaluator",
                    "Executive Sponsor",
                    "Influencer",
                    "Technical Buyer",
                    "Other",
                ],
                None,
            ),
            flag("IsPrimary", "Primary"),
        ],
    )
}
