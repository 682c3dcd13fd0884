//! The host's configuration: one TOML file.
//!
//! ```
//! use casebridge::config::{Config, EXAMPLE_CONFIG};
//! let config = Config::parse(EXAMPLE_CONFIG)?;
//! assert_eq!(config.orgs[0].name, "acme");
//! # Ok::<(), casebridge::config::ConfigError>(())
//! ```
//!
//! Every option has a safe default except what only the operator can know
//! (an org's name, connected app and users). Unknown options are errors, so
//! a misspelled option never silently falls back to its default. Secrets
//! never appear in the file: it names environment variables that hold them,
//! or they are stored encrypted with `casebridge org connect` (see
//! [`crate::secrets`]). Relative paths are resolved against the folder of the
//! configuration file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::runtime::bindings::{describe, settings, types};
use crate::runtime::{AllowedHosts, GuestLimits, MAX_LIVE_INSTANCES};
use crate::runtime::{CrmSettings, OrgSettings};
use crate::secrets::OrgCredentials;

/// A complete configuration with every option and its default, commented.
/// It parses as is (a test checks it); the README shows it.
pub const EXAMPLE_CONFIG: &str = r#"# casebridge.toml — every option, with its default where it has one.
# Relative paths are resolved against the folder of this file.

[host]
# The database: the connector's state, schedules, encrypted secrets. An
# SQLite file, or a PostgreSQL URL that several hosts share, dividing the
# orgs between them (the password from the URL or PGPASSWORD), e.g.
# database = "postgres://casebridge@db.internal:5432/casebridge"
database = "casebridge.db"
# How long an org stays with a host that stopped renewing its lease (killed,
# cut off from the database) before another host takes it over (10–600 s).
lease_ttl_seconds = 30
# Org cycles that may run at the same time (1–256).
max_concurrent_cycles = 32
# The most memory one connector instance may use, in MiB (16–256).
guest_memory_mb = 64
# The longest one cycle may run before it is stopped, in seconds (10–3600).
cycle_deadline_seconds = 300
# The key that encrypts stored secrets: 32 random bytes in base64. Created,
# readable by its owner only, on first use. The environment variable
# CASEBRIDGE_KEY (same format) takes precedence. Back it up: without it the
# stored secrets cannot be read.
key_file = "casebridge.key"
# Cycles kept per org in the cycle log (`casebridge status`).
cycle_log_per_org = 100
# A connector component to run instead of the one built into casebridge
# (any released contract version: 0.1.0 or 0.2.0). Unset: the built-in one.
# component = "connector.wasm"

[agent]
# "builtin": answers from a folder of Markdown help-center articles.
kind = "builtin"
help_center = "help-center"
# "webhook": POSTs each conversation to your agent and reads its turn back.
# kind = "webhook"
# url = "https://agent.example.com/casebridge"
# timeout_seconds = 30
# bearer_token_env = "AGENT_TOKEN"   # sent as `Authorization: Bearer …`

[mail]
# "outbox": replies to email cases are written as .eml files to a folder,
# nothing is sent. Safe for trying casebridge out.
kind = "outbox"
outbox = "outbox"
# The sender address replies go from (default casebridge@localhost).
from = "support@example.com"
# "smtp": replies are sent through your mail server.
# kind = "smtp"
# from = "support@example.com"      # a sender your domain has verified (required)
# host = "smtp.example.com"
# port = 587                        # default: 587 for starttls, 465 for tls, 25 for none
# username = "support@example.com"
# password_env = "SMTP_PASSWORD"    # the environment variable holding the password
# tls = "starttls"                  # "starttls" (default), "tls" or "none"

[api]
# The platform API (people, companies, conversations; see the README), served
# by `casebridge run`. Every request needs a token: `casebridge api token create`.
enabled = true
# Loopback by default: put a TLS proxy in front before opening it wider.
listen = "127.0.0.1:8710"

# One [[org]] section per connected Salesforce org.
[[org]]
# Lower-case letters, digits, `-` and `_`; the org's storage namespace.
name = "acme"
# https://login.salesforce.com, https://test.salesforce.com (sandboxes) or
# your My Domain URL; http only for the local emulator on 127.0.0.1.
login_url = "https://login.salesforce.com"
api_version = "62.0"
# The connected app's consumer key (not a secret).
client_id = "3MVG9example.consumer.key"
# Environment variables holding the consumer secret and the refresh token.
# When unset or absent, the values stored by `casebridge org connect acme`
# are used.
client_secret_env = "ACME_CLIENT_SECRET"
refresh_token_env = "ACME_REFRESH_TOKEN"
# The user the agent works as: cases owned by this user are the agent's.
agent_user = "0055g00000AgentAAB"
# Who takes over when a person is needed: { queue = "00G…" } or { user = "005…" }.
hand_off = { queue = "00G5g00000SupQuEAJ" }
# How replies are written on cases that did not come by email:
# "case_comment" (default) or "feed_post".
reply_as = "case_comment"
# API names of the checkbox set on every case the agent touched and of the
# resolution state picklist.
involved_field = "FinInvolved__c"
resolution_state_field = "FinResolutionState__c"
# Topics added to every case the agent works (default: none).
topics = ["casebridge"]
# How often the org is polled, and how far each poll looks back before the
# stored watermark (for clock skew), in seconds.
poll_interval_seconds = 60
poll_overlap_seconds = 120
# How the org learns of changes: "polling" (default) asks every
# poll_interval_seconds; "streaming" subscribes to Change Data Capture
# (Setup → Change Data Capture: select Case, EmailMessage, Contact, Account
# and Lead) and cycles within seconds of a change to the agent's cases, with
# a safety poll every safety_poll_seconds for what does not stream (case
# comments, feed posts) and anything missed. While the stream is down or
# paused, the org is polled every poll_interval_seconds.
mode = "polling"
safety_poll_seconds = 900
# The most Salesforce API calls a day casebridge may spend on this org.
daily_api_budget = 5000
# Quiet time after an answer before the case counts as soft-resolved, and
# after a question before it counts as abandoned, in seconds.
soft_resolution_after_seconds = 86400
abandoned_after_seconds = 86400
# The instance URL (your My Domain URL). When set, the connector reaches only
# it and login_url. When not set and login_url is Salesforce's (login., test.
# or *.my.salesforce.com), any Salesforce instance host is allowed over HTTPS
# (*.my.salesforce.com, <instance>.salesforce.com): set it to pin the org.
# instance_url = "https://acme.my.salesforce.com"
# Optional: this org's own agent instead of the [agent] section.
# agent = { kind = "webhook", url = "https://agent.acme.example/turn", timeout_seconds = 20 }
# How platform people are matched to Contacts and Leads, and companies to
# Accounts (C1): a record matches when the Salesforce field holds the platform
# attribute's value (emails case-insensitively, Website by its domain). `id`
# is the platform's own id, e.g. { field = "PlatformId__c", attribute = "id" }.
match_people_by = { field = "Email", attribute = "email" }
match_companies_by = { field = "Name", attribute = "name" }

# Attribute mappings (C2), each one way: "to_salesforce" copies the platform
# attribute into the field, "to_platform" the field into the attribute. Objects:
# Contact and Lead (people), Account (companies), Case (conversations).
[[org.mapping]]
attribute = "plan"
object = "Contact"
field = "Plan__c"
direction = "to_salesforce"

[[org.mapping]]
attribute = "account_tier"
object = "Account"
field = "Tier__c"
direction = "to_platform"

# The CRM actions (C4, C5, C7, D2); every option is off by default.
[org.crm]
# A new Lead's owner is the Salesforce user with the platform owner's email.
maintain_ownership = true
# Save a Lead or Contact past a duplicate rule that allows it (allowSave).
allow_duplicate_save = false
# The record type of new cases (Id or DeveloperName); leave out for the default.
# case_record_type = "Support"
# When cases are created automatically: "conversation_created",
# "conversation_closed", "tag:<name>", "workflow_step:<id>".
case_triggers = ["conversation_closed", "tag:escalate"]
# A Task on the Lead or Contact for every conversation, completed on close.
log_conversations_as_tasks = true
# Before an automatic case, link the person to a Contact found by name (or
# username, handle, id), creating one when none is found.
link_contacts_automatically = true

# The workflows (A11): a TOML file of steps per channel, relative to this
# file; see the README's "The workflow" for the steps.
# [org.workflow]
# cases = "workflow-cases.toml"
# messenger = "workflow-messenger.toml"

# The local emulator (`casebridge emulator`) as a second org.
[[org]]
name = "emulator"
login_url = "http://127.0.0.1:8080"
client_id = "casebridge-emulator"
client_secret_env = "EMULATOR_CLIENT_SECRET"
refresh_token_env = "EMULATOR_REFRESH_TOKEN"
agent_user = "0055g00000AgentAAB"
hand_off = { user = "0055g00000HandOAAR" }
"#;

/// The file that the `casebridge` binary reads when no other is given.
pub const DEFAULT_CONFIG_FILE: &str = "casebridge.toml";

/// The largest guest memory the runtime's instance pool reserves per
/// instance (see `runtime::engine_config`), in MiB.
pub const MAX_GUEST_MEMORY_MB: u32 = 256;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[host]`: the host process.
    #[serde(default)]
    pub host: HostConfig,
    /// `[agent]`: the AI agent that writes replies, for every org without its own.
    #[serde(default)]
    pub agent: AgentConfig,
    /// `[mail]`: how replies to email-origin cases are sent.
    #[serde(default)]
    pub mail: MailConfig,
    /// `[api]`: the platform API.
    #[serde(default)]
    pub api: crate::platform::ApiConfig,
    /// `[[org]]`: the connected Salesforce orgs.
    #[serde(default, rename = "org")]
    pub orgs: Vec<OrgConfig>,
}

/// `[host]`: the host process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// The SQLite database file, or a PostgreSQL URL.
    pub database: PathBuf,
    /// How long an org's lease lasts unrenewed, in seconds.
    pub lease_ttl_seconds: u32,
    /// Org cycles that may run at the same time.
    pub max_concurrent_cycles: u32,
    /// The most memory one connector instance may use, in MiB.
    pub guest_memory_mb: u32,
    /// The longest one cycle may run, in seconds.
    pub cycle_deadline_seconds: u32,
    /// The file holding the key that encrypts stored secrets (created on
    /// first use); `CASEBRIDGE_KEY` takes precedence.
    pub key_file: PathBuf,
    /// Cycles kept per org in the cycle log.
    pub cycle_log_per_org: u32,
    /// A connector component file to load instead of the embedded one.
    pub component: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        let limits = GuestLimits::default();
        HostConfig {
            database: PathBuf::from("casebridge.db"),
            lease_ttl_seconds: u32::try_from(crate::storage::LEASE_TTL.as_secs()).unwrap_or(30),
            max_concurrent_cycles: 32,
            guest_memory_mb: u32::try_from(limits.memory_bytes >> 20).unwrap_or(64),
            cycle_deadline_seconds: u32::try_from(limits.deadline.as_secs()).unwrap_or(300),
            key_file: PathBuf::from("casebridge.key"),
            cycle_log_per_org: crate::storage::DEFAULT_CYCLE_LOG_PER_ORG,
            component: None,
        }
    }
}

impl HostConfig {
    /// Whether `database` is a PostgreSQL URL (`postgres://…`) rather than an SQLite file.
    pub fn database_is_postgres(&self) -> bool {
        self.database.to_str().is_some_and(crate::storage::postgres::is_url)
    }

    /// Where the compiled component is cached: beside the SQLite file, or
    /// beside the key file when the database is PostgreSQL.
    pub fn cache_dir(&self) -> &Path {
        let beside = if self.database_is_postgres() { &self.key_file } else { &self.database };
        beside.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    /// The limits each connector instance runs under.
    pub fn guest_limits(&self) -> GuestLimits {
        GuestLimits {
            memory_bytes: usize::try_from(self.guest_memory_mb).unwrap_or(usize::MAX).saturating_mul(1 << 20),
            deadline: Duration::from_secs(u64::from(self.cycle_deadline_seconds)),
        }
    }
}

/// The AI agent that writes the replies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentConfig {
    /// `kind = "builtin"`: answers from a folder of Markdown articles.
    Builtin(BuiltinAgentConfig),
    /// `kind = "webhook"`: your agent behind an HTTPS endpoint.
    Webhook(WebhookAgentConfig),
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig::Builtin(BuiltinAgentConfig::default())
    }
}

/// The built-in agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinAgentConfig {
    /// The folder of Markdown help-center articles it answers from.
    pub help_center: PathBuf,
}

impl Default for BuiltinAgentConfig {
    fn default() -> Self {
        BuiltinAgentConfig { help_center: PathBuf::from("help-center") }
    }
}

/// An agent reached over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAgentConfig {
    /// The endpoint each conversation is POSTed to.
    pub url: String,
    /// How long to wait for its turn, in seconds.
    #[serde(default = "default_webhook_timeout_seconds")]
    pub timeout_seconds: u32,
    /// The environment variable holding a bearer token sent to the webhook (never logged).
    #[serde(default)]
    pub bearer_token_env: Option<String>,
}

impl WebhookAgentConfig {
    /// How long to wait for the agent's turn.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout_seconds))
    }
}

fn default_webhook_timeout_seconds() -> u32 {
    30
}

/// How replies to email-origin cases are sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailConfig {
    /// `kind = "outbox"`: written as `.eml` files to a folder, not sent.
    Outbox(OutboxConfig),
    /// `kind = "smtp"`: sent through a mail server.
    Smtp(SmtpConfig),
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig::Outbox(OutboxConfig::default())
    }
}

impl MailConfig {
    /// The sender address replies go from.
    pub fn from_address(&self) -> &str {
        match self {
            MailConfig::Outbox(outbox) => &outbox.from,
            MailConfig::Smtp(smtp) => &smtp.from,
        }
    }
}

/// Mail written to a folder instead of sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// The folder the `.eml` files go to.
    pub outbox: PathBuf,
    /// The sender address written on them.
    pub from: String,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { outbox: PathBuf::from("outbox"), from: "casebridge@localhost".into() }
    }
}

/// Mail sent through an SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The verified sender address.
    pub from: String,
    /// The mail server's host name.
    pub host: String,
    /// The server's port; by default the usual one for `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    /// The user to log in as; no login when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// How the connection is encrypted.
    #[serde(default)]
    pub tls: SmtpTls,
}

impl SmtpConfig {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

/// How an SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on this machine or a trusted network.
    None,
}

/// `[[org]]`: one connected Salesforce org.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// The org's name: `[a-z0-9_-]`, unique; its storage namespace.
    pub name: String,
    /// The login URL (no path): `https://login.salesforce.com`, a sandbox or
    /// My Domain URL, or `http://127.0.0.1:<port>` for the emulator.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// The REST API version, e.g. `62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The environment variable holding the consumer secret; when unset or
    /// absent, the stored (encrypted) one is used.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The environment variable holding the refresh token; when unset or
    /// absent, the stored (encrypted) one is used.
    #[serde(default)]
    pub refresh_token_env: Option<String>,
    /// The user (`005…`) the agent works as.
    pub agent_user: String,
    /// Who takes over when a person is needed.
    pub hand_off: HandOff,
    /// How replies are written on cases that did not come by email.
    #[serde(default)]
    pub reply_as: ReplyAs,
    /// API name of the checkbox set on every case the agent touched.
    #[serde(default = "default_involved_field")]
    pub involved_field: String,
    /// API name of the resolution state picklist.
    #[serde(default = "default_resolution_state_field")]
    pub resolution_state_field: String,
    /// Topics added to every case the agent works.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Seconds between polls.
    #[serde(default = "default_poll_interval_seconds")]
    pub poll_interval_seconds: u32,
    /// Seconds each poll looks back before the stored watermark.
    #[serde(default = "default_poll_overlap_seconds")]
    pub poll_overlap_seconds: u32,
    /// How the org learns of changes (E4).
    #[serde(default)]
    pub mode: SyncMode,
    /// Seconds between the safety polls of a streaming org while its stream is live.
    #[serde(default = "default_safety_poll_seconds")]
    pub safety_poll_seconds: u32,
    /// The most Salesforce API calls a day casebridge may spend.
    #[serde(default = "default_daily_api_budget")]
    pub daily_api_budget: u32,
    /// Quiet seconds after an answer before a case is soft-resolved.
    #[serde(default = "default_resolution_seconds")]
    pub soft_resolution_after_seconds: u32,
    /// Quiet seconds after a question before a case is abandoned.
    #[serde(default = "default_resolution_seconds")]
    pub abandoned_after_seconds: u32,
    /// The org's instance URL (e.g. `https://acme.my.salesforce.com`): when
    /// set, the connector may reach only it and the login URL. Without it, an
    /// org on Salesforce's own login may reach any Salesforce instance host
    /// (see [`AllowedHosts`]), an org on another login URL only that URL.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// This org's own agent, instead of the `[agent]` section.
    #[serde(default)]
    pub agent: Option<AgentConfig>,
    /// How people are matched to Contacts and Leads (C1).
    #[serde(default = "default_match_people_by")]
    pub match_people_by: MatchKeyConfig,
    /// How companies are matched to Accounts (C1).
    #[serde(default = "default_match_companies_by")]
    pub match_companies_by: MatchKeyConfig,
    /// Attribute mappings, each with one direction (C2).
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<MappingConfig>,
    /// What the CRM actions do (C4, C5, C7, D2).
    #[serde(default)]
    pub crm: CrmConfig,
    /// The web messenger and its hand-off to a live Salesforce agent through
    /// Messaging for In-App and Web (B1–B3, E10); none: no messenger.
    #[serde(default)]
    pub messenger: Option<MessengerConfig>,
    /// `[org.workflow]`: the workflow file of each channel (A11).
    #[serde(default)]
    pub workflow: WorkflowFiles,
    /// The workflows those files hold, read and checked with the configuration.
    #[serde(skip)]
    pub workflows: Vec<settings::Workflow>,
}

/// `[org.workflow]`: a workflow file per channel (see [`crate::workflow`]);
/// relative paths are resolved against the configuration file's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFiles {
    /// The workflow for Salesforce cases.
    #[serde(default)]
    pub cases: Option<PathBuf>,
    /// The workflow for the web messenger.
    #[serde(default)]
    pub messenger: Option<PathBuf>,
}

impl WorkflowFiles {
    /// Each file with its channel.
    pub fn files(&self) -> impl Iterator<Item = (types::Channel, &PathBuf)> + '_ {
        [(types::Channel::SalesforceCase, &self.cases), (types::Channel::Messenger, &self.messenger)]
            .into_iter()
            .filter_map(|(channel, path)| path.as_ref().map(|p| (channel, p)))
    }
}

/// `[org.messenger]`: the org's Embedded Service deployment (a Custom
/// Client, Messaging for In-App and Web), as its code snippet in Setup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessengerConfig {
    /// The messaging URL of the snippet, e.g. `https://acme.my.salesforce-scrt.com`.
    pub url: String,
    /// The org's id (`00D…`, 15 or 18 characters).
    pub org_id: String,
    /// The deployment's developer name (`esDeveloperName`).
    pub deployment: String,
    /// The language sent with a new messaging session, e.g. `en_US`.
    #[serde(default)]
    pub language: Option<String>,
    /// The environment variable holding the key the embedding website signs
    /// its customers' identities with (HMAC-SHA256); none: every visitor is
    /// an anonymous lead until they give an email.
    #[serde(default)]
    pub identity_secret_env: Option<String>,
}

/// `[org.crm]`: the CRM actions' options; every one is off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// A new Lead's owner is the Salesforce user with the platform owner's email.
    pub maintain_ownership: bool,
    /// Save past a duplicate rule that allows it.
    pub allow_duplicate_save: bool,
    /// The record type of new cases (Id or DeveloperName); none: the org's default.
    pub case_record_type: Option<String>,
    /// When cases are created automatically: `conversation_created`,
    /// `conversation_closed`, `tag:<name>` or `workflow_step:<id>`.
    pub case_triggers: Vec<String>,
    /// A Task per conversation on its Lead or Contact.
    pub log_conversations_as_tasks: bool,
    /// Link people to Contacts automatically before an automatic case.
    pub link_contacts_automatically: bool,
}

impl CrmConfig {
    /// The triggers in the contract's form; a problem for each that is none.
    fn triggers(&self) -> Result<Vec<settings::CaseTrigger>, Vec<(usize, String)>> {
        let mut problems = Vec::new();
        let mut triggers = Vec::new();
        for (index, trigger) in self.case_triggers.iter().enumerate() {
            let named = |prefix: &str| trigger.strip_prefix(prefix).map(str::trim).filter(|name| !name.is_empty());
            match trigger.as_str() {
                "conversation_created" => triggers.push(settings::CaseTrigger::ConversationCreated),
                "conversation_closed" => triggers.push(settings::CaseTrigger::ConversationClosed),
                _ => match (named("tag:"), named("workflow_step:")) {
                    (Some(tag), _) => triggers.push(settings::CaseTrigger::Tagged(tag.to_string())),
                    (_, Some(step)) => triggers.push(settings::CaseTrigger::WorkflowStep(step.to_string())),
                    _ => problems.push((
                        index,
                        format!(
                            "`{trigger}` is no trigger; use \"conversation_created\", \"conversation_closed\", \"tag:<name>\" or \"workflow_step:<id>\""
                        ),
                    )),
                },
            }
        }
        if problems.is_empty() { Ok(triggers) } else { Err(problems) }
    }
}

/// `{ field = "Email", attribute = "email" }`: a platform record matches the
/// Salesforce record whose `field` holds the `attribute`'s value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchKeyConfig {
    pub field: String,
    pub attribute: String,
}

/// One `[[org.mapping]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// The platform attribute's name.
    pub attribute: String,
    /// `Contact`, `Lead`, `Account` or `Case`.
    pub object: String,
    /// The field's API name.
    pub field: String,
    /// Which way values are copied.
    pub direction: MappingDirection,
}

/// Which way a mapping copies values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingDirection {
    /// Platform → Salesforce.
    ToSalesforce,
    /// Salesforce → platform.
    ToPlatform,
}

/// The objects a mapping may name.
const MAPPED_OBJECTS: [&str; 4] = ["Contact", "Lead", "Account", "Case"];

fn default_match_people_by() -> MatchKeyConfig {
    MatchKeyConfig { field: "Email".into(), attribute: "email".into() }
}
fn default_match_companies_by() -> MatchKeyConfig {
    MatchKeyConfig { field: "Name".into(), attribute: "name".into() }
}

/// Who takes over a case when a person is needed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HandOff {
    /// `{ queue = "00G…" }`: a queue that handles cases.
    Queue(String),
    /// `{ user = "005…" }`: a user.
    User(String),
}

/// How an org learns of changes in Salesforce (E4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// A cycle every `poll_interval_seconds`.
    #[default]
    Polling,
    /// Change Data Capture over CometD wakes the cycle within seconds; a
    /// safety poll every `safety_poll_seconds` while the stream is live.
    Streaming,
}

/// How replies are written on cases that did not come by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyAs {
    /// A public case comment.
    #[default]
    CaseComment,
    /// A Chatter post on the case.
    FeedPost,
}

fn default_login_url() -> String {
    "https://login.salesforce.com".into()
}
fn default_api_version() -> String {
    "62.0".into()
}
fn default_involved_field() -> String {
    "FinInvolved__c".into()
}
fn default_resolution_state_field() -> String {
    "FinResolutionState__c".into()
}
fn default_poll_interval_seconds() -> u32 {
    60
}
fn default_poll_overlap_seconds() -> u32 {
    120
}
fn default_safety_poll_seconds() -> u32 {
    15 * 60
}
fn default_daily_api_budget() -> u32 {
    5000
}
fn default_resolution_seconds() -> u32 {
    24 * 60 * 60
}

impl OrgConfig {
    /// The origins the org's connector may reach: the login URL's and the
    /// instance URL's, or, on Salesforce's own login without an
    /// `instance_url`, also Salesforce's instance hosts (see [`AllowedHosts`]).
    /// With a messenger, also its messaging URL, and nothing else.
    pub fn allowed_hosts(&self) -> anyhow::Result<AllowedHosts> {
        let mut allowed = AllowedHosts::for_org(&self.login_url, self.instance_url.as_deref())?;
        if let Some(messenger) = &self.messenger {
            allowed.allow(&messenger.url)?;
        }
        Ok(allowed)
    }

    /// Time between polls.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.poll_interval_seconds))
    }

    /// Time between cycles: the safety poll's for a streaming org whose
    /// stream is live, else the poll interval.
    pub fn cycle_interval(&self, stream_live: bool) -> Duration {
        match self.mode {
            SyncMode::Streaming if stream_live => Duration::from_secs(u64::from(self.safety_poll_seconds)),
            _ => self.poll_interval(),
        }
    }

    /// The settings the connector runs this org with. The credentials come from
    /// [`SecretVault::credentials`](crate::secrets::SecretVault::credentials).
    pub fn to_settings(&self, credentials: &OrgCredentials) -> OrgSettings {
        let seconds_to_ms = |seconds: u32| u64::from(seconds) * 1000;
        OrgSettings {
            name: self.name.clone(),
            login_url: self.login_url.clone(),
            api_version: self.api_version.clone(),
            credentials: settings::AppCredentials {
                client_id: credentials.client_id.clone(),
                client_secret: credentials.client_secret.expose().to_string(),
                refresh_token: credentials.refresh_token.expose().to_string(),
            },
            agent_user_id: self.agent_user.clone(),
            hand_off: match &self.hand_off {
                HandOff::Queue(id) => settings::HandOffTarget::Queue(id.clone()),
                HandOff::User(id) => settings::HandOffTarget::User(id.clone()),
            },
            reply_as: match self.reply_as {
                ReplyAs::CaseComment => settings::ReplyChannel::CaseComment,
                ReplyAs::FeedPost => settings::ReplyChannel::FeedPost,
            },
            involved_field: self.involved_field.clone(),
            resolution_state_field: self.resolution_state_field.clone(),
            topics: self.topics.clone(),
            daily_api_budget: self.daily_api_budget,
            poll_overlap_seconds: self.poll_overlap_seconds,
            resolution_timeouts: types::Timeouts {
                soft_resolution_after_ms: seconds_to_ms(self.soft_resolution_after_seconds),
                abandoned_after_ms: seconds_to_ms(self.abandoned_after_seconds),
            },
            mappings: self
                .mappings
                .iter()
                .map(|m| describe::FieldMapping {
                    object: m.object.clone(),
                    field: m.field.clone(),
                    attribute: m.attribute.clone(),
                    direction: match m.direction {
                        MappingDirection::ToSalesforce => describe::Direction::ToSalesforce,
                        MappingDirection::ToPlatform => describe::Direction::ToPlatform,
                    },
                })
                .collect(),
            person_match_key: settings::MatchKey {
                field: self.match_people_by.field.clone(),
                attribute: self.match_people_by.attribute.clone(),
            },
            company_match_key: settings::MatchKey {
                field: self.match_companies_by.field.clone(),
                attribute: self.match_companies_by.attribute.clone(),
            },
            crm: CrmSettings {
                maintain_ownership: self.crm.maintain_ownership,
                allow_duplicate_save: self.crm.allow_duplicate_save,
                case_record_type: self.crm.case_record_type.clone(),
                // Checked when the file was read.
                case_triggers: self.crm.triggers().unwrap_or_default(),
                log_conversations_as_tasks: self.crm.log_conversations_as_tasks,
                link_contacts_automatically: self.crm.link_contacts_automatically,
            },
            messenger: self.messenger.as_ref().map(|m| settings::MessengerSettings {
                url: m.url.trim_end_matches('/').to_string(),
                org_id: m.org_id.clone(),
                deployment: m.deployment.clone(),
                language: m.language.clone(),
            }),
            workflows: self.workflows.clone(),
            // Kept in the host's database: see `Host`.
            value_descriptions: Vec::new(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}{}", read_hint(source))]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{file} is not a valid casebridge configuration: {message}")]
    Parse { file: String, message: String },
    /// Options have values casebridge cannot use.
    #[error("{file} has {} problem{}:{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, ProblemList(problems))]
    Invalid { file: String, problems: Vec<ConfigProblem> },
}

impl ConfigError {
    /// The problems of an [`Invalid`](Self::Invalid) configuration (empty otherwise).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn read_hint(source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::NotFound {
        "; create it (the README has a complete example) or pass its path with --config"
    } else {
        ""
    }
}

/// One option with an unusable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The option, as a path: `host.guest_memory_mb`, `org[acme].agent_user`.
    pub option: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

struct ProblemList<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|problem| write!(f, "\n  - {problem}"))
    }
}

/// Where the text came from, for messages of [`Config::parse`].
const TEXT_ORIGIN: &str = "the configuration text";

impl Config {
    /// Reads, checks and completes the configuration file. Relative paths in
    /// it are resolved against the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let file = path.display().to_string();
        let mut config = Config::parse_from(&text, &file)?;
        if let Some(folder) = path.parent() {
            config.resolve_paths(folder);
        }
        config.load_workflows(&file)?;
        Ok(config)
    }

    /// Checks and completes configuration text; paths stay as written
    /// (workflow files are read relative to the working directory).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::parse_from(text, TEXT_ORIGIN)?;
        config.load_workflows(TEXT_ORIGIN)?;
        Ok(config)
    }

    /// Read every org's workflow files, all problems at once.
    fn load_workflows(&mut self, file: &str) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        for org in &mut self.orgs {
            let mut workflows = Vec::new();
            for (channel, path) in org.workflow.files() {
                let option = format!("org[{}].workflow.{}", org.name, crate::workflow::channel_key(channel));
                match crate::workflow::load(path, channel) {
                    Ok(workflow) => workflows.push(workflow),
                    Err(found) => problems.extend(found.into_iter().map(|message| ConfigProblem {
                        option: option.clone(),
                        message: format!("{}: {message}", path.display()),
                    })),
                }
            }
            org.workflows = workflows;
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { file: file.to_string(), problems }) }
    }

    fn parse_from(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let message = e.to_string();
            let hint = parse_hint(&message);
            ConfigError::Parse { file: file.to_string(), message: format!("{}{hint}", message.trim_end()) }
        })?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { file: file.to_string(), problems });
        }
        config.normalize();
        Ok(config)
    }

    /// The org with this name.
    pub fn org(&self, name: &str) -> Option<&OrgConfig> {
        self.orgs.iter().find(|org| org.name == name)
    }

    /// The agent that writes `org`'s replies: its own, else `[agent]`.
    pub fn agent_for<'a>(&'a self, org: &'a OrgConfig) -> &'a AgentConfig {
        org.agent.as_ref().unwrap_or(&self.agent)
    }

    /// Every unusable value, each naming its option.
    fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Problems::default();
        self.host.check(&mut problems);
        self.agent.check("agent", &mut problems);
        self.mail.check(&mut problems);
        if let Some(problem) = self.api.problem() {
            problems.add("api.listen", problem);
        }
        for (index, org) in self.orgs.iter().enumerate() {
            let section = if is_org_name(&org.name) { format!("org[{}]", org.name) } else { format!("org[{index}]") };
            if self.orgs[..index].iter().any(|earlier| earlier.name == org.name) {
                problems.add(
                    format!("{section}.name"),
                    format!("`{}` names two orgs; each org needs its own name (it is its storage namespace)", org.name),
                );
            }
            org.check(&section, &mut problems);
        }
        problems.0
    }

    /// Canonical forms of checked values: 18-character ids, login URLs
    /// without a trailing slash.
    fn normalize(&mut self) {
        for org in &mut self.orgs {
            org.login_url = org.login_url.trim_end_matches('/').to_string();
            org.instance_url = org.instance_url.take().map(|url| url.trim_end_matches('/').to_string());
            normalize_id(&mut org.agent_user);
            match &mut org.hand_off {
                HandOff::Queue(id) | HandOff::User(id) => normalize_id(id),
            }
        }
    }

    fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        };
        if !self.host.database_is_postgres() {
            resolve(&mut self.host.database);
        }
        resolve(&mut self.host.key_file);
        if let Some(component) = &mut self.host.component {
            resolve(component);
        }
        if let MailConfig::Outbox(outbox) = &mut self.mail {
            resolve(&mut outbox.outbox);
        }
        for org in &mut self.orgs {
            for path in [&mut org.workflow.cases, &mut org.workflow.messenger].into_iter().flatten() {
                resolve(path);
            }
        }
        let agents = std::iter::once(&mut self.agent).chain(self.orgs.iter_mut().filter_map(|org| org.agent.as_mut()));
        for agent in agents {
            if let AgentConfig::Builtin(builtin) = agent {
                resolve(&mut builtin.help_center);
            }
        }
    }
}

/// What to do about the parse errors that have a usual cause: a secret
/// written into the file, a section without its `kind`.
fn parse_hint(message: &str) -> &'static str {
    let secret_fields = ["`client_secret`", "`refresh_token`", "`password`"];
    if message.contains("unknown field") && secret_fields.iter().any(|field| message.contains(field)) {
        "\nsecrets are never read from the configuration file: name the environment variable that holds them \
         (client_secret_env, refresh_token_env, password_env), or store them with `casebridge org connect <org>`"
    } else if message.contains("missing field `kind`") {
        "\nsay which kind this section configures: [agent] kind = \"builtin\" or \"webhook\"; [mail] kind = \"outbox\" or \"smtp\""
    } else {
        ""
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, option: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem { option: option.into(), message: message.into() });
    }

    fn range(&mut self, option: impl Into<String>, value: u32, min: u32, max: u32, unit: &str) {
        if !(min..=max).contains(&value) {
            self.add(option, format!("{value} is out of range; use {min} to {max} {unit}"));
        }
    }
}

impl HostConfig {
    fn check(&self, problems: &mut Problems) {
        let max_cycles = MAX_LIVE_INSTANCES;
        problems.range("host.max_concurrent_cycles", self.max_concurrent_cycles, 1, max_cycles, "cycles");
        problems.range("host.guest_memory_mb", self.guest_memory_mb, 16, MAX_GUEST_MEMORY_MB, "MiB");
        problems.range("host.cycle_deadline_seconds", self.cycle_deadline_seconds, 10, 3600, "seconds");
        problems.range("host.cycle_log_per_org", self.cycle_log_per_org, 1, 100_000, "cycles");
        // A holder starts no request with less than HTTP_LEASE_MARGIN (5 s) left,
        // and renews every third of the TTL: 10 s keeps a renewal in hand.
        problems.range("host.lease_ttl_seconds", self.lease_ttl_seconds, 10, 600, "seconds");
        if self.database.as_os_str().is_empty() {
            problems.add("host.database", "is empty; name the SQLite file, e.g. \"casebridge.db\"");
        }
        if let Some(url) = self.database.to_str().filter(|_| self.database_is_postgres())
            && let Err(error) = url.parse::<tokio_postgres::Config>()
        {
            let shown = crate::storage::postgres::redact(url);
            problems.add(
                "host.database",
                format!(
                    "is not a usable PostgreSQL URL ({shown}: {error}); write it as postgres://USER@HOST:PORT/DATABASE"
                ),
            );
        }
        if self.key_file.as_os_str().is_empty() {
            problems.add("host.key_file", "is empty; name the key file, e.g. \"casebridge.key\"");
        }
    }
}

impl MessengerConfig {
    fn check(&self, section: &str, problems: &mut Problems) {
        if AllowedHosts::for_org(&self.url, None).is_err() || url_has_path(&self.url) {
            problems.add(
                format!("{section}.url"),
                format!("`{}` is not an origin; copy the URL of the deployment's code snippet, e.g. \"https://acme.my.salesforce-scrt.com\"", self.url),
            );
        }
        let id_ok = matches!(self.org_id.len(), 15 | 18)
            && self.org_id.starts_with("00D")
            && self.org_id.chars().all(|c| c.is_ascii_alphanumeric());
        if !id_ok {
            problems.add(
                format!("{section}.org_id"),
                format!("`{}` is not an org id; use the 00D… id from Setup > Company Information", self.org_id),
            );
        }
        let name_ok = self.deployment.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && self.deployment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            problems.add(
                format!("{section}.deployment"),
                format!("`{}` is not a developer name (letters, digits and underscores, starting with a letter); copy it from the deployment's code snippet", self.deployment),
            );
        }
    }
}

/// Whether a URL has more than an origin (a path other than `/`, a query).
fn url_has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split_once('/').is_some_and(|(_, path)| !path.is_empty()) || rest.contains('?')
}

impl AgentConfig {
    fn check(&self, section: &str, problems: &mut Problems) {
        match self {
            AgentConfig::Builtin(builtin) => {
                if builtin.help_center.as_os_str().is_empty() {
                    problems.add(format!("{section}.help_center"), "is empty; name the folder of Markdown articles");
                }
            }
            AgentConfig::Webhook(webhook) => {
                if let Err(reason) = check_service_url(&webhook.url) {
                    problems.add(format!("{section}.url"), reason);
                }
                problems.range(format!("{section}.timeout_seconds"), webhook.timeout_seconds, 1, 600, "seconds");
            }
        }
    }
}

impl MailConfig {
    fn check(&self, problems: &mut Problems) {
        match self {
            MailConfig::Outbox(outbox) => {
                if outbox.outbox.as_os_str().is_empty() {
                    problems.add("mail.outbox", "is empty; name the folder emails are written to");
                }
                if !is_email_address(&outbox.from) {
                    problems.add("mail.from", format!("`{}` is not an email address", outbox.from));
                }
            }
            MailConfig::Smtp(smtp) => {
                if !is_email_address(&smtp.from) {
                    problems.add(
                        "mail.from",
                        format!("`{}` is not an email address; use a sender your domain has verified", smtp.from),
                    );
                }
                let host = smtp.host.trim();
                if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
                    problems
                        .add("mail.host", format!("`{}` is not a host name; use e.g. \"smtp.example.com\"", smtp.host));
                }
                if smtp.port == Some(0) {
                    problems.add("mail.port", "0 is not a port; leave it out to use the usual port for `tls`");
                }
                if let Some(env) = &smtp.password_env {
                    if !is_env_var_name(env) {
                        problems.add("mail.password_env", env_var_problem(env));
                    }
                    if smtp.tls == SmtpTls::None && !is_local_host(host) {
                        problems.add(
                            "mail.tls",
                            "\"none\" would send the password in clear text to a remote server; use \"starttls\" or \"tls\"",
                        );
                    }
                }
                if smtp.password_env.is_some() && smtp.username.is_none() {
                    problems.add("mail.username", "is missing; a password needs the user to log in as");
                }
            }
        }
    }
}

impl OrgConfig {
    fn check(&self, section: &str, problems: &mut Problems) {
        let option = |name: &str| format!("{section}.{name}");
        if !is_org_name(&self.name) {
            problems.add(
                option("name"),
                format!(
                    "`{}` is not a valid org name; use 1 to 63 lower-case letters, digits, `-` and `_`, starting with a letter or digit",
                    self.name
                ),
            );
        }
        if let Err(reason) = check_login_url(&self.login_url) {
            problems.add(option("login_url"), reason);
        }
        if let Some(Err(reason)) = self.instance_url.as_deref().map(check_login_url) {
            problems.add(option("instance_url"), reason);
        }
        if !is_api_version(&self.api_version) {
            problems
                .add(option("api_version"), format!("`{}` is not an API version; use e.g. \"62.0\"", self.api_version));
        }
        let client_id = self.client_id.trim();
        if client_id.is_empty() || client_id.len() != self.client_id.len() {
            problems.add(
                option("client_id"),
                "must be the connected app's consumer key, without surrounding spaces (Setup → App Manager → your app → View)",
            );
        }
        for (name, env) in
            [("client_secret_env", &self.client_secret_env), ("refresh_token_env", &self.refresh_token_env)]
        {
            if let Some(env) = env.as_deref().filter(|env| !is_env_var_name(env)) {
                problems.add(option(name), env_var_problem(env));
            }
        }
        if let Err(reason) = check_id(&self.agent_user, "005", "user") {
            problems.add(option("agent_user"), reason);
        }
        match &self.hand_off {
            HandOff::Queue(id) => {
                if let Err(reason) = check_id(id, "00G", "queue") {
                    problems.add(option("hand_off.queue"), reason);
                }
            }
            HandOff::User(id) => {
                if let Err(reason) = check_id(id, "005", "user") {
                    problems.add(option("hand_off.user"), reason);
                }
            }
        }
        for (name, field) in
            [("involved_field", &self.involved_field), ("resolution_state_field", &self.resolution_state_field)]
        {
            if !is_field_api_name(field) {
                problems.add(
                    option(name),
                    format!("`{field}` is not a field API name; use the API name from Setup → Object Manager → Case → Fields, e.g. \"FinInvolved__c\""),
                );
            }
        }
        for (index, topic) in self.topics.iter().enumerate() {
            if topic.trim().is_empty() || topic.trim() != topic {
                problems.add(
                    format!("{section}.topics[{index}]"),
                    format!(
                        "`{topic}` is empty or has surrounding spaces; write the topic's name, e.g. \"casebridge\""
                    ),
                );
            }
        }
        problems.range(option("poll_interval_seconds"), self.poll_interval_seconds, 1, 86_400, "seconds");
        problems.range(option("poll_overlap_seconds"), self.poll_overlap_seconds, 1, 86_400, "seconds");
        problems.range(option("safety_poll_seconds"), self.safety_poll_seconds, 10, 86_400, "seconds");
        if self.mode == SyncMode::Streaming && self.safety_poll_seconds < self.poll_interval_seconds {
            problems.add(
                option("safety_poll_seconds"),
                format!(
                    "{} is shorter than poll_interval_seconds ({}): the safety poll of a live stream would run more often than the polling it replaces; raise it (default 900) or lower poll_interval_seconds",
                    self.safety_poll_seconds, self.poll_interval_seconds
                ),
            );
        }
        problems.range(option("daily_api_budget"), self.daily_api_budget, 1, 100_000_000, "calls");
        let year_in_seconds = 365 * 24 * 60 * 60;
        problems.range(
            option("soft_resolution_after_seconds"),
            self.soft_resolution_after_seconds,
            1,
            year_in_seconds,
            "seconds",
        );
        problems.range(option("abandoned_after_seconds"), self.abandoned_after_seconds, 1, year_in_seconds, "seconds");
        if let Some(agent) = &self.agent {
            agent.check(&option("agent"), problems);
        }
        for (name, key) in
            [("match_people_by", &self.match_people_by), ("match_companies_by", &self.match_companies_by)]
        {
            if !is_field_api_name(&key.field) {
                problems.add(option(&format!("{name}.field")), format!("`{}` is not a field API name", key.field));
            }
            if key.attribute.trim().is_empty() {
                problems
                    .add(option(&format!("{name}.attribute")), "is empty; name a platform attribute, e.g. \"email\"");
            }
        }
        if let Some(messenger) = &self.messenger {
            messenger.check(&option("messenger"), problems);
        }
        if let Err(wrong) = self.crm.triggers() {
            for (index, problem) in wrong {
                problems.add(option(&format!("crm.case_triggers[{index}]")), problem);
            }
        }
        if let Some(record_type) = &self.crm.case_record_type
            && (record_type.trim().is_empty() || record_type.trim() != record_type)
        {
            problems.add(
                option("crm.case_record_type"),
                "is empty or has surrounding spaces; write a RecordType Id (012…) or DeveloperName, or leave it out for the org's default",
            );
        }
        for (index, mapping) in self.mappings.iter().enumerate() {
            let option = |name: &str| format!("{section}.mapping[{index}].{name}");
            if !MAPPED_OBJECTS.contains(&mapping.object.as_str()) {
                problems.add(
                    option("object"),
                    format!("`{}` cannot be mapped; use one of {}", mapping.object, MAPPED_OBJECTS.join(", ")),
                );
            }
            if !is_field_api_name(&mapping.field) {
                problems.add(
                    option("field"),
                    format!(
                        "`{}` is not a field API name; use the API name from Setup → Object Manager",
                        mapping.field
                    ),
                );
            }
            if mapping.attribute.trim().is_empty() || mapping.attribute.trim() != mapping.attribute {
                problems.add(option("attribute"), "is empty or has surrounding spaces; name the platform attribute");
            }
            let both_ways = self.mappings[..index].iter().any(|earlier| {
                earlier.object == mapping.object
                    && earlier.field.eq_ignore_ascii_case(&mapping.field)
                    && earlier.attribute == mapping.attribute
                    && earlier.direction != mapping.direction
            });
            if both_ways {
                problems.add(
                    option("direction"),
                    format!(
                        "`{}` ↔ {}.{} is mapped both ways; a mapping has one direction, which decides conflicts: keep one",
                        mapping.attribute, mapping.object, mapping.field
                    ),
                );
            }
        }
    }
}

/// An org name is its storage namespace and appears in commands and logs.
fn is_org_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn is_api_version(version: &str) -> bool {
    version.split_once('.').is_some_and(|(major, minor)| {
        (1..=3).contains(&major.len()) && major.bytes().all(|b| b.is_ascii_digit()) && minor == "0"
    })
}

/// Salesforce API names: a letter, then letters, digits and single
/// underscores (`ns__Field__c` uses the double ones Salesforce adds).
pub(crate) fn is_field_api_name(name: &str) -> bool {
    name.len() <= 80
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.ends_with('_')
        && !name.contains("___")
}

fn is_env_var_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn env_var_problem(name: &str) -> String {
    format!(
        "`{name}` is not an environment variable name; name the variable (e.g. \"ACME_CLIENT_SECRET\"), not its value"
    )
}

fn is_email_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let plain = |part: &str| {
        !part.is_empty()
            && !part.contains(|c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
    };
    plain(local)
        && plain(domain)
        && (domain.contains('.') || domain == "localhost")
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn is_local_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

/// A URL casebridge calls: https, or http to this machine (the emulator, a
/// local agent). No user or password in it: URLs appear in logs.
fn check_service_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value)
        .map_err(|e| format!("`{value}` is not a URL ({e}); use e.g. \"https://example.com/path\""))?;
    let host = url.host_str().unwrap_or_default().to_string();
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if is_local_host(&host) => {}
        "http" => {
            return Err(format!(
                "`{value}` is not https; plain http is allowed only for 127.0.0.1 or localhost (the emulator)"
            ));
        }
        _ => return Err(format!("`{value}` is not an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user or password: URLs appear in logs; use the credential options instead".into());
    }
    Ok(url)
}

fn check_login_url(value: &str) -> Result<(), String> {
    let url = check_service_url(value)?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{value}` must be the bare login URL, without a path, e.g. \"https://login.salesforce.com\" or \"https://acme.my.salesforce.com\""
        ));
    }
    Ok(())
}

/// A Salesforce id of the object with `key_prefix` (`005` users, `00G` queues).
pub(crate) fn check_id(id: &str, key_prefix: &str, what: &str) -> Result<(), String> {
    match casebridge_emulator::ids::normalize(id) {
        Some(_) if id.starts_with(key_prefix) => Ok(()),
        Some(_) => Err(format!(
            "`{id}` is not a {what} id: {what} ids start with {key_prefix}; copy it from the {what}'s page URL in Setup"
        )),
        None => Err(format!(
            "`{id}` is not a Salesforce id: expected 15 or 18 letters and digits starting with {key_prefix}, copied from the {what}'s page URL in Setup"
        )),
    }
}

fn normalize_id(id: &mut String) {
    if let Some(full) = casebridge_emulator::ids::normalize(id) {
        *id = full;
    }
}
