//! The two-way sync of people and companies (C1, C2), run at the end of
//! every cycle of an org that has mappings.
//!
//! - **Platform → Salesforce.** The platform's change feed, from the stored
//!   cursor: each person or company changed by someone other than the
//!   connector is linked to its Contact, Lead or Account (found by the
//!   org's match key when it has no link yet; several candidates are a sync
//!   error, never a guess), and the values of its `to_salesforce` mappings
//!   that differ from the last synced ones are written, all records in
//!   sObject-collection calls.
//! - **Salesforce → platform.** Contacts, Leads and Accounts changed since
//!   the stored point, read in one composite call, and for the linked ones
//!   the `to_platform` values that differ from the last synced ones are set
//!   on the platform.
//!
//! Each link keeps the last value synced of every mapped field (its base).
//! A value is copied only when it differs from the base, and the base moves
//! with every copy: so the connector's own writes, read back from either
//! side, are never news, and a mapping's direction decides a conflict (only
//! its source side is ever copied). A refused write is a sync error with
//! Salesforce's reason; its base stays, so a retry writes it again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, LogLevel};
use crate::cycle::SyncError;
use crate::cycle::outbox::stored_error;
use crate::cycle::state::{self, Batch, StateView, StoredError};
use crate::mapping::{WritePurpose, attributes_to_record, record_to_attributes};
use crate::model::{
    Attribute, AttributeValue, Direction, FieldMapping, ObjectCatalog, OrgConfig, Timestamp, WireField,
};
use crate::platform::{
    AttributeDefinition, AttributeKind, Company, LinkedObject, Person, PersonRole, PlatformAttribute, PlatformFailure,
    RecordKind, SalesforceLink,
};
use crate::salesforce::client::{ApiError, SalesforceClient};
use crate::salesforce::records::{self, ChangesAfter};
use crate::salesforce::transport::Transport;

/// Where the connector keeps its place in the platform's change feed.
pub const CURSOR_KEY: &str = "platform/cursor";
/// Platform records whose failed write an admin asked to retry.
pub const RETRY_KEY: &str = "platform/retry";
/// Changes read from the feed per call, and calls per cycle.
const CHANGES_PER_PAGE: u32 = 200;
const CHANGE_PAGES_PER_CYCLE: usize = 5;
/// Objects whose Salesforce changes are read for `to_platform` mappings.
const PEOPLE_AND_COMPANIES: [&str; 3] = ["Contact", "Lead", "Account"];

/// A platform record's link to its Salesforce record and the last values synced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    pub object: String,
    pub id: String,
    /// By field API name: the value both sides had when last synced.
    pub base: BTreeMap<String, crate::model::WireValue>,
}

/// What the sync did.
#[derive(Debug, Default, PartialEq)]
pub struct SyncCounts {
    pub to_salesforce: u32,
    pub to_platform: u32,
    pub linked: u32,
    pub errors: Vec<StoredError>,
}

fn link_key(kind: RecordKind, id: &str) -> String {
    format!("platform/link/{}/{id}", kind_name(kind))
}

fn reverse_key(object: &str, salesforce_id: &str) -> String {
    format!("platform/sf/{object}/{salesforce_id}")
}

fn changes_key(object: &str) -> String {
    format!("platform/changes/{object}")
}

fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Person => "person",
        RecordKind::Company => "company",
        RecordKind::Conversation => "conversation",
    }
}

/// The id of a sync error of a platform record, for `retry-error`.
pub fn error_id(kind: RecordKind, id: &str) -> String {
    format!("sync:{}:{id}", kind_name(kind))
}

/// The platform record an error id of [`error_id`] names.
pub fn error_record(error_id: &str) -> Option<(RecordKind, String)> {
    let rest = error_id.strip_prefix("sync:")?;
    let (kind, id) = rest.split_once(':')?;
    let kind = match kind {
        "person" => RecordKind::Person,
        "company" => RecordKind::Company,
        _ => return None,
    };
    Some((kind, id.to_string()))
}

fn platform_error(error: PlatformFailure) -> SyncError {
    SyncError::Host(format!("the platform's records: {error}"))
}

/// The Salesforce object a person or company is kept in.
fn object_of(kind: RecordKind, role: Option<PersonRole>) -> &'static str {
    match (kind, role) {
        (RecordKind::Company, _) => "Account",
        (_, Some(PersonRole::Lead)) => "Lead",
        _ => "Contact",
    }
}

/// Run the two-way sync; nothing (and no call) without mappings.
pub fn run<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    client: &mut SalesforceClient<T>,
    caps: &mut C,
    catalogs: &BTreeMap<&'static str, ObjectCatalog>,
) -> Result<SyncCounts, SyncError> {
    if org.mappings.is_empty() {
        return Ok(SyncCounts::default());
    }
    let definitions = caps.list_attributes().map_err(platform_error)?;
    let now = caps.now();
    let mut sync = Sync {
        org,
        catalogs,
        definitions,
        now,
        view: StateView::default(),
        batch: Batch::default(),
        counts: SyncCounts::default(),
    };
    sync.platform_to_salesforce(client, caps)?;
    sync.salesforce_to_platform(client, caps)?;
    Ok(sync.counts)
}

struct Sync<'a> {
    org: &'a OrgConfig,
    catalogs: &'a BTreeMap<&'static str, ObjectCatalog>,
    definitions: Vec<AttributeDefinition>,
    now: Timestamp,
    view: StateView,
    /// What the current direction will commit.
    batch: Batch,
    counts: SyncCounts,
}

/// A platform record read for the sync.
enum Record {
    Person(Person),
    Company(Company),
}

impl Record {
    fn kind(&self) -> RecordKind {
        match self {
            Record::Person(_) => RecordKind::Person,
            Record::Company(_) => RecordKind::Company,
        }
    }

    fn id(&self) -> &str {
        match self {
            Record::Person(p) => &p.id,
            Record::Company(c) => &c.id,
        }
    }

    fn object(&self) -> &'static str {
        match self {
            Record::Person(p) => object_of(RecordKind::Person, Some(p.role)),
            Record::Company(_) => object_of(RecordKind::Company, None),
        }
    }

    fn attribute(&self, name: &str) -> Option<AttributeValue> {
        match self {
            Record::Person(p) => p.attribute(name),
            Record::Company(c) => c.attribute(name),
        }
    }

    /// The link the platform knows, if any.
    fn link(&self) -> Option<(String, String)> {
        match self {
            Record::Person(p) => p.salesforce.as_ref().map(|l| (l.object.object().to_string(), l.id.clone())),
            Record::Company(c) => c.account_id.clone().map(|id| ("Account".to_string(), id)),
        }
    }
}

/// Whether a platform record has a Salesforce record to sync with.
enum Linked {
    Yes(LinkState),
    /// Never linked: match it.
    No,
    /// Unlinked on the platform after a link: leave it alone.
    Unlinked,
}

/// A write to Salesforce waiting for the collection call.
struct PendingWrite {
    kind: RecordKind,
    platform_id: String,
    link: LinkState,
    fields: Vec<WireField>,
}

impl Sync<'_> {
    fn mappings(&self, object: &str, direction: Direction) -> Vec<FieldMapping> {
        self.org
            .mappings
            .iter()
            .filter(|m| m.object.eq_ignore_ascii_case(object) && m.direction == direction)
            .cloned()
            .collect()
    }

    fn catalog(&self, object: &str) -> Result<&ObjectCatalog, SyncError> {
        self.catalogs
            .get(object)
            .ok_or_else(|| SyncError::InvalidConfig(format!("the org has no field catalog of `{object}`")))
    }

    fn platform_to_salesforce<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
    ) -> Result<(), SyncError> {
        let mut cursor: Option<String> = self.view.load(caps, CURSOR_KEY)?;
        let retries: Vec<(RecordKind, String)> = self.view.load(caps, RETRY_KEY)?.unwrap_or_default();
        let mut due: BTreeSet<(u8, String)> = retries.iter().map(|(kind, id)| (kind_rank(*kind), id.clone())).collect();
        for _ in 0..CHANGE_PAGES_PER_CYCLE {
            let page = caps.changes(cursor.as_deref(), CHANGES_PER_PAGE).map_err(platform_error)?;
            for change in page.changes.iter().filter(|c| !c.by_connector) {
                if matches!(change.kind, RecordKind::Person | RecordKind::Company) {
                    due.insert((kind_rank(change.kind), change.id.clone()));
                }
            }
            cursor = Some(page.cursor);
            if !page.more {
                break;
            }
        }
        let mut writes = Vec::new();
        let mut lookups = Vec::new();
        for (rank, id) in &due {
            let record = match kind_of_rank(*rank) {
                RecordKind::Person => caps.get_person(id).map_err(platform_error)?.map(Record::Person),
                _ => caps.get_company(id).map_err(platform_error)?.map(Record::Company),
            };
            let Some(record) = record else { continue };
            match self.linked(caps, &record)? {
                Linked::Yes(link) => writes.extend(self.outgoing(&record, link)?),
                Linked::No => lookups.push(record),
                Linked::Unlinked => {}
            }
        }
        // Unlinked records are matched together, then written like the others.
        for (record, link) in self.match_records(client, caps, lookups)? {
            writes.extend(self.outgoing(&record, link)?);
        }
        self.write(client, caps, writes)?;
        let mut batch = std::mem::take(&mut self.batch);
        if let Some(cursor) = &cursor {
            self.view.put(&mut batch, CURSOR_KEY.to_string(), cursor);
        }
        if !retries.is_empty() {
            self.view.delete(&mut batch, RETRY_KEY.to_string());
        }
        self.view.commit(caps, batch)
    }

    /// Send the writes; keep the new bases of the written ones and the
    /// errors of the refused ones.
    fn write<T: Transport>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut impl Capabilities,
        writes: Vec<PendingWrite>,
    ) -> Result<(), SyncError> {
        let (to_send, unchanged): (Vec<PendingWrite>, Vec<PendingWrite>) =
            writes.into_iter().partition(|w| !w.fields.is_empty());
        for write in unchanged {
            self.keep_link(caps, write.kind, &write.platform_id, &write.link)?;
        }
        let updates: Vec<(String, String, Vec<WireField>)> =
            to_send.iter().map(|w| (w.link.object.clone(), w.link.id.clone(), w.fields.clone())).collect();
        let outcomes = records::update_records(client, &updates)?;
        for (mut write, outcome) in to_send.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    for field in write.fields {
                        write.link.base.insert(field.name, field.value);
                    }
                    self.keep_link(caps, write.kind, &write.platform_id, &write.link)?;
                    self.clear_error(write.kind, &write.platform_id);
                    self.counts.to_salesforce += 1;
                }
                Err(error) => {
                    self.keep_link(caps, write.kind, &write.platform_id, &write.link)?;
                    let operation = format!("update {}", write.link.object.to_lowercase());
                    self.fail(write.kind, &write.platform_id, &write.link.id, &operation, &error);
                }
            }
        }
        Ok(())
    }

    /// Stage the link and its reverse index (read first, so the commit
    /// expects what they hold now).
    fn keep_link(
        &mut self,
        caps: &mut impl Capabilities,
        kind: RecordKind,
        platform_id: &str,
        link: &LinkState,
    ) -> Result<(), SyncError> {
        let (key, reverse_key) = (link_key(kind, platform_id), reverse_key(&link.object, &link.id));
        self.view.load::<serde_json::Value>(caps, &key)?;
        self.view.load::<serde_json::Value>(caps, &reverse_key)?;
        self.view.put(&mut self.batch, key, link);
        let reverse = (kind_name(kind).to_string(), platform_id.to_string());
        self.view.put(&mut self.batch, reverse_key, &reverse);
        Ok(())
    }

    fn clear_error(&mut self, kind: RecordKind, platform_id: &str) {
        self.view.delete(&mut self.batch, state::error_key(&error_id(kind, platform_id)));
    }

    /// Keep a failed write or match as a sync error for people (C6).
    fn fail(&mut self, kind: RecordKind, platform_id: &str, record: &str, operation: &str, error: &ApiError) {
        let stored = stored_error(error_id(kind, platform_id), record, operation, error, self.now, None);
        self.batch.put_unchecked(state::error_key(&stored.id), &stored);
        self.counts.errors.push(stored);
    }

    /// Contacts, Leads and Accounts changed since the stored points: the
    /// linked ones' `to_platform` values that moved go to the platform.
    fn salesforce_to_platform<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
    ) -> Result<(), SyncError> {
        let overlap = i64::from(self.org.poll_overlap_seconds) * 1000;
        let mut queries = Vec::new();
        let mut points = BTreeMap::new();
        for object in PEOPLE_AND_COMPANIES {
            let mappings = self.mappings(object, Direction::ToPlatform);
            if mappings.is_empty() {
                continue;
            }
            let after: ChangesAfter = self.view.load(caps, &changes_key(object))?.unwrap_or_default();
            // The overlap is read again: a record committed late has an older stamp.
            let since = ChangesAfter { stamp: after.stamp.saturating_sub(overlap).max(0), id: None };
            let fields: Vec<&str> = mappings.iter().map(|m| m.field.as_str()).collect();
            queries.push((object.to_string(), records::changes_query(object, &fields, &since)));
            points.insert(object, after);
        }
        if queries.is_empty() {
            return Ok(());
        }
        for (object, changed) in records::read_changes(client, &queries)? {
            let Some(object) = PEOPLE_AND_COMPANIES.into_iter().find(|o| *o == object) else { continue };
            let newest = changed.iter().map(|r| r.modstamp).max();
            for record in changed {
                self.incoming(caps, object, &record)?;
            }
            if let Some(newest) = newest {
                let point = ChangesAfter { stamp: newest.max(points[object].stamp), id: None };
                self.view.put(&mut self.batch, changes_key(object), &point);
            }
        }
        let batch = std::mem::take(&mut self.batch);
        self.view.commit(caps, batch)
    }

    /// One changed Salesforce record: its linked platform record gets the
    /// mapped values that differ from the base.
    fn incoming(
        &mut self,
        caps: &mut impl Capabilities,
        object: &'static str,
        record: &records::ChangedRecord,
    ) -> Result<(), SyncError> {
        let Some((kind, platform_id)) = self.view.load::<(String, String)>(caps, &reverse_key(object, &record.id))?
        else {
            return Ok(());
        };
        let kind = if kind == "company" { RecordKind::Company } else { RecordKind::Person };
        let Some(mut link) = self.view.load::<LinkState>(caps, &link_key(kind, &platform_id))? else { return Ok(()) };
        let mappings = self.mappings(object, Direction::ToPlatform);
        let moved: Vec<&WireField> = record
            .fields
            .iter()
            .filter(|f| mappings.iter().any(|m| m.field.eq_ignore_ascii_case(&f.name)))
            .filter(|f| link.base.get(&f.name).is_none_or(|base| !records::same_value(base, &f.value)))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog(object)?;
        let wire: Vec<WireField> = moved.iter().map(|f| (*f).clone()).collect();
        let attributes = match record_to_attributes(catalog, &wire, &mappings) {
            Ok(attributes) => attributes,
            Err(problems) => {
                let message = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                let fields = problems.iter().map(|p| p.field.clone()).collect();
                let error = ApiError { status: 0, code: "INVALID_VALUE".into(), message, fields };
                self.fail(kind, &platform_id, &record.id, &format!("update {}", kind_name(kind)), &error);
                return Ok(());
            }
        };
        let wanted: BTreeSet<&str> = mappings.iter().map(|m| m.attribute.as_str()).collect();
        let entity = kind;
        let platform_attributes: Vec<PlatformAttribute> = attributes
            .into_iter()
            .filter(|a| wanted.contains(a.name.as_str()))
            .map(|a| {
                let definition = self.definitions.iter().find(|d| d.entity == entity && d.name == a.name);
                let value = match definition {
                    Some(d) => crate::platform::as_type(a.value, d.value_type),
                    None => a.value,
                };
                PlatformAttribute { kind: definition.map_or(AttributeKind::Standard, |d| d.kind), name: a.name, value }
            })
            .collect();
        let written = match kind {
            RecordKind::Company => caps.set_company_attributes(&platform_id, &platform_attributes),
            _ => caps.set_person_attributes(&platform_id, &platform_attributes),
        };
        match written {
            Ok(()) => {
                for field in moved {
                    link.base.insert(field.name.clone(), field.value.clone());
                }
                self.keep_link(caps, kind, &platform_id, &link)?;
                self.counts.to_platform += 1;
            }
            Err(PlatformFailure::Unavailable(why)) => return Err(SyncError::Host(why)),
            Err(refused) => {
                let error = ApiError {
                    status: 0,
                    code: "PLATFORM_REFUSED".into(),
                    message: refused.to_string(),
                    fields: vec![],
                };
                self.fail(kind, &platform_id, &record.id, &format!("update {}", kind_name(kind)), &error);
            }
        }
        Ok(())
    }

    /// The record's link: the platform's, with the stored base when it is
    /// the same link. A record the platform unlinked after the connector had
    /// linked it stays unlinked (a person chose so): it is not matched again.
    fn linked(&mut self, caps: &mut impl Capabilities, record: &Record) -> Result<Linked, SyncError> {
        let key = link_key(record.kind(), record.id());
        let stored = self.view.load::<LinkState>(caps, &key)?;
        Ok(match (record.link(), stored) {
            (Some((object, id)), Some(link)) if object == link.object && id == link.id => Linked::Yes(link),
            (Some((object, id)), _) => Linked::Yes(LinkState { object, id, base: BTreeMap::new() }),
            (None, Some(link)) if !link.id.is_empty() => {
                // Unlinked on the platform: keep a mark instead of the link.
                let mark = LinkState { object: link.object.clone(), id: String::new(), base: BTreeMap::new() };
                let reverse = reverse_key(&link.object, &link.id);
                self.view.load::<serde_json::Value>(caps, &reverse)?;
                self.view.put(&mut self.batch, key, &mark);
                self.view.delete(&mut self.batch, reverse);
                Linked::Unlinked
            }
            (None, Some(_)) => Linked::Unlinked,
            (None, None) => Linked::No,
        })
    }

    /// Match unlinked records by the org's keys; link the single matches
    /// (on the platform too) and report the ambiguous ones.
    fn match_records<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
        records: Vec<Record>,
    ) -> Result<Vec<(Record, LinkState)>, SyncError> {
        let mut queries = Vec::new();
        let mut waiting = Vec::new();
        for record in records {
            let key = match record.kind() {
                RecordKind::Person => &self.org.person_match_key,
                _ => &self.org.company_match_key,
            };
            let value = match record.attribute(&key.attribute) {
                Some(AttributeValue::Text(value)) => value,
                _ => continue,
            };
            let Some(soql) = records::match_query(record.object(), &key.field, &value) else { continue };
            queries.push((format!("match{}", queries.len()), soql));
            waiting.push((record, key.field.clone(), value));
        }
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let found = records::run_lookups(client, &queries)?;
        let mut linked = Vec::new();
        for ((record, field, value), (_, candidates)) in waiting.into_iter().zip(found) {
            let ids = records::matched_ids(&candidates, &field, &value);
            match ids.as_slice() {
                [] => {}
                [id] => {
                    self.link(caps, &record, id)?;
                    linked.push((record.object().to_string(), id.clone(), record));
                }
                several => {
                    let error = ApiError {
                        status: 0,
                        code: "AMBIGUOUS_MATCH".into(),
                        message: format!(
                            "{} {} records have {field} = {value}: {}; link one by hand",
                            several.len(),
                            record.object(),
                            several.join(", ")
                        ),
                        fields: vec![field.clone()],
                    };
                    self.fail(record.kind(), record.id(), record.object(), "match", &error);
                }
            }
        }
        Ok(linked
            .into_iter()
            .map(|(object, id, record)| (record, LinkState { object, id, base: BTreeMap::new() }))
            .collect())
    }

    fn link(&mut self, caps: &mut impl Capabilities, record: &Record, salesforce_id: &str) -> Result<(), SyncError> {
        match record {
            Record::Person(person) => {
                let object = if person.role == PersonRole::Lead { LinkedObject::Lead } else { LinkedObject::Contact };
                let link = SalesforceLink { object, id: salesforce_id.to_string() };
                caps.link_person(&person.id, Some(&link)).map_err(platform_error)?;
            }
            Record::Company(company) => {
                caps.link_company(&company.id, Some(salesforce_id)).map_err(platform_error)?;
            }
        }
        self.counts.linked += 1;
        caps.log(LogLevel::Info, "linked a platform record", &[("record", record.id()), ("salesforce", salesforce_id)]);
        Ok(())
    }

    /// The mapped values of `record` that differ from the link's base.
    fn outgoing(&mut self, record: &Record, link: LinkState) -> Result<Option<PendingWrite>, SyncError> {
        let mappings = self.mappings(&link.object, Direction::ToSalesforce);
        let catalog = self.catalog(&link.object)?;
        let attributes: Vec<Attribute> = mappings
            .iter()
            .filter_map(|m| record.attribute(&m.attribute).map(|value| Attribute { name: m.attribute.clone(), value }))
            .collect();
        let fields = match attributes_to_record(catalog, &attributes, &mappings, WritePurpose::Update) {
            Ok(fields) => fields,
            Err(problems) => {
                let message = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                let fields = problems.iter().map(|p| p.field.clone()).collect();
                let error = ApiError { status: 0, code: "INVALID_VALUE".into(), message, fields };
                let operation = format!("update {}", link.object.to_lowercase());
                self.fail(record.kind(), record.id(), &link.id, &operation, &error);
                return Ok(None);
            }
        };
        let changed: Vec<WireField> = fields
            .into_iter()
            .filter(|f| link.base.get(&f.name).is_none_or(|base| !records::same_value(base, &f.value)))
            .collect();
        Ok(Some(PendingWrite { kind: record.kind(), platform_id: record.id().to_string(), link, fields: changed }))
    }
}

fn kind_rank(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Person => 0,
        _ => 1,
    }
}

fn kind_of_rank(rank: u8) -> RecordKind {
    if rank == 0 { RecordKind::Person } else { RecordKind::Company }
}
