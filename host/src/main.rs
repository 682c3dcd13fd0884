//! `casebridge`: the command line of the host.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use casebridge::config::{Config, DEFAULT_CONFIG_FILE};
use casebridge::host::{DEFAULT_LEASE_WAIT, FieldChange, Host, report_json};
use casebridge::secrets::{OrgSecret, Secret};
use casebridge::text;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "casebridge",
    version,
    about = "An AI agent on Salesforce Cases, run as a sandboxed WebAssembly component",
    after_help = "Examples:
  casebridge demo                          the whole story against a local Salesforce org
  casebridge demo --serve                  … then the web messenger at http://127.0.0.1:8720/messenger/demo
  casebridge org connect acme --browser    log in to Salesforce and store acme's secrets, encrypted
  casebridge cycle --org acme              one cycle now, to check the set-up
  casebridge run                           cycle every org on its interval until Ctrl-C
  casebridge status                        what every org did last and does next

Environment: CASEBRIDGE_CONFIG names the configuration file, CASEBRIDGE_KEY holds the
secrets' key, CASEBRIDGE_LOG=debug turns up the logs, NO_COLOR turns off colours."
)]
struct Cli {
    /// The configuration file (see the README for every option).
    #[arg(long, short, global = true, env = "CASEBRIDGE_CONFIG", default_value = DEFAULT_CONFIG_FILE)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole story against a local Salesforce org, with no set-up.
    #[command(after_help = "Example:\n  casebridge demo --dir /tmp/casebridge-demo")]
    Demo {
        /// Where the demo keeps its database and outbox (default: a new temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// After the story, keep the org and the web messenger up on this address until Ctrl-C.
        #[arg(long, value_name = "ADDRESS", num_args = 0..=1, default_missing_value = "127.0.0.1:8720")]
        serve: Option<SocketAddr>,
    },
    /// Cycle every configured org on its interval until Ctrl-C.
    #[command(after_help = "Example:\n  CASEBRIDGE_LOG=info casebridge run --config /etc/casebridge.toml\n\n\
        Several `casebridge run` may share one database: each org is cycled by one of them at a time.")]
    Run,
    /// Run one cycle now, for one org or all.
    #[command(after_help = "Examples:\n  casebridge cycle --org acme\n  casebridge cycle --wait-seconds 120\n\n\
        Exits non-zero when a cycle fails, or when another process is still cycling the org after the wait.")]
    Cycle {
        /// The org to cycle (default: every configured org, one after another).
        #[arg(long)]
        org: Option<String>,
        /// How long to wait for an org that another casebridge process is cycling.
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE_WAIT.as_secs())]
        wait_seconds: u64,
    },
    /// Connect an org: store its connected-app secret and refresh token, encrypted.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Discover users and queues to choose the agent user and the hand-off target.
    #[command(after_help = "Examples:\n  casebridge setup users --org acme\n  casebridge setup queues --org acme")]
    Setup {
        /// What to list.
        #[arg(value_enum)]
        what: SetupWhat,
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
    },
    /// The field catalog: which Case, Contact and Account fields are synced.
    Fields {
        #[command(subcommand)]
        command: FieldsCommand,
    },
    /// The conversations the connector knows.
    Conversations {
        #[command(subcommand)]
        command: ConversationsCommand,
    },
    /// Writes Salesforce refused, kept for retry.
    Errors {
        #[command(subcommand)]
        command: ErrorsCommand,
    },
    /// Per org: last cycle and outcome, next attempt, API calls today, watermark, open errors.
    #[command(
        after_help = "Examples:\n  casebridge status\n  casebridge status --json | jq '.orgs[] | {org, open_errors}'"
    )]
    Status {
        /// Print JSON with typed fields instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a local Salesforce org (the REST API emulator) until Ctrl-C; its first
    /// stdout line is one JSON object with the URL and credentials.
    #[command(after_help = "Example:\n  casebridge emulator --listen 127.0.0.1:8080 --seed demo")]
    Emulator {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The data the org starts with.
        #[arg(long, value_enum, default_value_t = SeedArg::Demo)]
        seed: SeedArg,
    },
    /// Check the org's attribute mappings against Salesforce and the platform's definitions.
    #[command(
        after_help = "Example:\n  casebridge mappings check --org acme\n\nExits non-zero when a mapping cannot work."
    )]
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    /// Check the workflows (`[org.workflow]`) against the org's fields.
    #[command(
        after_help = "Example:\n  casebridge workflow check --org acme\n\nExits non-zero when a step cannot work."
    )]
    Workflow {
        #[command(subcommand)]
        command: WorkflowCommand,
    },
    /// Tokens for the platform API (`[api]`).
    #[command(
        after_help = "Examples:\n  casebridge api token create support-platform\n  casebridge api token list\n  casebridge api token revoke support-platform"
    )]
    Api {
        #[command(subcommand)]
        command: ApiCommand,
    },
    /// The support platform's records: people, companies, teammates, conversations.
    #[command(
        after_help = "Examples:\n  casebridge platform list people --org acme\n  casebridge platform show person p-42 --org acme --json"
    )]
    Platform {
        #[command(subcommand)]
        command: PlatformCommand,
    },
    /// The CRM actions (C3–C9, D1–D5): profile, leads, cases, tasks, contact links.
    #[command(
        after_help = "Examples:\n  casebridge crm profile --org acme p-42\n  casebridge crm lead --org acme p-42\n  casebridge crm case --org acme c-7 --field Priority=High"
    )]
    Crm {
        #[command(subcommand)]
        command: casebridge::platform::crm_cli::CrmCommand,
    },
    /// The admin console (`/console` on the `[api]` address): its passwords.
    #[command(after_help = "Example:\n  casebridge console password < password.txt")]
    Console {
        #[command(subcommand)]
        command: ConsoleCommand,
    },
    /// Write the embedded connector component (`.wasm`) to a file, for another host.
    #[command(after_help = "Example:\n  casebridge component -o connector.wasm")]
    Component {
        /// The file to write.
        #[arg(long, short, default_value = "casebridge_connector.wasm")]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Set an admin's password, read from one line of standard input (at
    /// least 12 characters); the admin's open sessions end.
    Password {
        /// The admin's name, typed on the login page.
        #[arg(long, default_value = casebridge::console::DEFAULT_ADMIN)]
        admin: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Read the client secret, then the refresh token, from stdin and store them
    /// encrypted; a running `casebridge run` tries the org again at once. With
    /// `--browser`, read only the client secret and get the refresh token by
    /// logging in to Salesforce (OAuth web-server flow with PKCE).
    #[command(
        after_help = "Examples:\n  printf '%s\\n%s\\n' \"$CLIENT_SECRET\" \"$REFRESH_TOKEN\" | casebridge org connect acme\n  \
                            printf '%s\\n' \"$CLIENT_SECRET\" | casebridge org connect acme --browser"
    )]
    Connect {
        /// The org (an [[org]] name of the configuration).
        org: String,
        /// Print a login URL to open and wait for Salesforce to send the browser back.
        #[arg(long)]
        browser: bool,
        /// With --browser: the callback URL of the connected app, on this machine
        /// (default http://<api.listen>/oauth/callback).
        #[arg(long, requires = "browser")]
        callback: Option<String>,
    },
    /// Revoke the org's refresh token at Salesforce and forget its stored secrets.
    #[command(after_help = "Example:\n  casebridge org disconnect acme")]
    Disconnect {
        /// The org (an [[org]] name of the configuration).
        org: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SetupWhat {
    /// Users who can own cases: choices for `agent_user` and `hand_off = { user = … }`.
    Users,
    /// Case queues: choices for `hand_off = { queue = … }`.
    Queues,
}

#[derive(Subcommand)]
enum FieldsCommand {
    /// The synced fields of Case, Contact and Account.
    #[command(after_help = "Example:\n  casebridge fields list --org acme")]
    List {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
    },
    /// Sync one more field.
    #[command(after_help = "Example:\n  casebridge fields add --org acme Case Product__c")]
    Add {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The object's API name: Case, Contact or Account.
        object: String,
        /// The field's API name.
        field: String,
    },
    /// Stop syncing a field (system fields cannot be removed).
    #[command(after_help = "Example:\n  casebridge fields remove --org acme Contact Fax")]
    Remove {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The object's API name: Case, Contact or Account.
        object: String,
        /// The field's API name.
        field: String,
    },
    /// Describe when a list value applies, for attribute detection (an empty text removes it).
    #[command(
        name = "describe-value",
        after_help = "Example:\n  casebridge fields describe-value --org acme Case Type Billing \"Invoices, charges and refunds\""
    )]
    DescribeValue {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The object's API name, e.g. Case.
        object: String,
        /// The list field's API name.
        field: String,
        /// The value's API name.
        value: String,
        /// When the value applies, in your words.
        description: String,
    },
    /// The value descriptions written so far.
    #[command(after_help = "Example:\n  casebridge fields descriptions --org acme")]
    Descriptions {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
    },
    /// Re-read a list field's allowed values.
    #[command(after_help = "Example:\n  casebridge fields resync --org acme Case Reason")]
    Resync {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The object's API name: Case, Contact or Account.
        object: String,
        /// The field's API name.
        field: String,
    },
}

#[derive(Subcommand)]
enum ConversationsCommand {
    /// One line per conversation: case, subject, parts, resolution state.
    #[command(after_help = "Example:\n  casebridge conversations list --org acme")]
    List {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
    },
    /// One conversation, part by part.
    #[command(after_help = "Example:\n  casebridge conversations show --org acme 5005g00000AbCdEAAZ")]
    Show {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The case's Id (`conversations list` shows them).
        case_id: String,
    },
}

#[derive(Subcommand)]
enum ErrorsCommand {
    /// Writes Salesforce refused, with its reason.
    #[command(after_help = "Example:\n  casebridge errors list --org acme")]
    List {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
    },
    /// Write it again in the next cycle.
    #[command(after_help = "Example:\n  casebridge errors retry --org acme case-update:5005g00000AbCdEAAZ")]
    Retry {
        /// The org (an [[org]] name of the configuration).
        #[arg(long)]
        org: String,
        /// The error's id (`errors list` shows them).
        error_id: String,
        /// How long to wait for an org that another casebridge process is cycling.
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE_WAIT.as_secs())]
        wait_seconds: u64,
    },
}

#[derive(Subcommand)]
enum MappingsCommand {
    /// List every problem of the org's `[[org.mapping]]` entries.
    Check {
        /// The org (default: every org with mappings).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum WorkflowCommand {
    /// List every problem of the org's workflow files against its Case fields.
    Check {
        /// The org (default: every org with a workflow).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiCommand {
    /// Manage the tokens the platform API accepts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (it is stored only as a hash).
    Create {
        /// A name to know it by, e.g. the platform that uses it.
        name: String,
    },
    /// List the tokens by name.
    List,
    /// Revoke a token: requests with it are refused from now on.
    Revoke { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum RecordArg {
    Person,
    Company,
    Conversation,
}

#[derive(Clone, Copy, ValueEnum)]
enum RecordsArg {
    People,
    Companies,
    Teammates,
    Conversations,
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// List one kind of record.
    List {
        #[arg(value_enum)]
        what: RecordsArg,
        #[arg(long)]
        org: String,
    },
    /// Show one record.
    Show {
        #[arg(value_enum)]
        what: RecordArg,
        id: String,
        #[arg(long)]
        org: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SeedArg {
    /// Users, a queue, accounts, contacts and open cases for the demo.
    Demo,
    /// Only the integration user.
    Empty,
}

impl From<PlatformCommand> for casebridge::platform::cli::Command {
    fn from(command: PlatformCommand) -> Self {
        use casebridge::platform::cli::{Command, Kind};
        match command {
            PlatformCommand::List { what, org } => Command::List {
                org,
                kind: match what {
                    RecordsArg::People => Kind::Person,
                    RecordsArg::Companies => Kind::Company,
                    RecordsArg::Teammates => Kind::Teammate,
                    RecordsArg::Conversations => Kind::Conversation,
                },
            },
            PlatformCommand::Show { what, id, org, json } => Command::Show {
                org,
                id,
                json,
                kind: match what {
                    RecordArg::Person => Kind::Person,
                    RecordArg::Company => Kind::Company,
                    RecordArg::Conversation => Kind::Conversation,
                },
            },
        }
    }
}

/// One mapping problem for people.
fn describe_problem(problem: &casebridge::runtime::bindings::sync::MappingProblem) -> String {
    let m = &problem.mapping;
    let arrow = match m.direction {
        casebridge::runtime::bindings::describe::Direction::ToSalesforce => "→",
        casebridge::runtime::bindings::describe::Direction::ToPlatform => "←",
    };
    format!("mapping `{}` {arrow} {}.{}: {}", m.attribute, m.object, m.field, problem.problem)
}

/// `casebridge run` refuses to start with a mapping that cannot work; an org
/// whose check cannot run now (Salesforce unreachable) is checked by its cycles.
async fn check_mappings_at_start(host: &casebridge::host::Host) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for org in host.config().orgs.iter().filter(|o| !o.mappings.is_empty()) {
        match host.check_mappings(&org.name).await {
            Ok(found) => problems.extend(found.iter().map(|p| format!("{}: {}", org.name, describe_problem(p)))),
            Err(error) => tracing::warn!(org = org.name, "cannot check the mappings now: {error}"),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{} mapping(s) cannot work; fix the configuration:\n  {}", problems.len(), problems.join("\n  "));
    }
    Ok(())
}

/// `casebridge run` refuses to start with a workflow step that cannot work;
/// an org whose check cannot run now (Salesforce unreachable) is skipped.
async fn check_workflows_at_start(host: &casebridge::host::Host) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for org in host.config().orgs.iter().filter(|o| !o.workflows.is_empty()) {
        match host.check_workflows(&org.name).await {
            Ok(found) => problems.extend(found.into_iter().map(|p| format!("{}: {p}", org.name))),
            Err(error) => tracing::warn!(org = org.name, "cannot check the workflows now: {error}"),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{} workflow problem(s); fix the workflow files:\n  {}", problems.len(), problems.join("\n  "));
    }
    Ok(())
}

/// Keep a value description after checking the value is one of the field's
/// (when the catalog can be read now).
async fn describe_value(
    host: &casebridge::host::Host,
    org: &str,
    object: &str,
    field: &str,
    value: &str,
    description: &str,
) -> anyhow::Result<()> {
    host.config().org(org).with_context(|| format!("there is no org named `{org}` in the configuration"))?;
    match host.list_fields(org).await {
        Ok(catalogs) => {
            let catalog = catalogs
                .iter()
                .find(|c| c.object.eq_ignore_ascii_case(object))
                .with_context(|| format!("`{object}` has no catalog; give Case, Contact or Account"))?;
            let descriptor = catalog
                .fields
                .iter()
                .map(|f| &f.descriptor)
                .find(|d| d.name.eq_ignore_ascii_case(field))
                .with_context(|| format!("{object} has no field `{field}`; `casebridge fields list` shows them"))?;
            if !descriptor.picklist_values.iter().any(|v| v.value == value) {
                let values: Vec<&str> = descriptor.picklist_values.iter().map(|v| v.value.as_str()).collect();
                anyhow::bail!(
                    "`{value}` is not a value of {object}.{field}; give its API name, one of: {}",
                    values.join(", ")
                );
            }
        }
        Err(error) => tracing::warn!(org, "cannot read the catalog to check the value now: {error}"),
    }
    let described = casebridge::runtime::bindings::settings::ValueDescription {
        object: object.to_string(),
        field: field.to_string(),
        value: value.to_string(),
        description: description.to_string(),
    };
    host.store().put_value_description(org, &described, chrono::Utc::now().timestamp_millis())?;
    Ok(())
}

/// Serve the platform API in the background when `[api]` enables it.
async fn serve_api(
    host: &Arc<casebridge::host::Host>,
) -> anyhow::Result<Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>)>> {
    let api = &host.config().api;
    if !api.enabled {
        return Ok(None);
    }
    let listener = match tokio::net::TcpListener::bind(&api.listen).await {
        Ok(listener) => listener,
        // Several `casebridge run` on one database share its records: one
        // of them serving the API is enough.
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(
                address = %api.listen,
                "the platform API's address is in use (another casebridge run on this machine?); this process serves no API ([api] listen)"
            );
            return Ok(None);
        }
        Err(error) => {
            return Err(anyhow::Error::from(error).context(format!(
                "cannot listen on {} ([api] listen); choose another address or set enabled = false",
                api.listen
            )));
        }
    };
    tracing::info!(address = %listener.local_addr()?, "platform API listening");
    let state = casebridge::platform::api::ApiState {
        platform: host.platform().clone(),
        orgs: Arc::new(host.config().orgs.iter().map(|o| o.name.clone()).collect()),
        host: Some(host.clone()),
    };
    let mut routes = casebridge::platform::api::router(state)
        .merge(casebridge::console::router(casebridge::console::ConsoleState::new(host.clone())));
    tracing::info!(address = %listener.local_addr()?, "admin console at /console");
    if let Some(messenger) = messenger_state(host)? {
        routes = routes.merge(casebridge::messenger::web::router(messenger));
        tracing::info!(address = %listener.local_addr()?, "web messenger at /messenger/<org>");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(casebridge::platform::api::serve_router(listener, routes, async {
        let _ = stopped.await;
    }));
    Ok(Some((stop, served)))
}

/// The web messenger of the orgs with `[org.messenger]`, relaying through
/// the connector (and resuming the hand-offs that were live); none without such an org.
fn messenger_state(host: &Arc<Host>) -> anyhow::Result<Option<casebridge::messenger::web::MessengerState>> {
    use casebridge::messenger::ConnectorRelay;
    let mut orgs = std::collections::BTreeMap::new();
    for org in &host.config().orgs {
        let Some(messenger) = &org.messenger else { continue };
        let secret = match &messenger.identity_secret_env {
            Some(name) => Some(std::env::var(name).map(String::into_bytes).map_err(|_| {
                anyhow::anyhow!(
                    "[org.messenger] of {} names identity_secret_env = \"{name}\", which is not set",
                    org.name
                )
            })?),
            None => None,
        };
        orgs.insert(org.name.clone(), secret);
    }
    if orgs.is_empty() {
        return Ok(None);
    }
    let relay = ConnectorRelay::new(host.clone());
    let resumed = relay.clone();
    tokio::spawn(async move { resumed.resume().await });
    Ok(Some(casebridge::messenger::web::MessengerState {
        platform: host.platform().clone(),
        orgs: Arc::new(orgs),
        relay: Arc::new(relay),
    }))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let quiet_default = matches!(cli.command, Command::Demo { .. } | Command::Emulator { .. });
    // Colours only for a person at a terminal, and never with NO_COLOR set
    // (https://no-color.org): log files and pipes get plain text.
    let colours = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if quiet_default { "warn" } else { "info" })),
        )
        .with_ansi(colours)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

fn open(config: &std::path::Path) -> anyhow::Result<Host> {
    let config = Config::load(config)?;
    Host::open(config)
}

/// A host whose leased commands wait up to `seconds` for an org another process holds.
fn open_waiting(config: &std::path::Path, seconds: u64) -> anyhow::Result<Host> {
    let mut host = open(config)?;
    host.set_lease_wait(Duration::from_secs(seconds));
    Ok(host)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = &mut std::io::stdout();
    match cli.command {
        Command::Demo { dir, serve } => {
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("casebridge-demo-{}", std::process::id())));
            casebridge::demo::run_with(&dir, stdout, serve).await?;
        }
        Command::Run => {
            let host = Arc::new(open(&cli.config)?);
            check_mappings_at_start(&host).await?;
            check_workflows_at_start(&host).await?;
            let api = serve_api(&host).await?;
            tracing::info!(orgs = host.config().orgs.len(), holder = %host.holder(), "running; Ctrl-C stops");
            let stats = casebridge::scheduler::run(host, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
            if let Some((stop, served)) = api {
                let _ = stop.send(());
                let _ = served.await;
            }
            tracing::info!(
                cycles = stats.cycles_started,
                failed = stats.cycles_failed,
                skipped = stats.cycles_skipped,
                adopted = stats.cycles_adopted,
                late = stats.cycles_late,
                "stopped"
            );
        }
        Command::Cycle { org, wait_seconds } => {
            let host = open_waiting(&cli.config, wait_seconds)?;
            let orgs: Vec<String> = match org {
                Some(org) => vec![org],
                None => host.config().orgs.iter().map(|o| o.name.clone()).collect(),
            };
            let mut failed = 0;
            for org in &orgs {
                match host.cycle(org).await {
                    Ok(report) => writeln!(
                        stdout,
                        "{org}: {}, {}",
                        casebridge::status::summary(&report_json(&report)),
                        text::count(report.api_calls.into(), "API call", "API calls")
                    )?,
                    Err(error) => {
                        failed += 1;
                        eprintln!("{error}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!(
                    "{failed} of {} cycle(s) did not succeed; `casebridge status` shows every org",
                    orgs.len()
                );
            }
        }
        Command::Org { command: OrgCommand::Connect { org, browser, callback } } => {
            let host = open(&cli.config)?;
            let config = host
                .config()
                .org(&org)
                .with_context(|| format!("there is no org named `{org}` in the configuration"))?;
            let mut lines = std::io::stdin().lines();
            eprintln!("client secret of the connected app for `{org}` (one line):");
            let secret = Secret::new(lines.next().context("no client secret on stdin")??.trim().to_string());
            let token = if browser {
                let callback = match callback {
                    Some(callback) => callback,
                    None => format!("http://{}{}", host.config().api.listen, casebridge::oauth::CALLBACK_PATH),
                };
                let login = casebridge::oauth::Login::new(&callback);
                let listener = casebridge::oauth::listen_for_callback(&login).await?;
                eprintln!(
                    "open this URL, log in to Salesforce as the integration user and choose Allow \
                     (the connected app's callback URL must be {callback}):\n{}",
                    login.authorize_url(&config.login_url, &config.client_id)
                );
                let code = casebridge::oauth::wait_for_code(&login, listener).await?;
                login.exchange(&config.login_url, &config.client_id, &secret, &code).await?
            } else {
                eprintln!("refresh token for `{org}` (one line):");
                Secret::new(lines.next().context("no refresh token on stdin")??.trim().to_string())
            };
            host.vault().put(&config.name, OrgSecret::ClientSecret, &secret)?;
            host.vault().put(&config.name, OrgSecret::RefreshToken, &token)?;
            host.store().request_wake(&config.name, chrono::Utc::now())?;
            writeln!(
                stdout,
                "stored the credentials of `{org}`, encrypted; a running `casebridge run` tries the org again within {} s",
                casebridge::scheduler::WAKE_POLL_EVERY.as_secs()
            )?;
        }
        Command::Org { command: OrgCommand::Disconnect { org } } => {
            let host = open(&cli.config)?;
            let config = host
                .config()
                .org(&org)
                .with_context(|| format!("there is no org named `{org}` in the configuration"))?;
            if let Some(token) = host.vault().get(&config.name, OrgSecret::RefreshToken)? {
                casebridge::oauth::revoke(&config.login_url, &token).await?;
            }
            host.vault().delete(&config.name, OrgSecret::RefreshToken)?;
            host.vault().delete(&config.name, OrgSecret::ClientSecret)?;
            writeln!(
                stdout,
                "revoked the refresh token of `{org}` at Salesforce and removed its stored secrets; \
                 `casebridge org connect {org}` connects it again"
            )?;
        }
        Command::Setup { what, org } => {
            let host = open(&cli.config)?;
            match what {
                SetupWhat::Users => {
                    for user in host.list_users(&org).await? {
                        writeln!(stdout, "{}  {:<30} {}", user.id, user.name, user.username)?;
                    }
                }
                SetupWhat::Queues => {
                    for queue in host.list_queues(&org).await? {
                        writeln!(stdout, "{}  {:<30} {}", queue.id, queue.name, queue.developer_name)?;
                    }
                }
            }
        }
        Command::Fields { command: FieldsCommand::DescribeValue { org, object, field, value, description } } => {
            let host = open(&cli.config)?;
            describe_value(&host, &org, &object, &field, &value, &description).await?;
            if description.trim().is_empty() {
                writeln!(stdout, "removed the description of {object}.{field} = {value}")?;
            } else {
                writeln!(stdout, "described {object}.{field} = {value}; detection uses it from the next cycle")?;
            }
        }
        Command::Fields { command: FieldsCommand::Descriptions { org } } => {
            let host = open(&cli.config)?;
            host.config().org(&org).with_context(|| format!("there is no org named `{org}` in the configuration"))?;
            for d in host.store().value_descriptions(&org)? {
                writeln!(stdout, "{}.{} = {}: {}", d.object, d.field, d.value, d.description)?;
            }
        }
        Command::Workflow { command: WorkflowCommand::Check { org } } => {
            let host = open(&cli.config)?;
            let orgs: Vec<String> = match org {
                Some(org) => vec![org],
                None => host.config().orgs.iter().filter(|o| !o.workflows.is_empty()).map(|o| o.name.clone()).collect(),
            };
            let mut bad = 0;
            for org in &orgs {
                let problems = host.check_workflows(org).await?;
                if problems.is_empty() {
                    writeln!(stdout, "{org}: every workflow step can work")?;
                }
                for problem in &problems {
                    bad += 1;
                    writeln!(stdout, "{org}: {problem}")?;
                }
            }
            if bad > 0 {
                anyhow::bail!("{bad} workflow problem(s); fix the workflow files");
            }
        }
        Command::Fields { command } => {
            let host = open_waiting(&cli.config, DEFAULT_LEASE_WAIT.as_secs())?;
            let catalogs = match command {
                FieldsCommand::DescribeValue { .. } | FieldsCommand::Descriptions { .. } => {
                    unreachable!("handled above")
                }
                FieldsCommand::List { org } => host.list_fields(&org).await?,
                FieldsCommand::Add { org, object, field } => {
                    vec![host.change_field(&org, FieldChange::Add, &object, &field).await?]
                }
                FieldsCommand::Remove { org, object, field } => {
                    vec![host.change_field(&org, FieldChange::Remove, &object, &field).await?]
                }
                FieldsCommand::Resync { org, object, field } => {
                    vec![host.change_field(&org, FieldChange::Resync, &object, &field).await?]
                }
            };
            for catalog in catalogs {
                writeln!(stdout, "{}:", catalog.object)?;
                for field in catalog.fields {
                    let synced = if field.synced { "synced" } else { "not synced" };
                    writeln!(
                        stdout,
                        "  {:<40} {:<22} {synced:<10} {}",
                        field.descriptor.name,
                        text::field_type(field.descriptor.type_),
                        text::field_kind(field.kind)
                    )?;
                }
            }
        }
        Command::Conversations { command } => {
            let host = open(&cli.config)?;
            match command {
                ConversationsCommand::List { org } => {
                    for c in host.list_conversations(&org).await? {
                        writeln!(
                            stdout,
                            "{}  {:<10} {:<44} {:<9} {}{}",
                            c.case_id,
                            c.case_number,
                            c.subject.unwrap_or_default(),
                            text::count(c.parts.into(), "part", "parts"),
                            text::resolution(c.resolution),
                            if c.handed_off { " (handed off)" } else { "" }
                        )?;
                    }
                }
                ConversationsCommand::Show { org, case_id } => match host.conversation(&org, &case_id).await? {
                    None => anyhow::bail!("no conversation for case {case_id}; `conversations list` shows them"),
                    Some(c) => {
                        writeln!(
                            stdout,
                            "case {} {}: {}",
                            c.case_number.as_deref().unwrap_or("-"),
                            c.subject.unwrap_or_default(),
                            text::resolution(c.resolution)
                        )?;
                        for part in c.parts {
                            let name = part.author_name.map(|name| format!(" {name}")).unwrap_or_default();
                            writeln!(stdout, "--- {}{name}, {}", text::author(part.author), text::source(part.source))?;
                            writeln!(stdout, "{}", part.text)?;
                            for file in part.attachments {
                                writeln!(
                                    stdout,
                                    "  [{}] {} {}",
                                    if file.inline { "image" } else { "file" },
                                    file.name,
                                    file.content_path
                                )?;
                            }
                        }
                    }
                },
            }
        }
        Command::Errors { command } => match command {
            ErrorsCommand::List { org } => {
                let host = open(&cli.config)?;
                for e in host.list_errors(&org).await? {
                    writeln!(
                        stdout,
                        "{}  {} {} → {} {}: {}",
                        e.id,
                        e.operation,
                        e.record_id.unwrap_or_default(),
                        e.reason.status,
                        e.reason.code,
                        e.reason.message
                    )?;
                }
            }
            ErrorsCommand::Retry { org, error_id, wait_seconds } => {
                let host = open_waiting(&cli.config, wait_seconds)?;
                host.retry_error(&org, &error_id).await?;
                writeln!(stdout, "{error_id} will be retried in the next cycle")?;
            }
        },
        Command::Status { json } => {
            let host = open(&cli.config)?;
            let status = casebridge::status::collect(&host).await?;
            if json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&status)?)?;
            } else {
                write!(stdout, "{status}")?;
            }
        }
        Command::Emulator { listen, seed } => {
            let seed = match seed {
                SeedArg::Demo => casebridge_emulator::Seed::Demo,
                SeedArg::Empty => casebridge_emulator::Seed::Empty,
            };
            casebridge_emulator::run_cli(listen, seed).await?;
        }
        Command::Mappings { command: MappingsCommand::Check { org } } => {
            let host = open(&cli.config)?;
            let orgs: Vec<String> = match org {
                Some(org) => vec![org],
                None => host.config().orgs.iter().filter(|o| !o.mappings.is_empty()).map(|o| o.name.clone()).collect(),
            };
            let mut bad = 0;
            for org in &orgs {
                let problems = host.check_mappings(org).await?;
                if problems.is_empty() {
                    writeln!(stdout, "{org}: every mapping works")?;
                }
                for problem in &problems {
                    bad += 1;
                    writeln!(stdout, "{org}: {}", describe_problem(problem))?;
                }
            }
            if bad > 0 {
                anyhow::bail!("{bad} mapping(s) cannot work; fix them in the configuration");
            }
        }
        Command::Api { command: ApiCommand::Token { command } } => {
            let host = open(&cli.config)?;
            let store = host.store();
            let now = chrono::Utc::now().timestamp_millis();
            match command {
                TokenCommand::Create { name } => {
                    let token = casebridge::platform::api::new_token();
                    if !store.create_api_token(&name, &casebridge::platform::api::token_hash(&token), now)? {
                        anyhow::bail!("a token named `{name}` exists already; revoke it or choose another name");
                    }
                    writeln!(stdout, "{token}")?;
                    eprintln!("token `{name}` created; it is shown only this once: keep it in your platform's secrets");
                }
                TokenCommand::List => {
                    for token in store.api_tokens()? {
                        let when = |ms: i64| {
                            chrono::DateTime::from_timestamp_millis(ms)
                                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                        };
                        let state = match token.revoked_at.and_then(when) {
                            Some(at) => format!("revoked {at}"),
                            None => "live".into(),
                        };
                        writeln!(
                            stdout,
                            "{:<24} created {}  {state}",
                            token.name,
                            when(token.created_at).unwrap_or_default()
                        )?;
                    }
                }
                TokenCommand::Revoke { name } => {
                    if !store.revoke_api_token(&name, now)? {
                        anyhow::bail!("there is no live token named `{name}`; `casebridge api token list` shows them");
                    }
                    writeln!(stdout, "token `{name}` revoked")?;
                }
            }
        }
        Command::Crm { command } => {
            let host = open_waiting(&cli.config, DEFAULT_LEASE_WAIT.as_secs())?;
            casebridge::platform::crm_cli::run(&host, command, stdout).await?;
        }
        Command::Platform { command } => {
            let host = open(&cli.config)?;
            casebridge::platform::cli::run(host.platform(), &host.config().orgs, command.into(), stdout)?;
        }
        Command::Console { command: ConsoleCommand::Password { admin } } => {
            let host = open(&cli.config)?;
            eprintln!("password for the console admin `{admin}` (one line):");
            let password = std::io::stdin().lines().next().context("no password on stdin")??;
            casebridge::console::set_password(&host, &admin, password.trim_end_matches(['\r', '\n']))?;
            writeln!(
                stdout,
                "the console password of `{admin}` is set; open http://{}/console while `casebridge run` runs",
                host.config().api.listen
            )?;
        }
        Command::Component { output } => {
            std::fs::write(&output, casebridge::GUEST_COMPONENT)
                .with_context(|| format!("cannot write {}", output.display()))?;
            writeln!(stdout, "wrote {} ({} bytes)", output.display(), casebridge::GUEST_COMPONENT.len())?;
        }
    }
    Ok(())
}
