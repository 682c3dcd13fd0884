//! The web messenger (E10) and its hand-off to a live Salesforce agent
//! (B1–B3): [`web`] serves the customer's page and its JSON and event
//! stream; the connector (its `messenger` export) answers with the AI agent,
//! hands off through Messaging for In-App and Web and relays both ways;
//! [`Relay`] is what connects the two.

pub mod web;

/// What the web messenger tells when a customer wrote: the connector then
/// answers (the AI agent) or relays the message to the live agent. Returns
/// at once; the work runs in the background, and what it writes appears in
/// the conversation's parts.
pub trait Relay: Send + Sync + 'static {
    /// The customer wrote in (or opened) `conversation_id` of `org`.
    fn customer_wrote(&self, org: &str, conversation_id: &str);
}
