//! `casebridge`: the command line of the host.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use casebridge::config::{Config, DEFAULT_CONFIG_FILE};
use casebridge::host::{FieldChange, Host, report_json};
use casebridge::secrets::{OrgSecret, Secret};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "casebridge",
    version,
    about = "An AI agent on Salesforce Cases, run as a sandboxed WebAssembly component"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, env = "CASEBRIDGE_CONFIG", default_value = DEFAULT_CONFIG_FILE)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole story against a local Salesforce org, with no set-up.
    Demo {
        /// Where the demo keeps its database and outbox (default: a new temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Cycle every configured org on its interval until Ctrl-C.
    Run,
    /// Run one cycle now, for one org or all.
    Cycle {
        #[arg(long)]
        org: Option<String>,
    },
    /// Store an org's connected-app secret and refresh token, encrypted (read from stdin, one per line).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Discover users and queues to choose the agent user and the hand-off target.
    Setup {
        #[arg(value_enum)]
        what: SetupWhat,
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
    /// Per org: last cycle, watermark, API calls today, open errors.
    Status,
    /// Run a local Salesforce org (the REST API emulator) until Ctrl-C; its first
    /// stdout line is one JSON object with the URL and credentials.
    Emulator {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long, value_enum, default_value_t = SeedArg::Demo)]
        seed: SeedArg,
    },
    /// Write the embedded connector component (`.wasm`) to a file, for another host.
    Component {
        #[arg(long, short, default_value = "casebridge_connector.wasm")]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Read the client secret, then the refresh token, from stdin and store them encrypted.
    Connect { org: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum SetupWhat {
    Users,
    Queues,
}

#[derive(Subcommand)]
enum FieldsCommand {
    List {
        #[arg(long)]
        org: String,
    },
    Add {
        #[arg(long)]
        org: String,
        object: String,
        field: String,
    },
    Remove {
        #[arg(long)]
        org: String,
        object: String,
        field: String,
    },
    /// Re-read a list field's allowed values.
    Resync {
        #[arg(long)]
        org: String,
        object: String,
        field: String,
    },
}

#[derive(Subcommand)]
enum ConversationsCommand {
    List {
        #[arg(long)]
        org: String,
    },
    Show {
        #[arg(long)]
        org: String,
        case_id: String,
    },
}

#[derive(Subcommand)]
enum ErrorsCommand {
    List {
        #[arg(long)]
        org: String,
    },
    Retry {
        #[arg(long)]
        org: String,
        error_id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SeedArg {
    /// Users, a queue, accounts, contacts and open cases for the demo.
    Demo,
    /// Only the integration user.
    Empty,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let quiet_default = matches!(cli.command, Command::Demo { .. } | Command::Emulator { .. });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if quiet_default { "warn" } else { "info" })),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

fn open(config: &std::path::Path) -> anyhow::Result<Host> {
    let config = Config::load(config)?;
    Host::open(config)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = &mut std::io::stdout();
    match cli.command {
        Command::Demo { dir } => {
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("casebridge-demo-{}", std::process::id())));
            casebridge::demo::run(&dir, stdout).await?;
        }
        Command::Run => {
            let host = Arc::new(open(&cli.config)?);
            tracing::info!(orgs = host.config().orgs.len(), "running; Ctrl-C stops");
            let stats = casebridge::scheduler::run(host, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
            tracing::info!(?stats, "stopped");
        }
        Command::Cycle { org } => {
            let host = open(&cli.config)?;
            let orgs: Vec<String> = match org {
                Some(org) => vec![org],
                None => host.config().orgs.iter().map(|o| o.name.clone()).collect(),
            };
            let mut failed = false;
            for org in orgs {
                match host.cycle(&org).await {
                    Ok(report) => writeln!(stdout, "{org}: {}", report_json(&report))?,
                    Err(error) => {
                        failed = true;
                        writeln!(stdout, "{org}: {error}")?;
                    }
                }
            }
            if failed {
                anyhow::bail!("at least one cycle failed; `casebridge status` shows the orgs");
            }
        }
        Command::Org { command: OrgCommand::Connect { org } } => {
            let host = open(&cli.config)?;
            let config = host
                .config()
                .org(&org)
                .with_context(|| format!("there is no org named `{org}` in the configuration"))?;
            let mut lines = std::io::stdin().lines();
            eprintln!("client secret of the connected app for `{org}` (one line):");
            let secret = lines.next().context("no client secret on stdin")??;
            eprintln!("refresh token for `{org}` (one line):");
            let token = lines.next().context("no refresh token on stdin")??;
            host.vault().put(&config.name, OrgSecret::ClientSecret, &Secret::new(secret.trim().to_string()))?;
            host.vault().put(&config.name, OrgSecret::RefreshToken, &Secret::new(token.trim().to_string()))?;
            writeln!(stdout, "stored the credentials of `{org}`, encrypted")?;
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
        Command::Fields { command } => {
            let host = open(&cli.config)?;
            let catalogs = match command {
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
                    let lock = if matches!(field.kind, casebridge::runtime::bindings::describe::FieldKind::System) {
                        "locked"
                    } else {
                        ""
                    };
                    let synced = if field.synced { "synced" } else { "removed" };
                    writeln!(
                        stdout,
                        "  {:<40} {:<14?} {synced:<8} {lock}",
                        field.descriptor.name, field.descriptor.type_
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
                            "{}  {:<10} {:<44} parts={:<3} {:?}{}",
                            c.case_id,
                            c.case_number,
                            c.subject.unwrap_or_default(),
                            c.parts,
                            c.resolution,
                            if c.handed_off { " (handed off)" } else { "" }
                        )?;
                    }
                }
                ConversationsCommand::Show { org, case_id } => match host.conversation(&org, &case_id).await? {
                    None => anyhow::bail!("no conversation for case {case_id}; `conversations list` shows them"),
                    Some(c) => {
                        writeln!(
                            stdout,
                            "case {} {}: {:?}",
                            c.case_number,
                            c.subject.unwrap_or_default(),
                            c.resolution
                        )?;
                        for part in c.parts {
                            writeln!(
                                stdout,
                                "--- {:?} {} ({:?})",
                                part.author,
                                part.author_name.unwrap_or_default(),
                                part.source
                            )?;
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
        Command::Errors { command } => {
            let host = open(&cli.config)?;
            match command {
                ErrorsCommand::List { org } => {
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
                ErrorsCommand::Retry { org, error_id } => {
                    host.retry_error(&org, &error_id).await?;
                    writeln!(stdout, "{error_id} will be retried in the next cycle")?;
                }
            }
        }
        Command::Status => {
            let host = open(&cli.config)?;
            let today = chrono::Utc::now().date_naive();
            for org in &host.config().orgs {
                let status = host.store().org_status(&org.name)?;
                let errors =
                    host.list_errors(&org.name).await.map(|e| e.len().to_string()).unwrap_or_else(|e| e.to_string());
                let watermark = casebridge::runtime::KeyValueStore::get(host.store().as_ref(), &org.name, "watermark")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "none".into());
                let line = serde_json::json!({
                    "org": org.name,
                    "last_cycle_started": status.as_ref().and_then(|s| s.last_cycle_started_at).map(|t| t.to_rfc3339()),
                    "last_cycle_finished": status.as_ref().and_then(|s| s.last_cycle_finished_at).map(|t| t.to_rfc3339()),
                    "last_outcome": status.as_ref().and_then(|s| s.last_outcome.as_ref()).map(|o| format!("{o:?}")),
                    "consecutive_failures": status.as_ref().map_or(0, |s| s.consecutive_failures),
                    "api_calls_today": status.as_ref().map_or(0, |s| s.api_calls_on(today)),
                    "watermark": serde_json::from_str::<serde_json::Value>(&watermark).unwrap_or(serde_json::Value::Null),
                    "open_errors": errors,
                });
                writeln!(stdout, "{}", pretty(&line))?;
            }
        }
        Command::Emulator { listen, seed } => {
            let seed = match seed {
                SeedArg::Demo => casebridge_emulator::Seed::Demo,
                SeedArg::Empty => casebridge_emulator::Seed::Empty,
            };
            casebridge_emulator::run_cli(listen, seed).await?;
        }
        Command::Component { output } => {
            std::fs::write(&output, casebridge::GUEST_COMPONENT)
                .with_context(|| format!("cannot write {}", output.display()))?;
            writeln!(stdout, "wrote {} ({} bytes)", output.display(), casebridge::GUEST_COMPONENT.len())?;
        }
    }
    Ok(())
}
