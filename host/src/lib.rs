//! The casebridge host: runs the connector component against Salesforce orgs,
//! providing HTTP (allow-listed), storage, the agent, mail, logs and limits.

pub mod agent;
pub mod config;
pub mod console;
pub mod demo;
pub mod host;
pub mod mail;
pub mod messenger;
pub mod oauth;
pub mod platform;
pub mod scheduler;
pub mod secrets;
pub mod status;
pub mod storage;
pub mod streaming;
pub mod text;
pub mod workflow;

/// The embedding of the component ([`casebridge_runtime`]), which the
/// bundled host uses like any other host.
pub use casebridge_runtime as runtime;

/// The connector component built from `guest/` for this checkout.
pub const GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/casebridge_guest.wasm"));
