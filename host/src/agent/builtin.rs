//! The built-in agent: answers from a help centre of Markdown articles, with
//! no model and no network. It is the host's default agent.
//!
//! ```
//! use casebridge::agent::BuiltinAgent;
//! let agent = BuiltinAgent::sample();
//! let best = &agent.search("How do I reset my password? I forgot it.")[0];
//! assert_eq!(best.article.title, "Reset your password");
//! ```
//!
//! For a conversation whose last message is the customer's, the rules are
//! tried in this order; the first that applies decides the turn:
//!
//! 1. The customer asks for a person ("talk to a human", "agent please") →
//!    `hand-off`.
//! 2. The customer confirms the problem is solved ("that fixed it, thanks"),
//!    or says yes / thanks after the agent asked whether it did → `solved`
//!    with a closing message. Negated or troubled messages ("thanks, but it
//!    still doesn't work") are not confirmations (see [`super::intent`]).
//! 3. The customer only thanks or acknowledges an earlier reply → `ask`
//!    whether it solved the problem.
//! 4. The agent already replied [`MAX_AGENT_REPLIES`] times and the customer
//!    is still writing → `hand-off`: a third bot reply rarely helps.
//! 5. The customer's words (subject and every customer message) hold fewer
//!    than [`MIN_CONTENT_TERMS`] search terms → `ask` a clarifying question.
//! 6. No help section reaches [`MIN_RELEVANCE`], not counting sections
//!    already sent on this conversation → `hand-off`, with the closest
//!    section and its relevance in the reason.
//! 7. Otherwise → `answer` with the best-ranked such section's steps and its
//!    article's title. Ranking is BM25 relevance, with a slight preference for
//!    an article's procedures over its introduction and for earlier sections.
//!
//! Every decision is a pure function of the conversation and the help centre:
//! the same input always gives the same turn.

use super::bm25::Bm25Index;
use super::help_center::{Article, Block, HelpCenter, Section, render_blocks};
use super::{intent, terms};
use crate::runtime::Agent;
use crate::runtime::bindings::agent::{Action, AgentError, DetectionField, Turn};
use crate::runtime::bindings::types::{Attribute, AttributeValue, AuthorRole, Conversation};

/// The least relevance (in units of one exact match of a word unique to one
/// section, see [`super::bm25`]) a section needs to be sent as an answer.
/// 1.5 asks for more than one incidental word in common: on the sample help
/// centre a single shared word ("gift card", "office photo") scores 0.6–1.4,
/// while real questions score 1.6 ("export data") to 4.5 (a full sentence);
/// `tests/agent.rs` checks the same split on a help centre a hundred times larger.
pub const MIN_RELEVANCE: f64 = 1.5;

/// The fewest distinct search terms a question needs before the agent
/// searches; below it the agent asks what the customer means ("it doesn't
/// work", "help!").
pub const MIN_CONTENT_TERMS: usize = 2;

/// How many replies the agent writes on one conversation before it hands a
/// customer who is still writing (and not confirming) to a person.
pub const MAX_AGENT_REPLIES: usize = 2;

/// The longest quote of a help section in an answer, in characters; longer
/// sections are cut at a paragraph or list item and point to the article.
pub const MAX_QUOTE_CHARS: usize = 1200;

/// How many times a section's heading counts in its index entry: a heading
/// says what the section is about more surely than a passing mention.
const HEADING_WEIGHT: usize = 2;

/// Ranking weight of an article's introduction when the article has other
/// sections: an introduction says what the article covers, a section says
/// what to do, so a section that matches nearly as well is the better answer.
/// Ranking preferences order the candidates only; [`MIN_RELEVANCE`] is
/// checked on the chosen section's own relevance.
const INTRODUCTION_WEIGHT: f64 = 0.7;

/// Ranking discount per section position within an article (capped at
/// [`MAX_POSITION_DISCOUNT`]): articles put the main procedure first and
/// troubleshooting and extras later, so near-ties go to the earlier section.
const POSITION_DISCOUNT: f64 = 0.05;
const MAX_POSITION_DISCOUNT: f64 = 0.25;

/// The question asked after the customer only said thanks; recognised in the
/// agent's last reply so a following "yes" closes the case.
const DID_IT_HELP: &str = "Did that solve the problem?";

/// The agent that answers from a [`HelpCenter`].
#[derive(Debug, Clone)]
pub struct BuiltinAgent {
    help_center: HelpCenter,
    index: Bm25Index,
    /// Each indexed document, in index order.
    documents: Vec<Document>,
}

/// One indexed help section.
#[derive(Debug, Clone, Copy)]
struct Document {
    article: usize,
    section: usize,
    /// The ranking preference for this section (see [`INTRODUCTION_WEIGHT`]).
    prior: f64,
}

/// A help section that matched a question.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The article the section belongs to.
    pub article: &'a Article,
    /// The section that matched.
    pub section: &'a Section,
    /// How well it matched; answers need at least [`MIN_RELEVANCE`].
    pub relevance: f64,
}

impl BuiltinAgent {
    /// An agent answering from `help_center`.
    pub fn new(help_center: HelpCenter) -> Self {
        let mut documents = Vec::new();
        let mut section_terms = Vec::new();
        for (a, article) in help_center.articles().iter().enumerate() {
            let title = terms::search_terms(&article.title);
            let mut position = 0;
            for (s, section) in article.sections.iter().enumerate() {
                let introduction = section.heading == article.title;
                let prior = if introduction {
                    if article.sections.len() > 1 { INTRODUCTION_WEIGHT } else { 1.0 }
                } else {
                    position += 1;
                    1.0 - (POSITION_DISCOUNT * f64::from(position - 1)).min(MAX_POSITION_DISCOUNT)
                };
                let mut all = title.clone();
                // An introduction is headed by the title, already counted once.
                if !introduction {
                    let heading = terms::search_terms(&section.heading);
                    for _ in 0..HEADING_WEIGHT {
                        all.extend(heading.iter().cloned());
                    }
                }
                all.extend(terms::search_terms(&section.text()));
                section_terms.push(all);
                documents.push(Document { article: a, section: s, prior });
            }
        }
        BuiltinAgent { index: Bm25Index::new(section_terms), help_center, documents }
    }

    /// An agent answering from the sample "Acme Cloud" help centre.
    pub fn sample() -> Self {
        Self::new(HelpCenter::sample())
    }

    /// The help centre it answers from.
    pub fn help_center(&self) -> &HelpCenter {
        &self.help_center
    }

    /// The help sections matching `question`, best first.
    pub fn search(&self, question: &str) -> Vec<Match<'_>> {
        self.matches(&terms::search_terms(question))
    }

    /// Matching sections in ranking order: relevance weighted by each
    /// section's prior, ties kept in help-centre order.
    fn matches(&self, query: &[String]) -> Vec<Match<'_>> {
        let mut ranked: Vec<(f64, usize, Match<'_>)> = self
            .index
            .search(query)
            .into_iter()
            .filter_map(|hit| {
                let document = self.documents.get(hit.document)?;
                let article = self.help_center.articles().get(document.article)?;
                let section = article.sections.get(document.section)?;
                Some((
                    hit.relevance * document.prior,
                    hit.document,
                    Match { article, section, relevance: hit.relevance },
                ))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().map(|(_, _, m)| m).collect()
    }

    /// The agent's turn on `conversation` (the rules in the module docs).
    pub fn decide(&self, conversation: &Conversation) -> Result<Turn, AgentError> {
        let reading = Reading::of(conversation)?;
        let greeting = greeting(conversation);
        let latest = reading.latest.as_str();

        if intent::asks_for_person(latest) {
            return Ok(turn(Action::HandOff("The customer asked to talk to a person.".into())));
        }
        let asked_if_solved = reading.replies.last().is_some_and(|reply| reply.contains(DID_IT_HELP));
        if intent::confirms_solved(latest)
            || (asked_if_solved && (intent::affirms(latest) || intent::only_acknowledges(latest)))
        {
            return Ok(turn(Action::Solved(Some(format!(
                "{greeting}\n\nGreat to hear it's sorted! I've marked your issue as solved. If anything else comes up, just reply here."
            )))));
        }
        if !reading.replies.is_empty() && intent::only_acknowledges(latest) {
            return Ok(turn(Action::Ask(format!(
                "{greeting}\n\nYou're welcome! {DID_IT_HELP} If it did, there is nothing more to do; if not, tell me what still happens."
            ))));
        }
        if reading.replies.len() >= MAX_AGENT_REPLIES {
            return Ok(turn(Action::HandOff(format!(
                "The agent has replied {} times and the customer still needs help.",
                reading.replies.len()
            ))));
        }

        let query = terms::search_terms(&reading.question);
        let mut distinct = query.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < MIN_CONTENT_TERMS {
            return Ok(turn(Action::Ask(format!(
                "{greeting}\n\nThanks for getting in touch! Could you tell me a bit more about what's going on? \
                 For example: what were you trying to do, what happened instead, and did you see an error message?"
            ))));
        }

        let matches = self.matches(&query);
        let already_sent = |m: &Match<'_>| reading.replies.iter().any(|reply| quotes(reply, m));
        let good_enough = |m: &&Match<'_>| m.relevance >= MIN_RELEVANCE;
        let Some(best) = matches.iter().filter(good_enough).find(|m| !already_sent(m)) else {
            return Ok(turn(Action::HandOff(no_answer_reason(&matches, already_sent))));
        };
        Ok(turn(Action::Answer(answer_text(&greeting, best))))
    }
}

#[async_trait::async_trait]
impl Agent for BuiltinAgent {
    async fn respond(&self, _org: &str, conversation: Conversation) -> Result<Turn, AgentError> {
        self.decide(&conversation)
    }

    async fn detect(
        &self,
        _org: &str,
        conversation: Conversation,
        fields: Vec<DetectionField>,
    ) -> Result<Vec<Attribute>, AgentError> {
        Ok(super::detect::rank(&conversation, &fields, super::detect::MIN_DETECTION_RELEVANCE))
    }
}

/// What the agent reads from a conversation.
struct Reading {
    /// The customer's messages since the last reply, joined (the subject when
    /// the customer has written nothing yet).
    latest: String,
    /// The subject and every customer message: what the search looks for, so a
    /// follow-up like "that didn't work" is still about the original question.
    question: String,
    /// The agent's replies so far, oldest first.
    replies: Vec<String>,
}

impl Reading {
    fn of(conversation: &Conversation) -> Result<Self, AgentError> {
        let parts = &conversation.parts;
        // System parts (automations) neither answer nor ask; they are skipped.
        let since = parts.iter().rposition(|part| matches!(part.author, AuthorRole::Agent | AuthorRole::Teammate));
        let customer_since = |from: usize| {
            parts[from..]
                .iter()
                .filter(|part| matches!(part.author, AuthorRole::Customer))
                .map(|part| part.text.trim())
                .filter(|text| !text.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let subject = conversation.subject.as_deref().unwrap_or("").trim();
        let mut latest = customer_since(since.map_or(0, |i| i + 1));
        if latest.is_empty() {
            if let Some(i) = since {
                let who = if matches!(parts[i].author, AuthorRole::Agent) { "the agent" } else { "a teammate" };
                return Err(AgentError::Unavailable(format!(
                    "conversation {}: the last message is from {who}, not the customer; there is nothing to answer yet",
                    conversation.case_number.as_deref().unwrap_or(&conversation.id)
                )));
            }
            latest = subject.to_string();
        }
        let everything = customer_since(0);
        let question = if subject.is_empty() { everything } else { format!("{subject}\n{everything}") };
        let replies = parts
            .iter()
            .filter(|part| matches!(part.author, AuthorRole::Agent))
            .map(|part| part.text.clone())
            .collect();
        Ok(Reading { latest, question, replies })
    }
}

/// Why no section is sent: nothing matched, what matched was already sent,
/// or the closest section is below [`MIN_RELEVANCE`].
fn no_answer_reason(matches: &[Match<'_>], already_sent: impl Fn(&Match<'_>) -> bool) -> String {
    let unsent = matches.iter().filter(|m| !already_sent(m)).max_by(|a, b| a.relevance.total_cmp(&b.relevance));
    let sent_good = matches.iter().find(|m| m.relevance >= MIN_RELEVANCE && already_sent(m));
    match (unsent, sent_good) {
        (None, None) => "No help article mentions what the customer asks about.".to_string(),
        (None, Some(sent)) => format!(
            "The help article “{}” was already sent and did not solve the problem; no other article matches.",
            sent.article.title
        ),
        (Some(closest), sent) => format!(
            "No help article answers this well enough{}: the closest, “{}” › “{}”, has relevance {:.2}, below the {MIN_RELEVANCE} needed to answer.",
            if sent.is_some() { " (the best match was already sent and did not help)" } else { "" },
            closest.article.title,
            closest.section.heading,
            closest.relevance
        ),
    }
}

fn turn(action: Action) -> Turn {
    Turn { action, detected: Vec::new() }
}

/// "Hi Jane," when the case's contact has a first name, "Hi there," otherwise.
fn greeting(conversation: &Conversation) -> String {
    let first_name = conversation.person.iter().find_map(|attribute| {
        let name = attribute.name.replace('_', "").to_ascii_lowercase();
        match &attribute.value {
            AttributeValue::Text(value) if name == "firstname" && !value.trim().is_empty() => Some(value.trim()),
            _ => None,
        }
    });
    format!("Hi {},", first_name.unwrap_or("there"))
}

/// Where an answer names its source; [`quotes`] recognises it in earlier replies.
fn source_line(m: &Match<'_>) -> String {
    if m.section.heading == m.article.title {
        format!("Here's what our help article “{}” says:", m.article.title)
    } else {
        format!("Here's what our help article “{}” says under “{}”:", m.article.title, m.section.heading)
    }
}

/// Whether an earlier reply already sent this section.
fn quotes(reply: &str, m: &Match<'_>) -> bool {
    reply.contains(&source_line(m))
}

fn answer_text(greeting: &str, m: &Match<'_>) -> String {
    let mut quoted: Vec<Block> = Vec::new();
    let mut length = 0;
    let mut cut = false;
    for block in &m.section.blocks {
        let chars = block.text.chars().count();
        if length + chars > MAX_QUOTE_CHARS {
            cut = true;
            if quoted.is_empty() {
                // One very long paragraph: quote its beginning.
                let start: String = block.text.chars().take(MAX_QUOTE_CHARS).collect();
                quoted.push(Block { text: format!("{}…", start.trim_end()), list_item: block.list_item });
            }
            break;
        }
        length += chars + 2;
        quoted.push(block.clone());
    }
    let mut text = format!("{greeting}\n\n{}\n\n{}", source_line(m), render_blocks(&quoted));
    if cut {
        text.push_str("\n\nThe full article has more details.");
    }
    text.push_str("\n\nIf this doesn't solve it, just reply here and I'll bring in a teammate.");
    text
}
