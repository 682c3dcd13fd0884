//! What the host gives a connector instance: storage, the agent, mail and logs.
//! Each capability is a trait with a default implementation; the generated
//! import traits delegate to them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::GuestState;
use super::bindings::{agent, contacts, describe, log, mail, org, store, types};
use crate::storage::Fence;

/// Durable key-value storage, namespaced by org.
pub trait KeyValueStore: Send + Sync {
    /// Read one key.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError>;
    /// Read every key starting with `prefix`, in key order.
    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError>;
    /// Apply `writes` atomically if every expectation holds; otherwise write
    /// nothing and return `conflict` naming a key that did not match.
    ///
    /// With a `fence` (the instance's lease, see [`crate::storage::lease`])
    /// the commit also writes nothing unless, checked inside the same
    /// transaction, the lease is still the org's current one and has not
    /// expired; it then returns `conflict` with a message about the lease.
    /// `None` is for writes outside a cycle that need no lease.
    fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[store::Expectation],
        writes: &[store::Write],
    ) -> Result<(), store::StoreError>;
}

/// The AI agent that writes the replies.
#[async_trait::async_trait]
pub trait Agent: Send + Sync {
    async fn respond(&self, org: &str, conversation: types::Conversation) -> Result<agent::Turn, agent::AgentError>;
}

/// Outbound mail for email-origin cases.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, org: &str, idempotency_key: &str, email: mail::Email) -> Result<mail::Sent, mail::MailError>;
}

/// The capabilities of one instance, for one org.
#[derive(Clone)]
pub struct Capabilities {
    /// The org whose namespace the instance sees.
    pub org: String,
    pub store: Arc<dyn KeyValueStore>,
    pub agent: Arc<dyn Agent>,
    pub mail: Arc<dyn Mailer>,
}

impl Capabilities {
    /// An in-memory store, no agent and no mail: for pure calls and tests.
    pub fn in_memory(org: &str) -> Self {
        Capabilities {
            org: org.to_string(),
            store: Arc::new(MemoryStore::default()),
            agent: Arc::new(NoAgent),
            mail: Arc::new(NoMail),
        }
    }
}

/// An agent that is never available.
pub struct NoAgent;

#[async_trait::async_trait]
impl Agent for NoAgent {
    async fn respond(&self, _org: &str, _conversation: types::Conversation) -> Result<agent::Turn, agent::AgentError> {
        Err(agent::AgentError::Unavailable("no agent is configured".into()))
    }
}

/// A mailer that rejects every email.
pub struct NoMail;

#[async_trait::async_trait]
impl Mailer for NoMail {
    async fn send(&self, _org: &str, _key: &str, _email: mail::Email) -> Result<mail::Sent, mail::MailError> {
        Err(mail::MailError::Rejected("no mail transport is configured".into()))
    }
}

/// The memory store's entries, by (namespace, key).
type Entries = BTreeMap<(String, String), String>;

/// A key-value store in memory, with the same atomicity as the durable one.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

impl MemoryStore {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, store::StoreError> {
        self.entries.lock().map_err(|_| store::StoreError::Unavailable("the memory store is poisoned".into()))
    }
}

impl KeyValueStore for MemoryStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError> {
        Ok(self.lock()?.get(&(namespace.to_string(), key.to_string())).cloned())
    }

    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError> {
        let entries = self.lock()?;
        Ok(entries
            .range((namespace.to_string(), prefix.to_string())..)
            .take_while(|((ns, key), _)| ns == namespace && key.starts_with(prefix))
            .map(|((_, key), value)| store::Entry { key: key.clone(), value: value.clone() })
            .collect())
    }

    /// A fence is checked against its own expiry: memory has no lease table
    /// shared with other processes, so that is all there is to check.
    fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[store::Expectation],
        writes: &[store::Write],
    ) -> Result<(), store::StoreError> {
        if let Some(fence) = fence {
            let valid = fence.valid_until().is_some_and(|until| until > chrono::Utc::now());
            if fence.org() != namespace || !valid {
                return Err(store::StoreError::Conflict(format!(
                    "the lease of org `{}` expired or was lost; nothing was written",
                    fence.org()
                )));
            }
        }
        let mut entries = self.lock()?;
        for expectation in expect {
            let current = entries.get(&(namespace.to_string(), expectation.key.clone()));
            if current != expectation.value.as_ref() {
                return Err(store::StoreError::Conflict(expectation.key.clone()));
            }
        }
        for write in writes {
            match write {
                store::Write::Put(entry) => {
                    entries.insert((namespace.to_string(), entry.key.clone()), entry.value.clone());
                }
                store::Write::Delete(key) => {
                    entries.remove(&(namespace.to_string(), key.clone()));
                }
            }
        }
        Ok(())
    }
}

/// Runs a blocking store call on tokio's blocking threads, so that a slow
/// disk or another process's write lock never stalls an async worker (and
/// with it other orgs' cycles).
async fn off_the_workers<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, store::StoreError> + Send + 'static,
) -> Result<T, store::StoreError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|failed| {
        Err(store::StoreError::Unavailable(format!("the storage call failed on its thread: {failed}")))
    })
}

impl store::Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::StoreError>> {
        let (store, org) = (self.capabilities.store.clone(), self.capabilities.org.clone());
        Ok(off_the_workers(move || store.get(&org, &key)).await)
    }

    async fn scan(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<store::Entry>, store::StoreError>> {
        let (store, org) = (self.capabilities.store.clone(), self.capabilities.org.clone());
        Ok(off_the_workers(move || store.scan(&org, &prefix)).await)
    }

    async fn commit(
        &mut self,
        expect: Vec<store::Expectation>,
        writes: Vec<store::Write>,
    ) -> wasmtime::Result<Result<(), store::StoreError>> {
        let (store, org) = (self.capabilities.store.clone(), self.capabilities.org.clone());
        let fence = self.fence.clone();
        Ok(off_the_workers(move || store.commit(&org, fence.as_ref(), &expect, &writes)).await)
    }
}

impl agent::Host for GuestState {
    async fn respond(
        &mut self,
        conversation: types::Conversation,
    ) -> wasmtime::Result<Result<agent::Turn, agent::AgentError>> {
        let agent = self.capabilities.agent.clone();
        Ok(agent.respond(&self.capabilities.org, conversation).await)
    }
}

impl mail::Host for GuestState {
    async fn send(
        &mut self,
        idempotency_key: String,
        message: mail::Email,
    ) -> wasmtime::Result<Result<mail::Sent, mail::MailError>> {
        let mailer = self.capabilities.mail.clone();
        Ok(mailer.send(&self.capabilities.org, &idempotency_key, message).await)
    }
}

impl log::Host for GuestState {
    async fn write(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let org = &self.capabilities.org;
        let fields = fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        match level {
            log::Level::Trace => tracing::trace!(target: "casebridge::guest", org, %fields, "{message}"),
            log::Level::Debug => tracing::debug!(target: "casebridge::guest", org, %fields, "{message}"),
            log::Level::Info => tracing::info!(target: "casebridge::guest", org, %fields, "{message}"),
            log::Level::Warn => tracing::warn!(target: "casebridge::guest", org, %fields, "{message}"),
            log::Level::Error => tracing::error!(target: "casebridge::guest", org, %fields, "{message}"),
        }
        Ok(())
    }
}

// Interfaces that hold only types have nothing to implement.
impl types::Host for GuestState {}
impl describe::Host for GuestState {}
impl contacts::Host for GuestState {}
impl org::Host for GuestState {}
