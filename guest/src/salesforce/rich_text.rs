//! Salesforce rich text (Chatter posts and comments, HTML email bodies) as
//! plain text with its inline images, and the REST paths of the files a
//! conversation part carries.

use crate::model::Attachment;

/// The REST path of a ContentVersion's bytes.
pub fn version_data_path(api_version: &str, version_id: &str) -> String {
    format!("/services/data/v{api_version}/sobjects/ContentVersion/{version_id}/VersionData")
}

/// Plain text and inline images of Salesforce rich text (`<p>`, `<b>`, `<img src="sfdc://069…">`, …).
pub fn rich_text(html: &str, api_version: &str) -> (String, Vec<Attachment>) {
    let mut out = String::with_capacity(html.len());
    let mut images = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + len];
        let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        match name.to_ascii_lowercase().as_str() {
            "p" | "br" | "li" | "div" if tag.starts_with('/') || name.eq_ignore_ascii_case("br") => out.push('\n'),
            "img" => {
                if let Some(document_id) =
                    attribute(tag, "src").and_then(|src| src.strip_prefix("sfdc://").map(str::to_string))
                {
                    images.push(Attachment {
                        name: attribute(tag, "alt").unwrap_or_else(|| document_id.clone()),
                        content_type: "image/*".into(),
                        size: 0,
                        // Inline images name a ContentDocument; its latest version holds the bytes.
                        content_path: format!("/services/data/v{api_version}/sobjects/ContentDocument/{document_id}"),
                        inline: true,
                    });
                }
            }
            _ => {}
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (decode_entities(out.trim()), images)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag.get(at..)?.find('"')?;
    tag.get(at..at + end).map(str::to_string)
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_text_becomes_plain_text_with_inline_images() {
        let (text, images) = rich_text(
            "<p>It crashes <b>here</b>:</p><p><img src=\"sfdc://069000000000001AAA\" alt=\"shot.png\"></img></p>&amp; more",
            "62.0",
        );
        assert_eq!(text, "It crashes here:\n\n& more");
        assert_eq!(images.len(), 1);
        assert!(images[0].inline);
        assert_eq!(images[0].name, "shot.png");
        assert!(images[0].content_path.ends_with("/ContentDocument/069000000000001AAA"));
    }

    #[test]
    fn unclosed_markup_does_not_panic() {
        let (text, images) = rich_text("a < b and <img src=\"sfdc://", "62.0");
        assert!(text.starts_with("a "));
        assert!(images.is_empty());
    }
}
