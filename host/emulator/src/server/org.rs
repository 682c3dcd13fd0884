//! The emulated org's state and the one path every REST request takes through
//! it: authenticate, route, admit (count), execute.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use anyhow::anyhow;
use axum::http::{HeaderMap, Method, header};
use serde_json::Value;

use super::clock::Clock;
use super::faults::FaultPlan;
use super::messaging::{self, Messaging};
use super::query::QueryCursors;
use super::request::ApiRequest;
use super::resources::Resource;
use super::response::ApiResponse;
use super::sessions::{ConnectedApp, Sessions};
use super::streaming::Streaming;
use super::usage::{self, Allowance, ApiUsage, CallCounters};
use super::{Credentials, EmulatorOptions, composite, oauth, query, sobjects, versions};
use crate::db::{ChangeType, Database, QueryContext, WriteContext};
use crate::error::SfError;
use crate::ids;
use crate::schema::Schema;
use crate::seed::{self, BulkSeed, BulkSeedError, BulkSeeded, SeededOrg};

/// The three origins an org is reached at, as `https://login.salesforce.com`,
/// `https://acme.my.salesforce.com` and `https://acme.my.salesforce-scrt.com` are.
#[derive(Debug, Clone)]
pub(crate) struct Origins {
    /// Where clients log in: OAuth (and the admin API) only.
    pub login_url: String,
    /// The org's own host: the REST API, OAuth too (a My Domain host serves it) and the admin API.
    pub instance_url: String,
    /// The messaging host: Messaging for In-App and Web's customer API and
    /// its event stream (and the admin API).
    pub scrt_url: String,
}

/// What the server shares between connections.
pub(crate) struct Emulator {
    pub origins: Origins,
    pub seeded: SeededOrg,
    /// The org's clock, readable without the org's lock (it shares the offset).
    pub clock: Clock,
    org: Mutex<Org>,
    faults: Mutex<FaultPlan>,
}

impl Emulator {
    pub(crate) fn new(origins: Origins, options: &EmulatorOptions) -> anyhow::Result<Self> {
        let mut schema = Schema::standard();
        for (object, field) in &options.custom_fields {
            schema
                .add_custom_field(object, field.clone())
                .map_err(|e| anyhow!("cannot add the custom field {object}.{}: {e}", field.name))?;
        }
        let mut db = Database::new(schema);
        let clock = Clock::default();
        let seeded =
            seed::seed(&mut db, options.seed, clock.now()).map_err(|e| anyhow!("cannot seed the emulated org: {e}"))?;
        let org_id = ids::new_id("00D", 1);
        let mut sessions = Sessions::new(&org_id, options.token_ttl);
        let refresh_token = sessions.issue_refresh(&seeded.integration_user_id);
        let passwords =
            HashMap::from([(seeded.integration_username.to_lowercase(), seeded.integration_password.clone())]);
        let now = clock.now();
        let messaging = Messaging::new(&seeded.automated_process_user_id, options.token_ttl);
        let streaming = Streaming::new(db.schema());
        let mut org = Org {
            db,
            clock: clock.clone(),
            org_id,
            origins: origins.clone(),
            app: ConnectedApp::generate(),
            sessions,
            passwords,
            integration_user_id: seeded.integration_user_id.clone(),
            integration_refresh_token: refresh_token,
            allowance: Allowance::new(options.daily_api_limit, now),
            counters: CallCounters::default(),
            cursors: QueryCursors::default(),
            messaging,
            streaming,
            transaction: None,
        };
        if options.seed == seed::Seed::Demo {
            messaging::seed_default_deployment(&mut org, seeded.handoff_queue_id.as_deref())
                .map_err(|e| anyhow!("cannot set up the demo messaging deployment: {e}"))?;
        }
        // Seeding is not a transaction that streams: capture starts now.
        let selection = org.streaming.selection().iter().cloned().collect();
        org.db.set_change_capture(Some(selection));
        Ok(Emulator { origins, seeded, clock, org: Mutex::new(org), faults: Mutex::new(FaultPlan::default()) })
    }

    /// The org, for one synchronous piece of work. A handler that panicked
    /// while holding it left it usable: every write validates before it
    /// changes anything. Letting go of it commits the records' changes as
    /// one transaction: their change events are published then.
    pub(crate) fn org(&self) -> OrgGuard<'_> {
        OrgGuard(self.org.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Publishes a header-only gap or overflow event.
    pub(crate) fn publish_header_only(
        &self,
        entity: &str,
        change_type: ChangeType,
        record_ids: Vec<String>,
    ) -> Result<u64, String> {
        let mut org = self.org();
        let now = org.clock.now();
        let org = &mut *org;
        let user = org.integration_user_id.clone();
        org.streaming.publish_header_only(org.db.schema(), entity, change_type, record_ids, &user, now)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultPlan> {
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn credentials(&self) -> Credentials {
        let org = self.org();
        Credentials {
            url: self.origins.login_url.clone(),
            instance_url: self.origins.instance_url.clone(),
            client_id: org.app.client_id.clone(),
            client_secret: org.app.client_secret.clone(),
            refresh_token: org.integration_refresh_token.clone(),
            username: self.seeded.integration_username.clone(),
            password: self.seeded.integration_password.clone(),
            scrt_url: self.origins.scrt_url.clone(),
            org_id: org.org_id.clone(),
        }
    }

    pub(crate) fn reset_counters(&self) {
        {
            let mut org = self.org();
            org.counters = CallCounters::default();
            org.streaming.counters = Default::default();
        }
        self.faults().reset_count();
    }

    /// Adds a bulk of cases and conversations to the org, dated up to now.
    pub(crate) fn bulk_seed(&self, options: &BulkSeed) -> Result<BulkSeeded, BulkSeedError> {
        let now = self.clock.now();
        let mut org = self.org();
        // Not a transaction that streams (see `server::streaming`).
        let capture = org.db.change_capture().cloned();
        org.db.set_change_capture(None);
        let seeded = seed::bulk_seed(&mut org.db, &self.seeded, options, now);
        org.db.set_change_capture(capture);
        seeded
    }

    pub(crate) fn counters(&self) -> CallCounters {
        let mut counters = {
            let org = self.org();
            let mut counters = org.counters.clone();
            counters.streaming = org.streaming.counters.clone();
            counters
        };
        counters.faults_injected = self.faults().injected();
        counters
    }
}

/// The org: records, clock, sessions, allowance and counters.
pub(crate) struct Org {
    pub db: Database,
    pub clock: Clock,
    /// 18-character org id (`00D…`).
    pub org_id: String,
    pub origins: Origins,
    pub app: ConnectedApp,
    pub sessions: Sessions,
    /// Login passwords by lower-cased username (usernames are case-insensitive).
    pub passwords: HashMap<String, String>,
    /// The integration user: the refresh token's owner and the client credentials flow's "Run As" user.
    pub integration_user_id: String,
    pub integration_refresh_token: String,
    pub allowance: Allowance,
    pub counters: CallCounters,
    pub cursors: QueryCursors,
    /// Messaging for In-App and Web: deployments, tokens, conversations, events.
    pub messaging: Messaging,
    /// Change Data Capture and CometD: selection, events, clients.
    pub streaming: Streaming,
    /// Who the transaction in progress is for: set by a REST request.
    pub transaction: Option<TransactionOrigin>,
}

/// A REST request's `changeOrigin` and user, for its change events.
#[derive(Debug, Clone)]
pub(crate) struct TransactionOrigin {
    pub origin: String,
    pub user: String,
}

/// The org's lock, held: dereferences to the [`Org`]; dropping it commits
/// the transaction ([`Org::commit`]).
pub(crate) struct OrgGuard<'a>(MutexGuard<'a, Org>);

impl std::ops::Deref for OrgGuard<'_> {
    type Target = Org;
    fn deref(&self) -> &Org {
        &self.0
    }
}

impl std::ops::DerefMut for OrgGuard<'_> {
    fn deref_mut(&mut self) -> &mut Org {
        &mut self.0
    }
}

impl Drop for OrgGuard<'_> {
    fn drop(&mut self) {
        self.0.commit();
    }
}

/// The fields of a user the server needs.
#[derive(Debug, Clone)]
pub(crate) struct UserSummary {
    pub id: String,
    pub username: String,
    pub is_active: bool,
}

impl Org {
    /// Ends the transaction: publishes its record changes as change events.
    pub(crate) fn commit(&mut self) {
        let origin = self.transaction.take();
        if !self.db.has_changes() {
            return;
        }
        let changes = self.db.take_changes();
        let now = self.clock.now();
        match origin {
            Some(t) => self.streaming.publish(changes, &t.origin, Some(&t.user), now),
            None => self.streaming.publish(changes, "", None, now),
        }
    }

    /// Selects the entities for Change Data Capture (Setup's Change Data Capture page).
    pub(crate) fn set_cdc_selection(&mut self, entities: &[String]) -> Result<(), String> {
        self.commit();
        self.streaming.set_selection(self.db.schema(), entities)?;
        let selection = self.streaming.selection().iter().cloned().collect();
        self.db.set_change_capture(Some(selection));
        Ok(())
    }

    pub(crate) fn usage(&self) -> ApiUsage {
        self.allowance.usage(self.clock.now())
    }

    pub(crate) fn set_usage(&mut self, used: Option<u64>, max: Option<u64>) {
        self.allowance.set(used, max);
    }

    /// Invalidates every access token: the REST API's and the messaging API's.
    pub(crate) fn expire_sessions(&mut self) {
        self.sessions.expire_all();
        self.messaging.expire_tokens();
    }

    pub(crate) fn write_context(&self, user_id: &str) -> WriteContext {
        WriteContext { now: self.clock.now(), user_id: user_id.to_string() }
    }

    pub(crate) fn query_context(&self, user_id: &str, version: &str) -> QueryContext {
        QueryContext { now: self.clock.now(), api_version: version.to_string(), user_id: user_id.to_string() }
    }

    /// An HTTP request under `/services/data/vXX.X/`: the session, the
    /// resource, the allowance, then the work. Every answer after a valid
    /// session carries `Sforce-Limit-Info`.
    pub(crate) fn serve_api(&mut self, request: &ApiRequest, headers: &HeaderMap) -> ApiResponse {
        let user = match self.authenticate(headers) {
            Ok(user) => user,
            Err(e) => return e.into(),
        };
        self.transaction =
            Some(TransactionOrigin { origin: change_origin(&request.version, headers), user: user.clone() });
        let answer = match Resource::route(&request.method, &request.path, self.db.schema()) {
            Ok(resource) => match self.admit(&resource, &request.method) {
                Ok(()) => self.execute(&user, request, &resource),
                Err(e) => e.into(),
            },
            Err(e) => e.into(),
        };
        let limit_info = self.allowance.header(self.clock.now());
        answer.with_header("Sforce-Limit-Info", limit_info)
    }

    /// The user a request's `Authorization: Bearer …` (or `OAuth …`) token acts as.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<String, SfError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer") || scheme.eq_ignore_ascii_case("OAuth"))
            .map(|(_, token)| token.trim());
        token
            .and_then(|t| self.sessions.user_for(t, self.clock.now()))
            .map(str::to_string)
            .ok_or_else(|| SfError::new(401, "INVALID_SESSION_ID", "Session expired or invalid"))
    }

    /// Counts the call if the resource is one, or refuses it over the allowance.
    pub(crate) fn admit(&mut self, resource: &Resource, method: &Method) -> Result<(), SfError> {
        if !resource.counts_as_call() {
            return self.check_allowance();
        }
        let now = self.clock.now();
        usage::admit_call(&mut self.allowance, &mut self.counters, &resource.counter_key(method), now)
    }

    /// REQUEST_LIMIT_EXCEEDED without counting anything.
    fn check_allowance(&self) -> Result<(), SfError> {
        let usage = self.usage();
        if usage.used >= usage.max {
            return Err(SfError::new(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."));
        }
        Ok(())
    }

    /// Carries out a routed request as `user`, without authenticating or
    /// counting it: composite subrequests come through here too.
    pub(crate) fn execute(&mut self, user: &str, request: &ApiRequest, resource: &Resource) -> ApiResponse {
        let get = request.method == Method::GET || request.method == Method::HEAD;
        let result = match resource {
            Resource::Resources => Ok(versions::resources(&request.version)),
            Resource::Limits => Ok(versions::limits(self.usage(), self.streaming.limits(self.clock.now()))),
            Resource::Query { include_deleted, locator: None } => {
                query::first_page(self, user, request, *include_deleted)
            }
            Resource::Query { include_deleted, locator: Some(locator) } => {
                query::next_page(self, user, request, locator, *include_deleted)
            }
            Resource::Search => query::search(self, user, request),
            Resource::ParameterizedSearch => query::parameterized_search(self, user, request),
            Resource::SObjects => Ok(sobjects::describe_global(self, user, request)),
            Resource::SObject { object } if get => sobjects::info(self, user, request, object),
            Resource::SObject { object } => sobjects::create(self, user, request, object),
            Resource::Describe { object } => sobjects::describe(self, user, request, object),
            Resource::Updated { object } => sobjects::updated(self, user, request, object, false),
            Resource::Deleted { object } => sobjects::updated(self, user, request, object, true),
            Resource::Record { object, id } => match request.method {
                Method::PATCH => sobjects::update(self, user, request, object, id),
                Method::DELETE => sobjects::delete(self, user, object, id),
                _ => sobjects::retrieve(self, user, request, object, id),
            },
            Resource::Blob { object, id, field } => sobjects::blob(self, user, object, id, field),
            Resource::Composite => composite::composite(self, user, request),
            Resource::Collection { object: Some(object) } => {
                composite::retrieve_collection(self, user, request, object)
            }
            Resource::Collection { object: None } => composite::collection(self, user, request),
            Resource::CompositeBatch => composite::batch(self, user, request),
        };
        result.unwrap_or_else(ApiResponse::errors)
    }

    /// Runs `work`; unless it says to keep its changes, the records go back to
    /// how they were before. The one place all-or-none is implemented.
    /// A savepoint rather than a copy of the records, which for a big org
    /// would copy hundreds of thousands of them for every such request.
    pub(crate) fn all_or_none<T>(&mut self, work: impl FnOnce(&mut Org) -> (T, bool)) -> T {
        let savepoint = self.db.savepoint();
        let (out, keep) = work(self);
        if keep {
            self.db.release(savepoint);
        } else {
            self.db.rollback(savepoint);
        }
        out
    }

    /// A user by username (case-insensitive), deleted users excluded.
    pub(crate) fn user_by_username(&self, username: &str) -> Option<UserSummary> {
        let soql = format!("SELECT Id, Username, IsActive FROM User WHERE Username = '{}'", soql_string(username));
        let ctx = self.query_context(&self.org_id, "59.0");
        let result = self.db.query(&soql, false, &ctx).ok()?;
        let row = result.records.first()?;
        Some(UserSummary {
            id: row["Id"].as_str()?.to_string(),
            username: row["Username"].as_str().unwrap_or(username).to_string(),
            is_active: row["IsActive"].as_bool().unwrap_or(false),
        })
    }

    /// A user by id.
    pub(crate) fn user_by_id(&self, user_id: &str) -> Option<Value> {
        let fields: Vec<String> = [
            "Id",
            "Username",
            "Name",
            "FirstName",
            "LastName",
            "Email",
            "IsActive",
            "UserType",
            "TimeZoneSidKey",
            "LastModifiedDate",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect();
        self.db.retrieve("User", user_id, Some(&fields), "59.0").ok()
    }

    /// An access token for the active user `username`, and the token
    /// endpoint's body for it: the admin path to act as any user.
    pub(crate) fn mint_session(&mut self, username: &str) -> Result<(String, Value), SfError> {
        let user = self
            .user_by_username(username)
            .ok_or_else(|| SfError::new(404, "NOT_FOUND", format!("No user has the username {username}")))?;
        if !user.is_active {
            return Err(SfError::new(400, "INACTIVE_USER", format!("The user {} is inactive", user.username)));
        }
        Ok(oauth::issue(self, &user.id, None))
    }
}

/// A SOQL string literal's contents: quotes and backslashes escaped.
pub(crate) fn soql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `com/salesforce/api/rest/59.0;client=X` from `Sforce-Call-Options: client=X`.
fn change_origin(version: &str, headers: &HeaderMap) -> String {
    let base = format!("com/salesforce/api/rest/{version}");
    let client = headers
        .get("sforce-call-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim() == "client")
                .map(|(_, c)| c.trim())
        })
        .filter(|c| !c.is_empty());
    match client {
        Some(client) => format!("{base};client={client}"),
        None => base,
    }
}
