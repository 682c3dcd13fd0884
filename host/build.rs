//! Builds the connector component (`guest/`) for `wasm32-wasip2` and places it
//! in `OUT_DIR`, so the host embeds the exact component of this checkout and a
//! plain `cargo build` / `cargo test` needs no manual step.
//!
//! The nested cargo gets its own target directory (`<target>/guest`): sharing
//! the outer one would deadlock on its lock. Both debug and release hosts share
//! that directory, so the component is built once. Set
//! `CASEBRIDGE_GUEST_WASM=/path/to/connector.wasm` to embed a prebuilt one.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip2";
const COMPONENT_FILE: &str = "casebridge_guest.wasm";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("host/ sits inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let embedded = out_dir.join(COMPONENT_FILE);

    println!("cargo:rerun-if-env-changed=CASEBRIDGE_GUEST_WASM");
    if let Ok(prebuilt) = env::var("CASEBRIDGE_GUEST_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &embedded)
            .unwrap_or_else(|e| panic!("cannot copy CASEBRIDGE_GUEST_WASM={prebuilt}: {e}"));
        return;
    }
    for watched in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let target_dir = outer_target_dir(&out_dir).unwrap_or_else(|| out_dir.clone()).join("guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&workspace)
        .args(["build", "--package", "casebridge-guest", "--release", "--locked", "--target", GUEST_TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // What the outer build sets for itself must not leak into the guest's build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "TARGET",
        "HOST",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
    ] {
        build.env_remove(var);
    }
    let status = build.status().expect("cannot run cargo to build the guest component");
    if !status.success() {
        panic!(
            "building the guest component failed (cargo build -p casebridge-guest --target {GUEST_TARGET}); is the target installed? `rustup target add {GUEST_TARGET}`"
        );
    }
    let built = target_dir.join(GUEST_TARGET).join("release").join(COMPONENT_FILE);
    std::fs::copy(&built, &embedded).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}

/// The outer build's target directory: the nearest ancestor of `OUT_DIR` that
/// cargo marked with `CACHEDIR.TAG`.
fn outer_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}
