//! `casebridge crm …`: the CRM actions from the terminal, answering the same
//! JSON as the platform API (see [`super::crm`]).

use std::io::Write;

use clap::Subcommand;
use serde_json::{Value, json};

use super::crm::{attribute_value, crm_error, flagged_json, outcome_json, profile_json, saved_json};
use crate::host::{Host, OrgError};
use crate::runtime::bindings::crm::CrmError;
use crate::runtime::bindings::types::Attribute;

/// The CRM actions.
#[derive(Debug, Clone, Subcommand)]
pub enum CrmCommand {
    /// The Salesforce data beside a person (C3): Contact or Lead, Account, opportunities, open cases.
    #[command(after_help = "Example:\n  casebridge crm profile --org acme p-42")]
    Profile {
        #[arg(long)]
        org: String,
        /// The platform person's id.
        person: String,
    },
    /// Create a Lead for a person with an email (C4, D5) and link them.
    #[command(after_help = "Example:\n  casebridge crm lead --org acme p-42 --key 6f1c…")]
    Lead {
        #[arg(long)]
        org: String,
        person: String,
        /// The idempotency key; the same key again creates nothing (default: a new one, printed).
        #[arg(long)]
        key: Option<String>,
    },
    /// Search Contacts for a person (D1, D2): by what you type, or by the person's own names.
    #[command(after_help = "Example:\n  casebridge crm find-contact --org acme p-42 --query \"Ada Love\"")]
    FindContact {
        #[arg(long)]
        org: String,
        person: String,
        #[arg(long)]
        query: Option<String>,
    },
    /// Link a person to a Contact (D1), or to a new one created from the person.
    #[command(
        after_help = "Examples:\n  casebridge crm link --org acme p-42 --contact 0035g00000AbCdEAAZ\n  casebridge crm link --org acme p-42 --create"
    )]
    Link {
        #[arg(long)]
        org: String,
        person: String,
        /// The Contact's Id.
        #[arg(long, conflicts_with = "create", required_unless_present = "create")]
        contact: Option<String>,
        /// Create a Contact from the person instead.
        #[arg(long)]
        create: bool,
        #[arg(long)]
        key: Option<String>,
    },
    /// Remove a person's link (D3); the Contact stays in Salesforce.
    #[command(after_help = "Example:\n  casebridge crm unlink --org acme p-42")]
    Unlink {
        #[arg(long)]
        org: String,
        person: String,
    },
    /// Create a case from a conversation (C9, D5); the person must be linked to a Contact.
    #[command(after_help = "Example:\n  casebridge crm case --org acme c-7 --field Priority=High --field Reason=Other")]
    Case {
        #[arg(long)]
        org: String,
        conversation: String,
        /// A Case field: `ApiName=value` (a JSON value, else text); repeat for several.
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Log a conversation, or one message or note, as Tasks (C7, C8).
    #[command(after_help = "Example:\n  casebridge crm task --org acme c-7 --part m-3")]
    Task {
        #[arg(long)]
        org: String,
        conversation: String,
        /// A message or note id: log only it (a manual Task).
        #[arg(long)]
        part: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Cases created without a Contact, with the suggested ones (D4).
    #[command(after_help = "Example:\n  casebridge crm flagged --org acme")]
    Flagged {
        #[arg(long)]
        org: String,
    },
}

/// A new idempotency key, for a command given none.
fn new_key() -> String {
    let mut bytes = [0u8; 16];
    // A key only needs to be unique; the time keeps it so if randomness fails.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    }
    format!("cli-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn field(text: &str) -> anyhow::Result<Attribute> {
    let Some((name, value)) = text.split_once('=') else {
        anyhow::bail!("--field `{text}` is not NAME=VALUE, e.g. --field Priority=High");
    };
    let json: Value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
    let value = attribute_value(&json).ok_or_else(|| {
        anyhow::anyhow!("--field {name}: a value is text, a number, true/false, null or a list of text")
    })?;
    Ok(Attribute { name: name.trim().to_string(), value })
}

/// What the connector answered, printed; its refusal is the command's error.
fn print<T>(
    out: &mut impl Write,
    result: Result<Result<T, CrmError>, OrgError>,
    render: impl FnOnce(&T) -> Value,
) -> anyhow::Result<()> {
    match result? {
        Ok(value) => {
            writeln!(out, "{}", serde_json::to_string_pretty(&render(&value))?)?;
            Ok(())
        }
        Err(refused) => {
            let (_, message, details) = crm_error(&refused);
            if !details.is_empty() {
                writeln!(out, "{}", serde_json::to_string_pretty(&details)?)?;
            }
            anyhow::bail!(message)
        }
    }
}

pub async fn run(host: &Host, command: CrmCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let keyed = |key: Option<String>, out: &mut dyn Write| -> anyhow::Result<String> {
        Ok(match key {
            Some(key) => key,
            None => {
                let key = new_key();
                writeln!(out, "idempotency key: {key} (pass --key {key} to retry this action safely)")?;
                key
            }
        })
    };
    match command {
        CrmCommand::Profile { org, person } => {
            print(out, host.crm_profile(&org, &person).await, |p| profile_json(p.as_ref()))
        }
        CrmCommand::Lead { org, person, key } => {
            let key = keyed(key, out)?;
            print(out, host.crm_create_lead(&org, &key, &person).await, saved_json)
        }
        CrmCommand::FindContact { org, person, query } => {
            print(out, host.crm_find_contact(&org, &person, query.as_deref()).await, outcome_json)
        }
        CrmCommand::Link { org, person, contact, create: _, key } => {
            let key = keyed(key, out)?;
            print(out, host.crm_link_contact(&org, &key, &person, contact.as_deref()).await, saved_json)
        }
        CrmCommand::Unlink { org, person } => print(
            out,
            host.crm_unlink_contact(&org, &person).await,
            |()| json!({"unlinked": person, "note": "the Contact is kept in Salesforce"}),
        ),
        CrmCommand::Case { org, conversation, fields, key } => {
            let fields = fields.iter().map(|f| field(f)).collect::<anyhow::Result<Vec<_>>>()?;
            let key = keyed(key, out)?;
            print(out, host.crm_create_case(&org, &key, &conversation, fields).await, saved_json)
        }
        CrmCommand::Task { org, conversation, part, key } => {
            let key = keyed(key, out)?;
            print(
                out,
                host.crm_log_task(&org, &key, &conversation, part.as_deref()).await,
                |tasks| json!({"tasks": tasks.iter().map(saved_json).collect::<Vec<_>>()}),
            )
        }
        CrmCommand::Flagged { org } => print(
            out,
            host.crm_flagged_cases(&org).await,
            |flagged| json!({"items": flagged.iter().map(flagged_json).collect::<Vec<_>>()}),
        ),
    }
}
