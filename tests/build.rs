//! Builds the hostile test component (`tests/guests/hostile/`) for
//! `wasm32-wasip2` and places it in `OUT_DIR` as `hostile.wasm`, for the
//! sandbox tests (`casebridge_tests::HOSTILE_COMPONENT`).
//!
//! The component is its own workspace, built by a nested cargo into its own
//! target directory (`<target>/hostile`): the outer one is locked by the outer
//! build. See `host/build.rs`, which builds the real connector the same way.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip2";
const CRATE_DIR: &str = "guests/hostile";
const BUILT_FILE: &str = "casebridge_hostile_guest.wasm";
const EMBEDDED_FILE: &str = "hostile.wasm";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("tests/ sits inside the workspace").to_path_buf();
    let crate_dir = manifest_dir.join(CRATE_DIR);
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in
        [crate_dir.join("src"), crate_dir.join("Cargo.toml"), crate_dir.join("Cargo.lock"), workspace.join("wit")]
    {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let target_dir = outer_target_dir(&out_dir).unwrap_or_else(|| out_dir.clone()).join("hostile");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&crate_dir)
        .args(["build", "--release", "--locked", "--target", GUEST_TARGET, "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // What the outer build sets for itself must not leak into the component's build.
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
    let status = build.status().expect("cannot run cargo to build the hostile test component");
    if !status.success() {
        panic!(
            "building the hostile test component (tests/{CRATE_DIR}) for {GUEST_TARGET} failed; \
             is the target installed? `rustup target add {GUEST_TARGET}`"
        );
    }
    let built = target_dir.join(GUEST_TARGET).join("release").join(BUILT_FILE);
    let embedded = out_dir.join(EMBEDDED_FILE);
    std::fs::copy(&built, &embedded).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}

/// The outer build's target directory: the nearest ancestor of `OUT_DIR` that
/// cargo marked with `CACHEDIR.TAG`.
fn outer_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}
