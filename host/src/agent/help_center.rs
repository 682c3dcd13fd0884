//! The help centre the built-in agent answers from: a folder of Markdown
//! articles, each split into sections at its headings.
//!
//! ```
//! use casebridge::agent::HelpCenter;
//! let help_center = HelpCenter::from_markdown([(
//!     "reset-password.md",
//!     "# Reset your password\n\nIntro.\n\n## Reset a forgotten password\n\n1. Click **Forgot password?**\n2. Check your email\n",
//! )]);
//! let article = &help_center.articles()[0];
//! assert_eq!(article.title, "Reset your password");
//! assert_eq!(article.sections[1].heading, "Reset a forgotten password");
//! assert_eq!(article.sections[1].text(), "1. Click Forgot password?\n2. Check your email");
//! ```
//!
//! An article's title is its first `#` heading, or its file name when it has
//! none. Text before the first other heading is the article's introduction (a
//! section headed by the title); every later heading, of any level, starts a
//! section. Markdown is reduced to plain text, because replies go into case
//! comments and plain-text emails: emphasis is dropped, list items keep their
//! `1.` or `-` marker, links keep their target in brackets.

use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

/// The sample help centre of the fictional "Acme Cloud" (`host/help-center/`),
/// compiled in so the built-in agent answers out of the box.
const SAMPLE_ARTICLES: &[(&str, &str)] = &[
    ("api-keys.md", include_str!("../../help-center/api-keys.md")),
    ("app-crashes-uploading-photos.md", include_str!("../../help-center/app-crashes-uploading-photos.md")),
    ("change-plan.md", include_str!("../../help-center/change-plan.md")),
    ("delete-account.md", include_str!("../../help-center/delete-account.md")),
    ("export-data.md", include_str!("../../help-center/export-data.md")),
    ("invite-teammates.md", include_str!("../../help-center/invite-teammates.md")),
    ("invoices-and-refunds.md", include_str!("../../help-center/invoices-and-refunds.md")),
    ("reset-password.md", include_str!("../../help-center/reset-password.md")),
    ("two-factor-authentication.md", include_str!("../../help-center/two-factor-authentication.md")),
    ("update-payment-method.md", include_str!("../../help-center/update-payment-method.md")),
];

/// Why a help-centre folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HelpCenterError {
    #[error("cannot read the help-centre folder {}: {source}; check the agent's help_center path", dir.display())]
    ReadFolder { dir: PathBuf, source: std::io::Error },
    #[error("cannot read the help article {}: {source}", path.display())]
    ReadArticle { path: PathBuf, source: std::io::Error },
    #[error("the help-centre folder {} holds no `.md` articles; add Markdown articles or point help_center at another folder", dir.display())]
    NoArticles { dir: PathBuf },
}

/// A set of help articles.
#[derive(Debug, Clone, Default)]
pub struct HelpCenter {
    articles: Vec<Article>,
}

/// One help article.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The first `#` heading, or a title made from the file name.
    pub title: String,
    /// The file the article came from, e.g. `reset-password.md`.
    pub file: String,
    /// Its sections in document order; sections without text are left out.
    pub sections: Vec<Section>,
}

/// A part of an article under one heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The heading's text (the article's title for its introduction).
    pub heading: String,
    /// The plain-text blocks under the heading: paragraphs and list items.
    pub blocks: Vec<Block>,
}

/// One paragraph or list item of a section, as plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The text; a list item starts with its marker (`1. `, `- `), indented when nested.
    pub text: String,
    /// Whether the block is a list item (consecutive items are not separated by a blank line).
    pub list_item: bool,
}

impl HelpCenter {
    /// Load every `*.md` file of `dir` (not recursive), in file-name order.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, HelpCenterError> {
        let dir = dir.as_ref();
        let read_folder = |source| HelpCenterError::ReadFolder { dir: dir.to_path_buf(), source };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_folder)? {
            let path = entry.map_err(read_folder)?.path();
            if path.is_file() && path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("md")) {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(HelpCenterError::NoArticles { dir: dir.to_path_buf() });
        }
        paths.sort();
        let mut articles = Vec::with_capacity(paths.len());
        for path in paths {
            let markdown = std::fs::read_to_string(&path)
                .map_err(|source| HelpCenterError::ReadArticle { path: path.clone(), source })?;
            let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            articles.push(Article::parse(&file, &markdown));
        }
        Ok(HelpCenter { articles })
    }

    /// The sample "Acme Cloud" help centre compiled into the host.
    pub fn sample() -> Self {
        Self::from_markdown(SAMPLE_ARTICLES.iter().copied())
    }

    /// A help centre from `(file name, Markdown)` pairs, in the given order.
    pub fn from_markdown<'a>(articles: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        HelpCenter { articles: articles.into_iter().map(|(file, markdown)| Article::parse(file, markdown)).collect() }
    }

    /// The articles.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }
}

impl Article {
    /// Parse one Markdown article; `file` names it and gives the fallback title.
    pub fn parse(file: &str, markdown: &str) -> Self {
        let mut reader = ArticleReader::default();
        for event in Parser::new(markdown) {
            reader.event(event);
        }
        reader.finish(file)
    }
}

impl Section {
    /// The section as plain text: list items on consecutive lines, other blocks
    /// separated by a blank line.
    pub fn text(&self) -> String {
        render_blocks(&self.blocks)
    }
}

/// Plain text of `blocks`, laid out as [`Section::text`] describes.
pub fn render_blocks(blocks: &[Block]) -> String {
    let mut text = String::new();
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            text.push_str(if block.list_item && blocks[i - 1].list_item { "\n" } else { "\n\n" });
        }
        text.push_str(&block.text);
    }
    text
}

/// A title from a file name: `reset-password.md` → `Reset password`.
fn title_from_file(file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    let words = stem.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Untitled article".to_string(),
    }
}

/// Turns pulldown-cmark events into a title and sections.
#[derive(Default)]
struct ArticleReader {
    title: Option<String>,
    sections: Vec<Section>,
    /// The section being read; `None` before the first heading (the introduction).
    heading: Option<String>,
    blocks: Vec<Block>,
    /// Text of the heading being read, when inside one.
    heading_text: Option<String>,
    /// Text of the block being read.
    block: String,
    /// Open lists: the next number of an ordered list, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Whether the block being read is a list item.
    in_item: bool,
    /// Whether the block being read has text beyond its list marker.
    block_has_text: bool,
    /// Link targets of open links, to append after their text.
    links: Vec<String>,
}

impl ArticleReader {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                self.flush_block();
                self.heading_text = Some(String::new());
            }
            Event::End(TagEnd::Heading(level)) => {
                let text = self.heading_text.take().unwrap_or_default().trim().to_string();
                if level == HeadingLevel::H1 && self.title.is_none() && self.heading.is_none() {
                    self.title = Some(text);
                } else {
                    self.close_section();
                    self.heading = Some(text);
                }
            }
            Event::Start(Tag::List(start)) => {
                self.flush_block();
                self.lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                self.flush_block();
                self.lists.pop();
            }
            Event::Start(Tag::Item) => {
                self.flush_block();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_string(),
                };
                self.block = format!("{}{marker}", "   ".repeat(depth));
                self.in_item = true;
            }
            Event::End(TagEnd::Item) => self.flush_block(),
            Event::Start(Tag::Paragraph) => {
                // A paragraph inside a loose list item continues the item.
                if !self.in_item {
                    self.flush_block();
                } else if !self.block.ends_with(' ') {
                    self.block.push(' ');
                }
            }
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) if !self.in_item => {
                self.flush_block();
            }
            Event::Start(Tag::Link { dest_url, .. }) => self.links.push(dest_url.into_string()),
            Event::End(TagEnd::Link) => {
                if let Some(target) = self.links.pop()
                    && !target.is_empty()
                    && !self.current_text().ends_with(target.as_str())
                {
                    self.push_text(&format!(" ({target})"));
                }
            }
            Event::Text(text) | Event::Code(text) => self.push_text(&text),
            Event::SoftBreak => self.push_text(" "),
            Event::HardBreak => self.push_text("\n"),
            // Images, raw HTML, rules and the rest carry nothing for a plain-text reply.
            _ => {}
        }
    }

    fn current_text(&self) -> &str {
        self.heading_text.as_deref().unwrap_or(&self.block)
    }

    fn push_text(&mut self, text: &str) {
        match &mut self.heading_text {
            Some(heading) => heading.push_str(text),
            None => {
                self.block_has_text |= !text.trim().is_empty();
                self.block.push_str(text);
            }
        }
    }

    fn flush_block(&mut self) {
        let text = std::mem::take(&mut self.block);
        if self.block_has_text {
            self.blocks.push(Block { text: text.trim_end().to_string(), list_item: self.in_item });
        }
        self.in_item = false;
        self.block_has_text = false;
    }

    fn close_section(&mut self) {
        self.flush_block();
        let blocks = std::mem::take(&mut self.blocks);
        if blocks.is_empty() {
            return;
        }
        // The introduction's heading is filled in with the title in `finish`.
        self.sections.push(Section { heading: self.heading.clone().unwrap_or_default(), blocks });
    }

    fn finish(mut self, file: &str) -> Article {
        self.close_section();
        let title = self.title.take().filter(|title| !title.is_empty()).unwrap_or_else(|| title_from_file(file));
        let mut sections = self.sections;
        for section in &mut sections {
            if section.heading.is_empty() {
                section.heading = title.clone();
            }
        }
        Article { title, file: file.to_string(), sections }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_loose_lists_become_indented_plain_text() {
        let article = Article::parse(
            "x.md",
            "# T\n\n## Steps\n\n1. First with [a link](https://example.com).\n\n   More text.\n2. Second\n   - nested *one*\n   - nested `two`\n",
        );
        assert_eq!(
            article.sections[0].text(),
            "1. First with a link (https://example.com). More text.\n2. Second\n   - nested one\n   - nested two"
        );
    }

    #[test]
    fn an_article_without_a_title_heading_is_named_after_its_file() {
        let article = Article::parse("lost-my-phone.md", "Some intro text.\n\n## What to do\n\nCall us.");
        assert_eq!(article.title, "Lost my phone");
        assert_eq!(article.sections[0].heading, "Lost my phone");
        assert_eq!(article.sections[1].heading, "What to do");
    }

    #[test]
    fn headings_without_text_make_no_section() {
        let article = Article::parse("x.md", "# Title\n\n## Empty\n\n### Inner\n\nBody.");
        assert_eq!(article.sections.len(), 1);
        assert_eq!(article.sections[0].heading, "Inner");
    }
}
