//! casebridge's benchmarks: every figure of the README's table, measured.
//!
//! ```text
//! cargo run --release -p casebridge-tests --bin bench             # the full run (~10 min on 2 cores)
//! cargo run --release -p casebridge-tests --bin bench -- --quick  # a smaller, faster run
//! cargo run --release -p casebridge-tests --bin bench -- --only calls,ratio --runs 5
//! ```
//!
//! 1. API calls per updated case and per idle cycle (the emulator's counters);
//! 2. cycle cost: host CPU time per idle cycle and per updated case, and the
//!    time to instantiate the component;
//! 3. the component against the same code compiled natively;
//! 4. orgs per host: CPU share, peak memory, late and missed cycles;
//! 5. latency from a customer's message to the agent's reply;
//! 6. history: a first poll of up to 100,000 cases with feeds, and the idle
//!    cycle at 10 to 100,000 known cases;
//! 7. OAuth token requests over an idle day;
//! 8. streaming mode (E4): latency per kind of customer message, API calls
//!    of an idle streaming org, and many idle streaming orgs on one host.
//!
//! Figure 4 runs once more with another process writing and fsyncing to the
//! database's disk.
//!
//! Each measurement runs in a fresh process (`bench __run <section>`), so its
//! CPU time and peak memory are its own; the emulated org runs in yet another
//! process (`bench __emulator`), so the CPU it spends answering is not counted
//! as the host's. Figures are medians over `--runs` runs where a section
//! repeats, and medians over samples where it says so. See BENCHMARKS.md.

// A binary's root looks for modules beside it; these live in `bench/`.
#[path = "bench/calls.rs"]
mod calls;
#[path = "bench/cycle.rs"]
mod cycle;
#[path = "bench/history.rs"]
mod history;
#[path = "bench/hosts.rs"]
mod hosts;
#[path = "bench/instantiate.rs"]
mod instantiate;
#[path = "bench/latency.rs"]
mod latency;
#[path = "bench/measure.rs"]
mod measure;
#[path = "bench/orgs.rs"]
mod orgs;
#[path = "bench/ratio.rs"]
mod ratio;
#[path = "bench/remote.rs"]
mod remote;
#[path = "bench/setup.rs"]
mod setup;
#[path = "bench/streaming.rs"]
mod streaming;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use measure::{median, percentile};

/// The hidden argument that runs one measurement in this process.
const RUN_ARG: &str = "__run";

/// The sections, in the order they run and print.
const SECTIONS: [&str; 10] =
    ["calls", "instantiate", "ratio", "orgs", "latency", "history", "tokens", "streaming", "streams", "hosts"];

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    runs: usize,
    only: Vec<String>,
    records: usize,
    orgs: Vec<usize>,
    orgs_interval: u64,
    /// Org counts to run again with another process fsyncing to the disk.
    orgs_contended: Vec<usize>,
    /// Known cases for the history figures.
    history: Vec<usize>,
    latency_interval: f64,
    latency_samples: usize,
    /// Messages of each kind in the streaming latency figure.
    streaming_samples: usize,
    /// Idle streaming orgs on one host.
    streams: Vec<usize>,
    /// Idle orgs shared by one, two and three hosts on PostgreSQL.
    hosts_orgs: usize,
    json: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = Options {
            quick,
            runs: if quick { 1 } else { 3 },
            only: SECTIONS.iter().map(|s| s.to_string()).collect(),
            records: if quick { 10_000 } else { 100_000 },
            orgs: if quick { vec![1_000] } else { vec![1_000, 10_000] },
            orgs_interval: if quick { 20 } else { 60 },
            orgs_contended: if quick { vec![1_000] } else { vec![10_000] },
            history: if quick { vec![10, 1_000, 10_000] } else { vec![10, 1_000, 10_000, 100_000] },
            latency_interval: 2.0,
            latency_samples: if quick { 50 } else { 100 },
            streaming_samples: if quick { 20 } else { 50 },
            streams: if quick { vec![200] } else { vec![1_000] },
            hosts_orgs: if quick { 300 } else { 2_000 },
            json: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => {}
                "--json" => options.json = true,
                "--runs" => options.runs = value()?.parse()?,
                "--records" => options.records = value()?.parse()?,
                "--orgs" => options.orgs = list(value()?)?,
                "--orgs-interval" => options.orgs_interval = value()?.parse()?,
                "--orgs-contended" => options.orgs_contended = list(value()?)?,
                "--history" => options.history = list(value()?)?,
                "--latency-interval" => options.latency_interval = value()?.parse()?,
                "--latency-samples" => options.latency_samples = value()?.parse()?,
                "--streaming-samples" => options.streaming_samples = value()?.parse()?,
                "--streams" => options.streams = list(value()?)?,
                "--hosts-orgs" => options.hosts_orgs = value()?.parse()?,
                "--only" => {
                    options.only = value()?.split(',').map(|s| s.trim().to_string()).collect();
                    if let Some(unknown) = options.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                        bail!("unknown section `{unknown}`; the sections are {}", SECTIONS.join(", "));
                    }
                }
                "-h" | "--help" => {
                    println!(
                        "usage: bench [--quick] [--runs N] [--only {}] [--records N] [--orgs N,N] \
                         [--orgs-interval S] [--orgs-contended N,N] [--history N,N] [--latency-interval S] \
                         [--latency-samples N] [--streaming-samples N] [--streams N,N] [--json]",
                        SECTIONS.join(",")
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}`; try --help"),
            }
        }
        options.runs = options.runs.max(1);
        Ok(options)
    }

    fn runs(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
}

/// `1000,10000` as numbers; an empty value is an empty list.
fn list(value: &str) -> anyhow::Result<Vec<usize>> {
    value.split(',').filter(|n| !n.trim().is_empty()).map(|n| Ok(n.trim().parse()?)).collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(remote::CHILD_ARG) => remote::serve(),
        Some(orgs::DISK_WRITER_ARG) => {
            orgs::write_to_disk_until_stdin_closes(std::path::Path::new(args.get(1).context("which folder?")?))
        }
        Some(RUN_ARG) => {
            let section = args.get(1).context("which section?")?;
            let params: Value = serde_json::from_str(args.get(2).map_or("{}", String::as_str))?;
            let result = run_section(section, &params)?;
            println!("{result}");
            Ok(())
        }
        _ => orchestrate(Options::parse(&args)?),
    }
}

// ---- one measurement, in its own process -----------------------------------------------------

fn number(params: &Value, key: &str) -> anyhow::Result<u64> {
    params[key].as_u64().with_context(|| format!("parameter `{key}` is missing"))
}

fn seconds(params: &Value, key: &str) -> anyhow::Result<Duration> {
    Ok(Duration::from_secs_f64(params[key].as_f64().with_context(|| format!("parameter `{key}` is missing"))?))
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // What `casebridge run` uses: a worker thread per core.
    Ok(tokio::runtime::Runtime::new()?)
}

fn run_section(section: &str, params: &Value) -> anyhow::Result<Value> {
    match section {
        "calls" => {
            let remote = remote::RemoteOrg::spawn()?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let runtime = tokio_runtime()?;
            let params = calls::Params {
                seed: number(params, "seed")?,
                idle_cycles: number(params, "idle_cycles")? as usize,
                mixed_updates: number(params, "mixed_updates")? as usize,
                max_updates_per_cycle: number(params, "max_updates_per_cycle")? as usize,
                single_updates: number(params, "single_updates")? as usize,
            };
            runtime.block_on(async {
                let settings = setup::OrgSettings {
                    poll_interval_seconds: 60,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: None,
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &["bench".to_string()], &settings)?;
                calls::run(&params, &remote, &bench.host, "bench").await
            })
        }
        "instantiate" => tokio_runtime()?.block_on(instantiate::run(number(params, "count")? as usize)),
        "ratio" => tokio_runtime()?.block_on(async {
            let mut result = ratio::run(number(params, "records")? as usize, number(params, "seed")?).await?;
            result["cycle"] = cycle::run(number(params, "cycle_rounds")? as usize).await?;
            Ok(result)
        }),
        "orgs" => {
            let remote = Arc::new(remote::RemoteOrg::spawn()?);
            orgs::make_org_idle(&remote)?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let runtime = tokio_runtime()?;
            let interval = seconds(params, "interval_s")?;
            let run = orgs::Params {
                interval,
                warm_up_min: seconds(params, "warm_up_min_s")?,
                warm_up_max: seconds(params, "warm_up_max_s")?,
                window: seconds(params, "window_s")?,
            };
            let names = setup::org_names(number(params, "orgs")? as usize);
            runtime.block_on(async {
                let settings = setup::OrgSettings {
                    poll_interval_seconds: interval.as_secs() as u32,
                    max_concurrent_cycles: number(params, "max_concurrent_cycles")? as u32,
                    streaming_safety_poll_seconds: None,
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &names, &settings)?;
                let writer =
                    params["disk_writer"].as_bool().unwrap_or(false).then(|| orgs::DiskWriter::start(bench.dir()));
                let writer = writer.transpose()?;
                let mut result = orgs::run(&run, remote.clone(), &bench).await?;
                if let Some(writer) = writer {
                    result["disk_writer"] = writer.finish()?;
                }
                Ok(result)
            })
        }
        "history" => {
            let remote = remote::RemoteOrg::spawn()?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let run = history::Params {
                known: number(params, "known")? as usize,
                idle_cycles: number(params, "idle_cycles")? as usize,
            };
            tokio_runtime()?.block_on(async {
                let settings = setup::OrgSettings {
                    poll_interval_seconds: 60,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: None,
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &["history".to_string()], &settings)?;
                history::run(&run, &remote, &bench.host, "history").await
            })
        }
        "tokens" => {
            let remote = remote::RemoteOrg::spawn()?;
            orgs::make_org_idle(&remote)?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            tokio_runtime()?.block_on(async {
                let settings = setup::OrgSettings {
                    poll_interval_seconds: 60,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: None,
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &["tokens".to_string()], &settings)?;
                history::token_day(&remote, &bench.host, "tokens", number(params, "hours")?).await
            })
        }
        "latency" => {
            let remote = Arc::new(remote::RemoteOrg::spawn()?);
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let runtime = tokio_runtime()?;
            let interval = seconds(params, "interval_s")?;
            let run = latency::Params {
                interval,
                samples: number(params, "samples")? as usize,
                span_intervals: params["span_intervals"].as_f64().unwrap_or(10.0),
                seed: number(params, "seed")?,
            };
            runtime.block_on(async {
                // The configuration takes whole seconds; below one second the
                // scheduler would never wait, so round up.
                let settings = setup::OrgSettings {
                    poll_interval_seconds: interval.as_secs_f64().ceil().max(1.0) as u32,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: None,
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &["latency".to_string()], &settings)?;
                latency::run(&run, remote.clone(), &bench).await
            })
        }
        "streaming" => {
            let remote = Arc::new(remote::RemoteOrg::spawn()?);
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let runtime = tokio_runtime()?;
            let safety = number(params, "safety_poll_s")? as u32;
            let run = streaming::Params {
                samples: number(params, "samples")? as usize,
                span: seconds(params, "span_s")?,
                idle_window: seconds(params, "idle_window_s")?,
                seed: number(params, "seed")?,
            };
            runtime.block_on(async {
                // The poll interval is the safety poll's, so that only the
                // stream makes a change answered sooner.
                let settings = setup::OrgSettings {
                    poll_interval_seconds: safety,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: Some(safety),
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &["streaming".to_string()], &settings)?;
                streaming::latency(&run, remote.clone(), &bench).await
            })
        }
        "streams" => {
            let remote = Arc::new(remote::RemoteOrg::spawn()?);
            orgs::make_org_idle(&remote)?;
            let orgs = number(params, "orgs")? as usize;
            remote.allow_streaming_clients(orgs + 10)?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let runtime = tokio_runtime()?;
            runtime.block_on(async {
                let settings = setup::OrgSettings {
                    poll_interval_seconds: 60,
                    max_concurrent_cycles: 32,
                    streaming_safety_poll_seconds: Some(900),
                    database: None,
                    lease_ttl_seconds: None,
                };
                let bench = setup::build_host(&remote, &setup::org_names(orgs), &settings)?;
                streaming::idle_orgs(remote.clone(), &bench, seconds(params, "window_s")?).await
            })
        }
        "hosts" | "takeover" => {
            let server = std::env::var(hosts::SERVER_ENV)
                .with_context(|| format!("{} names no PostgreSQL server", hosts::SERVER_ENV))?;
            let remote = Arc::new(remote::RemoteOrg::spawn()?);
            orgs::make_org_idle(&remote)?;
            // SAFETY: no other thread exists yet; the runtime is built below.
            unsafe { setup::export_secrets(&remote) };
            let run = hosts::Params {
                hosts: number(params, "hosts")? as usize,
                orgs: number(params, "orgs")? as usize,
                interval: seconds(params, "interval_s")?,
                window: seconds(params, "window_s")?,
                lease_ttl_seconds: number(params, "lease_ttl_s")? as u32,
            };
            let runtime = tokio_runtime()?;
            if section == "hosts" {
                runtime.block_on(hosts::run(&run, remote, &server))
            } else {
                runtime.block_on(hosts::takeover(&run, remote, &server))
            }
        }
        other => bail!("unknown section `{other}`"),
    }
}

/// Runs one measurement in a fresh process and returns its result.
fn run_child(section: &str, params: Value) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    eprintln!("[bench] {section} {params} (load {})", measure::load_average());
    let output = Command::new(exe)
        .args([RUN_ARG, section, &params.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start a measurement process")?;
    if !output.status.success() {
        bail!("the {section} measurement failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the {section} measurement printed no result: {stdout}"))?;
    eprintln!("[bench] {section} done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(result)
}

// ---- the whole run and the table ---------------------------------------------------------------

fn orchestrate(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let load_before = measure::load_average();
    let mut results = serde_json::Map::new();
    if options.runs("calls") {
        let (mixed_updates, single_updates, idle_cycles) = if options.quick { (100, 50, 20) } else { (500, 300, 50) };
        let runs: Vec<Value> = (0..options.runs)
            .map(|run| {
                let params = json!({
                    "seed": run + 1, "idle_cycles": idle_cycles, "mixed_updates": mixed_updates,
                    "max_updates_per_cycle": 4, "single_updates": single_updates,
                });
                run_child("calls", params)
            })
            .collect::<anyhow::Result<_>>()?;
        results.insert("calls".into(), json!(runs));
    }
    if options.runs("instantiate") {
        results.insert("instantiate".into(), run_child("instantiate", json!({"count": 2000}))?);
    }
    if options.runs("ratio") {
        let runs: Vec<Value> = (0..options.runs)
            .map(|run| {
                let rounds = if options.quick { 5 } else { 20 };
                run_child(
                    "ratio",
                    json!({"records": options.records, "seed": 1000 * (run as u64 + 1), "cycle_rounds": rounds}),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        results.insert("ratio".into(), json!(runs));
    }
    if options.runs("orgs") {
        let quiet = options.orgs.iter().map(|&orgs| (orgs, false));
        let contended = options.orgs_contended.iter().map(|&orgs| (orgs, true));
        let runs: Vec<Value> = quiet
            .chain(contended)
            .map(|(orgs, disk_writer)| {
                let interval = options.orgs_interval;
                run_child(
                    "orgs",
                    json!({"orgs": orgs, "interval_s": interval, "warm_up_min_s": interval + 2,
                           "warm_up_max_s": 3 * interval, "window_s": interval, "max_concurrent_cycles": 32,
                           "disk_writer": disk_writer}),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        results.insert("orgs".into(), json!(runs));
    }
    if options.runs("history") {
        let runs: Vec<Value> = options
            .history
            .iter()
            .map(|&known| {
                run_child("history", json!({"known": known, "idle_cycles": if options.quick { 10 } else { 30 }}))
            })
            .collect::<anyhow::Result<_>>()?;
        results.insert("history".into(), json!(runs));
    }
    if options.runs("tokens") {
        results.insert("tokens".into(), run_child("tokens", json!({"hours": 24}))?);
    }
    if options.runs("latency") {
        let params = json!({"interval_s": options.latency_interval, "samples": options.latency_samples,
                            "span_intervals": 10.0, "seed": 7});
        results.insert("latency".into(), run_child("latency", params)?);
    }
    if options.runs("streaming") {
        let (span, idle) = if options.quick { (20.0, 60.0) } else { (60.0, 180.0) };
        let params = json!({"samples": options.streaming_samples, "span_s": span, "idle_window_s": idle,
                            "safety_poll_s": 30, "seed": 11});
        results.insert("streaming".into(), run_child("streaming", params)?);
    }
    if options.runs("streams") {
        let runs: Vec<Value> = options
            .streams
            .iter()
            .map(|&orgs| run_child("streams", json!({"orgs": orgs, "window_s": if options.quick { 60 } else { 120 }})))
            .collect::<anyhow::Result<_>>()?;
        results.insert("streams".into(), json!(runs));
    }
    if options.runs("hosts") {
        if std::env::var_os(hosts::SERVER_ENV).is_none() {
            eprintln!(
                "[bench] hosts skipped: {} names no PostgreSQL server (source tests/postgres/server.sh)",
                hosts::SERVER_ENV
            );
        } else {
            let interval = options.orgs_interval;
            let runs: Vec<Value> = (1..=3)
                .map(|hosts| {
                    run_child(
                        "hosts",
                        json!({"hosts": hosts, "orgs": options.hosts_orgs, "interval_s": interval,
                               "window_s": interval, "lease_ttl_s": 30}),
                    )
                })
                .collect::<anyhow::Result<_>>()?;
            results.insert("hosts".into(), json!(runs));
            let takeover = json!({"hosts": 1, "orgs": options.hosts_orgs / 4, "interval_s": interval,
                                  "window_s": 0, "lease_ttl_s": 30});
            results.insert("takeover".into(), run_child("takeover", takeover)?);
        }
    }
    let results = Value::Object(results);
    let command = std::iter::once("cargo run --release -p casebridge-tests --bin bench".to_string())
        .chain(
            (!std::env::args().skip(1).collect::<Vec<_>>().is_empty())
                .then(|| format!("-- {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "))),
        )
        .collect::<Vec<_>>()
        .join(" ");
    print!("{}", table(&options, &results, &command, &load_before, started.elapsed()));
    if options.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(())
}

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn n(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// The median over runs of `figure(run)`.
fn over_runs(runs: &[Value], figure: impl Fn(&Value) -> f64) -> f64 {
    median(&runs.iter().map(figure).collect::<Vec<_>>())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

struct Table {
    out: String,
}

impl Table {
    fn section(&mut self, title: &str) {
        let _ = writeln!(self.out, "\n{title}");
    }

    fn row(&mut self, figure: &str, value: String, target: &str) {
        let _ = writeln!(self.out, "  {figure:<62} {value:>12}  {target}");
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "    {text}");
    }
}

fn table(options: &Options, results: &Value, command: &str, load_before: &str, took: Duration) -> String {
    let mut t = Table { out: String::new() };
    let _ = writeln!(t.out, "casebridge benchmarks");
    let _ = writeln!(t.out, "  machine: {}", measure::machine());
    let _ = writeln!(
        t.out,
        "  load average (1 min): {load_before} before, {} after; took {:.1} min",
        measure::load_average(),
        took.as_secs_f64() / 60.0
    );
    let _ = writeln!(t.out, "  command: {command}");
    let _ = writeln!(t.out, "  runs per repeated figure: {} (medians over runs)", options.runs);

    if let Some(runs) = results["calls"].as_array() {
        calls_table(&mut t, runs);
    }
    if results["instantiate"].is_object() || results["calls"].is_array() {
        cost_table(&mut t, results);
    }
    if let Some(runs) = results["ratio"].as_array() {
        ratio_table(&mut t, runs);
    }
    if let Some(runs) = results["orgs"].as_array() {
        orgs_table(&mut t, runs);
    }
    if results["latency"].is_object() {
        latency_table(&mut t, &results["latency"]);
    }
    if let Some(runs) = results["history"].as_array() {
        history_table(&mut t, runs);
    }
    if results["tokens"].is_object() {
        tokens_table(&mut t, &results["tokens"]);
    }
    if results["streaming"].is_object() || results["streams"].is_array() {
        streaming_table(&mut t, &results["streaming"], results["streams"].as_array().map_or(&[], Vec::as_slice));
    }
    if let Some(runs) = results["hosts"].as_array() {
        hosts_table(&mut t, runs, &results["takeover"]);
    }
    t.out
}

/// Idle API calls per cycle in a run, over its three idle phases.
fn idle_calls_per_cycle(run: &Value) -> f64 {
    let phases = ["idle_a", "idle_b", "idle_c"];
    let calls: f64 = phases.iter().map(|p| f(&run[p]["calls"])).sum();
    let cycles: f64 = phases.iter().map(|p| f(&run[p]["cycles"])).sum();
    calls / cycles
}

fn idle_cpu_ms(run: &Value, phase: &str) -> f64 {
    f(&run[phase]["host_cpu_ms"]) / f(&run[phase]["cycles"])
}

fn marginal_calls(run: &Value, phase: &str) -> f64 {
    let p = &run[phase];
    (f(&p["calls"]) - idle_calls_per_cycle(run) * f(&p["cycles"])) / f(&p["updates"])
}

fn calls_table(t: &mut Table, runs: &[Value]) {
    let first = &runs[0];
    t.section(&format!(
        "1. Salesforce API calls (emulator counters; {} updates mixed, {} cycles of 1 update, per run)",
        first["mixed"]["updates"], first["single"]["updates"]
    ));
    let idle = over_runs(runs, idle_calls_per_cycle);
    t.row("calls per idle cycle", format!("{idle:.2}"), &format!("target <= 1     {}", verdict(idle <= 1.0)));
    t.row("calls per idle day, polled every 60 s (x 1,440 cycles)", format!("{:.0}", idle * 1440.0), "seed 001: 1,440");
    let mixed = over_runs(runs, |r| marginal_calls(r, "mixed"));
    let single = over_runs(runs, |r| marginal_calls(r, "single"));
    t.row(
        "calls per updated case, marginal, mixed (0-4 per cycle)",
        format!("{mixed:.2}"),
        &format!("target <= 1.5   {}", verdict(mixed <= 1.5)),
    );
    t.row(
        "calls per updated case, marginal, 1 update per cycle",
        format!("{single:.2}"),
        &format!("target <= 1.5   {} (worst case)", verdict(single <= 1.5)),
    );
    let plain = |phase: &'static str| move |r: &Value| f(&r[phase]["calls"]) / f(&r[phase]["updates"]);
    t.row("calls / updates, plain ratio, mixed", format!("{:.2}", over_runs(runs, plain("mixed"))), "seed 001: ~10");
    t.row("calls / updates, plain ratio, 1 update per cycle", format!("{:.2}", over_runs(runs, plain("single"))), "");
    for kind in calls::Kind::ALL {
        let values: Vec<f64> = runs
            .iter()
            .flat_map(|r| {
                let idle = idle_calls_per_cycle(r);
                r["single"]["calls_by_kind"][kind.key()]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |c| f(&c) - idle)
            })
            .collect();
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        t.row(
            &format!("  marginal calls, 1 update per cycle: {}", kind.key().replace('_', " ")),
            format!("{mean:.2}"),
            &format!("mean of {}", values.len()),
        );
    }
    let tokens = over_runs(runs, |r| f(&r["idle_a"]["token_requests"]) / f(&r["idle_a"]["cycles"]));
    t.row("OAuth token requests per idle cycle (not API calls)", format!("{tokens:.2}"), "");
    let mismatched: Vec<String> = runs
        .iter()
        .flat_map(|r| ["mixed", "single"].map(|p| (p, &r[p])))
        .filter(|(_, p)| p["replies"] != p["expected_replies"] || p["hand_offs"] != p["expected_hand_offs"])
        .map(|(name, p)| {
            format!(
                "{name}: {} replies for {} expected, {} hand-offs for {}",
                p["replies"], p["expected_replies"], p["hand_offs"], p["expected_hand_offs"]
            )
        })
        .collect();
    // A call refused with 401 because its access token ended counts against
    // the connector's budget but not the org's; a token request follows each.
    let reported_match = runs.iter().all(|r| {
        ["idle_a", "mixed", "idle_b", "single", "idle_c"]
            .iter()
            .all(|p| n(&r[p]["reported_calls"]) == n(&r[p]["calls"]) + n(&r[p]["token_requests"]))
    });
    t.note(&format!(
        "check: every update got its reply or hand-off: {}; the connector's own call count equals the emulator's\n    plus one refused call per token that ended (the org does not count those): {}",
        if mismatched.is_empty() { "yes".to_string() } else { format!("NO ({})", mismatched.join("; ")) },
        if reported_match { "yes" } else { "NO" }
    ));
    t.note("marginal = (calls in the update cycles - idle calls per cycle x those cycles) / updates; plain = calls / updates");
    t.note("updates: new case for the agent 30%, customer reply 40%, asks for a person 15%, confirms 15%; one per case per cycle");
    t.note(&format!("endpoints after the mixed phase (run 1): {}", first["endpoints_after_mixed"]));
}

fn cost_table(t: &mut Table, results: &Value) {
    t.section("2. Cycle cost (host process CPU time, getrusage; the emulator runs in another process)");
    if let Some(runs) = results["calls"].as_array() {
        let known = |phase: &str| runs[0][phase]["known_cases"].as_u64().unwrap_or(0);
        t.row(
            &format!("host CPU per idle cycle, {} known cases", known("idle_a")),
            format!("{:.2} ms", over_runs(runs, |r| idle_cpu_ms(r, "idle_a"))),
            "",
        );
        t.row(
            &format!("host CPU per idle cycle, {} known cases", known("idle_b")),
            format!("{:.2} ms", over_runs(runs, |r| idle_cpu_ms(r, "idle_b"))),
            "",
        );
        t.row(
            &format!("host CPU per idle cycle, {} known cases", known("idle_c")),
            format!("{:.2} ms", over_runs(runs, |r| idle_cpu_ms(r, "idle_c"))),
            "",
        );
        t.row(
            "host CPU per updated case, over baseline, mixed",
            format!("{:.2} ms", over_runs(runs, |r| f(&r["mixed"]["cpu_ms_per_update_over_baseline"]))),
            "",
        );
        t.row(
            "host CPU per updated case, over baseline, 1 update per cycle",
            format!("{:.2} ms", over_runs(runs, |r| f(&r["single"]["cpu_ms_per_update_over_baseline"]))),
            "",
        );
        t.row(
            "wall time of an idle cycle (median of cycles)",
            format!("{:.2} ms", over_runs(runs, |r| f(&r["idle_a"]["median_cycle_wall_ms"]))),
            "",
        );
        t.row(
            "emulator CPU per idle cycle (its own process)",
            format!("{:.2} ms", over_runs(runs, |r| f(&r["idle_a"]["emulator_cpu_ms"]) / f(&r["idle_a"]["cycles"]))),
            "",
        );
        t.note("over baseline = (CPU of each update cycle - CPU of an idle cycle run just before it, same known");
        t.note("cases) summed / updates; CPU counts only the cycles, not the bench's writes to the org");
    }
    let i = &results["instantiate"];
    if i.is_object() {
        t.row(
            &format!("instantiate the component for a cycle (median of {})", i["instances"]),
            format!("{:.1} us", f(&i["instantiate_median_us"])),
            &format!("p99 {:.1} us", f(&i["instantiate_p99_us"])),
        );
        t.row("  instantiate and drop (median)", format!("{:.1} us", f(&i["instantiate_and_drop_median_us"])), "");
        t.row(
            &format!("compile the component at host start ({} KiB)", i["component_bytes"].as_u64().unwrap_or(0) / 1024),
            format!("{:.0} ms", f(&i["compile_ms"])),
            "once per process",
        );
        t.row(
            "  load it from the compiled cache (Host::open)",
            format!("{:.1} ms", f(&i["cached_load_ms"])),
            "at later starts",
        );
    }
}

fn ratio_table(t: &mut Table, runs: &[Value]) {
    t.section(&format!(
        "3. Component vs native, {} records, same inputs, one run each (time in the calls only)",
        runs[0]["records"]
    ));
    let _ = writeln!(t.out, "  {:<40} {:>14} {:>14} {:>10}", "work", "component", "native", "ratio");
    let line = |t: &mut Table, label: &str, key: &str, per_call: bool| {
        let component =
            over_runs(runs, |r| f(&r[key][if per_call { "component_us_per_call" } else { "component_ms" }]));
        let native = over_runs(runs, |r| f(&r[key][if per_call { "native_us_per_call" } else { "native_ms" }]));
        let ratio = over_runs(runs, |r| f(&r[key]["ratio"]));
        let unit = if per_call { "us/call" } else { "ms" };
        let _ = writeln!(
            t.out,
            "  {label:<40} {:>14} {:>14} {:>9.2}x",
            format!("{component:.2} {unit}"),
            format!("{native:.2} {unit}"),
            ratio
        );
        ratio
    };
    line(t, &format!("mapping ({} records per call, catalog resource)", ratio::BATCH), "mapping", false);
    line(t, "flattening (routing-attributes)", "flattening", false);
    line(t, "resolution (decide)", "resolution", false);
    line(t, "matching (search-for + rank)", "matching", false);
    let total = line(t, "total", "total", false);
    line(t, "  per call, all five calls", "total", true);
    line(t, "mapping, one record per call", "mapping_one_per_call", false);
    line(t, "mapping, empty catalog (crossing only)", "mapping_boundary", false);
    let same = runs.iter().all(|r| {
        ["mapping", "mapping_one_per_call", "flattening", "resolution", "matching"]
            .iter()
            .all(|k| r[*k]["same_output"].as_bool() == Some(true))
    });
    t.row("component / native, total", format!("{total:.2}x"), &format!("target <= 2x    {}", verdict(total <= 2.0)));
    let busy = over_runs(runs, |r| f(&r["cycle"]["busy_cycle"]["ratio"]));
    let idle = over_runs(runs, |r| f(&r["cycle"]["idle_cycle"]["ratio"]));
    t.row(
        "whole cycle, component / native, busy",
        format!(
            "{busy:.2}x ({:.1} vs {:.1} ms)",
            over_runs(runs, |r| f(&r["cycle"]["busy_cycle"]["component_ms"])),
            over_runs(runs, |r| f(&r["cycle"]["busy_cycle"]["native_ms"]))
        ),
        &format!("target <= 1.5x  {}", verdict(busy <= 1.5)),
    );
    t.row(
        "whole cycle, component / native, idle",
        format!(
            "{idle:.2}x ({:.1} vs {:.1} ms)",
            over_runs(runs, |r| f(&r["cycle"]["idle_cycle"]["component_ms"])),
            over_runs(runs, |r| f(&r["cycle"]["idle_cycle"]["native_ms"]))
        ),
        &format!("target <= 1.5x  {}", verdict(idle <= 1.5)),
    );
    t.row(
        "crossing into the component and back (escape-soql \"x\")",
        format!("{:.2} us", over_runs(runs, |r| f(&r["call_overhead_us"]))),
        "per call",
    );
    t.note(&format!(
        "check: both sides computed the same outputs: {}; {} synced Case fields per record; component: {}",
        if same { "yes" } else { "NO" },
        runs[0]["case_fields"],
        runs[0]["component"].as_str().unwrap_or("embedded")
    ));
    t.note("crossing only = the mapping call with a catalog of no fields: the record is copied in and every");
    t.note("field skipped, so the component's time is the cost of moving the record across the boundary");
}

fn orgs_table(t: &mut Table, runs: &[Value]) {
    let interval = runs[0]["interval_s"].as_u64().unwrap_or(0);
    t.section(&format!(
        "4. Orgs per host: every org polled every {interval} s by the scheduler (idle orgs), emulator in its own process"
    ));
    let _ = writeln!(t.out, "  steady state, a {interval} s window after every org's first cycle:");
    let _ = writeln!(
        t.out,
        "  {:>13} {:>9} {:>9} {:>10} {:>9} {:>15} {:>8} {:>11} {:>9}",
        "orgs", "warm-up", "host CPU", "emul. CPU", "peak RSS", "cycles/s (need)", "late", "p99 delay", "ms/cycle"
    );
    for run in runs {
        let w = &run["window"];
        let _ = writeln!(
            t.out,
            "  {:>13} {:>7.0} s {:>8.1}% {:>9.1}% {:>5.0} MiB {:>8.1} ({:>4.0}) {:>8} {:>8.2} s {:>9.2}",
            orgs_label(run),
            f(&run["warm_up_s"]),
            100.0 * f(&run["host_cpu_share_window"]),
            100.0 * f(&run["emulator_cpu_share_window"]),
            f(&run["peak_rss_mib"]),
            f(&w["cycles_per_s"]),
            f(&w["needed_per_s"]),
            n(&w["late"]),
            f(&w["p99_delay_ms"]) / 1000.0,
            f(&run["host_cpu_ms_per_cycle_window"]),
        );
    }
    let _ = writeln!(t.out, "  whole run, warm-up included:");
    let _ = writeln!(
        t.out,
        "  {:>13} {:>8} {:>8} {:>12} {:>8} {:>8} {:>11} {:>9}",
        "orgs", "cycles", "late", "late (sched)", "missed", "failed", "median late", "worst"
    );
    for run in runs {
        let log = &run["log"];
        let _ = writeln!(
            t.out,
            "  {:>13} {:>8} {:>8} {:>12} {:>8} {:>8} {:>9.2} s {:>7.1} s",
            orgs_label(run),
            n(&log["cycles"]),
            n(&log["late"]),
            n(&run["scheduler"]["cycles_late"]),
            n(&log["missed"]),
            n(&log["failed"]),
            f(&log["median_delay_ms"]) / 1000.0,
            f(&log["worst_delay_ms"]) / 1000.0,
        );
    }
    for run in runs {
        let log = &run["log"];
        let none_late = log["late"] == 0 && log["missed"] == 0 && log["failed"] == 0;
        let verdict_text = if run["orgs"] == 10_000 {
            format!("target (10,000 orgs, none late): {}", verdict(none_late))
        } else {
            format!("none late: {}", if none_late { "yes" } else { "no" })
        };
        t.row(
            &format!("{} orgs", orgs_label(run)),
            if none_late { "none late".into() } else { "late".into() },
            &verdict_text,
        );
        if run["disk_writer"].is_object() {
            t.note(&format!(
                "the other process made {:.0} fsynced 4 KiB writes a second meanwhile",
                f(&run["disk_writer"]["fsyncs_per_s"])
            ));
        }
        if let Some(error) = log["first_error"].as_str() {
            t.note(&format!("first failure: {}", error.chars().take(160).collect::<String>()));
        }
    }
    t.note("CPU: % of one core (the machine has 2) over the window; ms/cycle = host CPU per cycle in the window;");
    t.note("peak RSS = VmHWM of the host process; late = began > 1 s after due, due = the previous cycle's end +");
    t.note("the interval (the first: the scheduler's start + the org's spread), from the host's cycle log;");
    t.note("late (sched) = the scheduler's own ScheduleStats count; missed = due > 1 s before the end, never began;");
    t.note(&format!(
        "warm-up: until every org finished its first cycle (>= 1 interval); max_concurrent_cycles = {}",
        runs[0]["max_concurrent_cycles"]
    ));
}

/// `10000`, or `10000 +fsync` when another process wrote to the disk meanwhile.
fn orgs_label(run: &Value) -> String {
    let fsync = if run["disk_writer"].is_object() { " +fsync" } else { "" };
    format!("{}{fsync}", n(&run["orgs"]))
}

fn latency_table(t: &mut Table, l: &Value) {
    t.section(&format!(
        "5. Latency, customer message -> agent reply on the case, polling every {} s (scheduler)",
        f(&l["interval_s"])
    ));
    let latencies: Vec<f64> = l["latencies_ms"].as_array().map_or_else(Vec::new, |v| v.iter().map(f).collect());
    t.row(
        &format!("median ({} of {} samples answered)", l["answered"], l["samples"]),
        format!("{:.2} s", median(&latencies) / 1000.0),
        "",
    );
    t.row("p99", format!("{:.2} s", percentile(&latencies, 99.0) / 1000.0), "");
    t.row("median cycle duration during the run", format!("{:.0} ms", f(&l["median_cycle_ms"])), "");
    t.note("bounded by the poll interval plus one cycle: a message waits for the next poll (half an interval on");
    t.note("average). At the default 60 s interval expect a median near 30 s and a p99 near 60 s plus the cycle.");
    t.note("measured from the org's own CreatedDate stamps of the message and of the reply (ms).");
}

fn history_table(t: &mut Table, runs: &[Value]) {
    t.section("6. History of any size: the first poll, then idle cycles (real host, emulator in its own process)");
    let _ = writeln!(
        t.out,
        "  {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>11} {:>11} {:>10}",
        "known",
        "cycles",
        "replies",
        "wall",
        "host CPU",
        "API calls",
        "peak RSS",
        "open",
        "idle wall",
        "idle CPU",
        "idle calls"
    );
    for run in runs {
        let p = &run["first_poll"];
        let i = &run["idle"];
        let _ = writeln!(
            t.out,
            "  {:>8} {:>8} {:>8} {:>7.1} s {:>7.1} s {:>9} {:>5.0} MiB {:>6} {:>8.2} ms {:>8.2} ms {:>10.2}",
            n(&run["known"]),
            n(&p["cycles"]),
            n(&p["replies"]),
            f(&p["wall_s"]),
            f(&p["host_cpu_s"]),
            n(&p["calls"]),
            f(&run["peak_rss_mib"]),
            n(&run["open_conversations"]),
            f(&i["median_wall_ms"]),
            f(&i["median_host_cpu_ms"]),
            f(&i["calls_per_cycle"]),
        );
    }
    if let (Some(smallest), Some(largest)) = (runs.first(), runs.last()) {
        for (label, key) in [("wall", "median_wall_ms"), ("host CPU", "median_host_cpu_ms")] {
            let ratio = f(&largest["idle"][key]) / f(&smallest["idle"][key]);
            t.row(
                &format!("idle cycle {label}, {} known cases / {}", n(&largest["known"]), n(&smallest["known"])),
                format!("{ratio:.2}x"),
                &format!("target <= 1.2x  {}", verdict(ratio <= 1.2)),
            );
        }
    }
    let consistent = runs.iter().all(|r| r["first_poll"]["calls"] == r["first_poll"]["reported_calls"]);
    t.note(&format!(
        "check: the connector's own call count equals the emulator's: {}",
        if consistent { "yes" } else { "NO" }
    ));
    t.note("generated cases: 6 messages each over 3 years, 1 in 1,000 waiting for an answer; the first poll ends");
    t.note(
        "with a cycle that starts no conversation and posts nothing; open = conversations in the open set after it;",
    );
    t.note("idle = medians over the idle cycles after the overlap, one 60 s poll interval apart on the org's clock;");
    t.note("wall and CPU of the first poll include its replies; peak RSS = VmHWM of the host process");
}

fn tokens_table(t: &mut Table, r: &Value) {
    t.section(&format!(
        "7. OAuth token requests, {} idle cycles ({} h at 60 s; access tokens last {} h on the org)",
        n(&r["cycles"]),
        n(&r["hours"]),
        f(&r["token_lifetime_s"]) / 3600.0
    ));
    let tokens = n(&r["token_requests"]);
    let needed = f(&r["lifetimes_in_span"]) as u64;
    t.row(
        "token requests per idle day per org",
        format!("{tokens}"),
        &format!("target <= {needed} (one per token lifetime)  {}", verdict(tokens <= needed)),
    );
    t.row("API calls in that day", format!("{}", n(&r["calls"])), "");
}

fn streaming_table(t: &mut Table, s: &Value, streams: &[Value]) {
    t.section("8. Streaming mode (E4): Change Data Capture over CometD, scheduler and stream tasks");
    if s.is_object() {
        let safety = f(&s["safety_poll_s"]);
        t.note(&format!(
            "{} messages of each kind at random moments over {} s; safety poll (and poll interval) {safety} s",
            s["samples"], s["span_s"]
        ));
        for (kind, _) in streaming::KINDS {
            let k = &s["kinds"][kind];
            let streams = k["streams"].as_bool().unwrap_or(false);
            let p99 = f(&k["p99_ms"]) / 1000.0;
            let target = if streams {
                format!("target p99 < 2 s   {}", verdict(p99 < 2.0))
            } else {
                "by the safety poll (no change events)".into()
            };
            t.row(
                &format!("{kind}: median / p99 ({} of {} answered)", k["answered"], k["samples"]),
                format!("{:.2} / {p99:.2} s", f(&k["median_ms"]) / 1000.0),
                &target,
            );
        }
        let idle = &s["idle"];
        let window = f(&idle["window_s"]);
        let cycles = f(&idle["safety_cycles"]);
        let calls = f(&idle["calls"]);
        let per_cycle = if cycles > 0.0 { calls / cycles } else { f64::NAN };
        t.row(
            &format!("idle: API calls in {window:.0} s ({cycles:.0} safety cycles, the stream held)"),
            format!("{calls:.0}"),
            "",
        );
        t.row(
            "idle: API calls per idle day at the default 900 s safety poll (x 96)",
            format!("{:.0}", per_cycle * 96.0),
            &format!("target <= 96   {} (polling every 60 s: 1,440)", verdict(per_cycle * 96.0 <= 96.0)),
        );
        t.note("a case comment and a feed post have no change events in Salesforce: the safety poll answers them,");
        t.note("on average half its interval later (450 s at the default 900 s). CometD requests are not API calls.");
    }
    for run in streams {
        let orgs = f(&run["orgs"]);
        t.row(
            &format!("{orgs:.0} idle streaming orgs: host CPU share over {:.0} s", f(&run["window_s"])),
            format!("{:.1} %", 100.0 * f(&run["host_cpu_share"])),
            &format!("{:.0} of {orgs:.0} live at the end", f(&run["live_at_end"])),
        );
        t.row(
            &format!("{orgs:.0} idle streaming orgs: resident memory (peak)"),
            format!("{:.0} MiB", f(&run["rss_end_mib"])),
            &format!(
                "{:.0} MiB peak; {:.0} connects, {:.0} API calls in the window",
                f(&run["peak_rss_mib"]),
                f(&run["connects_window"]),
                f(&run["calls_window"])
            ),
        );
    }
}

fn hosts_table(t: &mut Table, runs: &[Value], takeover: &Value) {
    t.section("9. Several hosts on one PostgreSQL database (E12): idle orgs shared, real schedulers in one process");
    for run in runs {
        let hosts = n(&run["hosts"]);
        let per_host: Vec<String> = run["per_host"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|h| format!("{}/{}/{}", n(&h["cycled"]), n(&h["adopted"]), n(&h["busy"])))
            .collect();
        t.row(
            &format!("{} orgs at {} s on {hosts} host(s): late / overlapping in {:.0} s", n(&run["orgs"]), n(&run["interval_s"]), f(&run["window_s"])),
            format!("{} / {}", n(&run["late"]), n(&run["overlapping"])),
            &format!(
                "{} cycles ({:.1}/s needed {:.1}/s), {} failed; hosts {:.0} % of a core, PostgreSQL {:.0} %; cycled/adopted/busy per host {}  {}",
                n(&run["cycles_in_window"]),
                f(&run["cycles_per_s"]),
                f(&run["needed_per_s"]),
                n(&run["failed"]),
                100.0 * f(&run["hosts_cpu_share"]),
                100.0 * f(&run["postgres_cpu_share"]),
                per_host.join(", "),
                verdict(n(&run["late"]) == 0 && n(&run["overlapping"]) == 0)
            ),
        );
    }
    if let Some(first) = runs.first() {
        let (pg, lite) = (&first["leases_postgres"], &first["leases_sqlite"]);
        t.row(
            "lease claim (acquire + release) / renewal, PostgreSQL",
            format!("{:.0} / {:.0} us", f(&pg["claim_us"]), f(&pg["renew_us"])),
            &format!(
                "p99 {:.0} / {:.0} us; SQLite {:.0} / {:.0} us",
                f(&pg["claim_p99_us"]),
                f(&pg["renew_p99_us"]),
                f(&lite["claim_us"]),
                f(&lite["renew_us"])
            ),
        );
    }
    if takeover.is_object() {
        t.row(
            &format!(
                "take-over of a dead host's {} orgs (lease {} s): after each expiry, median / worst",
                n(&takeover["orgs"]),
                n(&takeover["lease_ttl_s"])
            ),
            format!(
                "{:.2} / {:.2} s",
                f(&takeover["median_after_expiry_ms"]) / 1000.0,
                f(&takeover["worst_after_expiry_ms"]) / 1000.0
            ),
            &format!("{} taken over, {} never", n(&takeover["taken_over"]), n(&takeover["never"])),
        );
    }
}
