//! The profile view (C3): live Salesforce data beside a conversation, read
//! with relationship queries in one composite request when the Account is
//! known from the person's company, else two: the Contact with its Account
//! fields and open cases, the Lead, and the Account with all its
//! opportunities.

use serde_json::Value;

use super::{CrmError, Ctx};
use crate::capabilities::Capabilities;
use crate::platform::LinkedObject;
use crate::salesforce::escape::soql_quoted;
use crate::salesforce::records::normalized;
use crate::salesforce::transport::Transport;

/// The most open cases listed; beyond it one more query counts them all.
pub const OPEN_CASES_LISTED: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct ContactView {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub account_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadView {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
    pub converted_contact_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountView {
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub owner: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityView {
    pub id: String,
    pub name: String,
    pub owner: Option<String>,
    pub stage: String,
    pub close_date: Option<String>,
    pub amount: Option<f64>,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseView {
    pub id: String,
    pub number: String,
    pub subject: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub instance_url: String,
    pub contact: Option<ContactView>,
    pub lead: Option<LeadView>,
    pub account: Option<AccountView>,
    pub opportunities: Vec<OpportunityView>,
    pub open_cases: Vec<CaseView>,
    pub open_case_count: u32,
}

fn text(record: &Value, pointer: &str) -> Option<String> {
    record.pointer(pointer).and_then(Value::as_str).map(str::to_string)
}

fn contact_query(id: &str) -> String {
    format!(
        "SELECT Id, Name, Email, AccountId, Account.Owner.Name, \
         (SELECT Id, CaseNumber, Subject, Status, Priority FROM Cases WHERE IsClosed = false \
         ORDER BY CreatedDate DESC LIMIT {OPEN_CASES_LISTED}) FROM Contact WHERE Id = {}",
        soql_quoted(id)
    )
}

fn account_query(id: &str) -> String {
    format!(
        "SELECT Id, Name, Website, BillingCountry, Owner.Name, \
         (SELECT Id, Name, StageName, CloseDate, Amount, IsClosed, Owner.Name FROM Opportunities \
         ORDER BY IsClosed, CloseDate) FROM Account WHERE Id = {}",
        soql_quoted(id)
    )
}

fn lead_query(id: &str) -> String {
    format!(
        "SELECT Id, Name, Email, Company, Status, Owner.Name, IsConverted, ConvertedContactId FROM Lead WHERE Id = {}",
        soql_quoted(id)
    )
}

fn read_contact(record: &Value, profile: &mut Profile) -> Option<String> {
    profile.contact = Some(ContactView {
        id: text(record, "/Id")?,
        name: text(record, "/Name"),
        email: text(record, "/Email"),
        account_owner: text(record, "/Account/Owner/Name"),
    });
    let cases = record.pointer("/Cases/records").and_then(Value::as_array).cloned().unwrap_or_default();
    profile.open_cases = cases
        .iter()
        .filter_map(|c| {
            Some(CaseView {
                id: text(c, "/Id")?,
                number: text(c, "/CaseNumber").unwrap_or_default(),
                subject: text(c, "/Subject"),
                status: text(c, "/Status"),
                priority: text(c, "/Priority"),
            })
        })
        .collect();
    profile.open_case_count = u32::try_from(cases.len()).unwrap_or(u32::MAX);
    text(record, "/AccountId")
}

fn read_account(record: &Value, profile: &mut Profile) {
    let Some(id) = text(record, "/Id") else { return };
    profile.account = Some(AccountView {
        id,
        name: text(record, "/Name"),
        domain: text(record, "/Website").map(|w| normalized("Website", &w)).filter(|d| !d.is_empty()),
        owner: text(record, "/Owner/Name"),
        country: text(record, "/BillingCountry"),
    });
    let opportunities = record.pointer("/Opportunities/records").and_then(Value::as_array).cloned().unwrap_or_default();
    profile.opportunities = opportunities
        .iter()
        .filter_map(|o| {
            Some(OpportunityView {
                id: text(o, "/Id")?,
                name: text(o, "/Name").unwrap_or_default(),
                owner: text(o, "/Owner/Name"),
                stage: text(o, "/StageName").unwrap_or_default(),
                close_date: text(o, "/CloseDate"),
                amount: o.get("Amount").and_then(Value::as_f64),
                closed: o.get("IsClosed").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
}

/// C3: the profile view of a person; none when nothing is linked.
pub fn profile<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
) -> Result<Option<Profile>, CrmError> {
    let person = ctx.person(person_id)?;
    let company_account = match person.company_id.as_deref() {
        Some(company) => ctx.caps.get_company(company)?.and_then(|c| c.account_id),
        None => None,
    };
    if person.salesforce.is_none() && company_account.is_none() {
        return Ok(None);
    }
    let mut queries = Vec::new();
    match &person.salesforce {
        Some(link) if link.object == LinkedObject::Contact => {
            queries.push(("contact".to_string(), contact_query(&link.id)))
        }
        Some(link) => queries.push(("lead".to_string(), lead_query(&link.id))),
        None => {}
    }
    if let Some(account) = &company_account {
        queries.push(("account".to_string(), account_query(account)));
    }
    let mut profile = Profile::default();
    let mut contact_account = None;
    for (reference, records) in ctx.client.query_many(&queries)? {
        let Some(record) = records.first() else { continue };
        match reference.as_str() {
            "contact" => contact_account = read_contact(record, &mut profile),
            "lead" => {
                let converted = text(record, "/ConvertedContactId")
                    .filter(|_| record.get("IsConverted").and_then(Value::as_bool).unwrap_or(false));
                profile.lead = Some(LeadView {
                    id: text(record, "/Id").unwrap_or_default(),
                    name: text(record, "/Name"),
                    email: text(record, "/Email"),
                    company: text(record, "/Company"),
                    status: text(record, "/Status"),
                    owner: text(record, "/Owner/Name"),
                    converted_contact_id: converted.clone(),
                });
                // A converted Lead shows the Contact it became, too.
                if let Some(contact) = converted
                    && let Some(record) = ctx.client.query(&contact_query(&contact))?.first()
                {
                    contact_account = read_contact(record, &mut profile);
                }
            }
            _ => read_account(record, &mut profile),
        }
    }
    // The Contact's own Account wins over the company's.
    if let Some(account) = contact_account.filter(|a| profile.account.as_ref().is_none_or(|known| &known.id != a))
        && let Some(record) = ctx.client.query(&account_query(&account))?.first()
    {
        read_account(record, &mut profile);
    }
    // The list stops at OPEN_CASES_LISTED; the count does not.
    if profile.open_cases.len() >= OPEN_CASES_LISTED
        && let Some(contact) = profile.contact.as_ref().map(|c| c.id.clone())
    {
        let soql = format!("SELECT COUNT() FROM Case WHERE ContactId = {} AND IsClosed = false", soql_quoted(&contact));
        let total = ctx.client.query_page(&soql)?.total_size;
        profile.open_case_count = u32::try_from(total).unwrap_or(u32::MAX);
    }
    profile.instance_url = ctx.client.instance_url().unwrap_or_default().to_string();
    Ok(Some(profile))
}
