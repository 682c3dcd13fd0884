//! A local Salesforce org: an in-memory server that speaks the Salesforce REST API
//! closely enough that an unmodified client library works against it.
//!
//! casebridge's demo and its end-to-end tests run against it.
//!
//! The data layer ([`schema`], [`db`], [`soql`], [`sosl`]) holds the org's
//! metadata and records; [`server`] serves them over HTTP as Salesforce does
//! ([`start`], [`spawn`], [`run_cli`]), and [`seed`] fills a new org (and,
//! with [`seed::bulk_seed`], makes it a big one for load tests).

pub mod db;
pub mod error;
pub mod ids;
pub mod schema;
pub mod seed;
pub mod server;
pub mod soql;
pub mod sosl;

pub use seed::{BulkSeed, BulkSeedError, BulkSeeded, Seed, SeededOrg};
pub use server::{
    ApiUsage, CallCounters, Credentials, EmulatorOptions, Fault, FaultKind, FaultTarget, MESSAGING_DEPLOYMENT, Repeat,
    RunningEmulator, StreamingCounters, StreamingSettings, run_cli, spawn, start,
};
