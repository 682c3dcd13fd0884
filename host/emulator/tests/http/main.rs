//! The emulator over real HTTP, as a Salesforce client sees it.

mod admin;
mod composite;
mod faults;
mod oauth;
mod origins;
mod query;
mod robustness;
mod scale;
mod sobjects;
mod support;
mod versions_and_limits;
