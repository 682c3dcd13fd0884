//! Contact links (D1–D4): search Contacts for a person, link one or a new
//! one, unlink, and the cases created without a Contact (flagged, with
//! suggestions) that get the Contact once the person is linked.
//!
//! | key                      | value                                      |
//! |--------------------------|--------------------------------------------|
//! | `crm/flagged/<case id>`  | [`FlaggedCase`]: a case waiting for a Contact |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::salesforce::{NewRecord, create_all, created_since, ids, update_all};
use super::{CrmError, Ctx, SavedRecord};
use crate::capabilities::{Capabilities, LogLevel};
use crate::cycle::state::{Batch, StateView};
use crate::matching::{self, ContactQuery, MatchingError};
use crate::model::{Candidate, Customer, Outcome, RankedCandidate, Timestamp};
use crate::platform::{LinkedObject, Person, SalesforceLink};
use crate::salesforce::escape::{salesforce_id, soql_quoted, sosl_term};
use crate::salesforce::records::wire_json;
use crate::salesforce::transport::Transport;

const FLAGGED_PREFIX: &str = "crm/flagged/";
/// The Contact fields every search reads.
const CANDIDATE_FIELDS: &str = "Id, FirstName, LastName, Email, AccountId";
/// The fewest characters a typed search may have (SOSL's minimum).
const MIN_QUERY_CHARS: usize = 2;

/// A case created without a Contact (D4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedCase {
    pub case_id: String,
    pub conversation_id: String,
    pub person_id: String,
    pub suggestions: Vec<RankedCandidate>,
    pub flagged_at: Timestamp,
}

/// The person as the matching rules see a customer: the name split into
/// first and last (or the `first_name`/`last_name` attributes), `username`,
/// `handle` and `phone` attributes.
pub fn customer(person: &Person) -> Customer {
    let attribute = |name: &str| match person.attribute(name) {
        Some(crate::model::AttributeValue::Text(text)) if !text.trim().is_empty() => Some(text.trim().to_string()),
        _ => None,
    };
    let (first, last) = match person.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => match name.rsplit_once(' ') {
            Some((first, last)) => (Some(first.trim().to_string()), Some(last.trim().to_string())),
            None => (None, Some(name.to_string())),
        },
        None => (None, None),
    };
    Customer {
        id: person.id.clone(),
        first_name: attribute("first_name").or(first),
        last_name: attribute("last_name").or(last),
        email: person.email.clone().filter(|e| !e.trim().is_empty()),
        username: attribute("username"),
        handle: attribute("handle"),
        phone: attribute("phone"),
    }
}

fn matching_error(error: MatchingError) -> CrmError {
    CrmError::InvalidRequest(error.to_string())
}

fn candidate(record: &Value) -> Option<Candidate> {
    let text = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_string);
    Some(Candidate {
        id: text("Id")?,
        first_name: text("FirstName"),
        last_name: text("LastName"),
        email: text("Email"),
        account_id: text("AccountId"),
    })
}

/// Run a prepared search; the Contacts it found.
fn run_search<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    query: &ContactQuery,
) -> Result<Vec<Candidate>, CrmError> {
    let records = match query {
        ContactQuery::Soql(soql) => ctx.client.query(soql)?,
        ContactQuery::Sosl(sosl) => ctx.client.search(sosl)?,
    };
    Ok(records.iter().filter_map(candidate).collect())
}

/// D1, D2: Contacts for a person. Without `typed`, D2's ladder (the
/// person's names, else username, handle or id), ranked into link, suggest
/// or create. With `typed`, what a person typed is searched (SOSL prefix
/// match over name fields, or email fields for an address; escaped) and every
/// hit is suggested, best for the person first; none found: create.
pub fn find<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    typed: Option<&str>,
) -> Result<Outcome, CrmError> {
    let person = ctx.person(person_id)?;
    let own = customer(&person);
    let Some(typed) = typed.map(str::trim) else {
        let search = matching::search_for(&own).map_err(matching_error)?;
        let candidates = run_search(ctx, &search.query)?;
        return match matching::rank(&own, &candidates).map_err(matching_error)? {
            Outcome::Create(_) => Ok(Outcome::Create(matching::new_contact(&own).map_err(matching_error)?)),
            outcome => Ok(outcome),
        };
    };
    if typed.chars().filter(|c| c.is_alphanumeric()).count() < MIN_QUERY_CHARS {
        return Err(CrmError::InvalidRequest(format!(
            "type at least {MIN_QUERY_CHARS} letters or digits to search Contacts"
        )));
    }
    let scope = if typed.contains('@') { "EMAIL FIELDS" } else { "NAME FIELDS" };
    let sosl = format!("FIND {{{}*}} IN {scope} RETURNING Contact({CANDIDATE_FIELDS}) LIMIT 20", sosl_term(typed));
    let candidates = run_search(ctx, &ContactQuery::Sosl(sosl))?;
    if candidates.is_empty() {
        return Ok(Outcome::Create(matching::new_contact(&own).map_err(matching_error)?));
    }
    // Every hit is a choice for the person who typed: best for the person
    // first (its score against the person's own data), then Salesforce's order.
    let scored: Vec<RankedCandidate> = match matching::rank(&own, &candidates).map_err(matching_error)? {
        Outcome::Link(best) => vec![best],
        Outcome::Suggest(all) => all,
        Outcome::Create(_) => Vec::new(),
    };
    let mut ranked: Vec<RankedCandidate> = candidates
        .into_iter()
        .map(|candidate| {
            scored.iter().find(|s| s.candidate.id == candidate.id).cloned().unwrap_or(RankedCandidate {
                candidate,
                score: 0,
                reasons: Vec::new(),
            })
        })
        .collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score));
    ranked.dedup_by(|a, b| a.candidate.id == b.candidate.id);
    Ok(Outcome::Suggest(ranked))
}

fn link_person<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person: &Person,
    contact_id: &str,
) -> Result<(), CrmError> {
    ctx.caps.link_person(&person.id, Some(&SalesforceLink { object: LinkedObject::Contact, id: contact_id.into() }))?;
    ctx.caps.log(LogLevel::Info, "linked a person to a Contact", &[("person", &person.id), ("contact", contact_id)]);
    give_flagged_cases(ctx, &person.id, contact_id)
}

/// The person's flagged cases get the Contact, and are no longer flagged.
fn give_flagged_cases<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    contact_id: &str,
) -> Result<(), CrmError> {
    let mut view = StateView::default();
    let flagged: Vec<(String, FlaggedCase)> = view.load_all(ctx.caps, FLAGGED_PREFIX)?;
    let theirs: Vec<(String, FlaggedCase)> = flagged.into_iter().filter(|(_, f)| f.person_id == person_id).collect();
    if theirs.is_empty() {
        return Ok(());
    }
    let updates: Vec<(&'static str, String, Map<String, Value>)> = theirs
        .iter()
        .map(|(_, f)| ("Case", f.case_id.clone(), Map::from_iter([("ContactId".to_string(), json!(contact_id))])))
        .collect();
    update_all(ctx, &updates)?;
    let mut batch = Batch::default();
    for (key, _) in theirs {
        view.delete(&mut batch, key);
    }
    view.commit(ctx.caps, batch)?;
    Ok(())
}

/// D1: link `person_id` to the Contact `contact_id`, or to a new Contact
/// created from the person (in the person's company's Account, if linked).
pub fn link<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    contact_id: Option<&str>,
) -> Result<SavedRecord, CrmError> {
    let person = ctx.person(person_id)?;
    if let Some(contact_id) = contact_id {
        let id = salesforce_id(contact_id).filter(|id| id.starts_with("003")).ok_or_else(|| {
            CrmError::InvalidRequest(format!("`{contact_id}` is not a Contact Id (003…, 15 or 18 characters)"))
        })?;
        let soql = format!("SELECT {CANDIDATE_FIELDS} FROM Contact WHERE Id = {}", soql_quoted(id));
        let found = ctx.client.query(&soql)?;
        let Some(full_id) = ids(&found).into_iter().next() else {
            return Err(CrmError::InvalidRequest(format!(
                "there is no Contact {id} in Salesforce (or it was deleted)"
            )));
        };
        link_person(ctx, &person, &full_id)?;
        return Ok(SavedRecord { object: "Contact".into(), id: full_id, existed: true, notes: vec![] });
    }
    let fields = matching::new_contact(&customer(&person)).map_err(matching_error)?;
    let mut record: Map<String, Value> = fields.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect();
    let mut notes = Vec::new();
    if let Some(company) = person.company_id.as_deref() {
        match ctx.caps.get_company(company)?.and_then(|c| c.account_id) {
            Some(account) => {
                record.insert("AccountId".into(), json!(account));
            }
            None => notes.push("the person's company is linked to no Account: the Contact has none".to_string()),
        }
    }
    let id = create_all(ctx, &[NewRecord { object: "Contact", fields: record }])?.remove(0);
    link_person(ctx, &person, &id)?;
    Ok(SavedRecord::created("Contact", id, notes))
}

/// What an earlier `link` may have done: the Contact it created (by the
/// person's email, else last name), linked now; a link to an existing
/// Contact is simply made again.
pub fn look_up<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    contact_id: Option<&str>,
    since: Timestamp,
) -> Result<Option<Vec<SavedRecord>>, CrmError> {
    if contact_id.is_some() {
        return link(ctx, person_id, contact_id).map(|saved| Some(vec![saved]));
    }
    let person = ctx.person(person_id)?;
    let customer = customer(&person);
    let condition = match (&customer.email, matching::new_contact(&customer).map_err(matching_error)?) {
        (Some(email), _) => format!("Email = {}", soql_quoted(email)),
        (None, fields) => match fields.iter().find(|f| f.name == "LastName") {
            Some(last) => format!("LastName = {}", soql_quoted(wire_json(&last.value).as_str().unwrap_or_default())),
            None => return Ok(None),
        },
    };
    let Some(id) = ids(&created_since(ctx, "Contact", &condition, since)?).into_iter().next() else {
        return Ok(None);
    };
    link_person(ctx, &person, &id)?;
    Ok(Some(vec![SavedRecord::created("Contact", id, vec![])]))
}

/// D3: remove the person's link; the Contact stays in Salesforce.
pub fn unlink(caps: &mut impl Capabilities, person_id: &str) -> Result<(), CrmError> {
    let person = caps
        .get_person(person_id)?
        .ok_or_else(|| CrmError::InvalidRequest(format!("there is no platform person `{person_id}`")))?;
    if person.salesforce.is_none() {
        return Err(CrmError::InvalidRequest(format!("the person `{person_id}` is linked to no Contact or Lead")));
    }
    caps.link_person(person_id, None)?;
    caps.log(LogLevel::Info, "unlinked a person; the Salesforce record is kept", &[("person", person_id)]);
    Ok(())
}

/// D4: flag a case created without a Contact.
pub fn flag(view: &mut StateView, batch: &mut Batch, flagged: &FlaggedCase) {
    view.put(batch, format!("{FLAGGED_PREFIX}{}", flagged.case_id), flagged);
}

/// D4: every flagged case, oldest first.
pub fn flagged_cases(caps: &mut impl Capabilities) -> Result<Vec<FlaggedCase>, CrmError> {
    let mut flagged: Vec<FlaggedCase> = StateView::default()
        .load_all(caps, FLAGGED_PREFIX)?
        .into_iter()
        .map(|(_, f): (String, FlaggedCase)| f)
        .collect();
    flagged.sort_by_key(|f| f.flagged_at);
    Ok(flagged)
}
