//! The emulator over real HTTP, as a Salesforce client sees it.

mod admin;
mod composite;
mod crm;
mod faults;
mod messaging;
mod oauth;
mod origins;
mod permissions;
mod query;
mod record_types;
mod robustness;
mod rules;
mod scale;
mod search;
mod sobjects;
mod streaming;
mod support;
mod versions_and_limits;
mod web_flow;
