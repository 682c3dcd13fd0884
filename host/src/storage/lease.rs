//! One cycle per org, across processes (E8): a per-org lease in the store,
//! and the fence a connector instance carries so that nothing it does
//! outlives the lease.
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use casebridge::storage::{Acquisition, Fence, Holder, LEASE_TTL, Leases, SqliteStore};
//!
//! let store = SqliteStore::open("casebridge.db")?;
//! let me = Holder::this_process();
//! match store.acquire("acme", &me, LEASE_TTL)? {
//!     Acquisition::Acquired(lease) => {
//!         let fence = lease.fence();
//!         // … run the cycle with `fence` in the instance's sandbox; renew
//!         // every `LEASE_RENEW_EVERY`; a `false` from renew means it was lost:
//!         if !store.renew(&lease, LEASE_TTL)? {
//!             fence.lose();
//!         }
//!         store.release(lease)?;
//!     }
//!     Acquisition::Held { holder, until } => println!("acme is being cycled by {holder} until {until}"),
//! }
//! # Ok(()) }
//! ```
//!
//! The semantics every backend implements ([`Leases`]):
//!
//! - At most one holder per org at a time. [`Leases::acquire`] grants the
//!   lease when nobody holds it, when the holder's lease has expired, or when
//!   the holder is a process on this same host name whose pid is no longer
//!   running (so a restart after SIGKILL does not wait for the expiry).
//!   Otherwise it answers [`Acquisition::Held`] with who holds it until when.
//! - Every grant gets a fencing token greater than every earlier token of
//!   that org. A fenced commit (see
//!   [`KeyValueStore::commit`](crate::runtime::BlockingKeyValueStore::commit)) checks,
//!   inside its own transaction, that the org's lease still carries its token
//!   and has not expired; otherwise it writes nothing.
//! - [`Leases::renew`] extends the expiry while the token is still the
//!   org's; `false` means another holder was granted it since: the lease is
//!   lost and must not be used again.
//! - The dead-process takeover trusts host names: machines (and containers)
//!   sharing a database need distinct host names, and processes with one
//!   host name must see each other's pids (one pid namespace). Where that
//!   does not hold, a live holder can be taken for dead; fencing still keeps
//!   it from committing anything and its next renewal tells it to stop, so
//!   what can happen twice is at most the Salesforce request it had in flight.
//! - Time is the store's: SQLite's is this machine's clock (every process on
//!   one SQLite file shares it); a server-grade backend uses the database
//!   server's clock (`now()` in PostgreSQL, with `SELECT … FOR UPDATE SKIP
//!   LOCKED` on the lease row), so hosts on several machines agree.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use casebridge_runtime::fence::{Fence, HTTP_LEASE_MARGIN};

use super::StorageError;

/// How long a lease lasts without renewal. A paused, partitioned or killed
/// holder on another machine (or one whose pid cannot be checked) blocks its
/// org for at most this long — about half the default 60-second poll
/// interval — while a holder that is merely slow (a disk busy for the
/// store's 5-second busy timeout, a stop-the-world pause) misses two
/// renewals before it loses anything.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How often a holder renews its lease while it works: a third of
/// [`LEASE_TTL`], so two renewals in a row may fail before the lease expires.
pub const LEASE_RENEW_EVERY: Duration = renew_every(LEASE_TTL);

/// How often a holder renews a lease of `ttl` (`[host] lease_ttl_seconds`).
pub const fn renew_every(ttl: Duration) -> Duration {
    Duration::from_millis(ttl.as_millis() as u64 / 3)
}

/// Who holds a lease: one process (one [`Host`](crate::host::Host)), named so
/// that people can find it — `casebridge pid 1234 on host worker-3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    host: String,
    pid: u32,
    /// Tells apart two holders in one process, and a pid the system reused.
    nonce: String,
}

impl Holder {
    /// A new holder for this process: its host name, its pid and a random part.
    pub fn this_process() -> Holder {
        let mut random = [0u8; 4];
        // Without randomness the pid alone still names the process.
        let _ = getrandom::fill(&mut random);
        let nonce = random.iter().map(|b| format!("{b:02x}")).collect();
        Holder { host: host_name(), pid: std::process::id(), nonce }
    }

    /// A holder as stored (or, in tests, one made up).
    pub fn new(host: impl Into<String>, pid: u32, nonce: impl Into<String>) -> Holder {
        Holder { host: host.into(), pid, nonce: nonce.into() }
    }

    /// The host name of the holder's machine.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The holder's process id on its machine.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The random part that makes the holder unique.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether this holder is certainly gone, as seen from `observer`: it ran
    /// on the same host name and its process no longer exists. A holder on
    /// another machine is never known to be gone; its lease is waited out.
    pub fn is_gone_for(&self, observer: &Holder) -> bool {
        self.host == observer.host && self.pid != observer.pid && !process_is_alive(self.pid)
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "casebridge pid {} on host {}", self.pid, self.host)
    }
}

/// A granted lease: the org, its holder, the fencing token and the expiry
/// at the time of the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    org: String,
    holder: Holder,
    token: i64,
    expires_at: DateTime<Utc>,
}

impl Lease {
    /// A lease as a backend grants it.
    pub fn new(org: impl Into<String>, holder: Holder, token: i64, expires_at: DateTime<Utc>) -> Lease {
        Lease { org: org.into(), holder, token, expires_at }
    }

    /// The org the lease is for.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Who holds it.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The fencing token: greater than every earlier grant's for this org.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// When the lease expires unless renewed (as granted).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// What [`Leases::acquire`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquisition {
    /// The lease is this caller's.
    Acquired(Lease),
    /// Someone else holds it, until `until` unless they renew or release it.
    Held { holder: Holder, until: DateTime<Utc> },
}

/// The org's lease as stored, for `casebridge status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The last holder.
    pub holder: Holder,
    /// The token of the last grant.
    pub token: i64,
    /// When it was granted.
    pub acquired_at: DateTime<Utc>,
    /// When it expires; `None` once released.
    pub expires_at: Option<DateTime<Utc>>,
}

impl LeaseState {
    /// Whether it is held at `now` (granted, not released, not expired).
    pub fn is_held_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|until| until > now)
    }
}

/// Per-org leases: one holder per org across every process on the store.
/// See the [module documentation](self) for the semantics.
pub trait Leases: Send + Sync {
    /// Take `org`'s lease for `ttl`, unless another live holder has it.
    fn acquire(&self, org: &str, holder: &Holder, ttl: Duration) -> Result<Acquisition, StorageError>;
    /// Extend the lease to `ttl` from now; `false` when it was lost (another
    /// holder was granted it, or it was released).
    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StorageError>;
    /// Give the lease up (a no-op when it was lost already).
    fn release(&self, lease: Lease) -> Result<(), StorageError>;
    /// The org's lease as stored; `None` before the first grant.
    fn lease_state(&self, org: &str) -> Result<Option<LeaseState>, StorageError>;
}

impl Lease {
    /// The fence a connector instance carries while this lease is held.
    pub fn fence(&self) -> Fence {
        Fence::new(&self.org, self.token, self.expires_at)
    }
}

/// Names this host in its leases instead of the machine's host name: for
/// hosts that share a host name but not their process ids (containers on
/// the host's network), which must not judge each other's pids.
pub const HOST_NAME_ENV: &str = "CASEBRIDGE_HOST_NAME";

/// This machine's host name (`unknown` when the system does not say).
pub fn host_name() -> String {
    if let Some(name) = std::env::var(HOST_NAME_ENV).ok().filter(|name| !name.trim().is_empty()) {
        return name.trim().to_string();
    }
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at
        // most that many bytes and the result is read up to the first NUL.
        let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if result == 0 {
            let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
            let name = String::from_utf8_lossy(&buffer[..end]).trim().to_string();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a process with this pid exists on this machine. Where that cannot
/// be told, it counts as alive: its lease is then waited out, never stolen.
pub fn process_is_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        if pid <= 0 {
            return true;
        }
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        // EPERM: it exists but belongs to another user.
        std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(expires_in_ms: i64) -> Lease {
        let until = Utc::now() + chrono::Duration::milliseconds(expires_in_ms);
        Lease::new("acme", Holder::this_process(), 3, until)
    }

    #[test]
    fn a_fence_allows_requests_until_the_margin_before_its_expiry() {
        let fence = lease(20_000).fence();
        let now = Utc::now();
        assert!(fence.allows_requests_at(now));
        assert!(!fence.allows_requests_at(now + chrono::Duration::seconds(16)));
        fence.extend_to(now + chrono::Duration::seconds(60));
        assert!(fence.allows_requests_at(now + chrono::Duration::seconds(50)));
    }

    #[test]
    fn a_lost_fence_allows_nothing_and_is_never_extended_again() {
        let fence = lease(20_000).fence();
        let copy = fence.clone();
        copy.lose();
        assert!(fence.is_lost());
        fence.extend_to(Utc::now() + chrono::Duration::seconds(60));
        assert!(!fence.allows_requests_at(Utc::now()));
        assert_eq!(fence.valid_until(), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("`true` runs");
        let pid = child.id();
        child.wait().expect("reaped");
        assert!(!process_is_alive(pid));
    }

    #[test]
    fn a_holder_is_gone_only_on_the_same_host_with_a_dead_pid() {
        let me = Holder::this_process();
        let mut child = std::process::Command::new("true").spawn().expect("`true` runs");
        let dead = child.id();
        child.wait().expect("reaped");
        assert!(Holder::new(me.host(), dead, "x").is_gone_for(&me));
        assert!(!Holder::new("another-machine", dead, "x").is_gone_for(&me));
        assert!(!Holder::new(me.host(), me.pid(), "other").is_gone_for(&me), "same process, another holder");
        assert!(me.to_string().contains(&format!("pid {}", me.pid())));
    }
}
