//! The workflow (A11): the steps an admin arranged for a channel, run for
//! each conversation of that channel from its first step (see
//! `settings.workflow` in the WIT for the rules).
//!
//! [`advance`] runs steps until one waits for the customer (Collect data),
//! hands the conversation off, or lets the agent answer. What it decided is
//! kept in the conversation's [`Progress`], committed with the question or
//! the hand-off it produced, so a restart never asks the same question twice
//! and never repeats a step. Values the steps set are Case fields, checked
//! against the Case catalog before they are kept; the caller writes them to
//! Salesforce (with the hand-off, or in `routingAttributes`).

mod values;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, DescribedValue, DetectionField, HostFailure, LogLevel};
use crate::convert::{attribute_text, parse_date};
use crate::model::{
    Attribute, AttributeValue, CalendarDate, Conversation, FieldType, HandOffTarget, ObjectCatalog, WireValue,
};
use crate::platform::Channel;
pub use values::{customer_reason, field_value, is_list_field};

/// A channel's workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub channel: Channel,
    pub steps: Vec<Step>,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub action: Action,
    /// The step to go to afterwards; none: the following one.
    pub next: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Branch(Branch),
    SetData { field: String, value: String },
    CollectData { field: String, question: String, tries: u32 },
    DetectAttributes(Vec<String>),
    LetAgentAnswer,
    HandOffToTeam(HandOffTarget),
    HandOffToSalesforceAgent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub rules: Vec<Rule>,
    pub otherwise: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub all: Vec<Condition>,
    pub goto: String,
}

/// Whose attribute a condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Person,
    Company,
    Conversation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub owner: Owner,
    pub attribute: String,
    pub test: Test,
}

/// What a condition checks (text ASCII case-insensitively).
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Equals(String),
    OneOf(Vec<String>),
    Contains(String),
    IsEmpty,
    IsNotEmpty,
    LessThan(f64),
    GreaterThan(f64),
    Before(CalendarDate),
    After(CalendarDate),
}

/// What an admin wrote about one list value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueDescription {
    pub object: String,
    pub field: String,
    pub value: String,
    pub description: String,
}

/// The object every workflow value is written to.
pub const CASE: &str = "Case";

/// How many steps one [`advance`] may take before the workflow counts as
/// looping (branches that go back to themselves with nothing to wait for).
const MAX_STEPS_PER_TURN: usize = 200;

/// Where a conversation is in its workflow, kept with the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Whether the first step ran.
    pub started: bool,
    /// The workflow is over: the agent answers as it does without one.
    pub done: bool,
    /// The step waiting for the customer's answer (Collect data), if any.
    pub waiting: Option<Waiting>,
    /// The values set, by Case field API name, in the field's wire form.
    pub values: BTreeMap<String, WireValue>,
    /// The values known to be on the Salesforce record (or refused there).
    #[serde(default)]
    pub settled: BTreeMap<String, WireValue>,
    /// The steps the conversation reached, in order (for `workflow_step` case triggers).
    #[serde(default)]
    pub passed: Vec<String>,
}

/// A Collect data question that was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub step: String,
    /// Answers that did not fit so far.
    pub wrong: u32,
}

impl Progress {
    /// The values set but not yet written to Salesforce.
    pub fn unwritten(&self) -> impl Iterator<Item = (&String, &WireValue)> + '_ {
        self.values.iter().filter(|(field, value)| self.settled.get(*field) != Some(*value))
    }

    /// `fields` reached Salesforce (or were refused there): not sent again.
    pub fn settle<'a>(&mut self, fields: impl IntoIterator<Item = &'a String>) {
        for field in fields {
            if let Some(value) = self.values.get(field) {
                self.settled.insert(field.clone(), value.clone());
            }
        }
    }
}

/// Where [`advance`] stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Say this to the customer and wait for their answer.
    Ask(String),
    /// The agent takes its turn on the customer's messages.
    AgentAnswers,
    /// Hand the conversation to this queue or user in Salesforce.
    HandOffToTeam(HandOffTarget),
    /// Hand the messenger conversation to a live Salesforce agent.
    HandOffToSalesforceAgent,
}

/// Something a step could not do; the conversation carries on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProblem {
    pub step: String,
    pub message: String,
}

/// What a step needs to read.
pub struct Inputs<'a> {
    pub conversation: &'a Conversation,
    /// The Case catalog (describe): every value is checked against it.
    pub case_catalog: Option<&'a ObjectCatalog>,
    pub descriptions: &'a [ValueDescription],
    /// The customer's new messages, joined: the answer to a waiting question.
    pub answer: &'a str,
}

/// Run the workflow from where `progress` is until it waits, hands off or
/// lets the agent answer.
pub fn advance(
    caps: &mut impl Capabilities,
    workflow: &Workflow,
    progress: &mut Progress,
    inputs: &Inputs<'_>,
) -> (Stop, Vec<StepProblem>) {
    let mut problems = Vec::new();
    if progress.done {
        return (Stop::AgentAnswers, problems);
    }
    let mut at: Option<usize> = None;
    if let Some(waiting) = progress.waiting.clone() {
        let Some(index) = position(workflow, &waiting.step) else {
            // The workflow changed under the conversation: it is over for it.
            progress.waiting = None;
            progress.done = true;
            return (Stop::AgentAnswers, problems);
        };
        let step = &workflow.steps[index];
        let Action::CollectData { field, question, tries } = &step.action else {
            progress.waiting = None;
            progress.done = true;
            return (Stop::AgentAnswers, problems);
        };
        match collected(inputs, field, inputs.answer) {
            Ok(value) => {
                progress.values.insert(field.clone(), value);
                progress.waiting = None;
            }
            Err(reason) => {
                let wrong = waiting.wrong + 1;
                if wrong < (*tries).max(1) {
                    progress.waiting = Some(Waiting { step: step.id.clone(), wrong });
                    return (Stop::Ask(format!("{reason} {question}")), problems);
                }
                progress.waiting = None;
                problems.push(StepProblem {
                    step: step.id.clone(),
                    message: format!(
                        "the customer gave no value that fits {CASE}.{field} in {wrong} answers; the step gave up"
                    ),
                });
            }
        }
        at = following(workflow, index);
    } else if !progress.started {
        progress.started = true;
        at = (!workflow.steps.is_empty()).then_some(0);
    }

    for _ in 0..MAX_STEPS_PER_TURN {
        let Some(index) = at else {
            progress.done = true;
            return (Stop::AgentAnswers, problems);
        };
        let step = &workflow.steps[index];
        if !progress.passed.contains(&step.id) {
            progress.passed.push(step.id.clone());
        }
        match &step.action {
            Action::Branch(branch) => {
                let target = branch
                    .rules
                    .iter()
                    .find(|rule| rule.all.iter().all(|c| holds(c, inputs.conversation, progress)))
                    .map(|rule| Some(rule.goto.as_str()))
                    .unwrap_or(branch.otherwise.as_deref());
                at = match target {
                    Some(id) => position(workflow, id),
                    None => following(workflow, index),
                };
                continue;
            }
            Action::SetData { field, value } => match checked(inputs, field, value) {
                Ok(wire) => {
                    progress.values.insert(field.clone(), wire);
                }
                Err(message) => problems.push(StepProblem { step: step.id.clone(), message }),
            },
            Action::CollectData { question, .. } => {
                progress.waiting = Some(Waiting { step: step.id.clone(), wrong: 0 });
                return (Stop::Ask(question.clone()), problems);
            }
            Action::DetectAttributes(fields) => detect(caps, inputs, &step.id, fields, progress, &mut problems),
            Action::LetAgentAnswer => {
                progress.done = true;
                return (Stop::AgentAnswers, problems);
            }
            Action::HandOffToTeam(target) => {
                progress.done = true;
                return (Stop::HandOffToTeam(target.clone()), problems);
            }
            Action::HandOffToSalesforceAgent => {
                progress.done = true;
                return (Stop::HandOffToSalesforceAgent, problems);
            }
        }
        at = following(workflow, index);
    }
    progress.done = true;
    problems.push(StepProblem {
        step: at.map(|i| workflow.steps[i].id.clone()).unwrap_or_default(),
        message: format!(
            "the workflow ran {MAX_STEPS_PER_TURN} steps without waiting; its branches loop. The agent answers instead"
        ),
    });
    (Stop::AgentAnswers, problems)
}

fn position(workflow: &Workflow, id: &str) -> Option<usize> {
    workflow.steps.iter().position(|s| s.id == id)
}

/// The step after `index`: its `next`, else the one below it.
fn following(workflow: &Workflow, index: usize) -> Option<usize> {
    match &workflow.steps[index].next {
        Some(id) => position(workflow, id),
        None => (index + 1 < workflow.steps.len()).then_some(index + 1),
    }
}

fn case_field<'a>(inputs: &Inputs<'a>, field: &str) -> Result<&'a crate::model::FieldDescriptor, String> {
    let catalog = inputs.case_catalog.ok_or_else(|| "the Case catalog is not read yet".to_string())?;
    catalog
        .field(field)
        .map(|f| &f.descriptor)
        .ok_or_else(|| format!("{CASE} has no field `{field}`; fix the workflow or refresh the catalog"))
}

/// A Set data value, checked against the field.
fn checked(inputs: &Inputs<'_>, field: &str, value: &str) -> Result<WireValue, String> {
    let descriptor = case_field(inputs, field)?;
    field_value(CASE, descriptor, value).map_err(|e| e.to_string())
}

/// The customer's answer to a Collect data question, or the reason (for the customer) it does not fit.
fn collected(inputs: &Inputs<'_>, field: &str, answer: &str) -> Result<WireValue, String> {
    let descriptor = case_field(inputs, field)?;
    let answer = answer.trim();
    if answer.is_empty() {
        return Err("I didn't get an answer.".into());
    }
    field_value(CASE, descriptor, answer).map_err(|e| customer_reason(descriptor, &e))
}

/// Attribute detection: the agent chooses among the described active
/// values of each list field; what it returns is checked against the field.
fn detect(
    caps: &mut impl Capabilities,
    inputs: &Inputs<'_>,
    step: &str,
    fields: &[String],
    progress: &mut Progress,
    problems: &mut Vec<StepProblem>,
) {
    let mut asked = Vec::new();
    for field in fields {
        let descriptor = match case_field(inputs, field) {
            Ok(d) => d,
            Err(message) => {
                problems.push(StepProblem { step: step.into(), message });
                continue;
            }
        };
        let values: Vec<DescribedValue> = descriptor
            .picklist_values
            .iter()
            .filter(|entry| entry.active)
            .filter_map(|entry| {
                let description = inputs.descriptions.iter().find(|d| {
                    d.object.eq_ignore_ascii_case(CASE)
                        && d.field.eq_ignore_ascii_case(&descriptor.name)
                        && d.value == entry.value
                })?;
                Some(DescribedValue {
                    value: entry.value.clone(),
                    label: entry.label.clone(),
                    description: description.description.clone(),
                })
            })
            .collect();
        if !is_list_field(descriptor) || values.is_empty() {
            problems.push(StepProblem {
                step: step.into(),
                message: format!(
                    "{CASE}.{field} has no described active values; describe them with `casebridge fields describe-value`"
                ),
            });
            continue;
        }
        asked.push(DetectionField {
            field: descriptor.name.clone(),
            label: descriptor.label.clone(),
            multiple: descriptor.field_type == FieldType::Multipicklist,
            values,
        });
    }
    if asked.is_empty() {
        return;
    }
    let detected = match caps.detect(inputs.conversation, &asked) {
        Ok(detected) => detected,
        Err(HostFailure::Unavailable(why) | HostFailure::Rejected(why)) => {
            caps.log(LogLevel::Warn, "attribute detection failed", &[("step", step), ("reason", why.as_str())]);
            problems.push(StepProblem { step: step.into(), message: format!("the agent detected nothing: {why}") });
            return;
        }
    };
    for Attribute { name, value } in detected {
        let Some(field) = asked.iter().find(|f| f.field.eq_ignore_ascii_case(&name)) else {
            problems.push(StepProblem {
                step: step.into(),
                message: format!("the agent returned `{name}`, which this step did not ask for; ignored"),
            });
            continue;
        };
        let text = match &value {
            AttributeValue::List(items) => items.join(";"),
            other => attribute_text(other).into_owned(),
        };
        let offered = |item: &str| field.values.iter().any(|v| v.value == item);
        let descriptor = case_field(inputs, &field.field).ok();
        match descriptor.map(|d| field_value(CASE, d, &text)) {
            Some(Ok(wire)) if text.split(';').all(offered) => {
                progress.values.insert(field.field.clone(), wire);
            }
            _ => problems.push(StepProblem {
                step: step.into(),
                message: format!(
                    "the agent chose `{text}` for {CASE}.{}, which is not one of its described active values; refused",
                    field.field
                ),
            }),
        }
    }
}

/// Whether `condition` holds for the conversation (and the values set so far).
fn holds(condition: &Condition, conversation: &Conversation, progress: &Progress) -> bool {
    let from = |attributes: &[Attribute]| {
        attributes.iter().find(|a| a.name.eq_ignore_ascii_case(&condition.attribute)).map(|a| a.value.clone())
    };
    let value = match condition.owner {
        Owner::Person => from(&conversation.person),
        Owner::Company => from(&conversation.company),
        Owner::Conversation => progress
            .values
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(&condition.attribute))
            .map(|(_, wire)| wire_attribute(wire))
            .or_else(|| from(&conversation.attributes)),
    };
    test(&condition.test, value.as_ref())
}

/// A set value as an attribute (for conditions on it, for `routingAttributes`).
pub fn wire_attribute(wire: &WireValue) -> AttributeValue {
    match wire {
        WireValue::Null => AttributeValue::Null,
        WireValue::Boolean(b) => AttributeValue::Boolean(*b),
        WireValue::Number(n) => n.parse().map_or_else(|_| AttributeValue::Text(n.clone()), AttributeValue::Decimal),
        WireValue::Text(t) | WireValue::Compound(t) => AttributeValue::Text(t.clone()),
    }
}

fn test(test: &Test, value: Option<&AttributeValue>) -> bool {
    let texts: Vec<String> = match value {
        None | Some(AttributeValue::Null) => Vec::new(),
        Some(AttributeValue::List(items)) => items.clone(),
        Some(other) => vec![attribute_text(other).into_owned()],
    };
    let empty = texts.iter().all(|t| t.trim().is_empty());
    let number = || match value {
        Some(AttributeValue::Integer(i)) => Some(*i as f64),
        Some(AttributeValue::Decimal(x)) => Some(*x),
        Some(AttributeValue::Text(t)) => t.trim().parse::<f64>().ok(),
        _ => None,
    };
    let date = || match value {
        Some(AttributeValue::Date(d)) => Some(*d),
        Some(AttributeValue::Datetime(ms)) => date_of(*ms),
        Some(AttributeValue::Text(t)) => parse_date(t.get(..10).unwrap_or(t)),
        _ => None,
    };
    let equals = |wanted: &str| texts.iter().any(|t| t.trim().eq_ignore_ascii_case(wanted.trim()));
    match test {
        Test::Equals(wanted) => equals(wanted),
        Test::OneOf(choices) => choices.iter().any(|c| equals(c)),
        Test::Contains(part) => {
            let part = part.to_ascii_lowercase();
            texts.iter().any(|t| t.to_ascii_lowercase().contains(&part))
        }
        Test::IsEmpty => empty,
        Test::IsNotEmpty => !empty,
        Test::LessThan(limit) => number().is_some_and(|n| n < *limit),
        Test::GreaterThan(limit) => number().is_some_and(|n| n > *limit),
        Test::Before(day) => date().is_some_and(|d| d < *day),
        Test::After(day) => date().is_some_and(|d| d > *day),
    }
}

/// The UTC date of an instant.
fn date_of(ms: i64) -> Option<CalendarDate> {
    use chrono::Datelike;
    let at = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(CalendarDate { year: at.year(), month: u8::try_from(at.month()).ok()?, day: u8::try_from(at.day()).ok()? })
}

#[cfg(test)]
mod tests;
