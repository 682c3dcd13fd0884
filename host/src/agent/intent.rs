//! What a customer's message says beyond its topic: a request for a person, a
//! confirmation that the problem is solved, plain thanks, or a yes.
//!
//! ```
//! use casebridge::agent::intent::{asks_for_person, confirms_solved};
//! assert!(asks_for_person("This isn't helping. Can I talk to a human please?"));
//! assert!(confirms_solved("That fixed it, thanks!"));
//! assert!(!confirms_solved("Thanks, but it still doesn't work."));
//! ```
//!
//! The text is cut into clauses at punctuation and at contrast words ("but",
//! "however"), contractions are expanded (`doesn't` → `does not`), and each
//! rule looks at one clause at a time, so "that fixed it, but now the export
//! fails" sees the second clause's trouble and is not a confirmation.
//! Negation is explicit: a negator before a phrase in its clause cancels it,
//! and any clause that reports trouble (a negator, "still", a failure word)
//! outweighs every confirmation in the message.

use super::terms::{search_terms, words};

/// Phrases (as word sequences) that say the problem is solved.
const CONFIRMATIONS: &[&[&str]] = &[
    &["fixed"],
    &["solved"],
    &["resolved"],
    &["all", "sorted"],
    &["sorted", "now"],
    &["is", "sorted"],
    &["works", "now"],
    &["working", "now"],
    &["works", "again"],
    &["working", "again"],
    &["works", "fine"],
    &["works", "perfectly"],
    &["works", "great"],
    &["it", "works"],
    &["it", "worked"],
    &["that", "worked"],
    &["this", "worked"],
    &["that", "helped"],
    &["did", "the", "trick"],
    &["that", "did", "it"],
    &["all", "good"],
    &["all", "set"],
    &["good", "to", "go"],
    &["got", "it", "working"],
    &["perfect"],
    &["close", "this", "case"],
    &["close", "this", "ticket"],
    &["close", "the", "case"],
    &["close", "the", "ticket"],
    &["you", "can", "close"],
    &["feel", "free", "to", "close"],
    &["can", "be", "closed"],
];

/// Words that confirm only when they are the whole clause ("Sorted, thanks!",
/// "Works!"): inside a sentence they mean other things ("I sorted the list").
const BARE_CONFIRMATIONS: &[&str] = &["sorted", "works", "worked"];

/// Asking to close the case confirms even as a question ("Could you close the
/// ticket?") when it is a request: the clause starts with one of [`REQUEST_OPENERS`].
const CLOSE_REQUESTS: &[&[&str]] =
    &[&["close", "the", "case"], &["close", "this", "case"], &["close", "the", "ticket"], &["close", "this", "ticket"]];
const REQUEST_OPENERS: &[&[&str]] =
    &[&["can", "you"], &["could", "you"], &["would", "you"], &["will", "you"], &["please"], &["pls"]];

/// Words that negate what follows them in the clause.
const NEGATORS: &[&str] = &["not", "no", "never", "nothing", "nope", "neither", "nor", "without"];

/// Negations that are politeness, not trouble ("no problem, it works now").
const HARMLESS_NEGATIONS: &[&[&str]] =
    &[&["no", "problem"], &["no", "worries"], &["no", "rush"], &["no", "need", "to"], &["not", "a", "problem"]];

/// Words that report that something is still wrong.
const TROUBLE_WORDS: &[&str] = &[
    "still", "broken", "error", "errors", "crash", "crashes", "crashed", "crashing", "fail", "fails", "failed",
    "failing", "stuck", "same", "again", "wrong", "missing", "problem", "issue", "bug",
];

/// Words that, in a clause with a trouble word, say the trouble is over
/// ("the error is gone", "that fixed the crash", "problem solved").
const FIXED_WORDS: &[&str] = &["gone", "fixed", "resolved", "solved", "sorted"];

/// Words that make a clause hypothetical, a question or a wish ("let me know
/// when it's fixed", "will it be resolved", "I need it fixed"): a
/// confirmation after them does not count.
const CONDITIONALS: &[&str] = &[
    "if",
    "when",
    "once",
    "until",
    "whether",
    "hope",
    "hopefully",
    "will",
    "would",
    "should",
    "could",
    "might",
    "want",
    "need",
    "expect",
    "get",
];

/// Words that start a new clause with a contrasting thought.
const CONTRASTS: &[&str] = &["but", "however", "although", "though", "except"];

/// Words that can only mean a person on the support side.
const HUMAN_WORDS: &[&str] =
    &["human", "humans", "person", "representative", "rep", "operator", "agent", "supervisor", "manager"];

/// Words for "some person", a request only with a verb of talking ("talk to someone").
const ANY_PERSON_WORDS: &[&str] = &["someone", "somebody", "anyone", "anybody"];

/// Verbs of talking: followed by any person ("speak to someone", "talk to support").
const TALK_VERBS: &[&str] = &["talk", "speak", "chat", "connect", "transfer", "reach", "put"];

/// Verbs of wanting: a request only when followed by a human ("can I get an agent").
const WANT_VERBS: &[&str] = &["get", "want", "need", "prefer"];

/// Verbs that may follow the person ("someone I can talk to").
const TALK_VERBS_AFTER: &[&str] = &["talk", "speak", "chat", "call", "phone"];

/// Words that may stand between a verb and the person.
const FILLERS: &[&str] = &[
    "to", "with", "a", "an", "the", "real", "actual", "live", "your", "some", "one", "of", "me", "through", "i", "can",
    "could", "who", "that", "please",
];

/// Words a bare request may carry besides the person ("agent please!", "a real human now").
const BARE_REQUEST_WORDS: &[&str] = &["please", "pls", "now", "asap", "a", "an", "real", "live", "actual", "i", "want"];

/// Words that open an acknowledgement ("thanks", "ok").
const ACKNOWLEDGEMENTS: &[&str] =
    &["thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated", "ok", "okay", "great", "cool", "awesome"];

/// Words an acknowledgement may also carry ("thank you so much for the quick answer, I'll try that").
const ACKNOWLEDGEMENT_WORDS: &[&str] = &[
    "you", "so", "very", "much", "many", "a", "lot", "for", "the", "your", "help", "info", "answer", "reply", "quick",
    "i", "ill", "will", "try", "that", "this", "it", "got", "give", "go",
];

/// Words that say "yes".
const AFFIRMATIONS: &[&str] = &["yes", "yep", "yeah", "yup", "sure", "correct", "indeed", "absolutely", "did", "does"];

/// Whether the customer asks to talk to a person (not negated: "I don't need a human" is no request).
pub fn asks_for_person(text: &str) -> bool {
    clauses(text).iter().any(Clause::asks_for_person)
}

/// Whether the customer confirms the problem is solved: a confirmation that is
/// not negated, conditional or a question, no clause reporting trouble, and
/// no new question ("I fixed my address, how do I download the invoice?").
pub fn confirms_solved(text: &str) -> bool {
    let clauses = clauses(text);
    !clauses.iter().any(|clause| clause.reports_trouble() || clause.asks_something_new())
        && clauses.iter().any(Clause::confirms)
}

/// Whether the message only thanks or acknowledges, without saying whether
/// the problem is solved ("Thanks a lot!", "OK, I'll try that").
pub fn only_acknowledges(text: &str) -> bool {
    let words = all_words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    words.iter().any(|word| ACKNOWLEDGEMENTS.contains(word))
        && words.iter().all(|word| ACKNOWLEDGEMENTS.contains(word) || ACKNOWLEDGEMENT_WORDS.contains(word))
}

/// Whether the message is a short "yes" ("Yes, it did, thanks"), the answer to
/// "did that solve it?".
pub fn affirms(text: &str) -> bool {
    let clauses = clauses(text);
    let words = all_words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    !clauses.iter().any(Clause::reports_trouble)
        && words.iter().any(|word| AFFIRMATIONS.contains(word))
        && words.iter().all(|word| {
            AFFIRMATIONS.contains(word) || ACKNOWLEDGEMENTS.contains(word) || ACKNOWLEDGEMENT_WORDS.contains(word)
        })
}

fn all_words(text: &str) -> Vec<String> {
    clauses(text).into_iter().flat_map(|clause| clause.words).collect()
}

/// One clause: its words (contractions expanded) and whether it ends with `?`.
#[derive(Debug)]
struct Clause {
    words: Vec<String>,
    question: bool,
}

impl Clause {
    /// Where `phrase` occurs as consecutive words.
    fn find(&self, phrase: &[&str]) -> Option<usize> {
        (0..self.words.len()).find(|&at| phrase_at(&self.words, at, phrase))
    }

    /// Whether a negator stands before position `at` (and is not harmless politeness).
    fn negated_before(&self, at: usize) -> bool {
        (0..at).any(|i| self.is_negator_at(i))
    }

    fn is_negator_at(&self, i: usize) -> bool {
        NEGATORS.contains(&self.words[i].as_str()) && !self.in_harmless_negation(i)
    }

    /// Whether the word at `i` belongs to politeness like "no problem".
    fn in_harmless_negation(&self, i: usize) -> bool {
        HARMLESS_NEGATIONS
            .iter()
            .any(|phrase| (i.saturating_sub(phrase.len() - 1)..=i).any(|start| phrase_at(&self.words, start, phrase)))
    }

    fn confirms(&self) -> bool {
        let reports_at = |at: usize| {
            !self.negated_before(at) && !self.words[..at].iter().any(|word| CONDITIONALS.contains(&word.as_str()))
        };
        // "The crash is gone", "the error is fixed now": a trouble word, then its end.
        let trouble_over = || {
            let first_trouble = self.words.iter().position(|word| TROUBLE_WORDS.contains(&word.as_str()));
            first_trouble.is_some_and(|t| {
                (t + 1..self.words.len()).any(|at| FIXED_WORDS.contains(&self.words[at].as_str()) && reports_at(at))
            })
        };
        let bare = matches!(self.words.as_slice(), [word] if BARE_CONFIRMATIONS.contains(&word.as_str()));
        let close_request = REQUEST_OPENERS.iter().any(|opener| phrase_at(&self.words, 0, opener))
            && CLOSE_REQUESTS.iter().any(|phrase| self.find(phrase).is_some_and(|at| !self.negated_before(at)));
        close_request
            || (!self.question
                && (bare
                    || CONFIRMATIONS.iter().any(|phrase| self.find(phrase).is_some_and(reports_at))
                    || trouble_over()))
    }

    /// A question about a topic (two or more search terms), not about closing the case.
    fn asks_something_new(&self) -> bool {
        self.question
            && search_terms(&self.words.join(" "))
                .iter()
                .filter(|term| !matches!(term.as_str(), "clos" | "case" | "ticket"))
                .count()
                >= 2
    }

    /// A negator or a trouble word, unless the trouble is what got fixed
    /// ("the crash is fixed", "it works again").
    fn reports_trouble(&self) -> bool {
        (0..self.words.len()).any(|i| self.is_negator_at(i) || self.is_trouble_at(i))
    }

    fn is_trouble_at(&self, i: usize) -> bool {
        let word = self.words[i].as_str();
        if !TROUBLE_WORDS.contains(&word) || self.in_harmless_negation(i) {
            return false;
        }
        match word {
            "still" => true,
            "again" => !(i > 0 && matches!(self.words[i - 1].as_str(), "works" | "working" | "work" | "worked")),
            _ => !self.words.iter().any(|other| FIXED_WORDS.contains(&other.as_str())),
        }
    }

    fn asks_for_person(&self) -> bool {
        let words = &self.words;
        let word = |i: usize| words.get(i).map_or("", String::as_str);
        let human = |i: usize| {
            HUMAN_WORDS.contains(&word(i))
                || (word(i) == "customer" && matches!(word(i + 1), "service" | "support" | "care"))
                || (word(i) == "support" && matches!(word(i + 1), "team" | "staff"))
        };
        let anyone = |i: usize| human(i) || ANY_PERSON_WORDS.contains(&word(i)) || word(i) == "support";
        let request_at = |i: usize| {
            let target = next_content(words, i + 1);
            let talk_to = TALK_VERBS.contains(&word(i)) && target.is_some_and(anyone);
            let want = WANT_VERBS.contains(&word(i)) && target.is_some_and(human);
            let then_talk = (human(i) || ANY_PERSON_WORDS.contains(&word(i)))
                && target.is_some_and(|j| TALK_VERBS_AFTER.contains(&word(j)));
            let escalate = word(i) == "escalate";
            let call_me = matches!(word(i), "call" | "phone" | "ring") && word(i + 1) == "me";
            (talk_to || want || then_talk || escalate || call_me) && !self.negated_before(i)
        };
        // "Agent please!", "A real human now": only the person and politeness.
        let bare = !self.question
            && (0..words.len()).any(human)
            && (0..words.len()).all(|i| {
                human(i)
                    || BARE_REQUEST_WORDS.contains(&word(i))
                    || (i > 0 && human(i - 1) && matches!(word(i), "service" | "support" | "care" | "team" | "staff"))
            });
        bare || (0..words.len()).any(request_at)
    }
}

/// Whether `phrase` occurs in `words` starting at position `at`.
fn phrase_at(words: &[String], at: usize, phrase: &[&str]) -> bool {
    words.get(at..at + phrase.len()).is_some_and(|window| window.iter().zip(phrase).all(|(word, want)| word == want))
}

/// The first position from `from` on that is not a filler word.
fn next_content(words: &[String], from: usize) -> Option<usize> {
    (from..words.len()).find(|&i| !FILLERS.contains(&words[i].as_str()))
}

/// Split `text` into clauses at sentence punctuation, commas, line breaks and
/// contrast words.
fn clauses(text: &str) -> Vec<Clause> {
    let mut clauses = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | ';' | ',' | ':' | '\n' | '\u{2014}' | '(' | ')') {
            push_clause(&mut clauses, &text[start..at], c == '?');
            start = at + c.len_utf8();
        }
    }
    push_clause(&mut clauses, &text[start..], false);
    clauses
}

fn push_clause(clauses: &mut Vec<Clause>, text: &str, question: bool) {
    let mut current = Vec::new();
    for word in words(text) {
        if CONTRASTS.contains(&word.as_str()) {
            if !current.is_empty() {
                clauses.push(Clause { words: std::mem::take(&mut current), question: false });
            }
            continue;
        }
        current.extend(expand_contraction(&word).iter().map(|part| part.to_string()));
    }
    if !current.is_empty() {
        clauses.push(Clause { words: current, question });
    }
}

/// `doesnt` → `does not`, `cant` → `can not` (apostrophes are already gone).
fn expand_contraction(word: &str) -> Vec<&str> {
    match word {
        "cant" | "cannot" => vec!["can", "not"],
        "wont" => vec!["will", "not"],
        "aint" => vec!["is", "not"],
        "isnt" => vec!["is", "not"],
        "arent" => vec!["are", "not"],
        "wasnt" => vec!["was", "not"],
        "werent" => vec!["were", "not"],
        "dont" => vec!["do", "not"],
        "doesnt" => vec!["does", "not"],
        "didnt" => vec!["did", "not"],
        "havent" => vec!["have", "not"],
        "hasnt" => vec!["has", "not"],
        "hadnt" => vec!["had", "not"],
        "couldnt" => vec!["could", "not"],
        "wouldnt" => vec!["would", "not"],
        "shouldnt" => vec!["should", "not"],
        "its" => vec!["it", "is"],
        "thats" => vec!["that", "is"],
        _ => vec![word],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_at_contrast_words_and_keep_questions() {
        let clauses = clauses("Thanks, but it doesn't work. Is it fixed?");
        let words: Vec<Vec<&str>> = clauses.iter().map(|c| c.words.iter().map(String::as_str).collect()).collect();
        assert_eq!(words, [vec!["thanks"], vec!["it", "does", "not", "work"], vec!["is", "it", "fixed"]]);
        assert!(clauses[2].question && !clauses[1].question);
    }
}
