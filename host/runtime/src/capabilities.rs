//! What the host gives a connector instance: its org's settings, storage,
//! the platform's records, the agent, mail and logs. Each capability is an
//! async trait (or, for settings, plain data) in the newest contract's
//! types; the generated import traits of every version delegate to them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::GuestState;
use crate::bindings::{agent, contacts, describe, log, mail, org, platform, settings, store, types};
use crate::fence::Fence;

/// Durable key-value storage, namespaced by org: what the connector's
/// `store` import runs on. Async, so a backend with an async driver
/// (PostgreSQL) implements it directly; a backend with a blocking driver
/// implements [`BlockingKeyValueStore`] and is wrapped in [`OffTheWorkers`].
///
/// Semantics every backend keeps: `commit` is atomic and durable before it
/// returns, checks every expectation (compare-and-swap) and, with a fence,
/// that the fence's lease is still the org's current one and unexpired,
/// inside the same transaction; `scan` returns keys in ascending byte order.
#[async_trait::async_trait]
pub trait KeyValueStore: Send + Sync {
    /// Read one key.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError>;
    /// Read every key starting with `prefix`, in key order.
    async fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError>;
    /// Apply `writes` atomically if every expectation holds (and the fence,
    /// if any, is still the org's lease); otherwise write nothing and return
    /// `conflict`.
    async fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[store::Expectation],
        writes: &[store::Write],
    ) -> Result<(), store::StoreError>;
}

/// A [`KeyValueStore`] whose calls block (an embedded database). Wrap it in
/// [`OffTheWorkers`] to give it to an instance.
pub trait BlockingKeyValueStore: Send + Sync {
    /// Read one key.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError>;
    /// Read every key starting with `prefix`, in key order.
    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError>;
    /// Apply `writes` atomically if every expectation holds; otherwise write
    /// nothing and return `conflict` naming a key that did not match.
    ///
    /// With a `fence` (the instance's lease, see [`crate::fence`])
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

/// Runs a [`BlockingKeyValueStore`]'s calls on tokio's blocking threads, so
/// that a slow disk or another process's write lock never stalls an async
/// worker (and with it other orgs' cycles).
pub struct OffTheWorkers<T>(pub Arc<T>);

impl<T> OffTheWorkers<T> {
    async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&T) -> Result<R, store::StoreError> + Send + 'static,
    ) -> Result<R, store::StoreError>
    where
        T: Send + Sync + 'static,
    {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || call(&store)).await.unwrap_or_else(|failed| {
            Err(store::StoreError::Unavailable(format!("the storage call failed on its thread: {failed}")))
        })
    }
}

#[async_trait::async_trait]
impl<T: BlockingKeyValueStore + 'static> KeyValueStore for OffTheWorkers<T> {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError> {
        let (namespace, key) = (namespace.to_string(), key.to_string());
        self.run(move |store| store.get(&namespace, &key)).await
    }

    async fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError> {
        let (namespace, prefix) = (namespace.to_string(), prefix.to_string());
        self.run(move |store| store.scan(&namespace, &prefix)).await
    }

    async fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[store::Expectation],
        writes: &[store::Write],
    ) -> Result<(), store::StoreError> {
        let (namespace, fence, expect, writes) =
            (namespace.to_string(), fence.cloned(), expect.to_vec(), writes.to_vec());
        self.run(move |store| store.commit(&namespace, fence.as_ref(), &expect, &writes)).await
    }
}

/// The AI agent that writes the replies.
#[async_trait::async_trait]
pub trait Agent: Send + Sync {
    async fn respond(&self, org: &str, conversation: types::Conversation) -> Result<agent::Turn, agent::AgentError>;
    /// Attribute detection (0.2.3): for each field, the values whose
    /// descriptions fit the conversation; see `agent.detect` in the WIT.
    /// An agent that does not detect answers `unavailable` (the default).
    async fn detect(
        &self,
        _org: &str,
        _conversation: types::Conversation,
        _fields: Vec<agent::DetectionField>,
    ) -> Result<Vec<types::Attribute>, agent::AgentError> {
        Err(agent::AgentError::Unavailable("this agent does not detect attributes".into()))
    }
}

/// Outbound mail for email-origin cases.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, org: &str, idempotency_key: &str, email: mail::Email) -> Result<mail::Sent, mail::MailError>;
}

/// The support platform's records for one org (the `platform` import):
/// people, companies, teammates and conversations, a change feed, and the
/// writes the connector makes. See `wit/since_v0.2.0/platform.wit` for
/// what each call must do; every write through it shows in the change feed
/// as the connector's.
#[async_trait::async_trait]
pub trait Platform: Send + Sync {
    async fn list_attributes(&self, org: &str) -> Result<Vec<platform::AttributeDefinition>, platform::PlatformError>;
    async fn get_person(&self, org: &str, id: &str) -> Result<Option<platform::Person>, platform::PlatformError>;
    async fn find_people(
        &self,
        org: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<platform::Person>, platform::PlatformError>;
    async fn find_linked_people(
        &self,
        org: &str,
        link: &platform::SalesforceLink,
    ) -> Result<Vec<platform::Person>, platform::PlatformError>;
    async fn get_company(&self, org: &str, id: &str) -> Result<Option<platform::Company>, platform::PlatformError>;
    async fn find_companies(
        &self,
        org: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<platform::Company>, platform::PlatformError>;
    async fn list_teammates(&self, org: &str) -> Result<Vec<platform::Teammate>, platform::PlatformError>;
    async fn get_conversation(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<platform::PlatformConversation>, platform::PlatformError>;
    async fn changes(
        &self,
        org: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<platform::ChangePage, platform::PlatformError>;
    async fn set_person_attributes(
        &self,
        org: &str,
        id: &str,
        attributes: Vec<platform::PlatformAttribute>,
    ) -> Result<(), platform::PlatformError>;
    async fn link_person(
        &self,
        org: &str,
        id: &str,
        link: Option<platform::SalesforceLink>,
    ) -> Result<(), platform::PlatformError>;
    async fn set_company_attributes(
        &self,
        org: &str,
        id: &str,
        attributes: Vec<platform::PlatformAttribute>,
    ) -> Result<(), platform::PlatformError>;
    async fn link_company(
        &self,
        org: &str,
        id: &str,
        account_id: Option<String>,
    ) -> Result<(), platform::PlatformError>;
    async fn upsert_case_conversation(
        &self,
        org: &str,
        conversation: platform::CaseConversation,
    ) -> Result<String, platform::PlatformError>;
    async fn add_note(
        &self,
        org: &str,
        conversation_id: &str,
        idempotency_key: &str,
        text: &str,
    ) -> Result<String, platform::PlatformError>;
    /// Add a part to a conversation once per part id; true when this call added it.
    async fn post_part(
        &self,
        org: &str,
        conversation_id: &str,
        part: types::ConversationPart,
    ) -> Result<bool, platform::PlatformError>;
    /// A platform file's bytes by an attachment's `content-path`.
    async fn read_file(&self, org: &str, content_path: &str) -> Result<Vec<u8>, platform::PlatformError>;
}

/// One org's settings, as the `settings` import gives them (and, for a
/// 0.1.0 component, as its `org-config` record).
#[derive(Clone, PartialEq)]
pub struct OrgSettings {
    pub name: String,
    pub login_url: String,
    pub api_version: String,
    pub credentials: settings::AppCredentials,
    pub agent_user_id: String,
    pub hand_off: settings::HandOffTarget,
    pub reply_as: settings::ReplyChannel,
    pub involved_field: String,
    pub resolution_state_field: String,
    pub topics: Vec<String>,
    pub daily_api_budget: u32,
    pub poll_overlap_seconds: u32,
    pub resolution_timeouts: types::Timeouts,
    pub mappings: Vec<describe::FieldMapping>,
    pub person_match_key: settings::MatchKey,
    pub company_match_key: settings::MatchKey,
    /// What the CRM actions do (0.2.1).
    pub crm: CrmSettings,
    /// The messenger's deployment (since 0.2.2); none: no messenger.
    pub messenger: Option<settings::MessengerSettings>,
    /// The workflows, at most one per channel (since 0.2.3).
    pub workflows: Vec<settings::Workflow>,
    /// What the admin wrote about list values (since 0.2.3).
    pub value_descriptions: Vec<settings::ValueDescription>,
}

/// The CRM actions' options (`settings` of 0.2.1): see the WIT for each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrmSettings {
    pub maintain_ownership: bool,
    pub allow_duplicate_save: bool,
    pub case_record_type: Option<String>,
    pub case_triggers: Vec<settings::CaseTrigger>,
    pub log_conversations_as_tasks: bool,
    pub link_contacts_automatically: bool,
}

impl std::fmt::Debug for OrgSettings {
    /// Everything but the credentials' secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgSettings")
            .field("name", &self.name)
            .field("login_url", &self.login_url)
            .field("client_id", &self.credentials.client_id)
            .field("agent_user_id", &self.agent_user_id)
            .finish_non_exhaustive()
    }
}

impl OrgSettings {
    /// Settings for instances that never reach Salesforce (pure calls,
    /// store-only calls): the org's name and the defaults, no credentials.
    pub fn offline(org: &str) -> OrgSettings {
        OrgSettings {
            name: org.to_string(),
            login_url: String::new(),
            api_version: "62.0".into(),
            credentials: settings::AppCredentials {
                client_id: String::new(),
                client_secret: String::new(),
                refresh_token: String::new(),
            },
            agent_user_id: String::new(),
            hand_off: settings::HandOffTarget::User(String::new()),
            reply_as: settings::ReplyChannel::CaseComment,
            involved_field: "FinInvolved__c".into(),
            resolution_state_field: "FinResolutionState__c".into(),
            topics: Vec::new(),
            daily_api_budget: 0,
            poll_overlap_seconds: 0,
            resolution_timeouts: types::Timeouts { soft_resolution_after_ms: 0, abandoned_after_ms: 0 },
            mappings: Vec::new(),
            person_match_key: settings::MatchKey { field: "Email".into(), attribute: "email".into() },
            company_match_key: settings::MatchKey { field: "Name".into(), attribute: "name".into() },
            crm: CrmSettings::default(),
            messenger: None,
            workflows: Vec::new(),
            value_descriptions: Vec::new(),
        }
    }
}

/// The capabilities of one instance, for one org.
#[derive(Clone)]
pub struct Capabilities {
    /// The org whose namespace the instance sees.
    pub org: String,
    pub settings: Arc<OrgSettings>,
    pub store: Arc<dyn KeyValueStore>,
    pub platform: Arc<dyn Platform>,
    pub agent: Arc<dyn Agent>,
    pub mail: Arc<dyn Mailer>,
}

impl Capabilities {
    /// Offline settings, an in-memory store, no platform records, no agent
    /// and no mail: for pure calls and tests.
    pub fn in_memory(org: &str) -> Self {
        Capabilities {
            org: org.to_string(),
            settings: Arc::new(OrgSettings::offline(org)),
            store: Arc::new(MemoryStore::default()),
            platform: Arc::new(NoPlatform),
            agent: Arc::new(NoAgent),
            mail: Arc::new(NoMail),
        }
    }
}

/// A host without platform records: every call is `unavailable`.
pub struct NoPlatform;

impl NoPlatform {
    fn error<T>() -> Result<T, platform::PlatformError> {
        Err(platform::PlatformError::Unavailable("this host keeps no platform records".into()))
    }
}

#[async_trait::async_trait]
impl Platform for NoPlatform {
    async fn list_attributes(&self, _: &str) -> Result<Vec<platform::AttributeDefinition>, platform::PlatformError> {
        Self::error()
    }
    async fn get_person(&self, _: &str, _: &str) -> Result<Option<platform::Person>, platform::PlatformError> {
        Self::error()
    }
    async fn find_people(&self, _: &str, _: &str, _: &str) -> Result<Vec<platform::Person>, platform::PlatformError> {
        Self::error()
    }
    async fn find_linked_people(
        &self,
        _: &str,
        _: &platform::SalesforceLink,
    ) -> Result<Vec<platform::Person>, platform::PlatformError> {
        Self::error()
    }
    async fn get_company(&self, _: &str, _: &str) -> Result<Option<platform::Company>, platform::PlatformError> {
        Self::error()
    }
    async fn find_companies(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Vec<platform::Company>, platform::PlatformError> {
        Self::error()
    }
    async fn list_teammates(&self, _: &str) -> Result<Vec<platform::Teammate>, platform::PlatformError> {
        Self::error()
    }
    async fn get_conversation(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<platform::PlatformConversation>, platform::PlatformError> {
        Self::error()
    }
    async fn changes(&self, _: &str, _: Option<&str>, _: u32) -> Result<platform::ChangePage, platform::PlatformError> {
        Self::error()
    }
    async fn set_person_attributes(
        &self,
        _: &str,
        _: &str,
        _: Vec<platform::PlatformAttribute>,
    ) -> Result<(), platform::PlatformError> {
        Self::error()
    }
    async fn link_person(
        &self,
        _: &str,
        _: &str,
        _: Option<platform::SalesforceLink>,
    ) -> Result<(), platform::PlatformError> {
        Self::error()
    }
    async fn set_company_attributes(
        &self,
        _: &str,
        _: &str,
        _: Vec<platform::PlatformAttribute>,
    ) -> Result<(), platform::PlatformError> {
        Self::error()
    }
    async fn link_company(&self, _: &str, _: &str, _: Option<String>) -> Result<(), platform::PlatformError> {
        Self::error()
    }
    async fn upsert_case_conversation(
        &self,
        _: &str,
        _: platform::CaseConversation,
    ) -> Result<String, platform::PlatformError> {
        Self::error()
    }
    async fn post_part(&self, _: &str, _: &str, _: types::ConversationPart) -> Result<bool, platform::PlatformError> {
        Self::error()
    }
    async fn read_file(&self, _: &str, _: &str) -> Result<Vec<u8>, platform::PlatformError> {
        Self::error()
    }
    async fn add_note(&self, _: &str, _: &str, _: &str, _: &str) -> Result<String, platform::PlatformError> {
        Self::error()
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

#[async_trait::async_trait]
impl KeyValueStore for MemoryStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, store::StoreError> {
        BlockingKeyValueStore::get(self, namespace, key)
    }

    async fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<store::Entry>, store::StoreError> {
        BlockingKeyValueStore::scan(self, namespace, prefix)
    }

    async fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[store::Expectation],
        writes: &[store::Write],
    ) -> Result<(), store::StoreError> {
        BlockingKeyValueStore::commit(self, namespace, fence, expect, writes)
    }
}

impl BlockingKeyValueStore for MemoryStore {
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

impl store::Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::StoreError>> {
        Ok(self.capabilities.store.get(&self.capabilities.org, &key).await)
    }

    async fn scan(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<store::Entry>, store::StoreError>> {
        Ok(self.capabilities.store.scan(&self.capabilities.org, &prefix).await)
    }

    async fn commit(
        &mut self,
        expect: Vec<store::Expectation>,
        writes: Vec<store::Write>,
    ) -> wasmtime::Result<Result<(), store::StoreError>> {
        let Capabilities { store, org, .. } = &self.capabilities;
        Ok(store.commit(org, self.fence.as_ref(), &expect, &writes).await)
    }
}

impl settings::Host for GuestState {
    async fn org_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.name.clone())
    }
    async fn login_url(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.login_url.clone())
    }
    async fn api_version(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.api_version.clone())
    }
    async fn credentials(&mut self) -> wasmtime::Result<settings::AppCredentials> {
        Ok(self.capabilities.settings.credentials.clone())
    }
    async fn agent_user_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.agent_user_id.clone())
    }
    async fn hand_off(&mut self) -> wasmtime::Result<settings::HandOffTarget> {
        Ok(self.capabilities.settings.hand_off.clone())
    }
    async fn reply_as(&mut self) -> wasmtime::Result<settings::ReplyChannel> {
        Ok(self.capabilities.settings.reply_as)
    }
    async fn involved_field(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.involved_field.clone())
    }
    async fn resolution_state_field(&mut self) -> wasmtime::Result<String> {
        Ok(self.capabilities.settings.resolution_state_field.clone())
    }
    async fn topics(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.capabilities.settings.topics.clone())
    }
    async fn daily_api_budget(&mut self) -> wasmtime::Result<u32> {
        Ok(self.capabilities.settings.daily_api_budget)
    }
    async fn poll_overlap_seconds(&mut self) -> wasmtime::Result<u32> {
        Ok(self.capabilities.settings.poll_overlap_seconds)
    }
    async fn resolution_timeouts(&mut self) -> wasmtime::Result<types::Timeouts> {
        Ok(self.capabilities.settings.resolution_timeouts)
    }
    async fn mappings(&mut self) -> wasmtime::Result<Vec<describe::FieldMapping>> {
        Ok(self.capabilities.settings.mappings.clone())
    }
    async fn person_match_key(&mut self) -> wasmtime::Result<settings::MatchKey> {
        Ok(self.capabilities.settings.person_match_key.clone())
    }
    async fn company_match_key(&mut self) -> wasmtime::Result<settings::MatchKey> {
        Ok(self.capabilities.settings.company_match_key.clone())
    }
    async fn maintain_ownership(&mut self) -> wasmtime::Result<bool> {
        Ok(self.capabilities.settings.crm.maintain_ownership)
    }
    async fn allow_duplicate_save(&mut self) -> wasmtime::Result<bool> {
        Ok(self.capabilities.settings.crm.allow_duplicate_save)
    }
    async fn case_record_type(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.capabilities.settings.crm.case_record_type.clone())
    }
    async fn case_triggers(&mut self) -> wasmtime::Result<Vec<settings::CaseTrigger>> {
        Ok(self.capabilities.settings.crm.case_triggers.clone())
    }
    async fn log_conversations_as_tasks(&mut self) -> wasmtime::Result<bool> {
        Ok(self.capabilities.settings.crm.log_conversations_as_tasks)
    }
    async fn link_contacts_automatically(&mut self) -> wasmtime::Result<bool> {
        Ok(self.capabilities.settings.crm.link_contacts_automatically)
    }
    async fn messenger(&mut self) -> wasmtime::Result<Option<settings::MessengerSettings>> {
        Ok(self.capabilities.settings.messenger.clone())
    }
    async fn channel_workflow(&mut self, channel: types::Channel) -> wasmtime::Result<Option<settings::Workflow>> {
        Ok(self.capabilities.settings.workflows.iter().find(|w| w.channel == channel).cloned())
    }
    async fn value_descriptions(&mut self) -> wasmtime::Result<Vec<settings::ValueDescription>> {
        Ok(self.capabilities.settings.value_descriptions.clone())
    }
}

type PlatformResult<T> = wasmtime::Result<Result<T, platform::PlatformError>>;

impl platform::Host for GuestState {
    async fn list_attributes(&mut self) -> PlatformResult<Vec<platform::AttributeDefinition>> {
        Ok(self.capabilities.platform.list_attributes(&self.capabilities.org).await)
    }
    async fn get_person(&mut self, id: String) -> PlatformResult<Option<platform::Person>> {
        Ok(self.capabilities.platform.get_person(&self.capabilities.org, &id).await)
    }
    async fn find_people(&mut self, attribute: String, value: String) -> PlatformResult<Vec<platform::Person>> {
        Ok(self.capabilities.platform.find_people(&self.capabilities.org, &attribute, &value).await)
    }
    async fn find_linked_people(&mut self, link: platform::SalesforceLink) -> PlatformResult<Vec<platform::Person>> {
        Ok(self.capabilities.platform.find_linked_people(&self.capabilities.org, &link).await)
    }
    async fn get_company(&mut self, id: String) -> PlatformResult<Option<platform::Company>> {
        Ok(self.capabilities.platform.get_company(&self.capabilities.org, &id).await)
    }
    async fn find_companies(&mut self, attribute: String, value: String) -> PlatformResult<Vec<platform::Company>> {
        Ok(self.capabilities.platform.find_companies(&self.capabilities.org, &attribute, &value).await)
    }
    async fn list_teammates(&mut self) -> PlatformResult<Vec<platform::Teammate>> {
        Ok(self.capabilities.platform.list_teammates(&self.capabilities.org).await)
    }
    async fn get_conversation(&mut self, id: String) -> PlatformResult<Option<platform::PlatformConversation>> {
        Ok(self.capabilities.platform.get_conversation(&self.capabilities.org, &id).await)
    }
    async fn changes(&mut self, cursor: Option<String>, limit: u32) -> PlatformResult<platform::ChangePage> {
        Ok(self.capabilities.platform.changes(&self.capabilities.org, cursor.as_deref(), limit).await)
    }
    async fn set_person_attributes(
        &mut self,
        id: String,
        attributes: Vec<platform::PlatformAttribute>,
    ) -> PlatformResult<()> {
        Ok(self.capabilities.platform.set_person_attributes(&self.capabilities.org, &id, attributes).await)
    }
    async fn link_person(&mut self, id: String, link: Option<platform::SalesforceLink>) -> PlatformResult<()> {
        Ok(self.capabilities.platform.link_person(&self.capabilities.org, &id, link).await)
    }
    async fn set_company_attributes(
        &mut self,
        id: String,
        attributes: Vec<platform::PlatformAttribute>,
    ) -> PlatformResult<()> {
        Ok(self.capabilities.platform.set_company_attributes(&self.capabilities.org, &id, attributes).await)
    }
    async fn link_company(&mut self, id: String, account_id: Option<String>) -> PlatformResult<()> {
        Ok(self.capabilities.platform.link_company(&self.capabilities.org, &id, account_id).await)
    }
    async fn upsert_case_conversation(&mut self, conversation: platform::CaseConversation) -> PlatformResult<String> {
        Ok(self.capabilities.platform.upsert_case_conversation(&self.capabilities.org, conversation).await)
    }
    async fn add_note(
        &mut self,
        conversation_id: String,
        idempotency_key: String,
        text: String,
    ) -> PlatformResult<String> {
        Ok(self.capabilities.platform.add_note(&self.capabilities.org, &conversation_id, &idempotency_key, &text).await)
    }
    async fn post_part(&mut self, conversation_id: String, part: types::ConversationPart) -> PlatformResult<bool> {
        Ok(self.capabilities.platform.post_part(&self.capabilities.org, &conversation_id, part).await)
    }
    async fn read_file(&mut self, content_path: String) -> PlatformResult<Vec<u8>> {
        Ok(self.capabilities.platform.read_file(&self.capabilities.org, &content_path).await)
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
    async fn detect(
        &mut self,
        conversation: types::Conversation,
        fields: Vec<agent::DetectionField>,
    ) -> wasmtime::Result<Result<Vec<types::Attribute>, agent::AgentError>> {
        let agent = self.capabilities.agent.clone();
        Ok(agent.detect(&self.capabilities.org, conversation, fields).await)
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
