//! The customer's side of the web messenger: to be built (see `mod.rs`).
