//! The web messenger (E10) and its hand-off to a live Salesforce agent
//! (B1–B3): [`web`] serves the customer's page and its JSON and event
//! stream; the connector (its `messenger` export) answers with the AI agent,
//! hands off through Messaging for In-App and Web and relays both ways;
//! [`Relay`] is what connects the two.

pub mod web;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::host::Host;

/// What the web messenger tells when a customer wrote: the connector then
/// answers (the AI agent) or relays the message to the live agent. Returns
/// at once; the work runs in the background, and what it writes appears in
/// the conversation's parts.
pub trait Relay: Send + Sync + 'static {
    /// The customer wrote in (or opened) `conversation_id` of `org`.
    fn customer_wrote(&self, org: &str, conversation_id: &str);
}

/// The [`Relay`] of `casebridge run`: one task per conversation that calls
/// the connector's `messenger.relay`, again after the delay it asks for
/// while a hand-off is waiting or live, and at once when the customer
/// writes in the meantime. A failed relay is tried again with a backoff.
#[derive(Clone)]
pub struct ConnectorRelay(Arc<Inner>);

struct Inner {
    host: Arc<Host>,
    /// The conversations being relayed, with their wake-up.
    running: Mutex<HashMap<(String, String), Arc<Pending>>>,
    runtime: tokio::runtime::Handle,
}

/// A conversation's relay task: whether the customer wrote since the last
/// relay began, and the signal that wakes its wait.
#[derive(Default)]
struct Pending {
    dirty: AtomicBool,
    notify: Notify,
}

/// The longest wait between two tries of a failing relay.
const MAX_RETRY: Duration = Duration::from_secs(30);

impl ConnectorRelay {
    /// A relay spawning its tasks on the current Tokio runtime.
    pub fn new(host: Arc<Host>) -> Self {
        ConnectorRelay(Arc::new(Inner {
            host,
            running: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// Resume relaying every hand-off the connector has waiting or live
    /// (after a restart, or after the process that relayed them died).
    pub async fn resume(&self) {
        for org in self.0.host.config().orgs.iter().filter(|o| o.messenger.is_some()) {
            match self.0.host.messenger_live_conversations(&org.name).await {
                Ok(ids) => ids.iter().for_each(|id| self.customer_wrote(&org.name, id)),
                Err(error) => tracing::warn!(org = %org.name, "cannot list the messenger's live hand-offs: {error}"),
            }
        }
    }
}

impl Relay for ConnectorRelay {
    fn customer_wrote(&self, org: &str, conversation_id: &str) {
        let key = (org.to_string(), conversation_id.to_string());
        let mut running = self.0.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pending) = running.get(&key) {
            pending.dirty.store(true, Ordering::SeqCst);
            pending.notify.notify_one();
            return;
        }
        let pending = Arc::new(Pending::default());
        running.insert(key.clone(), pending.clone());
        let inner = self.0.clone();
        self.0.runtime.spawn(async move { inner.run(key, pending).await });
    }
}

impl Inner {
    /// Relay one conversation until it needs no more polling and the
    /// customer wrote nothing new meanwhile.
    async fn run(self: Arc<Self>, key: (String, String), pending: Arc<Pending>) {
        let (org, conversation_id) = (&key.0, &key.1);
        let mut failures = 0u32;
        loop {
            pending.dirty.store(false, Ordering::SeqCst);
            let wait = match self.host.messenger_relay(org, conversation_id).await {
                Ok(report) => {
                    failures = 0;
                    report.poll_after_ms.map(|ms| Duration::from_millis(u64::from(ms)))
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(org, conversation = conversation_id, "the messenger relay failed: {error}");
                    Some(Duration::from_millis(500u64 << failures.min(6)).min(MAX_RETRY))
                }
            };
            if let Some(wait) = wait {
                let _ = tokio::time::timeout(wait, pending.notify.notified()).await;
                continue;
            }
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if !pending.dirty.load(Ordering::SeqCst) {
                running.remove(&key);
                return;
            }
        }
    }
}
