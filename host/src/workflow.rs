//! Workflow files (A11): the steps an admin arranges for a channel, in TOML,
//! read and checked when the configuration loads ([`load`]: the file's own
//! shape) and again against the org's field catalog before `casebridge run`
//! starts ([`check_fields`]: real fields, values that fit, active picklist
//! values, described list values). Every problem is reported at once, each
//! naming the file, the step and what to do.
//!
//! ```toml
//! [[step]]
//! id = "tier"
//! branch = [{ goto = "vip", all = [{ owner = "company", attribute = "Tier__c", equals = "Gold" }] }]
//! otherwise = "kind"
//!
//! [[step]]
//! id = "vip"
//! set = { field = "Priority", value = "High" }
//!
//! [[step]]
//! id = "kind"
//! detect = ["Type"]
//!
//! [[step]]
//! id = "order"
//! collect = { field = "Order_Number__c", question = "What is your order number?", tries = 2 }
//!
//! [[step]]
//! id = "answer"
//! agent = true
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::config::HandOff;
use crate::runtime::bindings::describe::{FieldDescriptor, ObjectCatalog};
use crate::runtime::bindings::settings::{
    self, AttributeOwner, BranchRule, CollectData, Condition, SetData, StepAction, Test, ValueDescription, Workflow,
    WorkflowStep,
};
use crate::runtime::bindings::types::{CalendarDate, Channel, FieldType};

/// How many answers a Collect data step checks when the file does not say.
pub const DEFAULT_TRIES: u32 = 3;

/// A workflow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    #[serde(default)]
    step: Vec<StepFile>,
}

/// `[[step]]`: an `id` and exactly one action key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    branch: Option<Vec<RuleFile>>,
    #[serde(default)]
    otherwise: Option<String>,
    #[serde(default)]
    set: Option<SetFile>,
    #[serde(default)]
    collect: Option<CollectFile>,
    #[serde(default)]
    detect: Option<Vec<String>>,
    #[serde(default)]
    agent: Option<bool>,
    #[serde(default)]
    hand_off: Option<HandOff>,
    #[serde(default)]
    hand_off_to_salesforce_agent: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    all: Vec<ConditionFile>,
    goto: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionFile {
    #[serde(default)]
    owner: OwnerFile,
    attribute: String,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    one_of: Option<Vec<String>>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    is_empty: Option<bool>,
    #[serde(default)]
    is_not_empty: Option<bool>,
    #[serde(default)]
    less_than: Option<f64>,
    #[serde(default)]
    greater_than: Option<f64>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OwnerFile {
    Person,
    Company,
    #[default]
    Conversation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    field: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectFile {
    field: String,
    question: String,
    #[serde(default)]
    tries: Option<u32>,
}

/// The channel's name in messages and in `[org.workflow]`.
pub fn channel_key(channel: Channel) -> &'static str {
    match channel {
        Channel::SalesforceCase => "cases",
        Channel::Messenger => "messenger",
        Channel::Email => "email",
    }
}

/// Read and check the workflow file at `path` for `channel`: every problem
/// of its shape (ids, step references, one action per step, the channel's
/// steps), each as `step `id`: what is wrong and what to do`.
pub fn load(path: &Path, channel: Channel) -> Result<Workflow, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read the workflow file: {e}; check the path in [org.workflow]")])?;
    parse(&text, channel)
}

/// [`load`] on text.
pub fn parse(text: &str, channel: Channel) -> Result<Workflow, Vec<String>> {
    let file: WorkflowFile = toml::from_str(text)
        .map_err(|e| vec![format!("is not a valid workflow file: {}", e.to_string().trim_end())])?;
    let mut problems = Vec::new();
    if file.step.is_empty() {
        problems.push("has no steps; add at least one [[step]]".to_string());
    }
    let ids: Vec<&str> = file.step.iter().map(|s| s.id.as_str()).collect();
    let mut steps = Vec::new();
    for (index, step) in file.step.iter().enumerate() {
        let mut problem = |message: String| problems.push(format!("step `{}`: {message}", step.id));
        if step.id.is_empty() || !step.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            problem("the id must be letters, digits, `-` and `_`".into());
        }
        if ids[..index].contains(&step.id.as_str()) {
            problem("the id names two steps; give each step its own".into());
        }
        let known = |target: &str| ids.contains(&target);
        for target in step.next.iter().chain(&step.otherwise) {
            if !known(target) {
                problem(format!("`{target}` is not a step of this workflow; name one of: {}", ids.join(", ")));
            }
        }
        if step.otherwise.is_some() && step.branch.is_none() {
            problem("`otherwise` belongs to a `branch` step".into());
        }
        let action = match action(step, channel, &known) {
            Ok(action) => action,
            Err(messages) => {
                messages.into_iter().for_each(&mut problem);
                continue;
            }
        };
        steps.push(WorkflowStep { id: step.id.clone(), action, next: step.next.clone() });
    }
    if problems.is_empty() { Ok(Workflow { channel, steps }) } else { Err(problems) }
}

/// The one action a step names.
fn action(step: &StepFile, channel: Channel, known: &dyn Fn(&str) -> bool) -> Result<StepAction, Vec<String>> {
    let mut actions = Vec::new();
    let mut problems = Vec::new();
    if let Some(rules) = &step.branch {
        let mut checked = Vec::new();
        for rule in rules {
            if !known(&rule.goto) {
                problems.push(format!("branch rule goes to `{}`, which is not a step of this workflow", rule.goto));
            }
            let mut all = Vec::new();
            for c in &rule.all {
                match condition(c) {
                    Ok(c) => all.push(c),
                    Err(message) => problems.push(message),
                }
            }
            checked.push(BranchRule { all, goto: rule.goto.clone() });
        }
        actions.push(StepAction::Branch(settings::Branch { rules: checked, otherwise: step.otherwise.clone() }));
    }
    if let Some(set) = &step.set {
        check_field_name(&set.field, &mut problems);
        actions.push(StepAction::SetData(SetData { field: set.field.clone(), value: set.value.clone() }));
    }
    if let Some(collect) = &step.collect {
        check_field_name(&collect.field, &mut problems);
        if collect.question.trim().is_empty() {
            problems.push("`collect.question` is empty; write what the customer is asked".into());
        }
        let tries = collect.tries.unwrap_or(DEFAULT_TRIES);
        if !(1..=10).contains(&tries) {
            problems.push(format!("`collect.tries` is {tries}; give 1 to 10 answers"));
        }
        actions.push(StepAction::CollectData(CollectData {
            field: collect.field.clone(),
            question: collect.question.trim().to_string(),
            tries,
        }));
    }
    if let Some(fields) = &step.detect {
        if fields.is_empty() {
            problems.push("`detect` names no field; list the picklist or multi-select fields to detect".into());
        }
        fields.iter().for_each(|f| check_field_name(f, &mut problems));
        actions.push(StepAction::DetectAttributes(fields.clone()));
    }
    match step.agent {
        Some(true) => actions.push(StepAction::LetAgentAnswer),
        Some(false) => problems.push("`agent = false` does nothing; remove it or write `agent = true`".into()),
        None => {}
    }
    if let Some(target) = &step.hand_off {
        if channel == Channel::Messenger {
            problems.push(
                "`hand_off` (to a queue or user) is for the cases workflow; a messenger conversation goes to a live agent with `hand_off_to_salesforce_agent = true`".into(),
            );
        }
        let checked = match target {
            HandOff::Queue(id) => {
                crate::config::check_id(id, "00G", "queue").map(|()| settings::HandOffTarget::Queue(id.clone()))
            }
            HandOff::User(id) => {
                crate::config::check_id(id, "005", "user").map(|()| settings::HandOffTarget::User(id.clone()))
            }
        };
        match checked {
            Ok(target) => actions.push(StepAction::HandOffToTeam(target)),
            Err(message) => problems.push(format!("`hand_off`: {message}")),
        }
    }
    match step.hand_off_to_salesforce_agent {
        Some(true) if channel != Channel::Messenger => problems.push(
            "`hand_off_to_salesforce_agent` is for the messenger workflow; a case goes to a queue or user with `hand_off = { queue = \"00G…\" }`".into(),
        ),
        Some(true) => actions.push(StepAction::HandOffToSalesforceAgent),
        Some(false) => problems.push("`hand_off_to_salesforce_agent = false` does nothing; remove it".into()),
        None => {}
    }
    if actions.len() != 1 && problems.is_empty() {
        problems.push(format!(
            "a step does exactly one thing; it has {} of branch, set, collect, detect, agent, hand_off, hand_off_to_salesforce_agent",
            actions.len()
        ));
    }
    if problems.is_empty() { Ok(actions.remove(0)) } else { Err(problems) }
}

fn check_field_name(field: &str, problems: &mut Vec<String>) {
    if !crate::config::is_field_api_name(field) {
        problems.push(format!("`{field}` is not a field API name (letters, digits and `_`; custom fields end in __c)"));
    }
}

fn condition(c: &ConditionFile) -> Result<Condition, String> {
    let date = |text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| {
                use chrono::Datelike;
                CalendarDate { year: d.year(), month: d.month() as u8, day: d.day() as u8 }
            })
            .map_err(|_| format!("condition on `{}`: `{text}` is not a date; write YYYY-MM-DD", c.attribute))
    };
    let mut tests = Vec::new();
    if let Some(v) = &c.equals {
        tests.push(Test::Equals(v.clone()));
    }
    if let Some(v) = &c.one_of {
        tests.push(Test::OneOf(v.clone()));
    }
    if let Some(v) = &c.contains {
        tests.push(Test::Contains(v.clone()));
    }
    if c.is_empty == Some(true) {
        tests.push(Test::IsEmpty);
    }
    if c.is_not_empty == Some(true) {
        tests.push(Test::IsNotEmpty);
    }
    if let Some(x) = c.less_than {
        tests.push(Test::LessThan(x));
    }
    if let Some(x) = c.greater_than {
        tests.push(Test::GreaterThan(x));
    }
    if let Some(d) = &c.before {
        tests.push(Test::Before(date(d)?));
    }
    if let Some(d) = &c.after {
        tests.push(Test::After(date(d)?));
    }
    if c.attribute.trim().is_empty() {
        return Err("a condition names no `attribute`".into());
    }
    if tests.len() != 1 {
        return Err(format!(
            "condition on `{}` has {} tests; give exactly one of equals, one_of, contains, is_empty, is_not_empty, less_than, greater_than, before, after",
            c.attribute,
            tests.len()
        ));
    }
    let owner = match c.owner {
        OwnerFile::Person => AttributeOwner::Person,
        OwnerFile::Company => AttributeOwner::Company,
        OwnerFile::Conversation => AttributeOwner::Conversation,
    };
    Ok(Condition { owner, attribute: c.attribute.clone(), test: tests.remove(0) })
}

/// Every problem of `workflow`'s fields against the Case catalog: the field
/// exists and can be written, a Set data value fits it (`fits`: the
/// connector's own check, `mapping.to-wire`), picklist values are active,
/// and detection names list fields with described active values. Each as
/// `step `id`: …`.
pub fn check_fields(
    workflow: &Workflow,
    case_catalog: &ObjectCatalog,
    descriptions: &[ValueDescription],
    fits: &mut dyn FnMut(&FieldDescriptor, &str) -> Result<(), String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for step in &workflow.steps {
        let mut problem = |message: String| problems.push(format!("step `{}`: {message}", step.id));
        let field = |name: &str| {
            case_catalog
                .fields
                .iter()
                .map(|f| &f.descriptor)
                .find(|d| d.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!("Case has no field `{name}`; check the API name (`casebridge fields list`) or add the field in Salesforce")
                })
        };
        match &step.action {
            StepAction::SetData(set) => match field(&set.field) {
                Err(message) => problem(message),
                Ok(d) if !d.updateable => {
                    problem(format!("Case.{} cannot be written (not updateable); choose another field", d.name))
                }
                Ok(d) => {
                    if let Err(message) = list_value_problem(d, &set.value).map_or_else(|| fits(d, &set.value), Err) {
                        problem(format!("value `{}` for Case.{}: {message}", set.value, d.name));
                    }
                }
            },
            StepAction::CollectData(collect) => match field(&collect.field) {
                Err(message) => problem(message),
                Ok(d) if !d.updateable => {
                    problem(format!("Case.{} cannot be written (not updateable); choose another field", d.name))
                }
                Ok(_) => {}
            },
            StepAction::DetectAttributes(names) => {
                for name in names {
                    match field(name) {
                        Err(message) => problem(message),
                        Ok(d) if !matches!(d.type_, FieldType::Picklist | FieldType::Multipicklist) => {
                            problem(format!(
                                "Case.{} is not a picklist or multi-select; detection fills list fields only (use set or collect)",
                                d.name
                            ))
                        }
                        Ok(d) if !d.updateable => {
                            problem(format!("Case.{} cannot be written (not updateable)", d.name))
                        }
                        Ok(d) => {
                            let described = d.picklist_values.iter().filter(|v| v.active).any(|v| {
                                descriptions.iter().any(|x| {
                                    x.object.eq_ignore_ascii_case("Case")
                                        && x.field.eq_ignore_ascii_case(&d.name)
                                        && x.value == v.value
                                })
                            });
                            if !described {
                                problem(format!(
                                    "no active value of Case.{0} has a description; write them with `casebridge fields describe-value --org <org> Case {0} <value> \"<when it applies>\"`",
                                    d.name
                                ));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    problems
}

/// Every Set data step's field and value, for the connector's type check.
pub fn set_values(workflow: &Workflow) -> impl Iterator<Item = (&str, &str)> + '_ {
    workflow.steps.iter().filter_map(|step| match &step.action {
        StepAction::SetData(set) => Some((set.field.as_str(), set.value.as_str())),
        _ => None,
    })
}

/// Why `text` is no active value of a list field (by API name or label;
/// several separated by `;` or `,` for a multi-select); none for other fields.
fn list_value_problem(field: &FieldDescriptor, text: &str) -> Option<String> {
    if !matches!(field.type_, FieldType::Picklist | FieldType::Multipicklist) {
        return None;
    }
    let active: Vec<&str> = field.picklist_values.iter().filter(|v| v.active).map(|v| v.value.as_str()).collect();
    let fits = |item: &str| {
        field
            .picklist_values
            .iter()
            .filter(|v| v.active)
            .any(|v| v.value.eq_ignore_ascii_case(item.trim()) || v.label.eq_ignore_ascii_case(item.trim()))
    };
    let items: Vec<&str> = if field.type_ == FieldType::Multipicklist {
        text.split([';', ',']).filter(|i| !i.trim().is_empty()).collect()
    } else {
        vec![text]
    };
    let wrong: Vec<&str> = items.into_iter().filter(|i| !fits(i)).collect();
    (!wrong.is_empty())
        .then(|| format!("{} is not an active value; choose one of: {}", wrong.join(", "), active.join(", ")))
}
