//! Figure 3: the same mapping, flattening, resolution and matching work over
//! the same generated records, once through the component's exports (wasmtime,
//! one live instance) and once as plain native Rust (`casebridge_guest`), in
//! one run.
//!
//! Per record:
//! - mapping: `mapping.record-to-attributes` of a Case record (every synced
//!   field of the demo org's Case catalog, three renaming mappings);
//! - flattening: `routing.routing-attributes` of a person (11 attributes) and
//!   the conversation (the record's mapped attributes);
//! - resolution: `resolution.decide` over 2–10 events;
//! - matching: `matching.search-for` and `matching.rank` over 0–6 candidates.
//!
//! Records are generated in chunks of [`CHUNK`] from a seed (both forms of
//! the same chunk, outside the timing), each chunk is run by both sides, the
//! side that goes first alternating, and only the calls are timed. Both
//! sides' outputs are hashed and must agree. The component's time includes
//! what a host pays to use it: copying arguments into the guest and results
//! out, and the async call.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use casebridge::runtime::bindings::{contacts, describe, latest, matching, resolution, routing, types};
use casebridge::runtime::{
    AllowedHosts, BlockingKeyValueStore as _, Capabilities, GuestInstance, GuestLimits, GuestState, Runtime,
};
use casebridge_guest::model as m;
use casebridge_guest::resolution as r;
use casebridge_guest::routing as ro;
use casebridge_tests::TestOrg;
use serde_json::{Value, json};

use crate::measure::{Rng, ms};

/// Records generated and timed together.
pub const CHUNK: usize = 1000;
/// Records per call in the batched mapping variant.
pub const BATCH: usize = 100;

/// Time and output hash of one side for one function.
#[derive(Default, Clone, Copy)]
struct Side {
    time: Duration,
    hash: u64,
}

impl Side {
    fn add(&mut self, time: Duration, hash: u64) {
        self.time += time;
        self.hash = self.hash.wrapping_add(hash);
    }
}

#[derive(Default, Clone, Copy)]
struct Pair {
    component: Side,
    native: Side,
}

impl Pair {
    fn to_json(self, calls: usize) -> Value {
        json!({
            "component_ms": ms(self.component.time),
            "native_ms": ms(self.native.time),
            "ratio": self.component.time.as_secs_f64() / self.native.time.as_secs_f64(),
            "component_us_per_call": self.component.time.as_secs_f64() * 1e6 / calls as f64,
            "native_us_per_call": self.native.time.as_secs_f64() * 1e6 / calls as f64,
            "same_output": self.component.hash == self.native.hash,
        })
    }
}

/// One record in both forms.
struct Record {
    fields: Vec<m::WireField>,
    fields_wit: Vec<types::WireField>,
    person: ro::Person,
    person_wit: routing::Person,
    conversation: ro::ConversationData,
    conversation_wit: routing::ConversationData,
    events: Vec<r::Event>,
    events_wit: Vec<resolution::Event>,
    now: i64,
    customer: m::Customer,
    customer_wit: contacts::Customer,
    candidates: Vec<m::Candidate>,
    candidates_wit: Vec<contacts::Candidate>,
}

/// What every record shares: the Case catalog and the mappings.
struct Shared {
    catalog: m::ObjectCatalog,
    catalog_wit: describe::ObjectCatalog,
    mappings: Vec<m::FieldMapping>,
    mappings_wit: Vec<describe::FieldMapping>,
    timeouts: m::Timeouts,
    timeouts_wit: types::Timeouts,
}

/// Set to a `.wasm` file to run the component side on another build of the
/// connector (to compare builds); the embedded one by default.
pub const COMPONENT_ENV: &str = "CASEBRIDGE_BENCH_COMPONENT";

pub async fn run(records: usize, seed: u64) -> anyhow::Result<Value> {
    let shared = shared().await?;
    let (runtime, component) = match std::env::var_os(COMPONENT_ENV).filter(|p| !p.is_empty()) {
        Some(path) => (Runtime::new(&std::fs::read(&path)?)?, path.to_string_lossy().into_owned()),
        None => (casebridge_tests::runtime().clone(), "embedded".to_string()),
    };
    let mut guest =
        runtime.instantiate(Capabilities::in_memory("bench"), AllowedHosts::none(), GuestLimits::default()).await?;
    // A catalog without fields: every field is skipped, what is left is crossing the boundary.
    let empty_catalog = describe::ObjectCatalog { object: "Case".into(), fields: Vec::new() };
    let empty_native = m::ObjectCatalog { object: "Case".into(), fields: Vec::new() };
    let mut boundary = Pair::default();
    let mut mapping = Pair::default();
    let mut one_per_call = Pair::default();
    let mut flattening = Pair::default();
    let mut decide = Pair::default();
    let mut matching = Pair::default();
    let mut generated = 0;
    let mut chunk_index = 0;
    while generated < records {
        let count = CHUNK.min(records - generated);
        let chunk: Vec<Record> =
            (generated..generated + count).map(|i| record(&shared, seed.wrapping_add(i as u64))).collect();
        let component_first = chunk_index % 2 == 0;
        for first in [component_first, !component_first] {
            if first {
                let case = &shared.catalog_wit;
                mapping.component.add_pair(component_mapping(&mut guest, case, &shared, &chunk, BATCH).await?);
                boundary.component.add_pair(component_mapping(&mut guest, &empty_catalog, &shared, &chunk, 1).await?);
                one_per_call.component.add_pair(component_mapping(&mut guest, case, &shared, &chunk, 1).await?);
                flattening.component.add_pair(component_flattening(&mut guest, &chunk).await?);
                decide.component.add_pair(component_decide(&mut guest, &shared, &chunk).await?);
                matching.component.add_pair(component_matching(&mut guest, &chunk).await?);
            } else {
                mapping.native.add_pair(native_mapping(&shared.catalog, &shared, &chunk));
                boundary.native.add_pair(native_mapping(&empty_native, &shared, &chunk));
                one_per_call.native.add_pair(native_mapping(&shared.catalog, &shared, &chunk));
                flattening.native.add_pair(native_flattening(&chunk));
                decide.native.add_pair(native_decide(&shared, &chunk));
                matching.native.add_pair(native_matching(&chunk));
            }
        }
        generated += count;
        chunk_index += 1;
    }
    let overhead = call_overhead(&mut guest, records.min(20_000)).await?;

    let total = |side: fn(&Pair) -> Side| {
        let parts = [mapping, flattening, decide, matching];
        parts.iter().map(side).fold(Side::default(), |mut sum, s| {
            sum.add(s.time, s.hash);
            sum
        })
    };
    let all = Pair { component: total(|p| p.component), native: total(|p| p.native) };
    Ok(json!({
        "records": records,
        "component": component,
        "mapping_boundary": boundary.to_json(records),
        "case_fields": shared.catalog.fields.iter().filter(|f| f.synced).count(),
        "mapping": mapping.to_json(records),
        "mapping_one_per_call": one_per_call.to_json(records),
        "batch": BATCH,
        "flattening": flattening.to_json(records),
        "resolution": decide.to_json(records),
        "matching": matching.to_json(records * 2),
        "total": all.to_json(records * 5),
        "call_overhead_us": overhead,
    }))
}

trait AddPair {
    fn add_pair(&mut self, pair: (Duration, u64));
}

impl AddPair for Side {
    fn add_pair(&mut self, (time, hash): (Duration, u64)) {
        self.add(time, hash);
    }
}

/// The demo org's Case catalog, in both forms, from the connector itself.
async fn shared() -> anyhow::Result<Shared> {
    let org = TestOrg::demo();
    let mut guest = org.instance().await;
    let catalogs = guest.list_fields().await?.map_err(|e| anyhow::anyhow!("list-fields: {e:?}"))?;
    let catalog_wit = catalogs.into_iter().find(|c| c.object == "Case").context("no Case catalog")?;
    let stored = org.store.get(&org.config.name, "catalog/Case").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let catalog: m::ObjectCatalog = serde_json::from_str(&stored.context("the Case catalog is not stored")?)?;
    ensure!(catalog.fields.len() == catalog_wit.fields.len(), "the two forms of the catalog differ");
    let mappings: Vec<m::FieldMapping> = [("Priority", "priority"), ("Status", "status"), ("Subject", "title")]
        .iter()
        .map(|(field, attribute)| m::FieldMapping {
            object: "Case".into(),
            field: field.to_string(),
            attribute: attribute.to_string(),
            direction: m::Direction::ToPlatform,
        })
        .collect();
    let mappings_wit = mappings
        .iter()
        .map(|m| describe::FieldMapping {
            object: m.object.clone(),
            field: m.field.clone(),
            attribute: m.attribute.clone(),
            direction: describe::Direction::ToPlatform,
        })
        .collect();
    let timeouts = m::Timeouts { soft_resolution_after_ms: 86_400_000, abandoned_after_ms: 86_400_000 };
    let timeouts_wit = types::Timeouts { soft_resolution_after_ms: 86_400_000, abandoned_after_ms: 86_400_000 };
    Ok(Shared { catalog, catalog_wit, mappings, mappings_wit, timeouts, timeouts_wit })
}

// ---- generated records ---------------------------------------------------------------------

const FIRST: &[&str] = &["Amelia", "Ben", "Carla", "Dmitri", "Eva", "Farah", "George", "Siobhán", "Zoë", "Ana María"];
const LAST: &[&str] = &["Clarke", "Okafor", "Mendes", "Volkov", "Lindqvist", "Haddad", "Tanaka", "O'Brien", "Núñez"];
const WORDS: &[&str] =
    &["invoice", "export", "password", "dashboard", "seats", "contract", "CSV", "login", "error", "renewal", "ticket"];

fn id(rng: &mut Rng, prefix: &str) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = prefix.to_string();
    while id.len() < 18 {
        id.push(CHARS[rng.below(CHARS.len())] as char);
    }
    id
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| *rng.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

fn wire_value(rng: &mut Rng, field: &m::FieldDescriptor) -> m::WireValue {
    use m::FieldType as T;
    if field.nillable && rng.chance(0.1) {
        return m::WireValue::Null;
    }
    let text = |s: String| m::WireValue::Text(s);
    match field.field_type {
        T::Id | T::Reference => text(id(rng, "500")),
        T::Boolean => m::WireValue::Boolean(rng.chance(0.5)),
        T::Int | T::Long => m::WireValue::Number(format!("{}", rng.below(100_000))),
        T::Double | T::Currency | T::Percent => {
            m::WireValue::Number(format!("{}.{}", rng.below(10_000), rng.below(100)))
        }
        T::Date => text(format!("20{:02}-{:02}-{:02}", 10 + rng.below(15), 1 + rng.below(12), 1 + rng.below(28))),
        T::Datetime => text(format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
            10 + rng.below(15),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        )),
        T::Time => text(format!("{:02}:{:02}:00.000Z", rng.below(24), rng.below(60))),
        T::Picklist | T::Combobox if !field.picklist_values.is_empty() => {
            text(rng.pick(&field.picklist_values).value.clone())
        }
        T::Multipicklist if !field.picklist_values.is_empty() => {
            let a = rng.pick(&field.picklist_values).value.clone();
            let b = rng.pick(&field.picklist_values).value.clone();
            text(format!("{a};{b}"))
        }
        T::Email => text(format!("{}.{}@example.com", rng.below(1000), rng.below(1000))),
        T::Address => m::WireValue::Compound(
            r#"{"street":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}"#.into(),
        ),
        T::Location => m::WireValue::Compound(r#"{"latitude":52.52,"longitude":13.405}"#.into()),
        T::Textarea => text(sentence(rng, 30)),
        _ => text(sentence(rng, 3)),
    }
}

fn record(shared: &Shared, seed: u64) -> Record {
    let mut rng = Rng::new(seed);
    let fields: Vec<m::WireField> = shared
        .catalog
        .fields
        .iter()
        .filter(|f| f.synced && f.descriptor.field_type != m::FieldType::Base64)
        .map(|f| m::WireField { name: f.descriptor.name.clone(), value: wire_value(&mut rng, &f.descriptor) })
        .collect();
    let attributes =
        casebridge_guest::mapping::record_to_attributes(&shared.catalog, &fields, &shared.mappings).unwrap_or_default();
    let conversation = ro::ConversationData {
        subject: Some(sentence(&mut rng, 6)),
        attributes: attributes
            .into_iter()
            .map(|a| ro::ConversationAttribute { custom: a.name.ends_with("__c"), name: a.name, value: a.value })
            .collect(),
    };
    let first = rng.pick(FIRST).to_string();
    let last = rng.pick(LAST).to_string();
    let email = format!("{}.{}@example.com", first.to_lowercase().replace(' ', ""), rng.below(50));
    let person_attribute = |name: &str, kind, value| ro::PersonAttribute { name: name.into(), kind, value };
    use ro::PersonAttributeKind::{Custom, Location, Standard};
    let person = ro::Person {
        first_name: Some(first.clone()),
        last_name: Some(last.clone()),
        email: Some(email.clone()),
        attributes: vec![
            person_attribute("email", Standard, m::AttributeValue::Text(email.clone())),
            person_attribute("name", Standard, m::AttributeValue::Text(format!("{first} {last}"))),
            person_attribute("phone", Standard, m::AttributeValue::Text("+1 415 555 0100".into())),
            person_attribute("signed_up_at", Standard, m::AttributeValue::Datetime(1_700_000_000_000)),
            person_attribute("plan", Custom, m::AttributeValue::Text("Team".into())),
            person_attribute("seats", Custom, m::AttributeValue::Integer(rng.below(500) as i64)),
            person_attribute("mrr", Custom, m::AttributeValue::Decimal(rng.below(100_000) as f64 / 100.0)),
            person_attribute("tags", Custom, m::AttributeValue::List(vec!["vip".into(), "emea".into()])),
            person_attribute(
                "renewal",
                Custom,
                m::AttributeValue::Date(m::CalendarDate { year: 2026, month: 1 + rng.below(12) as u8, day: 15 }),
            ),
            person_attribute("city_name", Location, m::AttributeValue::Text("Dublin".into())),
            person_attribute("country_name", Location, m::AttributeValue::Text("Ireland".into())),
        ],
    };

    let mut at = 1_700_000_000_000 + rng.below(1_000_000_000) as i64;
    let events: Vec<r::Event> = (0..2 + rng.below(9))
        .map(|_| {
            at += 1_000 * (1 + rng.below(600)) as i64;
            match rng.below(100) {
                0..35 => r::Event::CustomerMessage(at),
                35..65 => r::Event::AgentAnswer(at),
                65..75 => r::Event::AgentQuestion(at),
                75..85 => r::Event::CustomerConfirmed(at),
                85..93 => r::Event::CustomerAskedForPerson(at),
                _ => r::Event::AgentCouldNotHelp(at),
            }
        })
        .collect();
    let now = at + rng.below(2 * 86_400_000) as i64;

    let named = rng.below(100) < 85;
    let customer = m::Customer {
        id: format!("cust-{seed}"),
        first_name: named.then(|| first.clone()),
        last_name: named.then(|| last.clone()),
        email: rng.chance(0.7).then(|| email.clone()),
        username: (!named || rng.chance(0.3))
            .then(|| format!("{}{}", first.to_lowercase().replace(' ', ""), seed % 997)),
        handle: rng.chance(0.2).then(|| format!("@{}", last.to_lowercase())),
        phone: rng.chance(0.3).then(|| "+44 20 7946 0000".to_string()),
    };
    let candidates: Vec<m::Candidate> = (0..rng.below(7))
        .map(|_| {
            let same_email = rng.chance(0.3);
            let same_name = rng.chance(0.5);
            m::Candidate {
                id: id(&mut rng, "003"),
                first_name: Some(if same_name { first.clone() } else { rng.pick(FIRST).to_string() }),
                last_name: Some(if same_name { last.clone() } else { rng.pick(LAST).to_string() }),
                email: Some(if same_email {
                    email.to_uppercase()
                } else {
                    format!("other{}@example.org", rng.below(99))
                }),
                account_id: rng.chance(0.8).then(|| id(&mut rng, "001")),
            }
        })
        .collect();

    Record {
        fields_wit: fields.iter().map(wit::wire_field).collect(),
        fields,
        person_wit: wit::person(&person),
        person,
        conversation_wit: wit::conversation(&conversation),
        conversation,
        events_wit: events.iter().map(wit::event).collect(),
        events,
        now,
        customer_wit: wit::customer(&customer),
        customer,
        candidates_wit: candidates.iter().map(wit::candidate).collect(),
        candidates,
    }
}

// ---- the component side --------------------------------------------------------------------

/// The newest contract's exports of the bench's instance.
fn latest(guest: &mut GuestInstance) -> anyhow::Result<(&latest::Connector, &mut wasmtime::Store<GuestState>)> {
    guest.latest().context("the bench's component implements an older contract than 0.2.0")
}

/// `mapping.field-catalog.records-to-attributes`, `batch` records per call,
/// on a catalog resource created once for the chunk.
async fn component_mapping(
    guest: &mut GuestInstance,
    catalog: &describe::ObjectCatalog,
    shared: &Shared,
    chunk: &[Record],
    batch: usize,
) -> anyhow::Result<(Duration, u64)> {
    let (connector, store) = latest(guest)?;
    let api = connector.casebridge_connector_mapping().field_catalog();
    let started = Instant::now();
    let resource = api.call_constructor(&mut *store, catalog, &shared.mappings_wit).await?;
    let mut out = Vec::with_capacity(chunk.len());
    for records in chunk.chunks(batch) {
        let fields: Vec<Vec<types::WireField>> = records.iter().map(|r| r.fields_wit.clone()).collect();
        out.extend(api.call_records_to_attributes(&mut *store, resource, &fields).await?);
    }
    let time = started.elapsed();
    resource.resource_drop_async(&mut *store).await?;
    Ok((time, out.iter().map(hash::mapping_wit).fold(0, u64::wrapping_add)))
}

async fn component_flattening(guest: &mut GuestInstance, chunk: &[Record]) -> anyhow::Result<(Duration, u64)> {
    let (connector, store) = latest(guest)?;
    let api = connector.casebridge_connector_routing();
    let started = Instant::now();
    let mut out = Vec::with_capacity(chunk.len());
    for records in chunk.chunks(BATCH) {
        let hand_offs: Vec<routing::HandOff> = records
            .iter()
            .map(|r| routing::HandOff { person: r.person_wit.clone(), conversation: r.conversation_wit.clone() })
            .collect();
        out.extend(api.call_routing_attributes(&mut *store, &hand_offs).await?);
    }
    let time = started.elapsed();
    Ok((time, out.iter().map(hash::pairs).fold(0, u64::wrapping_add)))
}

async fn component_decide(
    guest: &mut GuestInstance,
    shared: &Shared,
    chunk: &[Record],
) -> anyhow::Result<(Duration, u64)> {
    let (connector, store) = latest(guest)?;
    let api = connector.casebridge_connector_resolution();
    let started = Instant::now();
    let mut out = Vec::with_capacity(chunk.len());
    // One `now` per call: records of a batch that share it go together.
    for records in chunk.chunks(BATCH) {
        let mut start = 0;
        while start < records.len() {
            let now = records[start].now;
            let end = start + records[start..].iter().take_while(|r| r.now == now).count();
            let events: Vec<Vec<resolution::Event>> =
                records[start..end].iter().map(|r| r.events_wit.clone()).collect();
            out.extend(api.call_decide(&mut *store, &events, now, shared.timeouts_wit).await?);
            start = end;
        }
    }
    let time = started.elapsed();
    Ok((time, out.iter().map(hash::decision_wit).fold(0, u64::wrapping_add)))
}

async fn component_matching(guest: &mut GuestInstance, chunk: &[Record]) -> anyhow::Result<(Duration, u64)> {
    let (connector, store) = latest(guest)?;
    let api = connector.casebridge_connector_matching();
    let started = Instant::now();
    let mut searches = Vec::with_capacity(chunk.len());
    let mut ranked = Vec::with_capacity(chunk.len());
    for records in chunk.chunks(BATCH) {
        let customers: Vec<contacts::Customer> = records.iter().map(|r| r.customer_wit.clone()).collect();
        searches.extend(api.call_search_for(&mut *store, &customers).await?);
        let requests: Vec<matching::RankRequest> = records
            .iter()
            .map(|r| matching::RankRequest { customer: r.customer_wit.clone(), candidates: r.candidates_wit.clone() })
            .collect();
        ranked.extend(api.call_rank(&mut *store, &requests).await?);
    }
    let time = started.elapsed();
    Ok((
        time,
        searches
            .iter()
            .zip(&ranked)
            .map(|(s, r)| hash::search_wit(s).wrapping_add(hash::outcome_wit(r)))
            .fold(0, u64::wrapping_add),
    ))
}

/// The cost of crossing into the component and back: `matching.escape-soql("x")`, in µs per call.
async fn call_overhead(guest: &mut GuestInstance, calls: usize) -> anyhow::Result<f64> {
    let (connector, store) = latest(guest)?;
    let api = connector.casebridge_connector_matching();
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(api.call_escape_soql(&mut *store, "x").await?);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / calls as f64)
}

// ---- the native side -----------------------------------------------------------------------

fn native_mapping(catalog: &m::ObjectCatalog, shared: &Shared, chunk: &[Record]) -> (Duration, u64) {
    let started = Instant::now();
    let out: Vec<_> = chunk
        .iter()
        .map(|r| casebridge_guest::mapping::record_to_attributes(catalog, &r.fields, &shared.mappings))
        .collect();
    let time = started.elapsed();
    (time, out.iter().map(hash::mapping_native).fold(0, u64::wrapping_add))
}

fn native_flattening(chunk: &[Record]) -> (Duration, u64) {
    let started = Instant::now();
    let out: Vec<_> = chunk.iter().map(|r| ro::routing_attributes(&r.person, &r.conversation)).collect();
    let time = started.elapsed();
    (time, out.iter().map(hash::pairs).fold(0, u64::wrapping_add))
}

fn native_decide(shared: &Shared, chunk: &[Record]) -> (Duration, u64) {
    let started = Instant::now();
    let out: Vec<_> = chunk.iter().map(|r| r::decide(&r.events, r.now, &shared.timeouts)).collect();
    let time = started.elapsed();
    (time, out.iter().map(hash::decision_native).fold(0, u64::wrapping_add))
}

fn native_matching(chunk: &[Record]) -> (Duration, u64) {
    use casebridge_guest::matching as mm;
    let started = Instant::now();
    let out: Vec<_> =
        chunk.iter().map(|r| (mm::search_for(&r.customer), mm::rank(&r.customer, &r.candidates))).collect();
    let time = started.elapsed();
    (
        time,
        out.iter()
            .map(|(s, r)| hash::search_native(s).wrapping_add(hash::outcome_native(r)))
            .fold(0, u64::wrapping_add),
    )
}

// ---- the same inputs as the component's types ------------------------------------------------

mod wit {
    use super::*;

    pub fn wire_field(f: &m::WireField) -> types::WireField {
        types::WireField {
            name: f.name.clone(),
            value: match &f.value {
                m::WireValue::Null => types::WireValue::Null,
                m::WireValue::Text(t) => types::WireValue::Text(t.clone()),
                m::WireValue::Boolean(b) => types::WireValue::Boolean(*b),
                m::WireValue::Number(n) => types::WireValue::Number(n.clone()),
                m::WireValue::Compound(c) => types::WireValue::Compound(c.clone()),
            },
        }
    }

    pub fn value(v: &m::AttributeValue) -> types::AttributeValue {
        match v {
            m::AttributeValue::Null => types::AttributeValue::Null,
            m::AttributeValue::Text(t) => types::AttributeValue::Text(t.clone()),
            m::AttributeValue::Boolean(b) => types::AttributeValue::Boolean(*b),
            m::AttributeValue::Integer(i) => types::AttributeValue::Integer(*i),
            m::AttributeValue::Decimal(d) => types::AttributeValue::Decimal(*d),
            m::AttributeValue::Date(d) => {
                types::AttributeValue::Date(types::CalendarDate { year: d.year, month: d.month, day: d.day })
            }
            m::AttributeValue::Datetime(t) => types::AttributeValue::Datetime(*t),
            m::AttributeValue::Time(t) => types::AttributeValue::Time(types::TimeOfDay {
                hour: t.hour,
                minute: t.minute,
                second: t.second,
                millisecond: t.millisecond,
            }),
            m::AttributeValue::List(l) => types::AttributeValue::List(l.clone()),
            m::AttributeValue::Compound(c) => types::AttributeValue::Compound(c.clone()),
        }
    }

    pub fn person(p: &ro::Person) -> routing::Person {
        routing::Person {
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            email: p.email.clone(),
            attributes: p
                .attributes
                .iter()
                .map(|a| routing::PersonAttribute {
                    name: a.name.clone(),
                    kind: match a.kind {
                        ro::PersonAttributeKind::Standard => routing::PersonAttributeKind::Standard,
                        ro::PersonAttributeKind::Custom => routing::PersonAttributeKind::Custom,
                        ro::PersonAttributeKind::Location => routing::PersonAttributeKind::Location,
                    },
                    value: value(&a.value),
                })
                .collect(),
        }
    }

    pub fn conversation(c: &ro::ConversationData) -> routing::ConversationData {
        routing::ConversationData {
            subject: c.subject.clone(),
            attributes: c
                .attributes
                .iter()
                .map(|a| routing::ConversationAttribute {
                    name: a.name.clone(),
                    custom: a.custom,
                    value: value(&a.value),
                })
                .collect(),
        }
    }

    pub fn event(e: &r::Event) -> resolution::Event {
        match *e {
            r::Event::CustomerMessage(t) => resolution::Event::CustomerMessage(t),
            r::Event::AgentAnswer(t) => resolution::Event::AgentAnswer(t),
            r::Event::AgentQuestion(t) => resolution::Event::AgentQuestion(t),
            r::Event::CustomerConfirmed(t) => resolution::Event::CustomerConfirmed(t),
            r::Event::CustomerAskedForPerson(t) => resolution::Event::CustomerAskedForPerson(t),
            r::Event::AgentCouldNotHelp(t) => resolution::Event::AgentCouldNotHelp(t),
        }
    }

    pub fn customer(c: &m::Customer) -> contacts::Customer {
        contacts::Customer {
            id: c.id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            username: c.username.clone(),
            handle: c.handle.clone(),
            phone: c.phone.clone(),
        }
    }

    pub fn candidate(c: &m::Candidate) -> contacts::Candidate {
        contacts::Candidate {
            id: c.id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            account_id: c.account_id.clone(),
        }
    }
}

// ---- output hashes, equal when both sides computed the same -----------------------------------

mod hash {
    use super::*;

    fn of(parts: impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        parts.hash(&mut hasher);
        hasher.finish()
    }

    pub fn mapping_wit(
        out: &Result<Vec<types::Attribute>, Vec<casebridge::runtime::bindings::mapping::ConversionError>>,
    ) -> u64 {
        match out {
            Ok(attributes) => of((0u8, attributes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())),
            Err(errors) => of((1u8, errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>())),
        }
    }

    pub fn mapping_native(out: &Result<Vec<m::Attribute>, Vec<casebridge_guest::convert::ConversionError>>) -> u64 {
        match out {
            Ok(attributes) => of((0u8, attributes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())),
            Err(errors) => of((1u8, errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>())),
        }
    }

    pub fn pairs(out: &Vec<(String, String)>) -> u64 {
        of(out)
    }

    pub fn decision_wit(d: &resolution::Decision) -> u64 {
        let state = match d.state {
            types::ResolutionState::None => 0u8,
            types::ResolutionState::SoftResolution => 1,
            types::ResolutionState::HardResolution => 2,
            types::ResolutionState::Abandoned => 3,
            types::ResolutionState::RoutedToTeam => 4,
        };
        let phase = match d.phase {
            resolution::Phase::AwaitingAgent => 0u8,
            resolution::Phase::Answered => 1,
            resolution::Phase::Asked => 2,
            resolution::Phase::Confirmed => 3,
            resolution::Phase::Routed => 4,
        };
        of((state, phase, d.changes_at))
    }

    pub fn decision_native(d: &r::Decision) -> u64 {
        let state = match d.state {
            m::ResolutionState::None => 0u8,
            m::ResolutionState::SoftResolution => 1,
            m::ResolutionState::HardResolution => 2,
            m::ResolutionState::Abandoned => 3,
            m::ResolutionState::RoutedToTeam => 4,
        };
        let phase = match d.phase {
            r::Phase::AwaitingAgent => 0u8,
            r::Phase::Answered => 1,
            r::Phase::Asked => 2,
            r::Phase::Confirmed => 3,
            r::Phase::Routed => 4,
        };
        of((state, phase, d.changes_at))
    }

    pub fn search_wit(s: &Result<matching::ContactSearch, matching::MatchingError>) -> u64 {
        match s {
            Ok(search) => match &search.query {
                matching::ContactQuery::Soql(q) | matching::ContactQuery::Sosl(q) => of((0u8, q)),
            },
            Err(_) => of(1u8),
        }
    }

    pub fn search_native(
        s: &Result<casebridge_guest::matching::ContactSearch, casebridge_guest::matching::MatchingError>,
    ) -> u64 {
        use casebridge_guest::matching::ContactQuery;
        match s {
            Ok(search) => match &search.query {
                ContactQuery::Soql(q) | ContactQuery::Sosl(q) => of((0u8, q)),
            },
            Err(_) => of(1u8),
        }
    }

    pub fn outcome_wit(o: &Result<contacts::Outcome, matching::MatchingError>) -> u64 {
        match o {
            Ok(contacts::Outcome::Link(c)) => of((0u8, &c.candidate.id, c.score)),
            Ok(contacts::Outcome::Suggest(list)) => {
                of((1u8, list.iter().map(|c| (c.candidate.id.as_str(), c.score)).collect::<Vec<_>>()))
            }
            Ok(contacts::Outcome::Create(fields)) => {
                of((2u8, fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()))
            }
            Err(_) => of(3u8),
        }
    }

    pub fn outcome_native(o: &Result<m::Outcome, casebridge_guest::matching::MatchingError>) -> u64 {
        match o {
            Ok(m::Outcome::Link(c)) => of((0u8, &c.candidate.id, c.score)),
            Ok(m::Outcome::Suggest(list)) => {
                of((1u8, list.iter().map(|c| (c.candidate.id.as_str(), c.score)).collect::<Vec<_>>()))
            }
            Ok(m::Outcome::Create(fields)) => of((2u8, fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>())),
            Err(_) => of(3u8),
        }
    }
}
