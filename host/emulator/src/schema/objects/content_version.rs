//! ContentVersion.

use super::email_message::mark_has_attachment;
use super::fields::{FILE_LINK_TARGETS, flag, lookup, of, owner, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext, stamp};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The ContentVersion object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "ContentVersion",
        "Content Version",
        "Content Versions",
        "068",
        vec![
            lookup("ContentDocumentId", "ContentDocument ID", &["ContentDocument"], "ContentDocument")
                .create_only()
                .defaulted(),
            flag("IsLatest", "Is Latest").derived(),
            text("Title", "Title", 255).name_field().defaulted(),
            text("Description", "Description", 1000),
            text("PathOnClient", "Path On Client", 500).required().create_only(),
            of("VersionData", "Version Data", T::Base64).required().create_only(),
            text("VersionNumber", "Version Number", 20).derived(),
            text("FileType", "File Type", 20).derived(),
            text("FileExtension", "File Extension", 40).derived(),
            of("ContentSize", "Size", T::Int).derived(),
            text("ReasonForChange", "Reason For Change", 1000),
            pick("Origin", "Content Origin", &["C", "H"], Some("C")).restricted().create_only(),
            pick("ContentLocation", "Content Location", &["S", "E", "L"], Some("S")).restricted().create_only(),
            lookup("FirstPublishLocationId", "First Publish Location ID", FILE_LINK_TARGETS, "FirstPublishLocation")
                .create_only(),
            owner(&["User"]),
        ],
    )
    .with_hooks(&ContentVersionHooks)
}

/// A new version takes its title, type and size from the file; its insert
/// creates the ContentDocument (or becomes the latest version of the one it
/// names) and links the document to its owner and `FirstPublishLocationId`.
struct ContentVersionHooks;

impl ObjectHooks for ContentVersionHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, _ctx: &WriteContext) {
        if previous.is_some() {
            return;
        }
        let path = values.get("PathOnClient").and_then(Value::as_str).unwrap_or_default();
        let file_name = path.rsplit(['/', '\\']).next().unwrap_or("").to_string();
        let (stem, extension) = match file_name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), ext.to_ascii_lowercase()),
            _ => (file_name.clone(), String::new()),
        };
        if values.get("Title").is_none_or(Value::is_null) && !stem.is_empty() {
            values.insert("Title", Value::Text(stem));
        }
        let size = match values.get("VersionData") {
            Some(Value::Blob(b)) => b.len() as i64,
            _ => 0,
        };
        values.insert("ContentSize", Value::Int(size));
        values.insert("FileType", Value::Text(file_type(&extension).to_string()));
        values.insert("FileExtension", if extension.is_empty() { Value::Null } else { Value::Text(extension) });
        values.insert("IsLatest", Value::Bool(true));
    }

    fn after_insert(&self, db: &mut Database, id: &str, ctx: &WriteContext) {
        publish(db, id, ctx);
    }
}

/// Creates or updates the version's ContentDocument and links it.
fn publish(db: &mut Database, version_id: &str, ctx: &WriteContext) {
    let Some((_, v)) = db.record(version_id) else {
        return;
    };
    let copy = |f: &str| v.get(f).clone();
    let (title, file_type, extension, size, owner) =
        (copy("Title"), copy("FileType"), copy("FileExtension"), copy("ContentSize"), copy("OwnerId"));
    let existing_doc = v.reference("ContentDocumentId").map(str::to_string);
    let publish_to = v.reference("FirstPublishLocationId").map(str::to_string);
    let document_fields = |latest: &str| {
        Values::from([
            ("Title", title.clone()),
            ("LatestPublishedVersionId", Value::Text(latest.to_string())),
            ("FileType", file_type.clone()),
            ("FileExtension", extension.clone()),
            ("ContentSize", size.clone()),
            ("OwnerId", owner.clone()),
        ])
    };
    match existing_doc {
        Some(doc_id) => {
            let older: Vec<String> = db
                .rows("ContentVersion")
                .iter()
                .filter(|r| r.reference("ContentDocumentId") == Some(doc_id.as_str()) && r.id != version_id)
                .map(|r| r.id.clone())
                .collect();
            for old in &older {
                db.change_row("ContentVersion", old, |row| row.set("IsLatest", Value::Bool(false)));
            }
            db.change_row("ContentVersion", version_id, |row| {
                row.set("VersionNumber", Value::Text((older.len() + 1).to_string()));
            });
            let fields = document_fields(version_id);
            db.change_row("ContentDocument", &doc_id, |doc| {
                doc.set_all(fields);
                doc.set("LastModifiedDate", Value::DateTime(stamp(ctx.now)));
                doc.set("SystemModstamp", Value::DateTime(stamp(ctx.now)));
            });
        }
        None => {
            let doc_id = db.insert_row("ContentDocument", document_fields(version_id), ctx);
            db.change_row("ContentVersion", version_id, |row| {
                row.set("ContentDocumentId", Value::Text(doc_id.clone()));
                row.set("VersionNumber", Value::Text("1".into()));
            });
            let mut link = |entity: String, share: &str| {
                let fields = Values::from([
                    ("ContentDocumentId", Value::Text(doc_id.clone())),
                    ("LinkedEntityId", Value::Text(entity)),
                    ("ShareType", Value::Text(share.to_string())),
                    ("Visibility", Value::Text("AllUsers".to_string())),
                ]);
                let link = db.insert_row("ContentDocumentLink", fields, ctx);
                mark_has_attachment(db, &link, "LinkedEntityId");
            };
            if let Value::Text(owner) = owner {
                link(owner, "I");
            }
            if let Some(target) = publish_to {
                link(target, "V");
            }
        }
    }
}

/// ContentVersion's `FileType` for a file extension.
fn file_type(extension: &str) -> &'static str {
    match extension {
        "pdf" => "PDF",
        "png" => "PNG",
        "jpg" | "jpeg" => "JPG",
        "gif" => "GIF",
        "txt" => "TEXT",
        "csv" => "CSV",
        "htm" | "html" => "HTML",
        "xml" => "XML",
        "json" => "JSON",
        "zip" => "ZIP",
        "doc" => "WORD",
        "docx" => "WORD_X",
        "xls" => "EXCEL",
        "xlsx" => "EXCEL_X",
        "ppt" => "POWER_POINT",
        "pptx" => "POWER_POINT_X",
        "mp4" => "MP4",
        "mp3" => "MP3",
        _ => "UNKNOWN",
    }
}
