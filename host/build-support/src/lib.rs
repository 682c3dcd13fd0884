//! Builds a WebAssembly component (`wasm32-wasip2`) from a `build.rs`, with
//! a nested cargo, and places it in `OUT_DIR`: the host embeds the connector
//! this way, the tests the hostile component.
//!
//! ```no_run
//! casebridge_build::Component {
//!     manifest: "../guest/Cargo.toml".into(),
//!     package: Some("casebridge-guest"),
//!     built_file: "casebridge_guest.wasm",
//!     embedded_file: "casebridge_guest.wasm",
//!     target_subdir: "guest",
//!     watched: vec!["../guest/src".into(), "../wit".into()],
//! }
//! .build();
//! ```
//!
//! - The nested cargo gets its own target directory under the outer one:
//!   sharing the outer one would deadlock on its lock.
//! - What the outer build sets for itself (`RUSTFLAGS`, the target, the
//!   profile) does not leak into the component's build.
//! - A toolchain without the `wasm32-wasip2` target gets it from rustup
//!   (`rust-toolchain.toml` lists it, but rustup installs listed targets only
//!   when it installs the toolchain); where rustup cannot, the build stops
//!   with the exact command to run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every casebridge component is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Variables of the outer build that must not reach the nested one.
const OUTER_BUILD_VARIABLES: &[&str] = &[
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
];

/// One component to build.
pub struct Component {
    /// Its `Cargo.toml`, relative to the calling crate's manifest folder.
    pub manifest: PathBuf,
    /// The package to build, when the manifest is a workspace's.
    pub package: Option<&'static str>,
    /// The `.wasm` cargo writes.
    pub built_file: &'static str,
    /// The name it gets in `OUT_DIR`.
    pub embedded_file: &'static str,
    /// Its own target directory, under the outer one.
    pub target_subdir: &'static str,
    /// Paths whose changes rebuild it, relative to the calling crate's manifest folder.
    pub watched: Vec<PathBuf>,
}

impl Component {
    /// Build it (release) and copy it to `OUT_DIR/<embedded_file>`. Panics
    /// with what to do when it cannot, as a build script should.
    pub fn build(&self) {
        let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        for watched in &self.watched {
            println!("cargo:rerun-if-changed={}", manifest_dir.join(watched).display());
        }
        ensure_target();
        let manifest = manifest_dir.join(&self.manifest);
        let target_dir = outer_target_dir(&out_dir).unwrap_or_else(|| out_dir.clone()).join(self.target_subdir);
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"]).arg(&manifest);
        if let Some(package) = self.package {
            build.args(["--package", package]);
        }
        build.arg("--target-dir").arg(&target_dir);
        for variable in OUTER_BUILD_VARIABLES {
            build.env_remove(variable);
        }
        let status = build.status().unwrap_or_else(|e| panic!("cannot run cargo to build {}: {e}", manifest.display()));
        if !status.success() {
            panic!("building {} for {TARGET} failed (see the errors above)", manifest.display());
        }
        let built = target_dir.join(TARGET).join("release").join(self.built_file);
        let embedded = out_dir.join(self.embedded_file);
        std::fs::copy(&built, &embedded).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    }
}

/// Makes sure the toolchain building this crate has the component target,
/// adding it with rustup when it is missing.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib").join("rustlib").join(TARGET).is_dir() {
        return;
    }
    // The toolchain rust-toolchain.toml picked; rustup names it in RUSTUP_TOOLCHAIN.
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = &toolchain {
        add.args(["--toolchain", toolchain]);
    }
    println!("cargo:warning=the {TARGET} target is missing; installing it with `rustup target add {TARGET}`");
    let added = add.status().is_ok_and(|status| status.success());
    if !added || !sysroot.join("lib").join("rustlib").join(TARGET).is_dir() {
        let toolchain = toolchain.map(|t| format!(" --toolchain {t}")).unwrap_or_default();
        panic!(
            "the Rust toolchain has no {TARGET} target, and rustup could not add it; run `rustup target add {TARGET}{toolchain}` and build again"
        );
    }
}

/// The outer build's target directory: the nearest ancestor of `OUT_DIR` that
/// cargo marked with `CACHEDIR.TAG`.
fn outer_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}
