//! The customer's side of the web messenger (E10): a page, a script a
//! website embeds, and the page's JSON API and event stream, served by
//! `casebridge run` beside the platform API for every org with
//! `[org.messenger]`.
//!
//! | method and path | auth | what it does |
//! |---|---|---|
//! | `GET /messenger/{org}` | | the chat page |
//! | `GET /messenger/{org}/embed.js` | | a launcher button that opens the page in a frame |
//! | `POST /messenger/{org}/api/visits` | | `{"user_id"?,"email"?,"name"?,"signature"?}` → 201 `{"token","conversation_id"}`: a new visitor (an anonymous lead, or the signed identity's user) and their conversation |
//! | `GET /messenger/{org}/api/conversation` | visitor | `{"id","parts":[{"id","author","author_name","text","created_at","attachments"}]}` |
//! | `POST /messenger/{org}/api/messages` | visitor | `{"id"?,"text"}` → 201 the part; a retried `id` is added once |
//! | `POST /messenger/{org}/api/files?name=` | visitor | the file's bytes (its `Content-Type`), at most 5 MB → 201 the part |
//! | `PUT /messenger/{org}/api/email` | visitor | `{"email"}`: the visitor gives their email |
//! | `GET /messenger/{org}/api/events?token=` | visitor | `text/event-stream`: each part as a `part` event whose `id:` is its position, so `Last-Event-ID` resumes |
//!
//! A visitor is the token the page keeps in `localStorage` (32 random bytes;
//! only its SHA-256 is stored): it opens its own conversation and nothing
//! else. The JSON API takes it as `Authorization: Bearer`, never from a
//! cookie, so a page of another site cannot make the browser act for the
//! visitor (no CSRF); the event stream takes it as `?token=` because
//! `EventSource` cannot set headers.
//!
//! A **signed identity**: the embedding site passes `user_id`, `email`,
//! `name` and `signature = hex(HMAC-SHA256(secret, user_id + "\n" + email))`,
//! the secret in the environment variable `identity_secret_env` names; the
//! visit's person is then the identified user `user-<user_id>` (the same
//! person on every visit). A wrong signature is refused; without one the
//! visitor is an anonymous lead until they give an email.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Relay;
use crate::platform::api::{new_token, token_hash};
use crate::platform::{ConversationPatch, MESSENGER_FILES, PersonPatch, StorePlatform};
use crate::runtime::bindings::platform::{ConversationState, PersonRole};
use crate::runtime::bindings::types::{Attachment, AuthorRole, Channel, ConversationPart, PartSource};
use crate::storage::messenger::{MessengerFile, Visitor};

/// The largest file a customer may attach (as Messaging for In-App and Web takes).
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// How often the event stream looks for new parts.
const EVENT_POLL: Duration = Duration::from_millis(250);
/// The longest message text.
const MAX_TEXT_CHARS: usize = 10_000;

const PAGE: &str = include_str!("assets/messenger.html");
const EMBED: &str = include_str!("assets/embed.js");
const SCRIPT: &str = include_str!("assets/messenger.js");

/// What the messenger serves from.
#[derive(Clone)]
pub struct MessengerState {
    pub platform: StorePlatform,
    /// The orgs with a messenger, each with the key signed identities are
    /// checked with (none: identities are not accepted).
    pub orgs: Arc<BTreeMap<String, Option<Vec<u8>>>>,
    /// Told when a customer wrote.
    pub relay: Arc<dyn Relay>,
}

/// The messenger's routes.
pub fn router(state: MessengerState) -> Router {
    Router::new()
        .route("/messenger/{org}", get(page))
        .route("/messenger/{org}/embed.js", get(embed))
        .route("/messenger/{org}/messenger.js", get(script))
        .route("/messenger/{org}/api/visits", post(start_visit))
        .route("/messenger/{org}/api/conversation", get(conversation))
        .route("/messenger/{org}/api/messages", post(post_message))
        .route("/messenger/{org}/api/files", post(post_file))
        .route("/messenger/{org}/api/email", put(give_email))
        .route("/messenger/{org}/api/events", get(events))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 64 * 1024))
        .with_state(state)
}

/// A refusal: the status and what to do.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"message": self.1}}))).into_response()
    }
}

type Answer = Result<Response, Refused>;

fn unavailable(error: impl std::fmt::Display) -> Refused {
    tracing::warn!("the messenger cannot reach its records: {error}");
    Refused(StatusCode::SERVICE_UNAVAILABLE, "the messenger is unavailable; try again in a moment".into())
}

fn known(state: &MessengerState, org: &str) -> Result<(), Refused> {
    if state.orgs.contains_key(org) {
        Ok(())
    } else {
        Err(Refused(StatusCode::NOT_FOUND, format!("no messenger for `{org}`; configure [org.messenger] for it")))
    }
}

/// The page's security headers: nothing from elsewhere, no sniffing.
fn secured(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors *",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn page(State(state): State<MessengerState>, Path(org): Path<String>) -> Answer {
    known(&state, &org)?;
    // The org name goes in as JSON inside a data attribute, escaped for HTML.
    let org_json = serde_json::to_string(&org).unwrap_or_default().replace('&', "&amp;").replace('"', "&quot;");
    // Org names are `[a-z0-9_-]` (checked when the configuration loads): safe in a path.
    let html = PAGE.replace("{{ORG_JSON}}", &org_json).replace("{{ORG}}", &org);
    Ok(secured(html.into_response(), "text/html; charset=utf-8"))
}

async fn script(State(state): State<MessengerState>, Path(org): Path<String>) -> Answer {
    known(&state, &org)?;
    Ok(secured(SCRIPT.into_response(), "text/javascript; charset=utf-8"))
}

async fn embed(State(state): State<MessengerState>, Path(org): Path<String>) -> Answer {
    known(&state, &org)?;
    Ok(secured(EMBED.into_response(), "text/javascript; charset=utf-8"))
}

/// Run a platform call off the async workers.
async fn blocking<T: Send + 'static>(
    state: &MessengerState,
    work: impl FnOnce(&StorePlatform) -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    let platform = state.platform.clone();
    tokio::task::spawn_blocking(move || work(&platform)).await.map_err(unavailable)?
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VisitRequest {
    user_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    signature: Option<String>,
}

/// Whether `signature` is the HMAC-SHA256 of `user_id\nemail` under `key`.
pub fn signature_is_valid(key: &[u8], user_id: &str, email: &str, signature: &str) -> bool {
    use hmac::Mac as _;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else { return false };
    mac.update(format!("{user_id}\n{email}").as_bytes());
    let Some(given) = decode_hex(signature) else { return false };
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

async fn start_visit(State(state): State<MessengerState>, Path(org): Path<String>, body: Bytes) -> Answer {
    known(&state, &org)?;
    let request: VisitRequest = if body.iter().all(u8::is_ascii_whitespace) {
        VisitRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Refused(
                StatusCode::BAD_REQUEST,
                format!("the visit is not {{\"user_id\",\"email\",\"name\",\"signature\"}}: {e}"),
            )
        })?
    };
    let identified = match (&request.user_id, &request.signature) {
        (None, None) => None,
        (Some(user_id), Some(signature)) => {
            let email = request.email.clone().unwrap_or_default();
            let key = state.orgs.get(&org).cloned().flatten().ok_or_else(|| {
                Refused(
                    StatusCode::UNAUTHORIZED,
                    "this messenger takes no signed identities; set identity_secret_env in [org.messenger]".into(),
                )
            })?;
            if !signature_is_valid(&key, user_id, &email, signature) {
                return Err(Refused(
                    StatusCode::UNAUTHORIZED,
                    "the identity's signature is wrong; sign user_id + \"\\n\" + email with HMAC-SHA256 and the messenger's secret".into(),
                ));
            }
            Some(user_id.clone())
        }
        _ => return Err(Refused(StatusCode::BAD_REQUEST, "give both user_id and signature, or neither".into())),
    };
    let token = new_token();
    let suffix: String = token_hash(&token).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let conversation_id = format!("web-{suffix}");
    let person_id = match &identified {
        Some(user_id) => format!("user-{user_id}"),
        None => format!("visitor-{suffix}"),
    };
    let hash = token_hash(&token);
    let (org2, person, chat) = (org.clone(), person_id.clone(), conversation_id.clone());
    blocking(&state, move |platform| {
        let now = chrono::Utc::now().timestamp_millis();
        let patch = PersonPatch {
            role: Some(if identified.is_some() { PersonRole::User } else { PersonRole::Lead }),
            name: request.name.map(Some),
            email: request.email.map(Some),
            ..PersonPatch::default()
        };
        platform
            .put_person(&org2, &person, patch, false, now)
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))?;
        let conversation = ConversationPatch {
            channel: Some(Channel::Messenger),
            state: Some(ConversationState::Open),
            person_id: Some(Some(person.clone())),
            ..ConversationPatch::default()
        };
        platform.put_conversation(&org2, &chat, conversation, false, now).map_err(unavailable)?;
        let visitor = Visitor { person_id: person, conversation_id: chat };
        platform.0.put_messenger_visitor(&org2, &hash, &visitor, now).map_err(unavailable)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"token": token, "conversation_id": conversation_id}))).into_response())
}

/// The visitor a token stands for.
async fn visitor(state: &MessengerState, org: &str, token: Option<&str>) -> Result<Visitor, Refused> {
    known(state, org)?;
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
        Refused(StatusCode::UNAUTHORIZED, "start a visit first (POST …/api/visits) and send its token".into())
    })?;
    let (org, hash) = (org.to_string(), token_hash(token));
    blocking(state, move |platform| platform.0.messenger_visitor(&org, &hash).map_err(unavailable))
        .await?
        .ok_or_else(|| Refused(StatusCode::UNAUTHORIZED, "this visit is unknown; start a new one".into()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn author(role: AuthorRole) -> &'static str {
    match role {
        AuthorRole::Customer => "customer",
        AuthorRole::Agent => "agent",
        AuthorRole::Teammate => "teammate",
        AuthorRole::System => "system",
    }
}

fn part_json(part: &ConversationPart) -> Value {
    json!({
        "id": part.id,
        "author": author(part.author),
        "author_name": part.author_name,
        "text": part.text,
        "created_at": part.created_at,
        "attachments": part.attachments.iter().map(|a| json!({"name": a.name, "content_type": a.content_type, "size": a.size})).collect::<Vec<_>>(),
    })
}

async fn parts_of(state: &MessengerState, org: &str, conversation_id: &str) -> Result<Vec<ConversationPart>, Refused> {
    let (org, id) = (org.to_string(), conversation_id.to_string());
    let conversation = blocking(state, move |platform| platform.conversation(&org, &id).map_err(unavailable)).await?;
    Ok(conversation.map(|c| c.parts).unwrap_or_default())
}

async fn conversation(State(state): State<MessengerState>, Path(org): Path<String>, headers: HeaderMap) -> Answer {
    let visitor = visitor(&state, &org, bearer(&headers)).await?;
    let parts = parts_of(&state, &org, &visitor.conversation_id).await?;
    Ok(Json(json!({"id": visitor.conversation_id, "parts": parts.iter().map(part_json).collect::<Vec<_>>()}))
        .into_response())
}

/// Add the customer's part and tell the relay.
async fn add_customer_part(state: &MessengerState, org: &str, visitor: &Visitor, part: ConversationPart) -> Answer {
    let shown = part_json(&part);
    let (org2, id) = (org.to_string(), visitor.conversation_id.clone());
    blocking(state, move |platform| {
        let patch = ConversationPatch { parts: vec![part], ..ConversationPatch::default() };
        platform.put_conversation(&org2, &id, patch, false, chrono::Utc::now().timestamp_millis()).map_err(unavailable)
    })
    .await?;
    state.relay.customer_wrote(org, &visitor.conversation_id);
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

fn customer_part(id: String, text: String, attachments: Vec<Attachment>) -> ConversationPart {
    ConversationPart {
        id,
        source: PartSource::FeedItem,
        author: AuthorRole::Customer,
        author_name: None,
        text,
        created_at: chrono::Utc::now().timestamp_millis(),
        attachments,
    }
}

/// A part id the client chose (so a retried post is added once), or a new one.
fn part_id(given: Option<&str>) -> Result<String, Refused> {
    match given {
        Some(id) if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            Ok(format!("web-{id}"))
        }
        Some(_) => Err(Refused(StatusCode::BAD_REQUEST, "id must be 1 to 64 letters, digits or dashes".into())),
        None => Ok(format!("web-{}", &new_token()[..22])),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRequest {
    id: Option<String>,
    text: String,
}

async fn post_message(
    State(state): State<MessengerState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let visitor = visitor(&state, &org, bearer(&headers)).await?;
    let request: MessageRequest = serde_json::from_slice(&body)
        .map_err(|e| Refused(StatusCode::BAD_REQUEST, format!("send {{\"text\":\"…\"}}: {e}")))?;
    let text = request.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Refused(StatusCode::BAD_REQUEST, format!("write 1 to {MAX_TEXT_CHARS} characters")));
    }
    let part = customer_part(part_id(request.id.as_deref())?, text, Vec::new());
    add_customer_part(&state, &org, &visitor, part).await
}

#[derive(Deserialize)]
struct FileQuery {
    name: Option<String>,
    id: Option<String>,
}

async fn post_file(
    State(state): State<MessengerState>,
    Path(org): Path<String>,
    Query(query): Query<FileQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let visitor = visitor(&state, &org, bearer(&headers)).await?;
    if body.is_empty() {
        return Err(Refused(StatusCode::BAD_REQUEST, "the file is empty".into()));
    }
    if body.len() > MAX_FILE_BYTES {
        return Err(Refused(StatusCode::PAYLOAD_TOO_LARGE, "files can be at most 5 MB; send a smaller one".into()));
    }
    let name: String = query
        .name
        .unwrap_or_else(|| "file".into())
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .take(200)
        .collect();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() < 200)
        .unwrap_or("application/octet-stream")
        .to_string();
    let id = part_id(query.id.as_deref())?;
    let file = MessengerFile {
        conversation_id: visitor.conversation_id.clone(),
        name: name.clone(),
        content_type: content_type.clone(),
        bytes: body.to_vec(),
    };
    let (org2, file_id) = (org.clone(), id.clone());
    blocking(&state, move |platform| {
        platform
            .0
            .put_messenger_file(&org2, &file_id, &file, chrono::Utc::now().timestamp_millis())
            .map_err(unavailable)
    })
    .await?;
    let attachment = Attachment {
        name,
        content_type,
        size: body.len() as u64,
        content_path: format!("{MESSENGER_FILES}{id}"),
        inline: false,
    };
    add_customer_part(&state, &org, &visitor, customer_part(id, String::new(), vec![attachment])).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRequest {
    email: String,
}

async fn give_email(
    State(state): State<MessengerState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let visitor = visitor(&state, &org, bearer(&headers)).await?;
    let request: EmailRequest = serde_json::from_slice(&body)
        .map_err(|e| Refused(StatusCode::BAD_REQUEST, format!("send {{\"email\":\"…\"}}: {e}")))?;
    let email = request.email.trim().to_string();
    let plausible = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if !plausible {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            format!("`{email}` is not an email address like ada@example.com"),
        ));
    }
    let person = visitor.person_id.clone();
    blocking(&state, move |platform| {
        let patch = PersonPatch { email: Some(Some(email)), ..PersonPatch::default() };
        platform
            .put_person(&org, &person, patch, false, chrono::Utc::now().timestamp_millis())
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct EventQuery {
    token: Option<String>,
}

async fn events(
    State(state): State<MessengerState>,
    Path(org): Path<String>,
    Query(query): Query<EventQuery>,
    headers: HeaderMap,
) -> Answer {
    let token = query.token.as_deref().or_else(|| bearer(&headers));
    let visitor = visitor(&state, &org, token).await?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(0, |last| last + 1);
    let stream = futures_util::stream::unfold(
        (state, org, visitor.conversation_id, resume, Vec::<Event>::new()),
        |(state, org, id, mut next, mut pending)| async move {
            loop {
                if !pending.is_empty() {
                    let event = pending.remove(0);
                    return Some((Ok::<_, Infallible>(event), (state, org, id, next, pending)));
                }
                let parts = parts_of(&state, &org, &id).await.unwrap_or_default();
                for (index, part) in parts.iter().enumerate().skip(next) {
                    pending
                        .push(Event::default().id(index.to_string()).event("part").data(part_json(part).to_string()));
                    next = index + 1;
                }
                if pending.is_empty() {
                    tokio::time::sleep(EVENT_POLL).await;
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
