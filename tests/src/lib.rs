//! Shared support for casebridge's cross-crate tests: one compiled connector
//! per test binary, and fresh sandboxed instances with test doubles for the
//! host's imports.

use std::sync::OnceLock;

use casebridge::runtime::{AllowedHosts, Capabilities, GuestInstance, GuestLimits, Runtime};

/// The connector compiled once per test binary (compiling takes a second or two).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(casebridge::GUEST_COMPONENT).expect("the embedded connector compiles"))
}

/// A fresh instance with an in-memory store, no agent, no mail and no HTTP.
pub async fn isolated_instance() -> GuestInstance {
    runtime()
        .instantiate(Capabilities::in_memory("test-org"), AllowedHosts::none(), GuestLimits::default())
        .await
        .expect("the connector instantiates")
}
