//! The agent capability: who writes the replies on a case.
//!
//! ```
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use casebridge::agent::{BuiltinAgent, HelpCenter, WebhookAgent, WebhookConfig};
//! use casebridge::runtime::Agent;
//!
//! // The default: answers from a folder of Markdown help articles.
//! let builtin: Arc<dyn Agent> = Arc::new(BuiltinAgent::new(HelpCenter::load("help-center")?));
//! // Or any service that speaks the webhook's JSON (an LLM behind an HTTP endpoint).
//! let webhook: Arc<dyn Agent> = Arc::new(WebhookAgent::new(WebhookConfig::new("https://agent.example.com/turn")?)?);
//! # Ok(()) }
//! ```
//!
//! Both implement [`crate::runtime::Agent`]; the connector component calls it
//! through the WIT `agent` interface whenever a customer writes on a case,
//! and turns the [`Turn`](crate::runtime::bindings::agent::Turn) into a case
//! comment, an email, a hand-off or a resolution.
//!
//! - [`BuiltinAgent`] (`builtin.rs`) ranks help-centre sections with BM25
//!   (`bm25.rs`) over normalised terms (`terms.rs`), and reads requests for a
//!   person and confirmations from the customer's words (`intent.rs`).
//! - [`WebhookAgent`] (`webhook.rs`) posts the conversation as JSON to a URL
//!   and reads the turn back; its module docs define both JSON shapes.

pub mod bm25;
mod builtin;
pub mod detect;
mod help_center;
pub mod intent;
pub mod terms;
pub(crate) mod webhook;

pub use builtin::{BuiltinAgent, MAX_AGENT_REPLIES, MAX_QUOTE_CHARS, MIN_CONTENT_TERMS, MIN_RELEVANCE, Match};
pub use help_center::{Article, Block, HelpCenter, HelpCenterError, Section};
pub use webhook::{
    DEFAULT_TIMEOUT, MAX_TURN_BYTES, WebhookAgent, WebhookConfig, WebhookConfigError, attribute_from_json,
    attribute_to_json, conversation_to_json, turn_from_json,
};
