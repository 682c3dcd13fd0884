//! `casebridge`: the command line of the host.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "casebridge", version, about = "An AI agent on Salesforce Cases, and two-way CRM sync, as a sandboxed component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local Salesforce org (the REST API emulator) until Ctrl-C.
    ///
    /// Its first line on stdout is one JSON object with the URL and credentials.
    Emulator {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Which data the org starts with.
        #[arg(long, value_enum, default_value_t = SeedArg::Demo)]
        seed: SeedArg,
    },
    /// Write the embedded connector component (`.wasm`) to a file, for another host.
    Component {
        /// Where to write it.
        #[arg(long, short, default_value = "casebridge_connector.wasm")]
        output: PathBuf,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Emulator { listen, seed } => {
            let seed = match seed {
                SeedArg::Demo => casebridge_emulator::Seed::Demo,
                SeedArg::Empty => casebridge_emulator::Seed::Empty,
            };
            tokio::runtime::Runtime::new()?.block_on(casebridge_emulator::run_cli(listen, seed))
        }
        Command::Component { output } => {
            std::fs::write(&output, casebridge::GUEST_COMPONENT)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), casebridge::GUEST_COMPONENT.len());
            Ok(())
        }
    }
}
