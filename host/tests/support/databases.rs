//! A fresh database for a test, on either backend: an SQLite file in a
//! temporary folder, or a new database on the PostgreSQL server that
//! `CASEBRIDGE_TEST_POSTGRES` names (`.ci/run` starts one). Without that
//! variable the PostgreSQL half of a test is skipped, except under CI,
//! where it fails. Included with `#[path]` by the tests that use it.

#![allow(dead_code)] // each test binary uses its own part of it

use std::path::{Path, PathBuf};

use casebridge::storage::Store;

/// The variable naming the PostgreSQL server for tests: a `postgres://` URL
/// of a role that may create databases.
pub const TEST_POSTGRES: &str = "CASEBRIDGE_TEST_POSTGRES";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database; a PostgreSQL one is dropped with it.
pub struct TestDatabase {
    pub backend: Backend,
    /// What `[host] database` would say: the file's path or the URL.
    location: PathBuf,
    /// The SQLite file's folder, removed with the database.
    _dir: Option<tempfile::TempDir>,
    /// The server's URL and the database's name, for dropping it.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A new, empty database; `None` when the backend is not available
    /// here (PostgreSQL without `CASEBRIDGE_TEST_POSTGRES`, outside CI).
    pub fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let location = dir.path().join("casebridge.db");
                Some(TestDatabase { backend, location, _dir: Some(dir), postgres: None })
            }
            Backend::Postgres => {
                let server = postgres_server()?;
                let name = format!("casebridge_test_{}_{}", std::process::id(), unique());
                sql(&server, &format!("CREATE DATABASE {name}"));
                let location = PathBuf::from(database_url(&server, &name));
                Some(TestDatabase { backend, location, _dir: None, postgres: Some((server, name)) })
            }
        }
    }

    /// The database as `[host] database` names it.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Opens the database (migrating it as a host does at start).
    pub fn open(&self) -> Store {
        Store::open(&self.location).unwrap_or_else(|e| panic!("the {:?} test database opens: {e}", self.backend))
    }

    /// Runs SQL on the database directly, behind the store's back: for
    /// putting it in states an older or a broken host would leave.
    pub fn execute(&self, statements: &str) {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.location)
                .and_then(|conn| conn.execute_batch(statements))
                .expect("the SQL runs on the SQLite file"),
            Backend::Postgres => sql(self.location.to_str().expect("a URL"), statements),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            // Best effort: a throw-away server goes with its folder anyway.
            let _ = try_sql(server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The test server's URL, or `None` (outside CI) when there is none.
pub fn postgres_server() -> Option<String> {
    match std::env::var(TEST_POSTGRES) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "set {TEST_POSTGRES} to a PostgreSQL server (.ci/run starts one) to run the PostgreSQL storage tests"
            );
            eprintln!("skipped: {TEST_POSTGRES} is not set, so the PostgreSQL half of this test does not run");
            None
        }
    }
}

/// The server's URL with its database replaced by `name`.
pub fn database_url(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("CASEBRIDGE_TEST_POSTGRES is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Runs SQL statements on the database at `url`, panicking on an error.
pub fn sql(url: &str, statements: &str) {
    try_sql(url, statements).unwrap_or_else(|e| panic!("`{statements}` runs on the test server: {e}"));
}

fn try_sql(url: &str, statements: &str) -> Result<(), tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        let result = client.batch_execute(statements).await;
        drop(client);
        let _ = connection.await;
        result
    })
}

/// A number no other test of this process gets.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) * 1000 + NEXT.fetch_add(1, Ordering::Relaxed) % 1000
}

/// Runs each test once per backend: `mod sqlite` and `mod postgres`, each
/// with every test, given a fresh database as `$db`. The calling module
/// imports `Backend` and `TestDatabase`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    // Async tests, each on a tokio runtime of its own.
    ($( $(#[$attr:meta])* async fn $name:ident($db:ident) $body:block )*) => {
        on_both_backends! {
            $(
                $(#[$attr])*
                fn $name($db) {
                    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
                    runtime.block_on(async move $body)
                }
            )*
        }
    };
    ($( $(#[$attr:meta])* fn $name:ident($db:ident) $body:block )*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let database = TestDatabase::new(Backend::Sqlite).expect("SQLite is always there");
                    let $db = &database;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let Some(database) = TestDatabase::new(Backend::Postgres) else { return };
                    let $db = &database;
                    $body
                }
            )*
        }
    };
}
