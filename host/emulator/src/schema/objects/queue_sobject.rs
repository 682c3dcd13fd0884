//! QueueSobject.

use super::fields::{lookup, pick};
use crate::schema::{ObjectDef, ObjectHooks};

/// The QueueSobject object.
pub(crate) fn object() -> ObjectDef {
    let queue_sobject = ObjectDef::new(
        "QueueSobject",
        "Queue Sobject",
        "Queue Sobjects",
        "03g",
        vec![
            lookup("QueueId", "Group ID", &["Group"], "Queue").required().create_only(),
            pick("SobjectType", "Sobject Type", &["Case", "Lead", "Task", "ContentVersion"], None)
                .required()
                .restricted()
                .create_only(),
        ],
    );
    ObjectDef { updateable: false, ..queue_sobject.with_hooks(&QueueSobjectHooks) }
}

/// A queue takes each object once.
struct QueueSobjectHooks;

impl ObjectHooks for QueueSobjectHooks {
    fn unique_together(&self) -> &'static [(&'static str, &'static str)] {
        &[("QueueId", "SobjectType")]
    }
}
