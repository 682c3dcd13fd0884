//! The assembled host: configuration, the compiled connector, storage,
//! secrets, the agents and mail. Every org-level operation — a cycle, set-up
//! discovery, the field catalog, conversations, errors — runs in a fresh,
//! sandboxed connector instance for that org.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;

use crate::config::{AgentConfig, Config, MailConfig, OrgConfig, SmtpTls};
use crate::runtime::bindings::{describe, mail, org, sync, types};
use crate::runtime::{Agent, AllowedHosts, Capabilities, GuestInstance, GuestLimits, KeyValueStore, Mailer, Runtime};
use crate::secrets::{EncryptionKey, KeyOrigin, SecretVault};
use crate::storage::{CycleEnd, CycleOutcome, SqliteStore};

/// Why an org-level operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// No `[[org]]` has this name.
    #[error("there is no org named `{0}` in the configuration")]
    UnknownOrg(String),
    /// The org cannot be run: its secrets, its URLs, the instance.
    #[error("org `{org}` cannot run: {reason:#}")]
    Setup { org: String, reason: anyhow::Error },
    /// The connector trapped, ran out of time or memory.
    #[error("org `{org}`: the connector stopped: {reason:#}")]
    Trapped { org: String, reason: anyhow::Error },
    /// The connector reported an error.
    #[error("org `{org}`: {}", describe_sync_error(.error))]
    Sync { org: String, error: org::SyncError },
}

impl OrgError {
    /// The connector's own error, if it returned one.
    pub fn sync_error(&self) -> Option<&org::SyncError> {
        match self {
            OrgError::Sync { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One line for people about a connector error (never contains a secret: the
/// connector puts none in its errors).
pub fn describe_sync_error(error: &org::SyncError) -> String {
    match error {
        org::SyncError::Unsupported(what) => format!("not supported: {what}"),
        org::SyncError::InvalidConfig(why) => format!("invalid configuration: {why}"),
        org::SyncError::ReconnectRequired(why) => {
            format!("Salesforce refused the credentials ({why}); run `casebridge org connect <org>` again")
        }
        org::SyncError::ApiLimit(usage) => format!("API limit reached ({} of {} calls used)", usage.used, usage.max),
        org::SyncError::Salesforce(api) => format!("Salesforce error {} {}: {}", api.status, api.code, api.message),
        org::SyncError::Transport(why) => format!("cannot reach Salesforce: {why}"),
        org::SyncError::MalformedResponse(why) => format!("unreadable answer from Salesforce: {why}"),
        org::SyncError::Storage(why) => format!("storage failed: {why}"),
        org::SyncError::Host(why) => format!("a host capability failed: {why}"),
    }
}

/// Records sent mail in the host's database, so an email is sent once per
/// idempotency key even across restarts.
impl crate::mail::SentMailLog for SqliteStore {
    fn find(&self, org: &str, key: &str) -> Result<Option<mail::Sent>, crate::mail::SentMailLogError> {
        self.find_sent_mail(org, key)
            .map(|found| found.map(|(from_address, message_id)| mail::Sent { from_address, message_id }))
            .map_err(|e| crate::mail::SentMailLogError(e.to_string()))
    }

    fn record(&self, org: &str, key: &str, sent: &mail::Sent) -> Result<(), crate::mail::SentMailLogError> {
        self.record_sent_mail(org, key, &sent.from_address, &sent.message_id)
            .map_err(|e| crate::mail::SentMailLogError(e.to_string()))
    }
}

/// The agent an org's configuration names.
pub fn build_agent(config: &AgentConfig) -> anyhow::Result<Arc<dyn Agent>> {
    Ok(match config {
        AgentConfig::Builtin(builtin) => {
            let help_center = crate::agent::HelpCenter::load(&builtin.help_center)?;
            Arc::new(crate::agent::BuiltinAgent::new(help_center))
        }
        AgentConfig::Webhook(webhook) => {
            let mut settings = crate::agent::WebhookConfig::new(&webhook.url)?.timeout(webhook.timeout());
            if let Some(token) = webhook.bearer_token_env.as_deref().and_then(|var| std::env::var(var).ok()) {
                settings = settings.bearer_token(token);
            }
            Arc::new(crate::agent::WebhookAgent::new(settings)?)
        }
    })
}

/// The mailer the configuration names.
pub fn build_mailer(config: &MailConfig, store: &Arc<SqliteStore>) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match config {
        MailConfig::Outbox(outbox) => Arc::new(crate::mail::OutboxMailer::new(&outbox.outbox, &outbox.from)?),
        MailConfig::Smtp(smtp) => {
            let mut settings = crate::mail::SmtpConfig::new(&smtp.host, &smtp.from);
            settings.port = smtp.port;
            settings.security = match smtp.tls {
                SmtpTls::Starttls => crate::mail::SmtpSecurity::StartTls,
                SmtpTls::Tls => crate::mail::SmtpSecurity::Tls,
                SmtpTls::None => crate::mail::SmtpSecurity::Plaintext,
            };
            settings.username = smtp.username.clone();
            settings.password = match &smtp.password_env {
                Some(var) => Some(
                    std::env::var(var)
                        .with_context(|| format!("mail.password_env: set the environment variable {var}"))?,
                ),
                None => None,
            };
            let log: Arc<dyn crate::mail::SentMailLog> = store.clone();
            Arc::new(crate::mail::SmtpMailer::new(settings, log)?)
        }
    })
}

/// The host's parts.
pub struct Host {
    config: Config,
    runtime: Runtime,
    store: Arc<SqliteStore>,
    vault: SecretVault,
    agents: BTreeMap<String, Arc<dyn Agent>>,
    mail: Arc<dyn Mailer>,
    limits: GuestLimits,
}

impl Host {
    /// Assemble a host from its parts; `agents` holds each org's agent by org name.
    pub fn new(
        config: Config,
        runtime: Runtime,
        store: Arc<SqliteStore>,
        vault: SecretVault,
        agents: BTreeMap<String, Arc<dyn Agent>>,
        mail: Arc<dyn Mailer>,
    ) -> Self {
        let limits = config.host.guest_limits();
        Host { config, runtime, store, vault, agents, mail, limits }
    }

    /// Assemble the host a configuration describes: open the database and the
    /// key, compile the connector, build each org's agent and the mailer.
    pub fn open(config: Config) -> anyhow::Result<Host> {
        let store =
            Arc::new(SqliteStore::open(&config.host.database)?.with_cycle_log_per_org(config.host.cycle_log_per_org));
        store.close_interrupted_cycles(Utc::now())?;
        let (key, origin) = EncryptionKey::load(&config.host.key_file)?;
        if let KeyOrigin::Created(path) = origin {
            tracing::warn!(path = %path.display(), "created a new encryption key for stored secrets: back it up");
        }
        let vault = SecretVault::new(store.clone(), key);
        let mut agents = BTreeMap::new();
        for org in &config.orgs {
            let agent =
                build_agent(config.agent_for(org)).with_context(|| format!("the agent of org `{}`", org.name))?;
            agents.insert(org.name.clone(), agent);
        }
        let mail = build_mailer(&config.mail, &store)?;
        let cache_dir =
            config.host.database.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let runtime = Runtime::new_cached(crate::GUEST_COMPONENT, cache_dir)?;
        Ok(Host::new(config, runtime, store, vault, agents, mail))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<SqliteStore> {
        &self.store
    }

    pub fn vault(&self) -> &SecretVault {
        &self.vault
    }

    /// Override the per-instance limits (tests, benchmarks).
    pub fn set_limits(&mut self, limits: GuestLimits) {
        self.limits = limits;
    }

    fn org_config(&self, name: &str) -> Result<&OrgConfig, OrgError> {
        self.config.org(name).ok_or_else(|| OrgError::UnknownOrg(name.to_string()))
    }

    /// A fresh connector instance for `org`, and the org's settings as the connector takes them.
    pub async fn instance(&self, name: &str) -> Result<(GuestInstance, org::OrgConfig), OrgError> {
        let org = self.org_config(name)?;
        let setup = |reason: anyhow::Error| OrgError::Setup { org: name.to_string(), reason };
        let credentials = self.vault.credentials(org).map_err(|e| setup(e.into()))?;
        let allowed = AllowedHosts::of(org.allowed_urls()).map_err(setup)?;
        let agent = self.agents.get(name).cloned().context("no agent is configured for the org").map_err(setup)?;
        let store: Arc<dyn KeyValueStore> = self.store.clone();
        let capabilities = Capabilities { org: name.to_string(), store, agent, mail: self.mail.clone() };
        let instance = self.runtime.instantiate(capabilities, allowed, self.limits).await.map_err(setup)?;
        Ok((instance, org.to_component(&credentials)))
    }

    /// Run one full cycle for `org`, recording it in the cycle log and the org's status.
    pub async fn cycle(&self, name: &str) -> Result<sync::CycleReport, OrgError> {
        self.org_config(name)?;
        let started = Utc::now();
        let record = self
            .store
            .start_cycle(name, started)
            .map_err(|e| OrgError::Setup { org: name.into(), reason: e.into() })?;
        let outcome = self.run(name, |mut guest, org| async move {
            let result = guest.connector.casebridge_connector_sync().call_run_cycle(&mut guest.store, &org).await;
            result
        });
        let result = outcome.await;
        let end = match &result {
            Ok(report) => CycleEnd {
                finished_at: Utc::now(),
                outcome: CycleOutcome::Ok,
                report_json: Some(report_json(report).to_string()),
            },
            Err(error) => {
                CycleEnd { finished_at: Utc::now(), outcome: CycleOutcome::Error(error.to_string()), report_json: None }
            }
        };
        if let Ok(report) = &result {
            let _ = self.store.count_api_calls(name, started.date_naive(), report.api_calls);
        }
        self.store.finish_cycle(&record, &end).map_err(|e| OrgError::Setup { org: name.into(), reason: e.into() })?;
        result
    }

    /// Call one connector export for `org` in a fresh instance.
    pub async fn run<R, F, Fut>(&self, name: &str, call: F) -> Result<R, OrgError>
    where
        F: FnOnce(GuestInstance, org::OrgConfig) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<Result<R, org::SyncError>>>,
    {
        let (instance, org) = self.instance(name).await?;
        match call(instance, org).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(OrgError::Sync { org: name.into(), error }),
            Err(trap) => Err(OrgError::Trapped { org: name.into(), reason: trap.into() }),
        }
    }

    pub async fn list_users(&self, name: &str) -> Result<Vec<sync::UserChoice>, OrgError> {
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_list_users(&mut g.store, &org).await
        })
        .await
    }

    pub async fn list_queues(&self, name: &str) -> Result<Vec<sync::QueueChoice>, OrgError> {
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_list_queues(&mut g.store, &org).await
        })
        .await
    }

    pub async fn list_fields(&self, name: &str) -> Result<Vec<describe::ObjectCatalog>, OrgError> {
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_list_fields(&mut g.store, &org).await
        })
        .await
    }

    pub async fn change_field(
        &self,
        name: &str,
        change: FieldChange,
        object: &str,
        field: &str,
    ) -> Result<describe::ObjectCatalog, OrgError> {
        let (object, field) = (object.to_string(), field.to_string());
        self.run(name, |mut g, org| async move {
            let sync = g.connector.casebridge_connector_sync();
            match change {
                FieldChange::Add => sync.call_add_field(&mut g.store, &org, &object, &field).await,
                FieldChange::Remove => sync.call_remove_field(&mut g.store, &org, &object, &field).await,
                FieldChange::Resync => sync.call_resync_field(&mut g.store, &org, &object, &field).await,
            }
        })
        .await
    }

    pub async fn list_conversations(&self, name: &str) -> Result<Vec<sync::ConversationSummary>, OrgError> {
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_list_conversations(&mut g.store, &org).await
        })
        .await
    }

    pub async fn conversation(&self, name: &str, case_id: &str) -> Result<Option<types::Conversation>, OrgError> {
        let case_id = case_id.to_string();
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_get_conversation(&mut g.store, &org, &case_id).await
        })
        .await
    }

    pub async fn list_errors(&self, name: &str) -> Result<Vec<sync::RecordError>, OrgError> {
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_list_errors(&mut g.store, &org).await
        })
        .await
    }

    pub async fn retry_error(&self, name: &str, error_id: &str) -> Result<(), OrgError> {
        let error_id = error_id.to_string();
        self.run(name, |mut g, org| async move {
            g.connector.casebridge_connector_sync().call_retry_error(&mut g.store, &org, &error_id).await
        })
        .await
    }
}

/// A change to an org's field catalog.
#[derive(Debug, Clone, Copy)]
pub enum FieldChange {
    Add,
    Remove,
    Resync,
}

/// A cycle report as JSON, for the cycle log and `status`.
pub fn report_json(report: &sync::CycleReport) -> serde_json::Value {
    serde_json::json!({
        "cases_seen": report.cases_seen,
        "conversations_created": report.conversations_created,
        "conversations_updated": report.conversations_updated,
        "replies_posted": report.replies_posted,
        "emails_sent": report.emails_sent,
        "hand_offs": report.hand_offs,
        "state_changes": report.state_changes,
        "api_calls": report.api_calls,
        "api_usage": report.api_usage.map(|u| serde_json::json!({"used": u.used, "max": u.max})),
        "errors": report.errors.len(),
        "watermark": report.watermark,
    })
}
