//! How text becomes search terms: the one tokeniser the help-centre index and
//! the customer's question share, so both sides are normalised alike.
//!
//! ```
//! use casebridge::agent::terms::search_terms;
//! assert_eq!(search_terms("Hi! The app keeps crashing when I upload photos."), ["app", "keep", "crash", "upload", "photo"]);
//! ```
//!
//! Steps: split into words (Unicode letters and digits; everything else is a
//! separator, apostrophes join contractions), lowercase, drop stop words, then
//! a light stemmer (plural, `-ing`, `-ed`, final `e`). It is deliberately not
//! Porter: it only has to map a customer's word and the article's word to the
//! same term, and every rule it has is visible below.

/// Words that carry no topic in a support message: English function words and
/// the filler of customer emails (greetings, politeness, "it doesn't work").
/// Checked on the lowercased word before stemming.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "best",
    "but",
    "by",
    "can",
    "cannot",
    "cant",
    "cheers",
    "could",
    "couldnt",
    "dear",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "done",
    "dont",
    "each",
    "even",
    "ever",
    "every",
    "for",
    "from",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "help",
    "her",
    "here",
    "hey",
    "hi",
    "him",
    "his",
    "hope",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "issue",
    "it",
    "its",
    "ive",
    "just",
    "kind",
    "kindly",
    "know",
    "let",
    "like",
    "me",
    "more",
    "much",
    "my",
    "myself",
    "need",
    "no",
    "not",
    "now",
    "of",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "please",
    "pls",
    "problem",
    "question",
    "regards",
    "same",
    "see",
    "she",
    "should",
    "since",
    "sincerely",
    "so",
    "some",
    "something",
    "still",
    "such",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "this",
    "those",
    "thx",
    "to",
    "too",
    "tried",
    "trouble",
    "try",
    "trying",
    "up",
    "us",
    "very",
    "want",
    "was",
    "wasnt",
    "way",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "wont",
    "work",
    "worked",
    "working",
    "works",
    "would",
    "wrong",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
];

/// The words of `text`, lowercased, in order. Apostrophes inside a word are
/// dropped (`doesn't` → `doesnt`, `customer's` → `customers`), so contractions
/// stay one word; every other non-alphanumeric character separates words.
pub fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if is_apostrophe(c) && !current.is_empty() && chars.peek().is_some_and(|next| next.is_alphanumeric()) {
            // Inside a word: `doesn't`, `it's`. Leading or trailing quotes separate.
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The search terms of `text`: its words minus stop words and one-letter
/// words, stemmed, in order (duplicates kept: term frequency counts them).
pub fn search_terms(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|word| word.chars().count() > 1 && !is_stop_word(word))
        .map(|word| stem(&word))
        .collect()
}

/// Whether `word` (lowercase, apostrophes removed) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// A light English stemmer for lowercase words: possessive and plural `s`,
/// `-ies`/`-ied` → `y`, `-ing` and `-ed` (with a doubled final consonant
/// undone: `stopped` → `stop`), then a final `e` (so `charge`, `charges`,
/// `charged` and `charging` all become `charg`). Words with non-ASCII letters
/// are only lowercased: the suffix rules are English.
pub fn stem(word: &str) -> String {
    if !word.is_ascii() || word.len() <= 3 {
        return word.to_string();
    }
    let mut stem = word;
    if let Some(base) = stem.strip_suffix("ies").or_else(|| stem.strip_suffix("ied")).filter(|b| b.len() >= 2) {
        return format!("{base}y");
    }
    if let Some(base) = stem.strip_suffix("sses") {
        stem = &word[..base.len() + 2];
    } else if stem.ends_with('s') && !stem.ends_with("ss") && !stem.ends_with("us") && !stem.ends_with("is") {
        stem = &stem[..stem.len() - 1];
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = stem.strip_suffix(suffix).filter(|base| base.len() >= 3 && base.bytes().any(is_vowel)) {
            stem = undouble(base);
            break;
        }
    }
    if stem.len() > 3 && stem.ends_with('e') {
        stem = &stem[..stem.len() - 1];
    }
    stem.to_string()
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

fn is_vowel(byte: u8) -> bool {
    matches!(byte, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// `stopp` → `stop`, but `install`, `access` and `buzz` keep their double letter.
fn undouble(base: &str) -> &str {
    let bytes = base.as_bytes();
    match bytes {
        [.., a, b] if a == b && !is_vowel(*a) && !matches!(a, b'l' | b's' | b'z') => &base[..base.len() - 1],
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]), "keep STOP_WORDS sorted and unique");
    }

    #[test]
    fn inflections_share_a_stem() {
        for group in [
            ["charge", "charges", "charged", "charging"],
            ["crash", "crashes", "crashed", "crashing"],
            ["upload", "uploads", "uploaded", "uploading"],
            ["invoice", "invoices", "invoiced", "invoicing"],
            ["stop", "stops", "stopped", "stopping"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(stems.iter().all(|s| s == &stems[0]), "{group:?} → {stems:?}");
        }
        assert_eq!(stem("entries"), stem("entry"));
        assert_eq!(stem("install"), "install");
        assert_eq!(stem("access"), "access");
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("need"), "need");
    }

    #[test]
    fn words_keep_contractions_and_unicode_letters() {
        assert_eq!(words("It doesn’t work — Grüße, Zoë!"), ["it", "doesnt", "work", "grüße", "zoë"]);
        assert_eq!(words("'quoted' 2FA codes"), ["quoted", "2fa", "codes"]);
    }
}
