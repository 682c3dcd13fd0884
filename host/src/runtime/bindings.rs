//! Host-side bindings of the `casebridge:connector` world (generated from `wit/`).

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq],
});

pub use self::casebridge::connector::{agent, contacts, describe, log, mail, org, store, types};
pub use self::exports::casebridge::connector::{catalog, crm, mapping, matching, resolution, routing, sync};
