//! Builds the connector component (`guest/`) for `wasm32-wasip2` and places it
//! in `OUT_DIR`, so the host embeds the exact component of this checkout and a
//! plain `cargo build` / `cargo test` / `cargo run -- demo` needs no manual
//! step (see `casebridge-build`, which also adds a missing wasm target). Set
//! `CASEBRIDGE_GUEST_WASM=/path/to/connector.wasm` to embed a prebuilt one.

use std::env;
use std::path::PathBuf;

const COMPONENT_FILE: &str = "casebridge_guest.wasm";

fn main() {
    println!("cargo:rerun-if-env-changed=CASEBRIDGE_GUEST_WASM");
    if let Ok(prebuilt) = env::var("CASEBRIDGE_GUEST_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        std::fs::copy(&prebuilt, out_dir.join(COMPONENT_FILE))
            .unwrap_or_else(|e| panic!("cannot copy CASEBRIDGE_GUEST_WASM={prebuilt}: {e}"));
        return;
    }
    casebridge_build::Component {
        manifest: "../Cargo.toml".into(),
        package: Some("casebridge-guest"),
        built_file: COMPONENT_FILE,
        embedded_file: COMPONENT_FILE,
        target_subdir: "guest",
        watched: ["../guest/src", "../guest/Cargo.toml", "../wit", "../Cargo.lock"].map(PathBuf::from).to_vec(),
    }
    .build();
}
