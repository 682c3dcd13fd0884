//! The embedding of casebridge's connector component: one wasmtime
//! [`Engine`] and one pre-instantiated component per host, a fresh [`Store`]
//! (and so a fresh instance) per call. Another Rust host embeds the
//! connector with this crate alone: it implements the capability traits
//! ([`KeyValueStore`], [`Platform`], [`Agent`], [`Mailer`]) over its own
//! backends, fills an [`OrgSettings`] per org, and calls the exports through
//! [`GuestInstance`]. No SQLite, SMTP or emulator comes with it.
//!
//! ```no_run
//! # async fn example(component: &[u8]) -> anyhow::Result<()> {
//! use casebridge_runtime::{Runtime, Capabilities, GuestLimits, AllowedHosts};
//! let runtime = Runtime::new(component)?;
//! let mut guest = runtime
//!     .instantiate(Capabilities::in_memory("acme"), AllowedHosts::none(), GuestLimits::default())
//!     .await?;
//! let (connector, store) = guest.latest().expect("a 0.2 component");
//! let escaped = connector.casebridge_connector_matching().call_escape_soql(store, "O'Brien").await?;
//! assert_eq!(escaped, "O\\'Brien");
//! # Ok(()) }
//! ```
//!
//! Every released version of the contract loads ([`ContractVersion`]): the
//! component's exports say which it implements, each version has its own
//! bindings ([`bindings`]), and the calls of [`GuestInstance`] take and
//! return the newest version's types, converting for an older component
//! ([`compat`]).
//!
//! Every instance is sandboxed: it reaches only the HTTP origins in its
//! [`AllowedHosts`], has no sockets, files or environment, its memory is capped
//! and its CPU time is bounded by an epoch deadline. An instance that works
//! an org for a cycle also carries the org's lease ([`Sandbox::fence`]): its
//! store commits and its HTTP requests stop once the lease is gone. What it
//! did that the host reports on — requests sent and refused, memory refused —
//! is counted in its [`Activity`].

pub mod bindings;
mod calls;
mod capabilities;
pub mod compat;
pub mod fence;
pub mod held;
mod http_policy;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use calls::{Call, CrmCall, FieldChange, GuestInstance};
pub use capabilities::{
    Agent, BlockingKeyValueStore, Capabilities, CrmSettings, KeyValueStore, Mailer, MemoryStore, NoAgent, NoMail,
    NoPlatform, OffTheWorkers, OrgSettings, Platform,
};
pub use fence::{Fence, HTTP_LEASE_MARGIN};
pub use http_policy::{AllowedHosts, OAUTH_PATH_PREFIX, Origin};

use bindings::{v0_1_0, v0_2_0, v0_2_1, v0_2_2, v0_2_3, v0_2_4};

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may be alive at once in the pooling allocator. More
/// concurrent cycles than this wait for a slot (the scheduler caps concurrency).
pub const MAX_LIVE_INSTANCES: u32 = 256;

/// A wasip2 component built by rustc holds a few core instances and memories
/// (the program, the WASI adapter's shims); the pool is sized per component.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Limits on one instance.
#[derive(Debug, Clone, Copy)]
pub struct GuestLimits {
    /// The most linear memory the instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// The most wall-clock time the guest may spend executing in one call.
    pub deadline: Duration,
}

impl Default for GuestLimits {
    fn default() -> Self {
        // 64 MiB holds thousands of cases' state with room to spare; a cycle that
        // needs more is a runaway. Five minutes covers a large catch-up cycle.
        GuestLimits { memory_bytes: 64 << 20, deadline: Duration::from_secs(300) }
    }
}

/// What an instance may do beyond its [`Capabilities`]: the HTTP origins it
/// may reach, the lease its commits and requests run under, and where what
/// it did is counted. An [`AllowedHosts`] alone is a sandbox without a lease.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// The origins its HTTP requests may go to.
    pub allowed: AllowedHosts,
    /// The org's lease, for instances that write the org's store or Salesforce.
    pub fence: Option<Fence>,
    /// Where the instance's requests, refusals and memory refusals are counted.
    pub activity: Arc<Activity>,
}

impl From<AllowedHosts> for Sandbox {
    fn from(allowed: AllowedHosts) -> Self {
        Sandbox { allowed, ..Sandbox::default() }
    }
}

/// The most refused origins an instance's [`Activity`] keeps: the first one
/// is what the user needs to hear about, and a hostile component trying
/// endless origins must not grow the host's memory.
const REFUSED_ORIGINS_KEPT: usize = 8;

/// What one instance did that the host reports on. Shared with the host,
/// which reads it after the call (also after a trap).
#[derive(Debug, Default)]
pub struct Activity {
    api_calls: AtomicU32,
    token_requests: AtomicU32,
    refused_origins: Mutex<Vec<Origin>>,
    refused_for_lease: AtomicU32,
    memory_refused: AtomicBool,
}

impl Activity {
    /// Requests sent that Salesforce counts as API calls (all but token requests).
    pub fn api_calls(&self) -> u32 {
        self.api_calls.load(Ordering::Relaxed)
    }

    /// OAuth token requests sent.
    pub fn token_requests(&self) -> u32 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// The origins requests were refused for, in order, each once (the
    /// first [`REFUSED_ORIGINS_KEPT`]).
    pub fn refused_origins(&self) -> Vec<Origin> {
        self.refused_origins.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Requests refused because the instance's lease had expired or was lost.
    pub fn requests_refused_for_lease(&self) -> u32 {
        self.refused_for_lease.load(Ordering::Relaxed)
    }

    /// Whether the instance asked for more memory than its limit.
    pub fn memory_was_refused(&self) -> bool {
        self.memory_refused.load(Ordering::Relaxed)
    }

    fn sent(&self, token_request: bool) {
        let counter = if token_request { &self.token_requests } else { &self.api_calls };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn refused_origin(&self, origin: Origin) {
        let mut refused = self.refused_origins.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.len() < REFUSED_ORIGINS_KEPT && !refused.contains(&origin) {
            refused.push(origin);
        }
    }

    fn refused_for_lease(&self) {
        self.refused_for_lease.fetch_add(1, Ordering::Relaxed);
    }
}

/// The instance's resource limits, noting in its [`Activity`] when memory
/// was refused (the guest then traps, and the host says it ran out of memory).
struct Limits {
    limits: StoreLimits,
    activity: Arc<Activity>,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.activity.memory_refused.store(true, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.activity.memory_refused.store(true, Ordering::Relaxed);
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A released version of the `casebridge:connector` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContractVersion {
    V0_1_0,
    V0_2_0,
    V0_2_1,
    V0_2_2,
    V0_2_3,
    V0_2_4,
}

impl ContractVersion {
    /// Every released version, oldest first.
    pub const ALL: [ContractVersion; 6] = [
        ContractVersion::V0_1_0,
        ContractVersion::V0_2_0,
        ContractVersion::V0_2_1,
        ContractVersion::V0_2_2,
        ContractVersion::V0_2_3,
        ContractVersion::V0_2_4,
    ];
    /// The newest: what the embedded connector implements.
    pub const LATEST: ContractVersion = ContractVersion::V0_2_4;

    /// `0.1.0`, `0.2.0`, `0.2.1`, `0.2.2`, `0.2.3`, `0.2.4`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1_0 => "0.1.0",
            ContractVersion::V0_2_0 => "0.2.0",
            ContractVersion::V0_2_1 => "0.2.1",
            ContractVersion::V0_2_2 => "0.2.2",
            ContractVersion::V0_2_3 => "0.2.3",
            ContractVersion::V0_2_4 => "0.2.4",
        }
    }

    /// The export a component of this version must have.
    fn sync_export(self) -> String {
        format!("casebridge:connector/sync@{}", self.as_str())
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component pre-instantiated against its version's bindings.
#[derive(Clone)]
enum VersionedPre {
    V0_1_0(v0_1_0::ConnectorPre<GuestState>),
    V0_2_0(v0_2_0::ConnectorPre<GuestState>),
    V0_2_1(v0_2_1::ConnectorPre<GuestState>),
    V0_2_2(v0_2_2::ConnectorPre<GuestState>),
    V0_2_3(v0_2_3::ConnectorPre<GuestState>),
    V0_2_4(v0_2_4::ConnectorPre<GuestState>),
}

/// A live instance of a component of one version.
pub(crate) enum VersionedConnector {
    V0_1_0(v0_1_0::Connector),
    V0_2_0(v0_2_0::Connector),
    V0_2_1(v0_2_1::Connector),
    V0_2_2(v0_2_2::Connector),
    V0_2_3(v0_2_3::Connector),
    V0_2_4(v0_2_4::Connector),
}

/// The compiled connector, ready to instantiate.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    pre: VersionedPre,
    version: ContractVersion,
    _ticker: Arc<EpochTicker>,
}

impl Runtime {
    /// Compile a connector component (the bytes of a `.wasm` component).
    pub fn new(component: &[u8]) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config())?;
        let compiled = Component::new(&engine, component)
            .map_err(|e| anyhow::Error::from(e).context("the connector is not a valid component"))?;
        Runtime::link(engine, compiled)
    }

    /// Like [`Runtime::new`], but keeps the compiled machine code in
    /// `cache_dir` and loads it on the next start instead of compiling again
    /// (seconds saved on every restart). The file is keyed by the component's
    /// bytes and the engine's settings; a stale or damaged file is replaced.
    pub fn new_cached(component: &[u8], cache_dir: &std::path::Path) -> anyhow::Result<Self> {
        use sha2::Digest as _;
        use std::hash::{Hash as _, Hasher as _};
        let engine = Engine::new(&engine_config())?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let digest = sha2::Sha256::digest(component);
        let key: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        let path = cache_dir.join(format!("connector-{key}-{:016x}.cwasm", engine_hash.finish()));
        if path.is_file() {
            // SAFETY: the file was written by `Component::serialize` of this same
            // engine configuration into the host's own data folder (keyed by the
            // component's hash); deserializing trusts it as much as the database beside it.
            match unsafe { Component::deserialize_file(&engine, &path) } {
                Ok(compiled) => return Runtime::link(engine, compiled),
                Err(error) => tracing::warn!(path = %path.display(), "recompiling the connector: {error}"),
            }
        }
        let compiled = Component::new(&engine, component)
            .map_err(|e| anyhow::Error::from(e).context("the connector is not a valid component"))?;
        match compiled.serialize() {
            Ok(bytes) => {
                let temporary = path.with_extension("tmp");
                if let Err(error) = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, &path))
                {
                    tracing::warn!(path = %path.display(), "cannot cache the compiled connector: {error}");
                }
            }
            Err(error) => tracing::warn!("cannot serialize the compiled connector: {error}"),
        }
        Runtime::link(engine, compiled)
    }

    /// Which contract version `component` implements, by its exports; an
    /// error naming what it exports when it is none of them.
    pub fn version_of(engine: &Engine, component: &Component) -> anyhow::Result<ContractVersion> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
        ContractVersion::ALL.into_iter().rev().find(|version| exports.contains(&version.sync_export())).ok_or_else(
            || {
                let known = ContractVersion::ALL.map(|v| format!("`{}`", v.sync_export())).join(" or ");
                let found = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
                anyhow::anyhow!(
                    "the component is not a casebridge connector: it exports {found}, and a connector exports {known}"
                )
            },
        )
    }

    fn link(engine: Engine, component: Component) -> anyhow::Result<Self> {
        let version = Runtime::version_of(&engine, &component)?;
        let mut linker = Linker::<GuestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let refused = |e: wasmtime::Error| {
            anyhow::Error::from(e)
                .context(format!("the component does not implement the casebridge:connector@{version} world"))
        };
        let pre = match version {
            ContractVersion::V0_1_0 => {
                v0_1_0::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_1_0(
                    linker.instantiate_pre(&component).and_then(v0_1_0::ConnectorPre::new).map_err(refused)?,
                )
            }
            // Every 0.2.x component links against 0.2.4's imports: the
            // interfaces 0.2.1 to 0.2.4 changed only grew, and an import of
            // an older 0.2 version resolves to the newer definition.
            ContractVersion::V0_2_0 => {
                v0_2_4::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_2_0(
                    linker.instantiate_pre(&component).and_then(v0_2_0::ConnectorPre::new).map_err(refused)?,
                )
            }
            ContractVersion::V0_2_1 => {
                v0_2_4::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_2_1(
                    linker.instantiate_pre(&component).and_then(v0_2_1::ConnectorPre::new).map_err(refused)?,
                )
            }
            ContractVersion::V0_2_2 => {
                v0_2_4::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_2_2(
                    linker.instantiate_pre(&component).and_then(v0_2_2::ConnectorPre::new).map_err(refused)?,
                )
            }
            ContractVersion::V0_2_3 => {
                v0_2_4::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_2_3(
                    linker.instantiate_pre(&component).and_then(v0_2_3::ConnectorPre::new).map_err(refused)?,
                )
            }
            ContractVersion::V0_2_4 => {
                v0_2_4::Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                VersionedPre::V0_2_4(
                    linker.instantiate_pre(&component).and_then(v0_2_4::ConnectorPre::new).map_err(refused)?,
                )
            }
        };
        let ticker = Arc::new(EpochTicker::start(engine.clone()));
        Ok(Runtime { engine, pre, version, _ticker: ticker })
    }

    /// The contract version the loaded component implements.
    pub fn version(&self) -> ContractVersion {
        self.version
    }

    /// A fresh, sandboxed instance for one org: `sandbox` is an
    /// [`AllowedHosts`] or a full [`Sandbox`] with a lease and an activity count.
    pub async fn instantiate(
        &self,
        capabilities: Capabilities,
        sandbox: impl Into<Sandbox>,
        limits: GuestLimits,
    ) -> anyhow::Result<GuestInstance> {
        let Sandbox { allowed, fence, activity } = sandbox.into();
        let state = GuestState {
            // No sockets, files, environment or arguments: only clocks and random.
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            policy: http_policy::RequestPolicy { allowed, fence: fence.clone(), activity: activity.clone() },
            limits: Limits {
                limits: StoreLimitsBuilder::new().memory_size(limits.memory_bytes).instances(64).build(),
                activity: activity.clone(),
            },
            fence,
            activity,
            capabilities,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Every epoch tick the guest yields to the executor, so a busy guest never
        // holds a worker thread (other orgs' cycles keep running); once the
        // wall-clock deadline has passed it is interrupted with a trap.
        let deadline = std::time::Instant::now() + limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if std::time::Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });
        let connector = match &self.pre {
            VersionedPre::V0_1_0(pre) => VersionedConnector::V0_1_0(pre.instantiate_async(&mut store).await?),
            VersionedPre::V0_2_0(pre) => VersionedConnector::V0_2_0(pre.instantiate_async(&mut store).await?),
            VersionedPre::V0_2_1(pre) => VersionedConnector::V0_2_1(pre.instantiate_async(&mut store).await?),
            VersionedPre::V0_2_2(pre) => VersionedConnector::V0_2_2(pre.instantiate_async(&mut store).await?),
            VersionedPre::V0_2_3(pre) => VersionedConnector::V0_2_3(pre.instantiate_async(&mut store).await?),
            VersionedPre::V0_2_4(pre) => VersionedConnector::V0_2_4(pre.instantiate_async(&mut store).await?),
        };
        Ok(GuestInstance { store, connector })
    }
}

/// The per-instance host state: WASI, HTTP policy, limits, the lease and the host capabilities.
pub struct GuestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    policy: http_policy::RequestPolicy,
    limits: Limits,
    /// The lease the instance's store commits are checked against.
    fence: Option<Fence>,
    activity: Arc<Activity>,
    capabilities: Capabilities,
}

impl GuestState {
    /// The capabilities this instance was given.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// What the instance did so far.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.policy }
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_LIVE_INSTANCES)
        .total_core_instances(MAX_LIVE_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(MAX_LIVE_INSTANCES * MEMORIES_PER_COMPONENT)
        .total_tables(MAX_LIVE_INSTANCES * TABLES_PER_COMPONENT)
        .max_memory_size(GuestLimits::default().memory_bytes.max(256 << 20));
    config.allocation_strategy(pool);
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("casebridge-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("cannot start the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
