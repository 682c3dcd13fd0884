//! Part of figure 2: what it costs to start the component for a cycle. Every
//! cycle (and every other org-level call) runs in a fresh instance made from
//! the pre-instantiated component in the pooling allocator.

use std::time::Instant;

use casebridge::runtime::{AllowedHosts, Capabilities, GuestLimits, Runtime};
use serde_json::{Value, json};

use crate::measure::{median, ms, percentile, process_cpu};

pub async fn run(count: usize) -> anyhow::Result<Value> {
    let started = Instant::now();
    let runtime = Runtime::new(casebridge::GUEST_COMPONENT)?;
    let compile = started.elapsed();
    // What `Host::open` does: compile once into a cache file, load it at later starts.
    let cache = tempfile::tempdir()?;
    drop(Runtime::new_cached(casebridge::GUEST_COMPONENT, cache.path())?);
    let started = Instant::now();
    drop(Runtime::new_cached(casebridge::GUEST_COMPONENT, cache.path())?);
    let cached = started.elapsed();

    let instantiate =
        || runtime.instantiate(Capabilities::in_memory("bench"), AllowedHosts::none(), GuestLimits::default());
    for _ in 0..count / 10 {
        drop(instantiate().await?);
    }
    let mut create_us = Vec::with_capacity(count);
    let mut total_us = Vec::with_capacity(count);
    let cpu = process_cpu();
    for _ in 0..count {
        let started = Instant::now();
        let instance = instantiate().await?;
        let created = started.elapsed();
        drop(instance);
        let total = started.elapsed();
        create_us.push(created.as_secs_f64() * 1e6);
        total_us.push(total.as_secs_f64() * 1e6);
    }
    let cpu = process_cpu() - cpu;
    Ok(json!({
        "component_bytes": casebridge::GUEST_COMPONENT.len(),
        "compile_ms": ms(compile),
        "cached_load_ms": ms(cached),
        "instances": count,
        "instantiate_median_us": median(&create_us),
        "instantiate_p99_us": percentile(&create_us, 99.0),
        "instantiate_and_drop_median_us": median(&total_us),
        "cpu_us_per_instance": cpu.as_secs_f64() * 1e6 / count as f64,
    }))
}
