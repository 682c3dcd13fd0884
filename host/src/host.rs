//! The assembled host: configuration, the compiled connector, storage,
//! secrets, the agents and mail. Every org-level operation — a cycle, set-up
//! discovery, the field catalog, conversations, errors — runs in a fresh,
//! sandboxed connector instance for that org.
//!
//! Operations that write the org's store or Salesforce — a cycle, retrying
//! an error, adding, removing or re-syncing a field — first take the org's
//! lease ([`crate::storage::lease`]), so one org is worked by one process at
//! a time however many `casebridge` processes share the database. The
//! instance carries the lease: its commits and requests stop once it is
//! lost. Reading calls (conversations, errors, the field list, set-up
//! discovery) take no lease; the ones that read only the store also get no
//! HTTP and no secrets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::config::{AgentConfig, Config, MailConfig, OrgConfig, SmtpTls};
use crate::platform::StorePlatform;
pub use crate::runtime::FieldChange;
use crate::runtime::bindings::{contacts, crm, describe, mail, messenger, org, streaming, sync, types};
use crate::runtime::{
    Activity, Agent, Capabilities, GuestInstance, GuestLimits, KeyValueStore, Mailer, OffTheWorkers, Origin, Runtime,
    Sandbox,
};
use crate::secrets::{EncryptionKey, KeyOrigin, OrgCredentials, SecretError, SecretVault};
use crate::storage::{
    Acquisition, ApiCalls, CycleEnd, CycleOutcome, Fence, Holder, Lease, Leases, StorageError, Store, renew_every,
};

/// How long `casebridge cycle` and the other leased commands wait for an org
/// that another process is cycling: a cycle usually ends within seconds, so
/// half a minute sees most of them through, while a stuck holder still
/// gets a clear answer soon.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting command asks for the lease again: often enough to
/// start within a moment of the other cycle's end, one small transaction each.
const LEASE_POLL: Duration = Duration::from_millis(500);

/// How long a cycle waits after Salesforce's own API limit before it tries
/// again: the limit counts a rolling 24 hours, so calls come free gradually.
pub const SALESFORCE_LIMIT_WAIT: Duration = Duration::from_secs(60 * 60);

/// Why an org-level operation failed. Every message is one line that says
/// what failed and what to do; none carries a secret or a backtrace.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// No `[[org]]` has this name.
    #[error("there is no org named `{0}` in the configuration")]
    UnknownOrg(String),
    /// Another process holds the org's lease.
    #[error("org `{org}` is being cycled by {holder} until {}; skipped", until.format("%H:%M:%S UTC"))]
    Busy { org: String, holder: Holder, until: DateTime<Utc> },
    /// The org's credentials cannot be read.
    #[error("org `{org}` cannot run: {source}")]
    Credentials { org: String, source: Box<SecretError> },
    /// The host's database failed.
    #[error("org `{org}`: {source}")]
    Storage { org: String, source: Box<StorageError> },
    /// The org cannot be run: its URLs, its agent, the instance.
    #[error("org `{org}` cannot run: {reason:#}")]
    Setup { org: String, reason: anyhow::Error },
    /// The connector was stopped: out of memory, past its deadline, or crashed.
    #[error("org `{org}`: {stop}")]
    Stopped { org: String, stop: Stop },
    /// The connector tried to reach an origin the org does not allow, and failed.
    #[error(
        "org `{org}`: the connector was refused {origin}, which org `{org}` does not allow; if it is your org's instance, set instance_url = \"{}\" in its [[org]] section",
        origin.as_url()
    )]
    RefusedOrigin { org: String, origin: Origin },
    /// The process lost the org's lease while it worked.
    #[error(
        "org `{org}`: this process lost the org's lease while it worked ({detail}); another casebridge process works the org now, and nothing more was written by this one"
    )]
    LeaseLost { org: String, detail: String },
    /// An API limit is reached.
    #[error("org `{org}`: {limit}")]
    ApiLimit { org: String, limit: ApiLimit },
    /// The connector reported an error.
    #[error("org `{org}`: {}", describe_sync_error(.error))]
    Sync { org: String, error: org::SyncError },
}

/// How the connector was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// It asked for more memory than `[host] guest_memory_mb`.
    #[error(
        "the connector ran out of memory: it may use [host] guest_memory_mb = {limit_mb} MiB; raise guest_memory_mb (at most {max_mb})",
        max_mb = crate::config::MAX_GUEST_MEMORY_MB
    )]
    OutOfMemory { limit_mb: u32 },
    /// It ran past `[host] cycle_deadline_seconds`.
    #[error(
        "the connector ran longer than [host] cycle_deadline_seconds = {seconds} and was stopped; raise cycle_deadline_seconds if a large catch-up needs longer"
    )]
    Deadline { seconds: u64 },
    /// It trapped.
    #[error(
        "the connector crashed ({trap}); this is a bug in the connector, and its work since its last commit was dropped: report it with the log (CASEBRIDGE_LOG=debug)"
    )]
    Crashed { trap: String },
}

/// Which API limit was reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiLimit {
    /// The org's configured `daily_api_budget` is spent.
    #[error(
        "the daily API budget is spent ({used} of {budget} calls, [[org]] daily_api_budget); it resets at {} (the next UTC midnight), or raise daily_api_budget",
        resets_at.format("%Y-%m-%d %H:%M UTC")
    )]
    Budget { used: u32, budget: u32, resets_at: DateTime<Utc> },
    /// Salesforce's own limit for the org.
    #[error(
        "Salesforce's API request limit for the org is reached ({used} of {max} calls in its rolling 24 hours); calls come free as that window moves, casebridge tries again at {}",
        retry_at.format("%Y-%m-%d %H:%M UTC")
    )]
    Salesforce { used: u32, max: u32, retry_at: DateTime<Utc> },
}

impl OrgError {
    /// The connector's own error, if it returned one.
    pub fn sync_error(&self) -> Option<&org::SyncError> {
        match self {
            OrgError::Sync { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A stable name for the kind of failure (for `status --json` and the
    /// scheduler): `transport`, `out_of_memory`, `refused_origin`, …
    pub fn kind(&self) -> &'static str {
        match self {
            OrgError::UnknownOrg(_) => "unknown_org",
            OrgError::Busy { .. } => "busy",
            OrgError::Credentials { .. } => "credentials",
            OrgError::Storage { .. } => "storage",
            OrgError::Setup { .. } => "setup",
            OrgError::Stopped { stop: Stop::OutOfMemory { .. }, .. } => "out_of_memory",
            OrgError::Stopped { stop: Stop::Deadline { .. }, .. } => "deadline",
            OrgError::Stopped { stop: Stop::Crashed { .. }, .. } => "crashed",
            OrgError::RefusedOrigin { .. } => "refused_origin",
            OrgError::LeaseLost { .. } => "lease_lost",
            OrgError::ApiLimit { limit: ApiLimit::Budget { .. }, .. } => "api_budget",
            OrgError::ApiLimit { limit: ApiLimit::Salesforce { .. }, .. } => "salesforce_api_limit",
            OrgError::Sync { error, .. } => match error {
                org::SyncError::Unsupported(_) => "unsupported",
                org::SyncError::InvalidConfig(_) => "invalid_config",
                org::SyncError::ReconnectRequired(_) => "reconnect_required",
                org::SyncError::ApiLimit(_) => "salesforce_api_limit",
                org::SyncError::Salesforce(_) => "salesforce_error",
                org::SyncError::Transport(_) => "transport",
                org::SyncError::MalformedResponse(_) => "malformed_response",
                org::SyncError::Storage(_) => "connector_storage",
                org::SyncError::Host(_) => "host_capability",
            },
        }
    }

    /// The message without the leading ``org `acme`: `` (for `status`, which
    /// shows it under the org's name).
    pub fn reason(&self) -> String {
        let message = self.to_string();
        let org = match self {
            OrgError::UnknownOrg(_) | OrgError::Busy { .. } => return message,
            OrgError::Credentials { org, .. }
            | OrgError::Storage { org, .. }
            | OrgError::Setup { org, .. }
            | OrgError::Stopped { org, .. }
            | OrgError::RefusedOrigin { org, .. }
            | OrgError::LeaseLost { org, .. }
            | OrgError::ApiLimit { org, .. }
            | OrgError::Sync { org, .. } => org,
        };
        message.strip_prefix(&format!("org `{org}`: ")).map(str::to_string).unwrap_or(message)
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
        org::SyncError::ApiLimit(limit) => {
            let which = match limit.kind {
                org::LimitKind::Budget => "the configured daily_api_budget",
                org::LimitKind::OrgLimit => "the org's Salesforce API limit",
            };
            format!("{which} is reached ({} of {} calls used)", limit.usage.used, limit.usage.max)
        }
        org::SyncError::Salesforce(api) => format!("Salesforce error {} {}: {}", api.status, api.code, api.message),
        org::SyncError::Transport(why) => format!("cannot reach Salesforce ({why})"),
        org::SyncError::MalformedResponse(why) => format!("unreadable answer from Salesforce: {why}"),
        org::SyncError::Storage(why) => format!("storage failed: {why}"),
        org::SyncError::Host(why) => format!("a host capability failed: {why}"),
    }
}

/// Records sent mail in the host's database, so an email is sent once per
/// idempotency key even across restarts.
impl crate::mail::SentMailLog for Store {
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
pub fn build_mailer(config: &MailConfig, store: &Arc<Store>) -> anyhow::Result<Arc<dyn Mailer>> {
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

/// What an instance may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The org's Salesforce hosts, with its credentials.
    Salesforce,
    /// The org's store only: no HTTP and no secrets.
    StoreOnly,
}

/// A lease this host holds while it works an org, renewed in the background.
struct HeldLease {
    lease: Lease,
    fence: Fence,
    renewing: tokio::task::JoinHandle<()>,
    store: Arc<Store>,
    /// Given back already (with the cycle's record, or on its own).
    released: bool,
}

impl HeldLease {
    /// Stops the renewals; the lease is then released (or left to expire).
    fn stop_renewing(&self) {
        self.renewing.abort();
    }
}

impl Drop for HeldLease {
    /// An operation dropped half-way (the scheduler stopping on Ctrl-C) gives
    /// the lease back at once, so that another host need not wait for its
    /// expiry. Safe even if a commit of the dropped instance is still on its
    /// way on a blocking thread: that commit is fenced, and finds the lease
    /// released. A short blocking call, only on this rare path.
    fn drop(&mut self) {
        self.renewing.abort();
        if !self.released
            && let Err(error) = self.store.release(self.lease.clone())
        {
            tracing::warn!(org = self.lease.org(), "cannot release the org's lease (it expires by itself): {error}");
        }
    }
}

/// What [`Host::planned_cycle_unless_cycled_since`] did.
#[derive(Debug)]
pub enum Claimed {
    /// It cycled the org.
    Ran(sync::CycleReport),
    /// Another process had cycled the org since the scheduler looked; it
    /// runs the org next at this time (`None`: it did not say).
    CycledElsewhere { next_run_at: Option<DateTime<Utc>> },
}

/// The host's parts.
pub struct Host {
    config: Config,
    runtime: Runtime,
    store: Arc<Store>,
    /// The same store, as the connector's `store` import runs on it.
    connector_store: Arc<dyn KeyValueStore>,
    /// The platform's records (the connector's `platform` import and the API).
    platform: StorePlatform,
    vault: SecretVault,
    agents: BTreeMap<String, Arc<dyn Agent>>,
    mail: Arc<dyn Mailer>,
    limits: GuestLimits,
    holder: Holder,
    lease_wait: Duration,
    /// `[host] lease_ttl_seconds`: how long an org stays another host's
    /// after its holder stops renewing (a crash, a lost database).
    lease_ttl: Duration,
}

impl Host {
    /// Assemble a host from its parts; `agents` holds each org's agent by org name.
    pub fn new(
        config: Config,
        runtime: Runtime,
        store: Arc<Store>,
        vault: SecretVault,
        agents: BTreeMap<String, Arc<dyn Agent>>,
        mail: Arc<dyn Mailer>,
    ) -> Self {
        let limits = config.host.guest_limits();
        let lease_ttl = Duration::from_secs(u64::from(config.host.lease_ttl_seconds));
        Host {
            config,
            runtime,
            connector_store: Arc::new(OffTheWorkers(store.clone())),
            platform: StorePlatform(store.clone()),
            store,
            vault,
            agents,
            mail,
            limits,
            holder: Holder::this_process(),
            lease_wait: Duration::ZERO,
            lease_ttl,
        }
    }

    /// Assemble the host a configuration describes: open the database and the
    /// key, compile the connector, build each org's agent and the mailer.
    pub fn open(config: Config) -> anyhow::Result<Host> {
        let store = Arc::new(Store::open(&config.host.database)?.with_cycle_log_per_org(config.host.cycle_log_per_org));
        store.close_interrupted_cycles(Utc::now())?;
        let (key, origin) = EncryptionKey::load(&config.host.key_file, store.has_secrets()?)?;
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
        let cache_dir = config.host.cache_dir().to_path_buf();
        let runtime = match &config.host.component {
            None => Runtime::new_cached(crate::GUEST_COMPONENT, &cache_dir)?,
            Some(path) => {
                let bytes = std::fs::read(path).with_context(|| {
                    format!("cannot read the connector component {} ([host] component)", path.display())
                })?;
                Runtime::new_cached(&bytes, &cache_dir).with_context(|| {
                    format!("cannot load the connector component {} ([host] component)", path.display())
                })?
            }
        };
        tracing::debug!(version = %runtime.version(), "connector component loaded");
        if runtime.version() < crate::runtime::ContractVersion::V0_2_4
            && let Some(org) = config.orgs.iter().find(|org| org.mode == crate::config::SyncMode::Streaming)
        {
            anyhow::bail!(
                "org `{}` has mode = \"streaming\", but the connector component implements casebridge:connector@{}, which has no streaming mode; load one built against 0.2.4 or later ([host] component), or set mode = \"polling\"",
                org.name,
                runtime.version()
            );
        }
        Ok(Host::new(config, runtime, store, vault, agents, mail))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The platform's records.
    pub fn platform(&self) -> &StorePlatform {
        &self.platform
    }

    pub fn vault(&self) -> &SecretVault {
        &self.vault
    }

    /// Who this host is when it holds an org's lease.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Override the per-instance limits (tests, benchmarks).
    pub fn set_limits(&mut self, limits: GuestLimits) {
        self.limits = limits;
    }

    /// How long leased operations wait for an org another process holds
    /// (default: not at all, as the scheduler wants; the CLI waits
    /// [`DEFAULT_LEASE_WAIT`]).
    pub fn set_lease_wait(&mut self, wait: Duration) {
        self.lease_wait = wait;
    }

    fn org_config(&self, name: &str) -> Result<&OrgConfig, OrgError> {
        self.config.org(name).ok_or_else(|| OrgError::UnknownOrg(name.to_string()))
    }

    /// A fresh connector instance for `org` with its Salesforce hosts,
    /// settings and credentials (no lease).
    pub async fn instance(&self, name: &str) -> Result<GuestInstance, OrgError> {
        self.instance_with(name, Access::Salesforce, Sandbox::default()).await
    }

    async fn instance_with(&self, name: &str, access: Access, mut sandbox: Sandbox) -> Result<GuestInstance, OrgError> {
        let org = self.org_config(name)?;
        let setup = |reason: anyhow::Error| OrgError::Setup { org: name.to_string(), reason };
        let credentials = match access {
            Access::Salesforce => {
                sandbox.allowed = org.allowed_hosts().map_err(setup)?;
                self.vault
                    .credentials(org)
                    .map_err(|source| OrgError::Credentials { org: name.into(), source: Box::new(source) })?
            }
            // Store-only calls never authenticate: they get no secret to leak.
            Access::StoreOnly => OrgCredentials {
                client_id: org.client_id.clone(),
                client_secret: crate::secrets::Secret::new(""),
                refresh_token: crate::secrets::Secret::new(""),
            },
        };
        let agent = self.agents.get(name).cloned().context("no agent is configured for the org").map_err(setup)?;
        let mut settings = org.to_settings(&credentials);
        settings.value_descriptions = self.store.value_descriptions(name).map_err(|e| setup(e.into()))?;
        let capabilities = Capabilities {
            org: name.to_string(),
            settings: Arc::new(settings),
            store: self.connector_store.clone(),
            platform: Arc::new(self.platform.clone()),
            agent,
            mail: self.mail.clone(),
        };
        self.runtime.instantiate(capabilities, sandbox, self.limits).await.map_err(setup)
    }

    /// Run one full cycle for `org` under its lease, recording it in the
    /// cycle log and the org's status. When another process holds the lease,
    /// it waits as long as [`set_lease_wait`](Self::set_lease_wait) says and
    /// then fails with [`OrgError::Busy`] without running.
    pub async fn cycle(&self, name: &str) -> Result<sync::CycleReport, OrgError> {
        self.planned_cycle(name, |_| None).await
    }

    /// [`cycle`](Self::cycle), and `plan` says from its outcome when the org
    /// runs next; that is recorded in the same transaction as the cycle (or,
    /// when the org was busy, on its own).
    pub async fn planned_cycle(
        &self,
        name: &str,
        plan: impl FnOnce(&Result<sync::CycleReport, OrgError>) -> Option<DateTime<Utc>>,
    ) -> Result<sync::CycleReport, OrgError> {
        self.org_config(name)?;
        // When busy, the holder records when the org runs next, not this host.
        let held = self.take_lease(name).await?;
        self.cycle_holding(name, held, plan).await
    }

    /// [`planned_cycle`](Self::planned_cycle) for a scheduler that shares
    /// the org with other hosts: `seen` is the end of the org's last
    /// finished cycle when the scheduler decided to cycle it. If, under the
    /// lease, the org's last cycle is another one, another process cycled
    /// the org in between: nothing runs, the lease is given back, and the
    /// answer says when that process runs the org next.
    pub async fn planned_cycle_unless_cycled_since(
        &self,
        name: &str,
        seen: Option<DateTime<Utc>>,
        plan: impl FnOnce(&Result<sync::CycleReport, OrgError>) -> Option<DateTime<Utc>>,
    ) -> Result<Claimed, OrgError> {
        self.org_config(name)?;
        let held = self.take_lease(name).await?;
        let org = name.to_string();
        let status = self.blocking(name, move |store| store.org_status(&org)).await?;
        if status.as_ref().and_then(|status| status.last_cycle_finished_at) == seen {
            return self.cycle_holding(name, held, plan).await.map(Claimed::Ran);
        }
        self.give_back(name, held).await;
        Ok(Claimed::CycledElsewhere { next_run_at: status.and_then(|status| status.next_run_at) })
    }

    /// The cycle itself, under `held`, recorded with its plan.
    async fn cycle_holding(
        &self,
        name: &str,
        mut held: HeldLease,
        plan: impl FnOnce(&Result<sync::CycleReport, OrgError>) -> Option<DateTime<Utc>>,
    ) -> Result<sync::CycleReport, OrgError> {
        let started = Utc::now();
        let activity = Arc::new(Activity::default());
        let sandbox = Sandbox { fence: Some(held.fence.clone()), activity: activity.clone(), ..Sandbox::default() };
        let result =
            self.call(name, Access::Salesforce, sandbox, |mut guest| async move { guest.run_cycle().await }).await;
        held.stop_renewing();
        let result = match result {
            // Transport errors on writes after a refusal: most likely the refusal.
            Ok(report) if report.errors.iter().any(|e| e.reason.status == 0) => {
                match activity.refused_origins().into_iter().next() {
                    Some(origin) => Err(OrgError::RefusedOrigin { org: name.into(), origin }),
                    None => Ok(report),
                }
            }
            other => other,
        };
        let next_run_at = plan(&result);
        let end = CycleEnd {
            started_at: started,
            finished_at: Utc::now(),
            outcome: match &result {
                Ok(_) => CycleOutcome::Ok,
                Err(error) => CycleOutcome::error(error.kind(), error.reason()),
            },
            report_json: result.as_ref().ok().map(|report| report_json(report).to_string()),
            calls: calls_of(&activity, started),
            next_run_at,
        };
        let lease = held.lease.clone();
        let recorded = self.blocking(name, move |store| store.record_cycle(lease.org(), &end, Some(&lease))).await;
        match recorded {
            Ok(_) => held.released = true,
            // The cycle's own outcome is what the caller needs; dropping
            // `held` tries the release once more.
            Err(error) => tracing::warn!(org = name, "cannot record the cycle: {error}"),
        }
        result
    }

    /// Take `name`'s lease, waiting up to the lease wait while another
    /// process holds it, and keep it renewed until the work is done.
    async fn take_lease(&self, name: &str) -> Result<HeldLease, OrgError> {
        let deadline = tokio::time::Instant::now() + self.lease_wait;
        let mut said_so = false;
        loop {
            let (holder, ttl) = (self.holder.clone(), self.lease_ttl);
            let org = name.to_string();
            match self.blocking(name, move |store| store.acquire(&org, &holder, ttl)).await? {
                Acquisition::Acquired(lease) => {
                    let fence = lease.fence();
                    let renewing = tokio::spawn(renew(self.store.clone(), lease.clone(), fence.clone(), ttl));
                    return Ok(HeldLease { lease, fence, renewing, store: self.store.clone(), released: false });
                }
                Acquisition::Held { holder, until } => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(OrgError::Busy { org: name.into(), holder, until });
                    }
                    if !said_so {
                        said_so = true;
                        tracing::info!(
                            org = name,
                            "{holder} is cycling the org (lease until {}); waiting up to {} s",
                            until.format("%H:%M:%S UTC"),
                            deadline.saturating_duration_since(now).as_secs()
                        );
                    }
                    tokio::time::sleep(LEASE_POLL.min(deadline.saturating_duration_since(now))).await;
                }
            }
        }
    }

    /// Run `call` in an instance for `name` under the org's lease, count its
    /// requests and give the lease back.
    async fn leased<R, F, Fut>(&self, name: &str, call: F) -> Result<R, OrgError>
    where
        F: FnOnce(GuestInstance) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<Result<R, org::SyncError>>>,
    {
        self.org_config(name)?;
        let held = self.take_lease(name).await?;
        let started = Utc::now();
        let activity = Arc::new(Activity::default());
        let sandbox = Sandbox { fence: Some(held.fence.clone()), activity: activity.clone(), ..Sandbox::default() };
        let result = self.call(name, Access::Salesforce, sandbox, call).await;
        held.stop_renewing();
        self.count(name, &activity, started).await;
        self.give_back(name, held).await;
        result
    }

    /// Stop renewing `held` and release it (if that fails, it expires by itself).
    async fn give_back(&self, name: &str, mut held: HeldLease) {
        held.stop_renewing();
        let lease = held.lease.clone();
        match self.blocking(name, move |store| store.release(lease)).await {
            Ok(()) => held.released = true,
            Err(error) => tracing::warn!(org = name, "cannot release the org's lease: {error}"),
        }
    }

    /// Run `call` in an instance for `name` without a lease, counting its requests.
    async fn unleased<R, F, Fut>(&self, name: &str, access: Access, call: F) -> Result<R, OrgError>
    where
        F: FnOnce(GuestInstance) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<Result<R, org::SyncError>>>,
    {
        let started = Utc::now();
        let activity = Arc::new(Activity::default());
        let sandbox = Sandbox { activity: activity.clone(), ..Sandbox::default() };
        let result = self.call(name, access, sandbox, call).await;
        self.count(name, &activity, started).await;
        result
    }

    /// Adds an instance's requests to the org's counts (calls outside cycles).
    async fn count(&self, name: &str, activity: &Activity, started: DateTime<Utc>) {
        let calls = calls_of(activity, started);
        if calls.api == 0 && calls.token_requests == 0 {
            return;
        }
        let org = name.to_string();
        if let Err(error) = self.blocking(name, move |store| store.count_calls(&org, &calls)).await {
            tracing::warn!(org = name, "cannot count the org's API calls: {error}");
        }
    }

    /// Call one connector export for `name` in a fresh instance, and turn
    /// what went wrong into an [`OrgError`] that says what to do.
    async fn call<R, F, Fut>(&self, name: &str, access: Access, sandbox: Sandbox, call: F) -> Result<R, OrgError>
    where
        F: FnOnce(GuestInstance) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<Result<R, org::SyncError>>>,
    {
        let (activity, fence) = (sandbox.activity.clone(), sandbox.fence.clone());
        let instance = self.instance_with(name, access, sandbox).await?;
        let outcome = call(instance).await;
        let config = self.org_config(name)?;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.explain(config, error, &activity, fence.as_ref())),
            Err(trap) => Err(OrgError::Stopped { org: name.into(), stop: self.stop_of(&trap, &activity) }),
        }
    }

    /// The error a user can act on, from what the connector returned and
    /// what its instance did.
    fn explain(&self, org: &OrgConfig, error: org::SyncError, activity: &Activity, fence: Option<&Fence>) -> OrgError {
        let name = org.name.clone();
        if let Some(origin) = activity.refused_origins().into_iter().next() {
            return OrgError::RefusedOrigin { org: name, origin };
        }
        let lost = fence.is_some_and(|fence| fence.is_lost() || !fence.allows_requests_at(Utc::now()));
        match error {
            org::SyncError::Storage(detail) if detail.contains("lease") => OrgError::LeaseLost { org: name, detail },
            error if activity.requests_refused_for_lease() > 0 || (lost && is_transient(&error)) => {
                OrgError::LeaseLost { org: name, detail: describe_sync_error(&error) }
            }
            // A 0.1.0 connector did not say which limit: its budget has the
            // configured maximum.
            org::SyncError::ApiLimit(limit)
                if limit.kind == org::LimitKind::Budget || limit.usage.max == org.daily_api_budget =>
            {
                OrgError::ApiLimit {
                    org: name,
                    limit: ApiLimit::Budget {
                        used: limit.usage.used,
                        budget: limit.usage.max,
                        resets_at: limit
                            .resets_at
                            .and_then(DateTime::from_timestamp_millis)
                            .unwrap_or_else(|| next_utc_midnight(Utc::now())),
                    },
                }
            }
            org::SyncError::ApiLimit(limit) => OrgError::ApiLimit {
                org: name,
                limit: ApiLimit::Salesforce {
                    used: limit.usage.used,
                    max: limit.usage.max,
                    retry_at: Utc::now() + chrono::Duration::from_std(SALESFORCE_LIMIT_WAIT).unwrap_or_default(),
                },
            },
            error => OrgError::Sync { org: name, error },
        }
    }

    /// Why the instance was stopped, in one line that names the option to change.
    fn stop_of(&self, trap: &wasmtime::Error, activity: &Activity) -> Stop {
        let trap_code = trap.downcast_ref::<wasmtime::Trap>().copied();
        if trap_code == Some(wasmtime::Trap::Interrupt) {
            return Stop::Deadline { seconds: self.limits.deadline.as_secs() };
        }
        if activity.memory_was_refused() {
            let limit_mb = u32::try_from(self.limits.memory_bytes >> 20).unwrap_or(u32::MAX);
            return Stop::OutOfMemory { limit_mb };
        }
        let trap = match trap_code {
            Some(code) => code.to_string(),
            None => trap.to_string().lines().next().unwrap_or("unknown trap").to_string(),
        };
        Stop::Crashed { trap }
    }

    /// Run a blocking store call on tokio's blocking threads.
    async fn blocking<T: Send + 'static>(
        &self,
        name: &str,
        call: impl FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, OrgError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || call(&store)).await {
            Ok(result) => result.map_err(|source| OrgError::Storage { org: name.into(), source: Box::new(source) }),
            Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
            Err(failed) => panic!("a storage call of org `{name}` was cancelled: {failed}"),
        }
    }

    pub async fn list_users(&self, name: &str) -> Result<Vec<sync::UserChoice>, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.list_users().await }).await
    }

    pub async fn list_queues(&self, name: &str) -> Result<Vec<sync::QueueChoice>, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.list_queues().await }).await
    }

    /// Every problem of `name`'s workflows against its Case catalog, each as
    /// `<file>: step `<id>`: …` (see [`crate::workflow::check_fields`]); Set
    /// data values are checked by the connector's own `mapping.to-wire`.
    pub async fn check_workflows(&self, name: &str) -> Result<Vec<String>, OrgError> {
        let org = self.org_config(name)?;
        if org.workflows.is_empty() {
            return Ok(Vec::new());
        }
        let files: Vec<String> = org.workflow.files().map(|(_, path)| path.display().to_string()).collect();
        let workflows = org.workflows.clone();
        let descriptions = self
            .store
            .value_descriptions(name)
            .map_err(|e| OrgError::Setup { org: name.to_string(), reason: e.into() })?;
        self.unleased(name, Access::Salesforce, |mut g| async move {
            let catalogs = match g.list_fields().await? {
                Ok(catalogs) => catalogs,
                Err(error) => return Ok(Err(error)),
            };
            let Some(case) = catalogs.into_iter().find(|c| c.object == "Case") else {
                return Ok(Ok(vec![
                    "the connector has no Case catalog; run `casebridge fields list` to read it".into(),
                ]));
            };
            let mut problems = Vec::new();
            for (workflow, file) in workflows.iter().zip(&files) {
                let mut fits_checked = std::collections::HashMap::new();
                for (field, value) in crate::workflow::set_values(workflow) {
                    let Some(descriptor) = case.fields.iter().find(|f| f.descriptor.name.eq_ignore_ascii_case(field))
                    else {
                        continue;
                    };
                    let answer = match g.latest() {
                        Some((connector, store)) => connector
                            .casebridge_connector_mapping()
                            .call_to_wire(
                                store,
                                "Case",
                                &descriptor.descriptor,
                                &crate::runtime::bindings::types::AttributeValue::Text(value.to_string()),
                            )
                            .await?
                            .map(|_| ())
                            .map_err(|e| crate::text::conversion_problem(e.problem)),
                        None => Ok(()),
                    };
                    fits_checked.insert((field.to_string(), value.to_string()), answer);
                }
                let mut fits = |d: &crate::runtime::bindings::describe::FieldDescriptor, value: &str| {
                    fits_checked.get(&(d.name.clone(), value.to_string())).cloned().unwrap_or(Ok(()))
                };
                problems.extend(
                    crate::workflow::check_fields(workflow, &case, &descriptions, &mut fits)
                        .into_iter()
                        .map(|p| format!("{file}: {p}")),
                );
            }
            Ok(Ok(problems))
        })
        .await
    }

    pub async fn list_fields(&self, name: &str) -> Result<Vec<describe::ObjectCatalog>, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.list_fields().await }).await
    }

    /// Add, remove or re-sync a field of the catalog, under the org's lease.
    pub async fn change_field(
        &self,
        name: &str,
        change: FieldChange,
        object: &str,
        field: &str,
    ) -> Result<describe::ObjectCatalog, OrgError> {
        let (object, field) = (object.to_string(), field.to_string());
        self.leased(name, |mut g| async move { g.change_field(change, &object, &field).await }).await
    }

    /// The org's mappings checked against describe and the platform's
    /// attribute definitions (`sync.check-mappings`); empty when they all work.
    pub async fn check_mappings(&self, name: &str) -> Result<Vec<sync::MappingProblem>, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.check_mappings().await }).await
    }

    pub async fn list_conversations(&self, name: &str) -> Result<Vec<sync::ConversationSummary>, OrgError> {
        self.unleased(name, Access::StoreOnly, |mut g| async move { g.list_conversations().await }).await
    }

    pub async fn conversation(&self, name: &str, case_id: &str) -> Result<Option<types::Conversation>, OrgError> {
        let case_id = case_id.to_string();
        self.unleased(name, Access::StoreOnly, |mut g| async move { g.get_conversation(&case_id).await }).await
    }

    pub async fn list_errors(&self, name: &str) -> Result<Vec<sync::RecordError>, OrgError> {
        self.unleased(name, Access::StoreOnly, |mut g| async move { g.list_errors().await }).await
    }

    /// Queue a failed write for the next cycle, under the org's lease (so a
    /// cycle running in another process cannot undo it).
    pub async fn retry_error(&self, name: &str, error_id: &str) -> Result<(), OrgError> {
        let error_id = error_id.to_string();
        self.leased(name, |mut g| async move { g.retry_error(&error_id).await }).await
    }
}

/// What an instance sent, counted on the UTC day its work started.
fn calls_of(activity: &Activity, started: DateTime<Utc>) -> ApiCalls {
    ApiCalls { day: started.date_naive(), api: activity.api_calls(), token_requests: activity.token_requests() }
}

/// Errors that a lost lease can cause in the connector: its refused requests
/// (transport) and its refused commits (storage).
fn is_transient(error: &org::SyncError) -> bool {
    matches!(error, org::SyncError::Transport(_) | org::SyncError::Storage(_))
}

/// Renews `lease` every third of its `ttl` until aborted, keeping `fence`
/// up to date: extended on success, lost when the store says so. A renewal
/// the store cannot answer leaves the fence to run out at its expiry.
async fn renew(store: Arc<Store>, lease: Lease, fence: Fence, ttl: Duration) {
    let extension = chrono::Duration::from_std(ttl).unwrap_or_default();
    loop {
        tokio::time::sleep(renew_every(ttl)).await;
        // The store's expiry is its clock at the update plus the TTL, so this
        // (earlier) instant plus the TTL is never later than the stored one.
        let asked_at = Utc::now();
        let (store, renewing) = (store.clone(), lease.clone());
        match tokio::task::spawn_blocking(move || store.renew(&renewing, ttl)).await {
            Ok(Ok(true)) => fence.extend_to(asked_at + extension),
            Ok(Ok(false)) => {
                tracing::warn!(
                    org = lease.org(),
                    "another casebridge process took over the org's lease; stopping this one's work"
                );
                fence.lose();
                return;
            }
            Ok(Err(error)) => tracing::warn!(
                org = lease.org(),
                "cannot renew the org's lease: {error}; this process stops writing at {} unless a renewal succeeds",
                fence.valid_until().map_or_else(|| "once".into(), |t| t.format("%H:%M:%S UTC").to_string())
            ),
            Err(_) => return,
        }
    }
}

/// The first instant of the next UTC day.
pub fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_hms_opt(0, 0, 0).map_or(now, |midnight| midnight.and_utc())
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
        "records_to_salesforce": report.records_to_salesforce,
        "records_to_platform": report.records_to_platform,
        "records_linked": report.records_linked,
        "api_calls": report.api_calls,
        "api_usage": report.api_usage.map(|u| serde_json::json!({"used": u.used, "max": u.max})),
        "errors": report.errors.iter().map(|e| serde_json::json!({
            "id": e.id,
            "record_id": e.record_id,
            "operation": e.operation,
            "status": e.reason.status,
            "code": e.reason.code,
            "message": e.reason.message,
        })).collect::<Vec<_>>(),
        "watermark": report.watermark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_resets_at_the_next_utc_midnight() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(next_utc_midnight(at("2025-03-01T12:03:04Z")), at("2025-03-02T00:00:00Z"));
        assert_eq!(next_utc_midnight(at("2025-12-31T23:59:59Z")), at("2026-01-01T00:00:00Z"));
        assert_eq!(next_utc_midnight(at("2025-03-01T00:00:00Z")), at("2025-03-02T00:00:00Z"));
    }

    #[test]
    fn a_reason_is_the_message_without_the_org() {
        let error = OrgError::Stopped { org: "acme".into(), stop: Stop::OutOfMemory { limit_mb: 64 } };
        assert!(error.to_string().starts_with("org `acme`: the connector ran out of memory"));
        assert!(error.reason().starts_with("the connector ran out of memory"), "{}", error.reason());
        assert!(error.reason().contains("guest_memory_mb = 64"));
        let deadline = Stop::Deadline { seconds: 300 }.to_string();
        assert!(deadline.contains("cycle_deadline_seconds = 300"), "{deadline}");
    }

    #[test]
    fn a_refused_origin_names_the_option_that_allows_it() {
        let origin = Origin::parse_url("https://acme.lightning.force.com/x").expect("an origin");
        let message = OrgError::RefusedOrigin { org: "acme".into(), origin }.to_string();
        assert!(message.contains("refused https://acme.lightning.force.com:443"), "{message}");
        assert!(message.contains("instance_url = \"https://acme.lightning.force.com\""), "{message}");
        assert!(message.contains("[[org]]"), "{message}");
    }
}

/// The CRM actions (C3–C9, D1–D5), each in a fresh instance: the writes
/// under the org's lease (so they never interleave with a cycle's commit),
/// the reads without. The outer error is the org's (credentials, limits,
/// Salesforce unreachable, a crash); the inner one the connector's refusal.
impl Host {
    async fn crm<R, F, Fut>(&self, name: &str, writes: bool, call: F) -> Result<Result<R, crm::CrmError>, OrgError>
    where
        F: FnOnce(GuestInstance) -> Fut,
        Fut: std::future::Future<Output = crate::runtime::CrmCall<R>>,
    {
        let split = |guest| async move {
            Ok(match call(guest).await? {
                Ok(value) => Ok(Ok(value)),
                Err(crm::CrmError::Sync(error)) => Err(error),
                Err(refused) => Ok(Err(refused)),
            })
        };
        if writes { self.leased(name, split).await } else { self.unleased(name, Access::Salesforce, split).await }
    }

    pub async fn crm_profile(
        &self,
        name: &str,
        person_id: &str,
    ) -> Result<Result<Option<crm::ProfileView>, crm::CrmError>, OrgError> {
        let person_id = person_id.to_string();
        self.crm(name, false, |mut g| async move { g.crm_profile(&person_id).await }).await
    }

    pub async fn crm_create_lead(
        &self,
        name: &str,
        key: &str,
        person_id: &str,
    ) -> Result<Result<crm::SavedRecord, crm::CrmError>, OrgError> {
        let (key, person_id) = (key.to_string(), person_id.to_string());
        self.crm(name, true, |mut g| async move { g.crm_create_lead(&key, &person_id).await }).await
    }

    pub async fn crm_create_case(
        &self,
        name: &str,
        key: &str,
        conversation_id: &str,
        fields: Vec<types::Attribute>,
    ) -> Result<Result<crm::SavedRecord, crm::CrmError>, OrgError> {
        let (key, conversation_id) = (key.to_string(), conversation_id.to_string());
        self.crm(name, true, |mut g| async move { g.crm_create_case(&key, &conversation_id, &fields).await }).await
    }

    pub async fn crm_log_task(
        &self,
        name: &str,
        key: &str,
        conversation_id: &str,
        part_id: Option<&str>,
    ) -> Result<Result<Vec<crm::SavedRecord>, crm::CrmError>, OrgError> {
        let (key, conversation_id, part_id) =
            (key.to_string(), conversation_id.to_string(), part_id.map(str::to_string));
        self.crm(name, true, |mut g| async move { g.crm_log_task(&key, &conversation_id, part_id.as_deref()).await })
            .await
    }

    pub async fn crm_find_contact(
        &self,
        name: &str,
        person_id: &str,
        query: Option<&str>,
    ) -> Result<Result<contacts::Outcome, crm::CrmError>, OrgError> {
        let (person_id, query) = (person_id.to_string(), query.map(str::to_string));
        self.crm(name, false, |mut g| async move { g.crm_find_contact(&person_id, query.as_deref()).await }).await
    }

    pub async fn crm_link_contact(
        &self,
        name: &str,
        key: &str,
        person_id: &str,
        contact_id: Option<&str>,
    ) -> Result<Result<crm::SavedRecord, crm::CrmError>, OrgError> {
        let (key, person_id, contact_id) = (key.to_string(), person_id.to_string(), contact_id.map(str::to_string));
        self.crm(name, true, |mut g| async move { g.crm_link_contact(&key, &person_id, contact_id.as_deref()).await })
            .await
    }

    pub async fn crm_unlink_contact(&self, name: &str, person_id: &str) -> Result<Result<(), crm::CrmError>, OrgError> {
        let person_id = person_id.to_string();
        self.crm(name, true, |mut g| async move { g.crm_unlink_contact(&person_id).await }).await
    }

    pub async fn crm_flagged_cases(
        &self,
        name: &str,
    ) -> Result<Result<Vec<crm::FlaggedCase>, crm::CrmError>, OrgError> {
        self.crm(name, false, |mut g| async move { g.crm_flagged_cases().await }).await
    }

    /// `messenger.relay`: the AI agent's turn, the hand-off and the relay
    /// of one messenger conversation. Without the org's lease: the
    /// connector's messenger state is written compare-and-swap and every
    /// write it relays is idempotent, so a customer never waits for a cycle.
    pub async fn messenger_relay(&self, name: &str, conversation_id: &str) -> Result<messenger::RelayReport, OrgError> {
        let conversation_id = conversation_id.to_string();
        self.unleased(name, Access::Salesforce, |mut g| async move { g.messenger_relay(&conversation_id).await }).await
    }

    /// `messenger.live-conversations`: the hand-offs to resume after a restart.
    pub async fn messenger_live_conversations(&self, name: &str) -> Result<Vec<String>, OrgError> {
        self.unleased(name, Access::StoreOnly, |mut g| async move { g.messenger_live_conversations().await }).await
    }

    /// `streaming.open`: (re)start the org's Change Data Capture stream
    /// (E4), without the org's lease: the connector's stream state is its
    /// own key, and a cycle never reads it.
    pub async fn stream_open(&self, name: &str) -> Result<streaming::StreamStep, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.stream_open().await }).await
    }

    /// `streaming.deliver`: what became of the last step's held request.
    pub async fn stream_deliver(
        &self,
        name: &str,
        answer: streaming::HeldAnswer,
    ) -> Result<streaming::StreamStep, OrgError> {
        self.unleased(name, Access::Salesforce, |mut g| async move { g.stream_deliver(&answer).await }).await
    }
}
