//! `casebridge platform list|show`: the platform's records for an admin.

use std::io::Write;

use super::{PlatformFailure, StorePlatform};
use crate::config::OrgConfig;
use crate::runtime::bindings::platform::{Company, Person, PersonRole, PlatformConversation};

/// Which records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Company,
    Teammate,
    Conversation,
}

/// What to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    List { org: String, kind: Kind },
    Show { org: String, kind: Kind, id: String, json: bool },
}

/// Records listed at most.
const LISTED: u32 = 10_000;

pub fn run(platform: &StorePlatform, orgs: &[OrgConfig], command: Command, out: &mut impl Write) -> anyhow::Result<()> {
    let org = match &command {
        Command::List { org, .. } | Command::Show { org, .. } => org,
    };
    if !orgs.iter().any(|o| &o.name == org) {
        anyhow::bail!("no org `{org}` in the configuration");
    }
    match command {
        Command::List { org, kind: Kind::Person } => {
            let (people, _) = platform.list::<Person>(&org, "person", None, LISTED)?;
            writeln!(out, "{:<20} {:<5} {:<28} {:<32} salesforce", "id", "role", "name", "email")?;
            for p in people {
                let link = p.salesforce.as_ref().map_or("-".to_string(), |l| l.id.clone());
                let role = if p.role == PersonRole::Lead { "lead" } else { "user" };
                writeln!(
                    out,
                    "{:<20} {role:<5} {:<28} {:<32} {link}",
                    shorten(&p.id, 20),
                    shorten(p.name.as_deref().unwrap_or("-"), 28),
                    shorten(p.email.as_deref().unwrap_or("-"), 32)
                )?;
            }
        }
        Command::List { org, kind: Kind::Company } => {
            let (companies, _) = platform.list::<Company>(&org, "company", None, LISTED)?;
            writeln!(out, "{:<20} {:<32} account", "id", "name")?;
            for c in companies {
                let name = shorten(c.name.as_deref().unwrap_or("-"), 32);
                writeln!(out, "{:<20} {name:<32} {}", shorten(&c.id, 20), c.account_id.as_deref().unwrap_or("-"))?;
            }
        }
        Command::List { org, kind: Kind::Teammate } => {
            writeln!(out, "{:<20} {:<28} email", "id", "name")?;
            for t in platform.teammates(&org)? {
                writeln!(
                    out,
                    "{:<20} {:<28} {}",
                    shorten(&t.id, 20),
                    shorten(&t.name, 28),
                    t.email.as_deref().unwrap_or("-")
                )?;
            }
        }
        Command::List { org, kind: Kind::Conversation } => {
            let (conversations, _) = platform.list::<PlatformConversation>(&org, "conversation", None, LISTED)?;
            writeln!(out, "{:<26} {:<16} {:<8} {:>5}  subject", "id", "channel", "state", "parts")?;
            for c in conversations {
                let json = super::api::conversation_json(&c, false);
                writeln!(
                    out,
                    "{:<26} {:<16} {:<8} {:>5}  {}",
                    shorten(&c.id, 26),
                    json["channel"].as_str().unwrap_or_default(),
                    json["state"].as_str().unwrap_or_default(),
                    c.parts.len(),
                    shorten(c.subject.as_deref().unwrap_or("-"), 50)
                )?;
            }
        }
        Command::Show { org, kind, id, json } => {
            let value = match kind {
                Kind::Person => platform.person(&org, &id)?.map(|p| super::api::person_json(&p)),
                Kind::Company => platform.company(&org, &id)?.map(|c| super::api::company_json(&c)),
                Kind::Conversation => {
                    platform.conversation(&org, &id)?.map(|c| super::api::conversation_json(&c, true))
                }
                Kind::Teammate => platform
                    .teammates(&org)?
                    .into_iter()
                    .find(|t| t.id == id)
                    .map(|t| serde_json::json!({"id": t.id, "name": t.name, "email": t.email})),
            };
            let value = value.ok_or_else(|| PlatformFailure::NotFound(format!("`{id}` in org `{org}`")))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                print_fields(out, &value, kind == Kind::Conversation)?;
            }
        }
    }
    Ok(())
}

/// A record as `name: value` lines; a conversation's parts as a transcript.
fn print_fields(out: &mut impl Write, value: &serde_json::Value, transcript: bool) -> anyhow::Result<()> {
    let Some(object) = value.as_object() else { return Ok(()) };
    for (name, field) in object {
        match (name.as_str(), field) {
            ("parts" | "notes", _) => {}
            ("attributes", serde_json::Value::Object(attributes)) => {
                for (attribute, value) in attributes {
                    writeln!(out, "{:<14} {attribute} = {value}", "attribute")?;
                }
            }
            (_, serde_json::Value::String(text)) => writeln!(out, "{name:<14} {text}")?,
            (_, serde_json::Value::Null) => writeln!(out, "{name:<14} -")?,
            (_, other) => writeln!(out, "{name:<14} {other}")?,
        }
    }
    if transcript {
        for part in value["parts"].as_array().into_iter().flatten() {
            let who = part["author"].as_str().unwrap_or("someone");
            writeln!(
                out,
                "\n[{}] {who}: {}",
                part["created_at"].as_str().unwrap_or_default(),
                part["text"].as_str().unwrap_or_default()
            )?;
        }
        for note in value["notes"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "\n[{}] note: {}",
                note["created_at"].as_str().unwrap_or_default(),
                note["text"].as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// `text` cut to `width` characters, with `…` when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
