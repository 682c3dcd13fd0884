//! Okapi BM25 ranking over a fixed set of documents (the help centre's
//! sections), with a relevance score that means the same for any corpus size.
//!
//! ```
//! use casebridge::agent::bm25::Bm25Index;
//! let terms = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
//! let index = Bm25Index::new([terms("reset password email link"), terms("invoice amount refund"), terms("export data csv")]);
//! let hits = index.search(&terms("password reset"));
//! assert_eq!(hits[0].document, 0);
//! assert!(hits[0].relevance > 1.0);
//! ```
//!
//! For a query `q` and document `d`:
//!
//! ```text
//! score(q, d) = Σ_{t ∈ q} idf(t) · tf(t,d)·(K1+1) / (tf(t,d) + K1·(1 − B + B·|d|/avgdl))
//! idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! ```
//!
//! Raw scores grow with the corpus (`idf` is a logarithm of its size), so a
//! fixed threshold on them would mean one thing for ten articles and another
//! for ten thousand. [`Hit::relevance`] divides the score by `idf` of a term
//! found in exactly one document: a relevance of 1.0 is worth one exact match
//! of a word unique to that document, at average length, whatever the corpus.

use std::collections::{BTreeSet, HashMap};

/// Term-frequency saturation: how quickly repeating a word stops adding to the
/// score. 1.2 is the value most BM25 implementations (Lucene, Elasticsearch) use.
pub const K1: f64 = 1.2;

/// Length normalisation: 0 ignores document length, 1 fully normalises it.
/// 0.75 is the customary default; help sections vary in length moderately.
pub const B: f64 = 0.75;

/// A BM25 index of documents given as lists of (already normalised) terms.
#[derive(Debug, Clone, Default)]
pub struct Bm25Index {
    documents: Vec<DocumentStats>,
    document_frequency: HashMap<String, usize>,
    average_length: f64,
}

#[derive(Debug, Clone)]
struct DocumentStats {
    term_frequency: HashMap<String, u32>,
    length: usize,
}

/// One document that matched a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The document's position in the order it was indexed.
    pub document: usize,
    /// The raw BM25 score.
    pub score: f64,
    /// The score in units of one exact match of a word unique to one document
    /// (see the module docs): comparable across corpus sizes.
    pub relevance: f64,
}

impl Bm25Index {
    /// Index `documents`, each a list of terms (repeated terms count as frequency).
    pub fn new<D, T>(documents: D) -> Self
    where
        D: IntoIterator<Item = T>,
        T: IntoIterator<Item = String>,
    {
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        let documents: Vec<DocumentStats> = documents
            .into_iter()
            .map(|terms| {
                let mut term_frequency: HashMap<String, u32> = HashMap::new();
                let mut length = 0;
                for term in terms {
                    *term_frequency.entry(term).or_default() += 1;
                    length += 1;
                }
                for term in term_frequency.keys() {
                    *document_frequency.entry(term.clone()).or_default() += 1;
                }
                DocumentStats { term_frequency, length }
            })
            .collect();
        let total: usize = documents.iter().map(|document| document.length).sum();
        // An index of empty documents would divide by zero; length 1 is neutral.
        let average_length = if documents.is_empty() { 1.0 } else { (total as f64 / documents.len() as f64).max(1.0) };
        Bm25Index { documents, document_frequency, average_length }
    }

    /// How many documents are indexed.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// Whether any document contains `term`.
    pub fn contains(&self, term: &str) -> bool {
        self.document_frequency.contains_key(term)
    }

    /// The inverse document frequency of a term found in `document_frequency` documents.
    pub fn idf(&self, document_frequency: usize) -> f64 {
        let n = self.documents.len() as f64;
        let df = document_frequency as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The BM25 score of `document` for `query`; each distinct query term counts
    /// once, so a customer repeating a word does not outweigh the rest.
    pub fn score(&self, query: &[String], document: usize) -> f64 {
        let Some(stats) = self.documents.get(document) else { return 0.0 };
        let length_norm = 1.0 - B + B * stats.length as f64 / self.average_length;
        distinct(query)
            .filter_map(|term| {
                let tf = f64::from(*stats.term_frequency.get(term)?);
                let idf = self.idf(self.document_frequency.get(term).copied().unwrap_or(0));
                Some(idf * tf * (K1 + 1.0) / (tf + K1 * length_norm))
            })
            .sum()
    }

    /// Every document matching at least one query term, best first; equal
    /// scores keep index order, so results are deterministic.
    pub fn search(&self, query: &[String]) -> Vec<Hit> {
        let unit = self.idf(1);
        let mut hits: Vec<Hit> = (0..self.documents.len())
            .filter_map(|document| {
                let score = self.score(query, document);
                (score > 0.0).then(|| Hit { document, score, relevance: if unit > 0.0 { score / unit } else { 0.0 } })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.document.cmp(&b.document)));
        hits
    }
}

/// The distinct terms of `query`, in a fixed order so float sums are reproducible.
fn distinct(query: &[String]) -> impl Iterator<Item = &str> {
    query.iter().map(String::as_str).collect::<BTreeSet<_>>().into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn idf_matches_the_formula() {
        let index = Bm25Index::new([terms("a b"), terms("a c"), terms("d")]);
        let expected = (1.0f64 + (3.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
        assert!((index.idf(2) - expected).abs() < 1e-12);
    }

    #[test]
    fn shorter_documents_win_at_equal_term_frequency() {
        let index = Bm25Index::new([terms("refund x y z w v"), terms("refund"), terms("other")]);
        let hits = index.search(&terms("refund"));
        assert_eq!(hits.iter().map(|hit| hit.document).collect::<Vec<_>>(), [1, 0]);
    }

    #[test]
    fn relevance_of_a_unique_word_at_average_length_is_one() {
        let index = Bm25Index::new([terms("alpha beta"), terms("gamma delta")]);
        let hit = index.search(&terms("alpha"))[0];
        assert!((hit.relevance - 1.0).abs() < 1e-12, "{hit:?}");
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        assert!(Bm25Index::new(Vec::<Vec<String>>::new()).search(&terms("anything")).is_empty());
    }
}
