//! `[host] component`: the host runs a connector from a file, of any
//! released contract version, and refuses a file that is no connector with
//! what it exports; `casebridge mappings check` names both sides of a
//! mapping that cannot work.

use std::path::Path;

use casebridge_emulator::{EmulatorOptions, RunningEmulator, Seed};

mod support;
use support::{casebridge, write_config};

const ORG: &str = "acme";

fn demo_emulator() -> RunningEmulator {
    casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name).display().to_string()
}

/// The configuration with `line` added to `[host]`.
fn with_host_line(config: &Path, line: &str) {
    let text = std::fs::read_to_string(config).expect("read");
    std::fs::write(config, text.replacen("[host]\n", &format!("[host]\n{line}\n"), 1)).expect("write");
}

#[test]
fn a_0_1_0_component_from_a_file_runs_the_cases_cycle() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    with_host_line(&config, &format!("component = \"{}\"", fixture("connector-0.1.0.wasm")));
    let output = casebridge(&config, &credentials).args(["cycle", "--org", ORG]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("repl"), "{stdout}");
    let comments = emulator
        .with_database(|db| {
            let ctx = casebridge_emulator::db::QueryContext {
                now: emulator.now(),
                api_version: "62.0".into(),
                user_id: emulator.seeded().integration_user_id.clone(),
            };
            db.query("SELECT Id FROM CaseComment", false, &ctx)
        })
        .expect("query")
        .records
        .len();
    assert!(comments > 0, "the 0.1.0 connector's replies are on the cases");
}

#[test]
fn a_streaming_org_with_a_component_that_cannot_stream_is_refused_at_start() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    with_host_line(&config, &format!("component = \"{}\"", fixture("connector-0.2.3.wasm")));
    let text = std::fs::read_to_string(&config).expect("read") + "mode = \"streaming\"\n";
    std::fs::write(&config, text).expect("write");
    let output = casebridge(&config, &credentials).args(["cycle", "--org", ORG]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("casebridge:connector@0.2.3, which has no streaming mode"), "{stderr}");
    assert!(stderr.contains("mode = \"polling\""), "says what to do: {stderr}");
}

#[test]
fn a_file_that_is_no_connector_is_refused_with_what_it_exports() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    with_host_line(&config, &format!("component = \"{}\"", fixture("not-a-connector.wasm")));
    let output = casebridge(&config, &credentials).args(["cycle", "--org", ORG]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("[host] component"), "names the option: {stderr}");
    assert!(stderr.contains("example:other/api@1.0.0"), "names what it exports: {stderr}");

    let missing = dir.path().join("missing.wasm");
    with_host_line(&config, &format!("component = \"{}\"", missing.display()));
    let output = casebridge(&config, &credentials).args(["status"]).output().expect("runs");
    assert!(!output.status.success());
}

#[test]
fn mappings_check_names_both_sides_of_a_mapping_that_cannot_work() {
    let emulator = demo_emulator();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let text = std::fs::read_to_string(&config).unwrap();
    let mapping = "\n[[org.mapping]]\nattribute = \"email\"\nobject = \"Contact\"\nfield = \"NumberOfEmployees\"\ndirection = \"to_salesforce\"\n";
    std::fs::write(&config, format!("{text}{mapping}")).unwrap();
    let output = casebridge(&config, &credentials).args(["mappings", "check", "--org", ORG]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("`email`") && stdout.contains("Contact.NumberOfEmployees"), "{stdout}");
    // `run` refuses to start with it.
    let output = casebridge(&config, &credentials).args(["run"]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("cannot work"), "{stderr}");
}
