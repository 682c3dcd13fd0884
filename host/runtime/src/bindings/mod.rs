//! Host-side bindings of every released `casebridge:connector` world, one
//! module per version (generated from `wit/since_vX.Y.Z/`), and [`latest`],
//! the newest. Host code uses `latest`'s types (re-exported here); a
//! component of an older version is run through the conversions in
//! [`crate::compat`]. This follows Zed's extension host.
//!
//! Generated types derive `serde` so that the conversions can carry a value
//! whose shape did not change between versions across as it is.

/// `casebridge:connector@0.1.0`: the org's settings as a record passed to
/// every export, Cases only.
pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.1.0",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

/// `casebridge:connector@0.2.0`: settings and the platform's records as
/// imports, batched pure exports, `crm` errors.
pub mod v0_2_0 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.0",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

/// `casebridge:connector@0.2.1`: 0.2.0 and the CRM actions' settings, `crm`
/// implemented with `profile` and `flagged-cases`.
///
/// The interfaces 0.2.1 did not change are 0.2.0's own bindings (`with`),
/// so one implementation of each import serves components of both versions:
/// the linker resolves a 0.2.1 component's import of `store@0.2.1` to the
/// `store@0.2.0` definition, which is semver-compatible and identical.
pub mod v0_2_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.1",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "casebridge:connector/types": super::v0_2_0::casebridge::connector::types,
            "casebridge:connector/describe": super::v0_2_0::casebridge::connector::describe,
            "casebridge:connector/contacts": super::v0_2_0::casebridge::connector::contacts,
            "casebridge:connector/org": super::v0_2_0::casebridge::connector::org,
            "casebridge:connector/store": super::v0_2_0::casebridge::connector::store,
            "casebridge:connector/platform": super::v0_2_0::casebridge::connector::platform,
            "casebridge:connector/agent": super::v0_2_0::casebridge::connector::agent,
            "casebridge:connector/mail": super::v0_2_0::casebridge::connector::mail,
            "casebridge:connector/log": super::v0_2_0::casebridge::connector::log,
        },
    });
}

/// `casebridge:connector@0.2.2`: 0.2.1 and the messenger: `settings.messenger`,
/// `platform.post-part` and `read-file`, the `messenger` export.
///
/// Every interface 0.2.2 did not change is an older version's bindings
/// (`with`), imports and exports alike, so host code has one type for each.
/// `settings` and `platform` only grew: a 0.2.0 or 0.2.1 component's imports
/// of them resolve to these definitions (semver-compatible, a superset), so
/// components of every 0.2.x version link against this world's imports.
pub mod v0_2_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.2",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "casebridge:connector/types": super::v0_2_0::casebridge::connector::types,
            "casebridge:connector/describe": super::v0_2_0::casebridge::connector::describe,
            "casebridge:connector/contacts": super::v0_2_0::casebridge::connector::contacts,
            "casebridge:connector/org": super::v0_2_0::casebridge::connector::org,
            "casebridge:connector/store": super::v0_2_0::casebridge::connector::store,
            "casebridge:connector/agent": super::v0_2_0::casebridge::connector::agent,
            "casebridge:connector/mail": super::v0_2_0::casebridge::connector::mail,
            "casebridge:connector/log": super::v0_2_0::casebridge::connector::log,
            "casebridge:connector/catalog": super::v0_2_1::exports::casebridge::connector::catalog,
            "casebridge:connector/mapping": super::v0_2_1::exports::casebridge::connector::mapping,
            "casebridge:connector/resolution": super::v0_2_1::exports::casebridge::connector::resolution,
            "casebridge:connector/routing": super::v0_2_1::exports::casebridge::connector::routing,
            "casebridge:connector/matching": super::v0_2_1::exports::casebridge::connector::matching,
            "casebridge:connector/sync": super::v0_2_1::exports::casebridge::connector::sync,
            "casebridge:connector/crm": super::v0_2_1::exports::casebridge::connector::crm,
        },
    });
}

/// `casebridge:connector@0.2.3`: 0.2.2 and the workflow: `settings.workflow`
/// and `settings.value-descriptions`, `agent.detect`.
///
/// Only `settings` and `agent` are generated anew (they grew, so every
/// 0.2.x component links against them); every other interface is an older
/// version's bindings.
pub mod v0_2_3 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.3",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "casebridge:connector/types": super::v0_2_0::casebridge::connector::types,
            "casebridge:connector/describe": super::v0_2_0::casebridge::connector::describe,
            "casebridge:connector/contacts": super::v0_2_0::casebridge::connector::contacts,
            "casebridge:connector/org": super::v0_2_0::casebridge::connector::org,
            "casebridge:connector/store": super::v0_2_0::casebridge::connector::store,
            "casebridge:connector/mail": super::v0_2_0::casebridge::connector::mail,
            "casebridge:connector/log": super::v0_2_0::casebridge::connector::log,
            "casebridge:connector/platform": super::v0_2_2::casebridge::connector::platform,
            "casebridge:connector/catalog": super::v0_2_1::exports::casebridge::connector::catalog,
            "casebridge:connector/mapping": super::v0_2_1::exports::casebridge::connector::mapping,
            "casebridge:connector/resolution": super::v0_2_1::exports::casebridge::connector::resolution,
            "casebridge:connector/routing": super::v0_2_1::exports::casebridge::connector::routing,
            "casebridge:connector/matching": super::v0_2_1::exports::casebridge::connector::matching,
            "casebridge:connector/sync": super::v0_2_1::exports::casebridge::connector::sync,
            "casebridge:connector/crm": super::v0_2_1::exports::casebridge::connector::crm,
            "casebridge:connector/messenger": super::v0_2_2::exports::casebridge::connector::messenger,
        },
    });
}

/// `casebridge:connector@0.2.4`: 0.2.3 and the `streaming` export (E4).
///
/// No import changed: every interface but `streaming` is an older
/// version's bindings.
pub mod v0_2_4 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.4",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "casebridge:connector/types": super::v0_2_0::casebridge::connector::types,
            "casebridge:connector/describe": super::v0_2_0::casebridge::connector::describe,
            "casebridge:connector/contacts": super::v0_2_0::casebridge::connector::contacts,
            "casebridge:connector/org": super::v0_2_0::casebridge::connector::org,
            "casebridge:connector/store": super::v0_2_0::casebridge::connector::store,
            "casebridge:connector/mail": super::v0_2_0::casebridge::connector::mail,
            "casebridge:connector/log": super::v0_2_0::casebridge::connector::log,
            "casebridge:connector/platform": super::v0_2_2::casebridge::connector::platform,
            "casebridge:connector/settings": super::v0_2_3::casebridge::connector::settings,
            "casebridge:connector/agent": super::v0_2_3::casebridge::connector::agent,
            "casebridge:connector/catalog": super::v0_2_1::exports::casebridge::connector::catalog,
            "casebridge:connector/mapping": super::v0_2_1::exports::casebridge::connector::mapping,
            "casebridge:connector/resolution": super::v0_2_1::exports::casebridge::connector::resolution,
            "casebridge:connector/routing": super::v0_2_1::exports::casebridge::connector::routing,
            "casebridge:connector/matching": super::v0_2_1::exports::casebridge::connector::matching,
            "casebridge:connector/sync": super::v0_2_1::exports::casebridge::connector::sync,
            "casebridge:connector/crm": super::v0_2_1::exports::casebridge::connector::crm,
            "casebridge:connector/messenger": super::v0_2_2::exports::casebridge::connector::messenger,
        },
    });
}

/// The newest version: what host code is written against.
pub use v0_2_4 as latest;

pub use latest::casebridge::connector::{agent, contacts, describe, log, mail, org, platform, settings, store, types};
pub use latest::exports::casebridge::connector::{
    catalog, crm, mapping, matching, messenger, resolution, routing, streaming, sync,
};
