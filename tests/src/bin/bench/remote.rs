//! The emulated org in its own process, so the CPU it spends answering the
//! connector is not counted as the host's.
//!
//! The bench starts itself again as `bench __emulator`: that process serves a
//! demo org over HTTP like `casebridge emulator`, prints one JSON line (URL,
//! credentials, seeded ids) and then answers requests on stdin, one JSON
//! object a line: writes as a customer or a teammate, queries, the call
//! counters, moving the clock, its own CPU time. These go straight to the
//! org's records, like `TestOrg::create_as`, so they are never counted as API
//! calls.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail};
use casebridge_emulator::db::{QueryContext, WriteContext};
use casebridge_emulator::{Credentials, EmulatorOptions, RunningEmulator, Seed};
use serde_json::{Value, json};

use crate::measure;

/// The hidden argument that makes the bench serve the org instead.
pub const CHILD_ARG: &str = "__emulator";

/// Serves the org until stdin closes (the parent is gone).
pub fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The daily allowance would stop a long run; the counters still count every call.
    let options = EmulatorOptions { seed: Seed::Demo, daily_api_limit: 1_000_000_000, ..EmulatorOptions::default() };
    let emulator = runtime.block_on(casebridge_emulator::start(options))?;
    let hello = json!({"credentials": emulator.credentials(), "seeded": emulator.seeded()});
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{hello}")?;
    stdout.flush()?;
    for line in std::io::stdin().lock().lines() {
        let request: Value = serde_json::from_str(&line?).context("a request is one JSON object a line")?;
        let answer = answer(&emulator, &request).unwrap_or_else(|e| json!({"error": format!("{e:#}")}));
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    drop(emulator);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn answer(emulator: &RunningEmulator, request: &Value) -> anyhow::Result<Value> {
    let text = |key: &str| request[key].as_str().with_context(|| format!("`{key}` is missing"));
    let fields = || request["fields"].as_object().context("`fields` is not an object");
    let errors = |errors: Vec<casebridge_emulator::error::SfError>| {
        anyhow::anyhow!(
            errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect::<Vec<_>>().join("; ")
        )
    };
    Ok(match text("op")? {
        "create" => {
            let ctx = WriteContext { now: emulator.now(), user_id: text("user")?.to_string() };
            let id = emulator.with_database(|db| db.create(text("object")?, fields()?, &ctx).map_err(errors))?;
            json!({"id": id})
        }
        "update" => {
            let ctx = WriteContext { now: emulator.now(), user_id: text("user")?.to_string() };
            emulator.with_database(|db| db.update(text("object")?, text("id")?, fields()?, &ctx).map_err(errors))?;
            json!({"ok": true})
        }
        "query" => {
            let ctx = QueryContext {
                now: emulator.now(),
                api_version: "62.0".into(),
                user_id: emulator.seeded().integration_user_id.clone(),
            };
            let result =
                emulator.with_database(|db| db.query(text("soql")?, false, &ctx).map_err(|e| errors(vec![e])))?;
            json!({"records": result.records})
        }
        "counters" => serde_json::to_value(emulator.counters())?,
        "advance" => {
            emulator.advance_clock(Duration::from_secs(request["seconds"].as_u64().context("`seconds`")?));
            json!({"ok": true})
        }
        "cpu" => json!({"cpu_ns": measure::process_cpu().as_nanos() as u64}),
        "streaming" => {
            // Optionally raise the concurrent client limit (every bench org
            // streams this one emulated org); answers the CometD counters.
            if let Some(max_clients) = request["max_clients"].as_u64() {
                let settings = casebridge_emulator::StreamingSettings {
                    max_clients: max_clients as usize,
                    ..emulator.streaming_settings()
                };
                emulator.set_streaming_settings(settings);
            }
            serde_json::to_value(emulator.counters().streaming)?
        }
        "bulk" => {
            let options: casebridge_emulator::BulkSeed = serde_json::from_value(request["options"].clone())?;
            let made = emulator.bulk_seed(&options)?;
            // Counts only: 100,000 Ids would make a long line for nothing.
            json!({"cases": made.case_ids.len(), "customer_last": made.customer_last_case_ids.len(),
                   "feed_items": made.feed_items, "case_comments": made.case_comments})
        }
        other => bail!("unknown op `{other}`"),
    })
}

/// API calls and token requests the org has counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub calls: u64,
    pub tokens: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, rhs: Counts) -> Counts {
        Counts { calls: self.calls - rhs.calls, tokens: self.tokens - rhs.tokens }
    }
}

/// The org in the other process, seen from the bench.
pub struct RemoteOrg {
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    pub credentials: Credentials,
    pub seeded: Value,
}

impl RemoteOrg {
    /// Starts the org's process and waits until it serves.
    pub fn spawn() -> anyhow::Result<RemoteOrg> {
        let exe = std::env::current_exe().context("cannot find the bench executable to start the emulator")?;
        let mut child = Command::new(exe)
            .arg(CHILD_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the emulator process")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut hello = String::new();
        stdout.read_line(&mut hello)?;
        let hello: Value = serde_json::from_str(&hello).context("the emulator process did not start")?;
        let credentials: Credentials = serde_json::from_value(hello["credentials"].clone())?;
        Ok(RemoteOrg { child, io: Mutex::new((stdin, stdout)), credentials, seeded: hello["seeded"].clone() })
    }

    fn call(&self, request: Value) -> anyhow::Result<Value> {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = &mut *io;
        writeln!(stdin, "{request}")?;
        stdin.flush()?;
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let answer: Value = serde_json::from_str(&line).context("the emulator process stopped")?;
        if let Some(error) = answer["error"].as_str() {
            bail!("emulator: {error} (request {request})");
        }
        Ok(answer)
    }

    pub fn seeded_id(&self, key: &str) -> String {
        self.seeded[key].as_str().unwrap_or_default().to_string()
    }

    pub fn seeded_ids(&self, key: &str) -> Vec<String> {
        self.seeded[key]
            .as_array()
            .map_or_else(Vec::new, |ids| ids.iter().filter_map(|id| id.as_str().map(str::to_string)).collect())
    }

    /// The Id of the user with this username.
    pub fn user_id(&self, username: &str) -> anyhow::Result<String> {
        let users = self.query(&format!("SELECT Id FROM User WHERE Username = '{username}'"))?;
        users.first().and_then(|u| u["Id"].as_str()).map(str::to_string).with_context(|| format!("no user {username}"))
    }

    /// Creates a record as `user_id`; returns its Id.
    pub fn create_as(&self, user_id: &str, object: &str, fields: Value) -> anyhow::Result<String> {
        let answer = self.call(json!({"op": "create", "user": user_id, "object": object, "fields": fields}))?;
        answer["id"].as_str().map(str::to_string).context("no id")
    }

    pub fn update_as(&self, user_id: &str, object: &str, id: &str, fields: Value) -> anyhow::Result<()> {
        self.call(json!({"op": "update", "user": user_id, "object": object, "id": id, "fields": fields})).map(drop)
    }

    /// A SOQL query as the integration user.
    pub fn query(&self, soql: &str) -> anyhow::Result<Vec<Value>> {
        let answer = self.call(json!({"op": "query", "soql": soql}))?;
        Ok(answer["records"].as_array().cloned().unwrap_or_default())
    }

    pub fn counts(&self) -> anyhow::Result<Counts> {
        let counters = self.call(json!({"op": "counters"}))?;
        Ok(Counts {
            calls: counters["total"].as_u64().unwrap_or(0),
            tokens: counters["token_requests"].as_u64().unwrap_or(0),
        })
    }

    /// The counters by endpoint (`"POST /composite"` → calls).
    pub fn endpoints(&self) -> anyhow::Result<Value> {
        Ok(self.call(json!({"op": "counters"}))?["by_endpoint"].clone())
    }

    /// Moves the org's clock forward (record dates, watermarks, token expiry).
    pub fn advance_clock(&self, seconds: u64) -> anyhow::Result<()> {
        self.call(json!({"op": "advance", "seconds": seconds})).map(drop)
    }

    /// Generates cases with their feeds ([`casebridge_emulator::BulkSeed`]);
    /// returns what was made (counts).
    pub fn bulk_seed(&self, options: &casebridge_emulator::BulkSeed) -> anyhow::Result<Value> {
        self.call(json!({"op": "bulk", "options": options}))
    }

    /// The org's CometD counters (handshakes, connects, subscribes, events delivered).
    pub fn streaming(&self) -> anyhow::Result<Value> {
        self.call(json!({"op": "streaming"}))
    }

    /// Lets this many CometD clients stream the org at once (Salesforce: 20 or more by edition).
    pub fn allow_streaming_clients(&self, max_clients: usize) -> anyhow::Result<()> {
        self.call(json!({"op": "streaming", "max_clients": max_clients})).map(drop)
    }

    /// CPU time the emulator process has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        Ok(Duration::from_nanos(self.call(json!({"op": "cpu"}))?["cpu_ns"].as_u64().unwrap_or(0)))
    }
}

impl Drop for RemoteOrg {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
