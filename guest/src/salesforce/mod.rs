//! The Salesforce REST API as the connector speaks it: wire shapes, escaping,
//! authentication, errors and limits. The rest of the connector speaks in
//! cases, conversations and outcomes, not JSON.

pub mod cases;
pub mod client;
pub mod cometd;
pub mod describe;
pub mod directory;
pub mod escape;
pub mod ids;
pub mod records;
pub mod rich_text;
pub mod session;
pub mod transport;
