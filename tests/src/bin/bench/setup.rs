//! The host under test: the real `casebridge::host::Host` (SQLite store in a
//! temporary folder, the configuration file format, the scheduler's cycle
//! path) with the scripted agent and a recording mailer, for N orgs that all
//! poll the same emulated org, each in its own store namespace.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use casebridge::config::Config;
use casebridge::host::Host;
use casebridge::runtime::{Agent, Mailer, Runtime};
use casebridge::secrets::{EncryptionKey, SecretVault};
use casebridge::storage::Store;
use casebridge_tests::{RecordingMail, ScriptedAgent};

use crate::remote::RemoteOrg;

/// The environment variables every org's `client_secret_env` / `refresh_token_env` name.
pub const SECRET_ENV: &str = "CASEBRIDGE_BENCH_CLIENT_SECRET";
pub const TOKEN_ENV: &str = "CASEBRIDGE_BENCH_REFRESH_TOKEN";

/// Puts the org's secrets where the configuration says they are.
///
/// # Safety
/// Call before any other thread exists (before the tokio runtime is built):
/// the environment is not safe to change while another thread may read it.
pub unsafe fn export_secrets(remote: &RemoteOrg) {
    // SAFETY: the caller guarantees this process has a single thread.
    unsafe {
        std::env::set_var(SECRET_ENV, &remote.credentials.client_secret);
        std::env::set_var(TOKEN_ENV, &remote.credentials.refresh_token);
    }
}

/// How the orgs are configured.
pub struct OrgSettings {
    pub poll_interval_seconds: u32,
    pub max_concurrent_cycles: u32,
    /// `mode = "streaming"` with this `safety_poll_seconds`; none: polling.
    pub streaming_safety_poll_seconds: Option<u32>,
    /// `[host] database`: a PostgreSQL URL; none: an SQLite file in the folder.
    pub database: Option<String>,
    /// `[host] lease_ttl_seconds`; none: the default.
    pub lease_ttl_seconds: Option<u32>,
}

/// The host and what the bench reads back from it.
pub struct BenchHost {
    pub host: Arc<Host>,
    pub names: Vec<String>,
    /// Holds the database; removed when dropped.
    dir: tempfile::TempDir,
}

impl BenchHost {
    /// The folder that holds the host's database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// `count` org names: `org-00001`, `org-00002`, …
pub fn org_names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("org-{i:05}")).collect()
}

/// A host for `names`, every org polling `remote`. Secrets come from the
/// environment ([`export_secrets`]).
pub fn build_host(remote: &RemoteOrg, names: &[String], settings: &OrgSettings) -> anyhow::Result<BenchHost> {
    let dir = tempfile::Builder::new().prefix("casebridge-bench-").tempdir()?;
    let path = |file: &str| dir.path().join(file).display().to_string();
    let mut text = format!(
        "[host]\ndatabase = \"{}\"\nkey_file = \"{}\"\nmax_concurrent_cycles = {}\n{}\n\
         [mail]\nkind = \"outbox\"\noutbox = \"{}\"\nfrom = \"support@example.com\"\n",
        settings.database.clone().unwrap_or_else(|| path("casebridge.db")),
        path("casebridge.key"),
        settings.max_concurrent_cycles,
        settings.lease_ttl_seconds.map(|ttl| format!("lease_ttl_seconds = {ttl}\n")).unwrap_or_default(),
        path("outbox"),
    );
    let agent_user = remote.seeded_id("agent_user_id");
    let queue = remote.seeded_id("handoff_queue_id");
    for name in names {
        write!(
            text,
            "\n[[org]]\nname = \"{name}\"\nlogin_url = \"{url}\"\ninstance_url = \"{instance_url}\"\nclient_id = \"{client_id}\"\n\
             client_secret_env = \"{SECRET_ENV}\"\nrefresh_token_env = \"{TOKEN_ENV}\"\n\
             agent_user = \"{agent_user}\"\nhand_off = {{ queue = \"{queue}\" }}\ntopics = [\"casebridge\"]\n\
             poll_interval_seconds = {interval}\ndaily_api_budget = 100000000\n",
            url = remote.credentials.url,
            instance_url = remote.credentials.instance_url,
            client_id = remote.credentials.client_id,
            interval = settings.poll_interval_seconds,
        )?;
        if let Some(safety) = settings.streaming_safety_poll_seconds {
            write!(text, "mode = \"streaming\"\nsafety_poll_seconds = {safety}\n")?;
        }
    }
    let config = Config::parse(&text)?;
    let store = Arc::new(Store::open(&config.host.database)?.with_cycle_log_per_org(config.host.cycle_log_per_org));
    let vault = SecretVault::new(store.clone(), EncryptionKey::generate()?);
    let agent = Arc::new(ScriptedAgent::default());
    let agents: BTreeMap<String, Arc<dyn Agent>> =
        names.iter().map(|name| (name.clone(), agent.clone() as Arc<dyn Agent>)).collect();
    let mail: Arc<dyn Mailer> = Arc::new(RecordingMail::default());
    let runtime = Runtime::new(casebridge::GUEST_COMPONENT)?;
    let host = Host::new(config, runtime, store, vault, agents, mail);
    Ok(BenchHost { host: Arc::new(host), names: names.to_vec(), dir })
}
