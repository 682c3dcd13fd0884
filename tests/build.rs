//! Builds the hostile test component (`tests/guests/hostile/`, its own
//! workspace) for `wasm32-wasip2` and places it in `OUT_DIR` as
//! `hostile.wasm`, for the sandbox tests (`casebridge_tests::HOSTILE_COMPONENT`).

fn main() {
    casebridge_build::Component {
        manifest: "guests/hostile/Cargo.toml".into(),
        package: None,
        built_file: "casebridge_hostile_guest.wasm",
        embedded_file: "hostile.wasm",
        target_subdir: "hostile",
        watched: ["guests/hostile/src", "guests/hostile/Cargo.toml", "guests/hostile/Cargo.lock", "../wit"]
            .map(std::path::PathBuf::from)
            .to_vec(),
    }
    .build();
}
