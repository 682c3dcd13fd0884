//! The console's pages, as maud templates. Every control has a label; every
//! form carries its session's CSRF token.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::config::{MappingConfig, MappingDirection};
use crate::runtime::bindings::crm::ProfileView;
use crate::runtime::bindings::describe::{FieldKind, ObjectCatalog};
use crate::runtime::bindings::platform::{Company, LinkedObject, Person};
use crate::runtime::bindings::settings::ValueDescription;
use crate::runtime::bindings::sync::{ConversationSummary, MappingProblem, RecordError};
use crate::runtime::bindings::types::Conversation;
use crate::status::{OrgReport, StatusReport};
use crate::text;

/// A message for the page after a POST.
#[derive(Debug, Clone)]
pub struct Notice {
    ok: bool,
    message: String,
}

impl Notice {
    pub fn done(message: &str) -> Notice {
        Notice { ok: true, message: message.to_string() }
    }
    pub fn problem(message: &str) -> Notice {
        Notice { ok: false, message: message.to_string() }
    }
}

/// What every logged-in page shows around its body.
pub struct Frame<'a> {
    pub admin: &'a str,
    pub csrf: &'a str,
    pub orgs: &'a [&'a str],
    pub org: Option<&'a str>,
    /// The org page shown (`""` for its status), for the navigation.
    pub section: &'a str,
}

const SECTIONS: [(&str, &str); 7] = [
    ("", "Status"),
    ("/fields", "Fields"),
    ("/mappings", "Mappings"),
    ("/workflow", "Workflow"),
    ("/conversations", "Conversations"),
    ("/errors", "Sync errors"),
    ("/people", "People and companies"),
];

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " — casebridge console" }
        link rel="stylesheet" href="/console/console.css";
    }
}

pub fn layout(frame: &Frame<'_>, notice: Option<&Notice>, body: Markup) -> Markup {
    let title = frame.org.map_or("Orgs".to_string(), |org| {
        let section = SECTIONS.iter().find(|(path, _)| *path == frame.section).map_or("", |(_, name)| name);
        format!("{section} · {org}")
    });
    html! {
        html lang="en" {
            (head(&title))
            body {
                a.skip href="#main" { "Skip to the content" }
                header {
                    a.brand href="/console" { "casebridge" }
                    nav aria-label="Orgs" {
                        @for org in frame.orgs {
                            a href={ "/console/orgs/" (org) } aria-current=[(frame.org == Some(*org)).then_some("page")] { (org) }
                        }
                    }
                    form.logout method="post" action="/console/logout" {
                        input type="hidden" name="csrf" value=(frame.csrf);
                        span { (frame.admin) }
                        button type="submit" { "Log out" }
                    }
                }
                @if let Some(org) = frame.org {
                    nav.sections aria-label="Org pages" {
                        @for (path, name) in SECTIONS {
                            a href={ "/console/orgs/" (org) (path) } aria-current=[(frame.section == path).then_some("page")] { (name) }
                        }
                    }
                }
                main id="main" {
                    @if let Some(notice) = notice {
                        p class={ "notice " (if notice.ok { "ok" } else { "problem" }) } role="status" { (notice.message) }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without a session: refused, or failed, with where to go.
pub fn problem(title: &str, why: &str, back: &str) -> Markup {
    html! {
        html lang="en" {
            (head(title))
            body { main id="main" { h1 { (title) } p.notice.problem { (why) } p { a href=(back) { "Go back" } } } }
        }
    }
}

pub fn login(csrf: &str, error: Option<&str>, no_admin: bool) -> Markup {
    html! {
        html lang="en" {
            (head("Log in"))
            body.login {
                main id="main" {
                    h1 { "casebridge console" }
                    @if let Some(error) = error { p.notice.problem role="alert" { (error) } }
                    @if no_admin {
                        p.notice.problem { "No admin can log in yet: run "
                            code { "casebridge console password" } " on the host and give a password on its standard input." }
                    }
                    form method="post" action="/console/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="name" { "Admin" }
                        input id="name" name="name" value="admin" autocomplete="username" required;
                        label for="password" { "Password" }
                        input id="password" name="password" type="password" autocomplete="current-password" required autofocus;
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".into(), |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn open_errors(report: &OrgReport) -> String {
    match (report.open_errors, &report.open_errors_problem) {
        (Some(n), _) => text::count(n, "open error", "open errors"),
        (None, Some(problem)) => format!("unknown ({problem})"),
        (None, None) => "unknown".into(),
    }
}

pub fn home(status: &StatusReport) -> Markup {
    html! {
        table {
            caption { "Every configured org" }
            thead { tr { th scope="col" { "Org" } th scope="col" { "Last cycle" } th scope="col" { "Next attempt" } th scope="col" { "Sync errors" } } }
            tbody {
                @for org in &status.orgs {
                    tr {
                        th scope="row" { a href={ "/console/orgs/" (org.org) } { (org.org) } }
                        td { (org.last_cycle.as_ref().map_or("not run yet", |c| c.summary.as_str())) }
                        td { (when(org.next_attempt_at)) }
                        td { (open_errors(org)) }
                    }
                }
            }
        }
    }
}

pub fn status(report: &OrgReport, chart: &Markup, connected: bool, has_secret: bool, csrf: &str) -> Markup {
    let org = &report.org;
    html! {
        section aria-labelledby="health" {
            h2 id="health" { "Health" }
            dl {
                dt { "Salesforce" } dd { @if connected { "connected" } @else { "not connected" } }
                dt { "Last cycle" }
                dd { @match &report.last_cycle {
                    Some(cycle) => { (cycle.summary) " (finished " (when(cycle.finished_at)) ")" },
                    None => "not run yet",
                } }
                @if report.consecutive_failures > 0 {
                    dt { "Failures in a row" } dd { (report.consecutive_failures) }
                }
                dt { "Next attempt" } dd { (when(report.next_attempt_at)) }
                dt { "Sync errors" } dd { a href={ "/console/orgs/" (org) "/errors" } { (open_errors(report)) } }
                dt { "Mode" } dd { (format!("{:?}", report.mode).to_lowercase()) }
                @if let Some(stream) = &report.stream {
                    dt { "Stream" } dd { (stream.health) ": " (stream.detail) }
                }
                @if let Some(running) = &report.running {
                    dt { "Running now" } dd { "on " (running.host) " (pid " (running.pid) ") since " (when(Some(running.since))) }
                }
                dt { "API calls today" } dd { (report.api_calls_today) " of " (report.daily_api_budget) }
            }
        }
        section aria-labelledby="usage" {
            h2 id="usage" { "API usage" }
            (chart)
        }
        section aria-labelledby="connection" {
            h2 id="connection" { "Connection" }
            form method="post" action={ "/console/orgs/" (org) "/connect" } {
                input type="hidden" name="csrf" value=(csrf);
                label for="client_secret" { "Consumer secret of the connected app"
                    @if has_secret { " (optional: one is stored)" } }
                input id="client_secret" name="client_secret" type="password" autocomplete="off" required[!has_secret];
                p.hint { "You log in to Salesforce as the integration user and allow access (scopes "
                    code { (crate::oauth::SCOPES) } "). The connected app's callback URL must be this console's "
                    code { (crate::oauth::CALLBACK_PATH) } "." }
                button type="submit" { @if connected { "Connect again" } @else { "Connect to Salesforce" } }
            }
            @if connected {
                form method="post" action={ "/console/orgs/" (org) "/disconnect" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.danger type="submit" { "Disconnect (revoke the token)" }
                }
            }
        }
    }
}

/// A section whose data cannot be read now, saying why.
pub fn unavailable(what: &str, why: &str) -> Markup {
    html! { p.notice.problem { (what) " cannot be shown now: " (why) ". Check the org's status page." } }
}

fn hidden(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

pub fn fields(org: &str, catalogs: &[ObjectCatalog], descriptions: &[ValueDescription], csrf: &str) -> Markup {
    let action = format!("/console/orgs/{org}/fields");
    html! {
        p { "System fields are always synced (locked). Add a field to sync it; re-sync a list field to read its values again." }
        @for catalog in catalogs {
            section aria-labelledby={ "object-" (catalog.object) } {
                h2 id={ "object-" (catalog.object) } { (catalog.object) }
                table {
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Type" } th scope="col" { "Kind" } th scope="col" { "Synced" } th scope="col" { "Action" } } }
                    tbody {
                        @for field in &catalog.fields {
                            @let d = &field.descriptor;
                            @let id = format!("{}.{}", catalog.object, d.name);
                            tr id=(id) {
                                th scope="row" { (d.label) br; code { (d.name) } }
                                td { (text::field_type(d.type_)) }
                                td { (text::field_kind(field.kind)) }
                                td { @if field.kind == FieldKind::System { span.locked title="system field: always synced, cannot be removed" { "locked" } }
                                     @else if field.synced { "synced" } @else { "not synced" } }
                                td.actions {
                                    @if field.kind != FieldKind::System {
                                        form method="post" action=(action) {
                                            (hidden(csrf))
                                            input type="hidden" name="object" value=(catalog.object);
                                            input type="hidden" name="field" value=(d.name);
                                            @if field.synced {
                                                button type="submit" name="action" value="remove" aria-label={ "Remove " (id) } { "Remove" }
                                            } @else {
                                                button type="submit" name="action" value="add" aria-label={ "Add " (id) } { "+ Add" }
                                            }
                                            @if field.synced && !d.picklist_values.is_empty() {
                                                button type="submit" name="action" value="resync" aria-label={ "Re-sync " (id) } { "Re-sync" }
                                            }
                                        }
                                    }
                                }
                            }
                            @if field.synced && !d.picklist_values.is_empty() {
                                tr.values {
                                    td colspan="5" {
                                        details id={ "values-" (catalog.object) "-" (d.name) } {
                                            summary { (d.picklist_values.len()) " values of " (id) }
                                            ul {
                                                @for value in &d.picklist_values {
                                                    @let described = descriptions.iter().find(|x| x.object == catalog.object && x.field == d.name && x.value == value.value);
                                                    @let input_id = format!("describe-{id}-{}", value.value);
                                                    li {
                                                        form.describe method="post" action={ (action) "/describe" } {
                                                            (hidden(csrf))
                                                            input type="hidden" name="object" value=(catalog.object);
                                                            input type="hidden" name="field" value=(d.name);
                                                            input type="hidden" name="value" value=(value.value);
                                                            label for=(input_id) { code { (value.value) } " — description" }
                                                            input id=(input_id) name="description" value=(described.map_or("", |x| x.description.as_str()));
                                                            button type="submit" { "Save" }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn mappings(mappings: &[MappingConfig], problems: &Result<Vec<MappingProblem>, String>) -> Markup {
    html! {
        @match problems {
            Ok(problems) if problems.is_empty() && !mappings.is_empty() => p.notice.ok { "Every mapping works." },
            Ok(problems) => @for p in problems {
                p.notice.problem { (p.mapping.attribute) " ↔ " (p.mapping.object) "." (p.mapping.field) ": " (p.problem) }
            },
            Err(why) => (unavailable("The mappings' check", why)),
        }
        @if mappings.is_empty() {
            p { "No mappings are configured: add " code { "[[org.mappings]]" } " entries to the configuration file." }
        } @else {
            table {
                thead { tr { th scope="col" { "Platform attribute" } th scope="col" { "Direction" } th scope="col" { "Salesforce field" } } }
                tbody {
                    @for m in mappings {
                        tr {
                            td { code { (m.attribute) } }
                            td { @match m.direction { MappingDirection::ToSalesforce => "→ to Salesforce", MappingDirection::ToPlatform => "← to the platform" } }
                            td { code { (m.object) "." (m.field) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn workflow(files: &[(String, String, String)], problems: &Result<Vec<String>, String>) -> Markup {
    html! {
        @match problems {
            Ok(problems) if problems.is_empty() && !files.is_empty() => p.notice.ok { "Every workflow step can work." },
            Ok(problems) => @for p in problems { p.notice.problem { (p) } },
            Err(why) => (unavailable("The workflow check", why)),
        }
        @if files.is_empty() {
            p { "No workflow is configured: name a file in " code { "[org.workflow]" } " of the configuration." }
        }
        @for (channel, path, text) in files {
            section {
                h2 { (channel) ": " code { (path) } }
                pre { (text) }
            }
        }
    }
}

pub fn conversations(org: &str, list: &[ConversationSummary]) -> Markup {
    html! {
        @if list.is_empty() { p { "No conversations yet: the agent has not worked a case." } }
        @else {
            table {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Subject" } th scope="col" { "Parts" } th scope="col" { "Resolution" } } }
                tbody {
                    @for c in list {
                        tr {
                            th scope="row" { a href={ "/console/orgs/" (org) "/conversations/" (c.case_id) } { (c.case_number) } }
                            td { (c.subject.as_deref().unwrap_or("")) }
                            td { (c.parts) }
                            td { (text::resolution(c.resolution)) @if c.handed_off { " (handed off)" } }
                        }
                    }
                }
            }
        }
    }
}

/// The attributes of one side of a conversation, folded.
fn attributes(title: &str, list: &[crate::runtime::bindings::types::Attribute]) -> Markup {
    html! {
        @if !list.is_empty() {
            details { summary { (title) " (" (list.len()) ")" }
                dl { @for a in list { dt { (a.name) } dd { (crate::agent::webhook::attribute_to_json(&a.value).to_string()) } } }
            }
        }
    }
}

/// A case's conversation: its parts, and the Salesforce records beside it
/// (the case, in Salesforce when its instance is known, and the fields of
/// its Contact and Account as pulled at assignment).
pub fn conversation(c: &Conversation, instance_url: Option<&str>) -> Markup {
    html! {
        p { "Case " (c.case_number.as_deref().unwrap_or("—")) ": " strong { (c.subject.as_deref().unwrap_or("")) } " — " (text::resolution(c.resolution))
            @if let Some(instance) = instance_url {
                " · " a href={ (instance) "/lightning/r/Case/" (c.id) "/view" } { "Open the case in Salesforce" }
            }
        }
        (attributes("Case fields", &c.attributes))
        (attributes("Contact fields", &c.person))
        (attributes("Account fields", &c.company))
        ol.parts {
            @for part in &c.parts {
                li class={ "part " (text::author(part.author)) } {
                    p.meta { strong { (part.author_name.as_deref().unwrap_or(text::author(part.author))) } " · " (text::source(part.source)) }
                    p.text { (part.text) }
                    @for file in &part.attachments { p.file { "Attachment: " (file.name) } }
                }
            }
        }
    }
}

pub fn errors(org: &str, errors: &[RecordError], csrf: &str) -> Markup {
    html! {
        @if errors.is_empty() { p.notice.ok { "No open sync errors." } }
        @else {
            table {
                thead { tr { th scope="col" { "What" } th scope="col" { "Record" } th scope="col" { "Salesforce's reason" } th scope="col" { "When" } th scope="col" { "Action" } } }
                tbody {
                    @for e in errors {
                        tr {
                            th scope="row" { (e.operation) br; code { (e.id) } }
                            td { code { (e.record_id.as_deref().unwrap_or("—")) } }
                            td { (e.reason.status) " " code { (e.reason.code) } ": " (e.reason.message) }
                            td { (when(DateTime::from_timestamp_millis(e.failed_at))) }
                            td {
                                form method="post" action={ "/console/orgs/" (org) "/errors/retry" } {
                                    (hidden(csrf))
                                    input type="hidden" name="error_id" value=(e.id);
                                    button type="submit" aria-label={ "Retry " (e.id) } { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
            p.hint { "Fix the cause in Salesforce (a validation rule, a required field, a permission) first; a retry runs in the next cycle." }
        }
    }
}

fn linked(link: &Option<crate::runtime::bindings::platform::SalesforceLink>) -> Markup {
    html! { @match link {
        Some(l) => { (match l.object { LinkedObject::Contact => "Contact ", LinkedObject::Lead => "Lead " }) code { (l.id) } },
        None => "not linked",
    } }
}

pub fn people(org: &str, people: &[Person], companies: &[Company], more: bool) -> Markup {
    html! {
        @if more { p.hint { "Only the first records are shown." } }
        section aria-labelledby="people" {
            h2 id="people" { "People" }
            table {
                thead { tr { th scope="col" { "Person" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Salesforce" } } }
                tbody { @for p in people { tr {
                    th scope="row" { a href={ "/console/orgs/" (org) "/people/" (p.id) } { (p.name.as_deref().unwrap_or(&p.id)) } }
                    td { (p.email.as_deref().unwrap_or("")) }
                    td { (format!("{:?}", p.role).to_lowercase()) }
                    td { (linked(&p.salesforce)) }
                } } }
            }
        }
        section aria-labelledby="companies" {
            h2 id="companies" { "Companies" }
            table {
                thead { tr { th scope="col" { "Company" } th scope="col" { "Salesforce" } } }
                tbody { @for c in companies { tr {
                    th scope="row" { (c.name.as_deref().unwrap_or(&c.id)) }
                    td { @match &c.account_id { Some(id) => { "Account " code { (id) } }, None => "not linked" } }
                } } }
            }
        }
    }
}

/// A person and the Salesforce records beside them (C3's profile view).
pub fn person(p: &Person, profile: &Result<Option<ProfileView>, String>) -> Markup {
    let open = |instance: &str, object: &str, id: &str| format!("{instance}/lightning/r/{object}/{id}/view");
    html! {
        dl {
            dt { "Name" } dd { (p.name.as_deref().unwrap_or("—")) }
            dt { "Email" } dd { (p.email.as_deref().unwrap_or("—")) }
            dt { "Linked to" } dd { (linked(&p.salesforce)) }
        }
        h2 { "In Salesforce" }
        @match profile {
            Err(why) => (unavailable("The profile", why)),
            Ok(None) => p { "Not linked to a Contact or Lead: link one with " code { "casebridge crm link" } "." },
            Ok(Some(view)) => {
                @if let Some(c) = &view.contact {
                    h3 { "Contact" }
                    p { a href=(open(&view.instance_url, "Contact", &c.id)) { (c.name.as_deref().unwrap_or(&c.id)) } " " (c.email.as_deref().unwrap_or("")) }
                }
                @if let Some(l) = &view.lead {
                    h3 { "Lead" }
                    p { a href=(open(&view.instance_url, "Lead", &l.id)) { (l.name.as_deref().unwrap_or(&l.id)) } " · " (l.company.as_deref().unwrap_or("")) " · " (l.status.as_deref().unwrap_or("")) }
                }
                @if let Some(a) = &view.account {
                    h3 { "Account" }
                    p { a href=(open(&view.instance_url, "Account", &a.id)) { (a.name.as_deref().unwrap_or(&a.id)) } " " (a.domain.as_deref().unwrap_or("")) }
                }
                @if !view.opportunities.is_empty() {
                    h3 { "Opportunities" }
                    ul { @for o in &view.opportunities { li { a href=(open(&view.instance_url, "Opportunity", &o.id)) { (o.name) } " — " (o.stage) @if o.closed { " (closed)" } } } }
                }
                h3 { "Open cases (" (view.open_case_count) ")" }
                ul { @for c in &view.open_cases { li { a href=(open(&view.instance_url, "Case", &c.id)) { (c.number) } " " (c.subject.as_deref().unwrap_or("")) } } }
            },
        }
    }
}
