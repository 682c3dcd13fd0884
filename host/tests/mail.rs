//! The mailers: the outbox writes real, parseable emails once per key; the SMTP
//! mailer talks to a small fake SMTP server started by each test.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use casebridge::mail::{MemorySentMailLog, OutboxMailer, SentMailLog, SmtpConfig, SmtpMailer, SmtpSecurity};
use casebridge::runtime::Mailer;
use casebridge::runtime::bindings::mail::{Email, MailError, Sent};
use mail_parser::MessageParser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const FROM: &str = "Acme Support <support@acme.example>";

fn reply(to: &str) -> Email {
    Email {
        to: vec![to.to_string()],
        cc: vec!["Billing <billing@customer.example>".to_string()],
        subject: "Re: [00001001] App crashes when uploading photos".to_string(),
        text_body: "Hi Jane,\n\nPlease update the app to version 4.2 — that fixes the crash.\n\nAcme Support"
            .to_string(),
        in_reply_to: Some("CAF=abc123@mail.customer.example".to_string()),
    }
}

fn eml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for org in std::fs::read_dir(dir).expect("outbox").flatten() {
        if org.path().is_dir() {
            for file in std::fs::read_dir(org.path()).expect("org folder").flatten() {
                files.push(file.path());
            }
        }
    }
    files.sort();
    files
}

fn rejected(result: Result<Sent, MailError>) -> String {
    match result {
        Err(MailError::Rejected(message)) => message,
        other => panic!("expected rejected, got {other:?}"),
    }
}

fn unavailable(result: Result<Sent, MailError>) -> String {
    match result {
        Err(MailError::Unavailable(message)) => message,
        other => panic!("expected unavailable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Outbox
// ---------------------------------------------------------------------------

#[tokio::test]
async fn outbox_writes_a_parseable_email_with_the_right_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let sent = outbox.send("acme", "case-500A/reply-1", reply("jane@customer.example")).await.expect("sent");

    assert_eq!(sent.from_address, "support@acme.example");
    assert!(sent.message_id.starts_with('<') && sent.message_id.ends_with("@acme.example>"), "{}", sent.message_id);

    let path = outbox.path_for("acme", "case-500A/reply-1");
    assert_eq!(eml_files(dir.path()), std::slice::from_ref(&path));
    let raw = std::fs::read(&path).expect("the .eml file");
    let message = MessageParser::default().parse(&raw).expect("a parseable RFC 5322 message");

    let from = message.from().and_then(|from| from.first()).expect("From");
    assert_eq!(from.address(), Some("support@acme.example"));
    assert_eq!(from.name(), Some("Acme Support"));
    assert_eq!(message.to().and_then(|to| to.first()).and_then(|to| to.address()), Some("jane@customer.example"));
    assert_eq!(message.cc().and_then(|cc| cc.first()).and_then(|cc| cc.address()), Some("billing@customer.example"));
    assert_eq!(message.subject(), Some("Re: [00001001] App crashes when uploading photos"));
    assert_eq!(message.message_id().map(|id| format!("<{id}>")), Some(sent.message_id.clone()));
    assert_eq!(message.in_reply_to().as_text(), Some("CAF=abc123@mail.customer.example"));
    assert_eq!(message.references().as_text(), Some("CAF=abc123@mail.customer.example"));
    assert!(message.date().is_some(), "a Date header");
    assert_eq!(message.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    assert_eq!(
        message.body_text(0).as_deref().map(|body| body.replace("\r\n", "\n")),
        Some("Hi Jane,\n\nPlease update the app to version 4.2 — that fixes the crash.\n\nAcme Support".to_string())
    );
}

#[tokio::test]
async fn outbox_sends_a_key_once_even_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let sent = first.send("acme", "case-500A/reply-1", reply("jane@customer.example")).await.expect("sent");
    let path = first.path_for("acme", "case-500A/reply-1");
    let written = std::fs::read(&path).expect("file");

    // A new mailer on the same folder, as after a restart, with a different body.
    let restarted = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let mut changed = reply("jane@customer.example");
    changed.text_body = "A different body".into();
    let again = restarted.send("acme", "case-500A/reply-1", changed).await.expect("sent");

    assert_eq!((again.from_address, again.message_id), (sent.from_address, sent.message_id));
    assert_eq!(std::fs::read(&path).expect("file"), written, "the first email is untouched");
    assert_eq!(eml_files(dir.path()).len(), 1, "nothing new was written");
}

#[tokio::test]
async fn outbox_keeps_orgs_and_keys_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let a = outbox.send("acme", "reply/1", reply("jane@customer.example")).await.expect("sent");
    let b = outbox.send("globex", "reply/1", reply("jane@customer.example")).await.expect("sent");
    let c = outbox.send("acme", "reply:1", reply("jane@customer.example")).await.expect("sent");
    assert_ne!(a.message_id, b.message_id);
    assert_ne!(a.message_id, c.message_id);
    assert_eq!(eml_files(dir.path()).len(), 3);
}

#[tokio::test]
async fn outbox_rejects_a_bad_address_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let message = rejected(outbox.send("acme", "k1", reply("jane@@customer")).await);
    assert!(message.contains("\"jane@@customer\""), "{message}");

    let mut bad_cc = reply("jane@customer.example");
    bad_cc.cc = vec!["not an address".into()];
    let message = rejected(outbox.send("acme", "k2", bad_cc).await);
    assert!(message.contains("copy recipient") && message.contains("\"not an address\""), "{message}");

    let mut nobody = reply("jane@customer.example");
    nobody.to.clear();
    assert!(rejected(outbox.send("acme", "k3", nobody).await).contains("no recipient"));

    assert!(eml_files(dir.path()).is_empty());
}

#[tokio::test]
async fn outbox_without_threading_has_no_in_reply_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxMailer::new(dir.path(), FROM).expect("outbox");
    let mut first_contact = reply("jane@customer.example");
    first_contact.in_reply_to = None;
    outbox.send("acme", "k", first_contact).await.expect("sent");
    let raw = std::fs::read(outbox.path_for("acme", "k")).expect("file");
    let message = MessageParser::default().parse(&raw).expect("parseable");
    assert!(message.in_reply_to().is_empty() && message.references().is_empty());
}

#[test]
fn a_sender_that_is_not_an_address_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = OutboxMailer::new(dir.path(), "support at acme").expect_err("invalid from");
    assert!(error.to_string().contains("\"support at acme\""), "{error}");
}

// ---------------------------------------------------------------------------
// SMTP against a fake server
// ---------------------------------------------------------------------------

/// How the fake server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    Accept,
    /// Answer `RCPT TO` with this reply line.
    RefuseRecipient(&'static str),
    /// Advertise AUTH and refuse every login.
    RefuseLogin,
}

/// A fake SMTP server on a free local port: speaks enough SMTP for lettre and
/// keeps each accepted message's DATA.
struct FakeSmtp {
    addr: SocketAddr,
    messages: Arc<Mutex<Vec<String>>>,
}

impl FakeSmtp {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, behaviour, store.clone()));
            }
        });
        FakeSmtp { addr, messages }
    }

    fn config(&self) -> SmtpConfig {
        SmtpConfig {
            port: Some(self.addr.port()),
            security: SmtpSecurity::Plaintext,
            ..SmtpConfig::new("127.0.0.1", FROM)
        }
    }

    fn received(&self) -> Vec<String> {
        self.messages.lock().expect("lock").clone()
    }
}

async fn session(socket: tokio::net::TcpStream, behaviour: Behaviour, messages: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut say = async |text: &str| write.write_all(format!("{text}\r\n").as_bytes()).await.is_ok();
    if !say("220 fake.smtp.test ESMTP ready").await {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let command = line.to_ascii_uppercase();
        let ok = if command.starts_with("EHLO") || command.starts_with("HELO") {
            match behaviour {
                Behaviour::RefuseLogin => say("250-fake.smtp.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME").await,
                _ => say("250-fake.smtp.test\r\n250 8BITMIME").await,
            }
        } else if command.starts_with("AUTH") {
            say("535 5.7.8 Authentication credentials invalid").await
        } else if command.starts_with("MAIL FROM") {
            say("250 2.1.0 OK").await
        } else if command.starts_with("RCPT TO") {
            match behaviour {
                Behaviour::RefuseRecipient(answer) => say(answer).await,
                _ => say("250 2.1.5 OK").await,
            }
        } else if command == "DATA" {
            say("354 End data with <CR><LF>.<CR><LF>").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(&line);
                data.push_str("\r\n");
            }
            messages.lock().expect("lock").push(data);
            say("250 2.0.0 queued").await
        } else if command == "QUIT" {
            say("221 2.0.0 bye").await;
            return;
        } else if command == "RSET" || command == "NOOP" {
            say("250 2.0.0 OK").await
        } else {
            say("502 5.5.2 command not recognised").await
        };
        if !ok {
            return;
        }
    }
}

#[tokio::test]
async fn smtp_sends_the_email_with_threading_headers() {
    let server = FakeSmtp::start(Behaviour::Accept).await;
    let mailer = SmtpMailer::new(server.config(), Arc::new(MemorySentMailLog::default())).expect("mailer");
    let sent = mailer.send("acme", "case-500A/reply-1", reply("jane@customer.example")).await.expect("sent");
    assert_eq!(sent.from_address, "support@acme.example");

    let received = server.received();
    assert_eq!(received.len(), 1);
    let message = MessageParser::default().parse(received[0].as_bytes()).expect("parseable");
    assert_eq!(message.message_id().map(|id| format!("<{id}>")), Some(sent.message_id));
    assert_eq!(message.in_reply_to().as_text(), Some("CAF=abc123@mail.customer.example"));
    assert_eq!(message.to().and_then(|to| to.first()).and_then(|to| to.address()), Some("jane@customer.example"));
}

#[tokio::test]
async fn smtp_sends_a_key_once_through_the_sent_mail_log() {
    let server = FakeSmtp::start(Behaviour::Accept).await;
    let log = Arc::new(MemorySentMailLog::default());
    let mailer = SmtpMailer::new(server.config(), log.clone()).expect("mailer");
    let first = mailer.send("acme", "case-500A/reply-1", reply("jane@customer.example")).await.expect("sent");
    assert_eq!(
        log.find("acme", "case-500A/reply-1").expect("log").map(|s| s.message_id),
        Some(first.message_id.clone())
    );

    // Another mailer sharing the log, as after a restart with a durable log.
    let restarted = SmtpMailer::new(server.config(), log).expect("mailer");
    let again = restarted.send("acme", "case-500A/reply-1", reply("jane@customer.example")).await.expect("sent");
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(server.received().len(), 1, "the second send sent nothing");
}

#[tokio::test]
async fn smtp_permanent_refusal_is_rejected() {
    let server = FakeSmtp::start(Behaviour::RefuseRecipient("550 5.1.1 <jane@customer.example>: no such user")).await;
    let log = Arc::new(MemorySentMailLog::default());
    let mailer = SmtpMailer::new(server.config(), log.clone()).expect("mailer");
    let message = rejected(mailer.send("acme", "k", reply("jane@customer.example")).await);
    assert!(message.contains("550") && message.contains("no such user"), "{message}");
    assert!(log.find("acme", "k").expect("log").is_none(), "nothing is recorded as sent");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn smtp_temporary_refusal_is_unavailable() {
    let server = FakeSmtp::start(Behaviour::RefuseRecipient("451 4.7.1 greylisted, try again later")).await;
    let mailer = SmtpMailer::new(server.config(), Arc::new(MemorySentMailLog::default())).expect("mailer");
    let message = unavailable(mailer.send("acme", "k", reply("jane@customer.example")).await);
    assert!(message.contains("451") && message.contains("retry later"), "{message}");
}

#[tokio::test]
async fn smtp_refused_login_is_unavailable_and_never_shows_the_password() {
    let server = FakeSmtp::start(Behaviour::RefuseLogin).await;
    let config =
        SmtpConfig { username: Some("apikey".into()), password: Some("hunter2-secret".into()), ..server.config() };
    assert!(!format!("{config:?}").contains("hunter2-secret"));
    let mailer = SmtpMailer::new(config, Arc::new(MemorySentMailLog::default())).expect("mailer");
    let message = unavailable(mailer.send("acme", "k", reply("jane@customer.example")).await);
    assert!(message.contains("check the SMTP username and password"), "{message}");
    assert!(!message.contains("hunter2-secret"));
}

#[tokio::test]
async fn smtp_relay_that_is_down_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let config =
        SmtpConfig { port: Some(port), security: SmtpSecurity::Plaintext, ..SmtpConfig::new("127.0.0.1", FROM) };
    let mailer = SmtpMailer::new(config, Arc::new(MemorySentMailLog::default())).expect("mailer");
    let message = unavailable(mailer.send("acme", "k", reply("jane@customer.example")).await);
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[tokio::test]
async fn smtp_rejects_a_bad_address_before_connecting() {
    // Port 9 (discard) is never contacted: the address is checked first.
    let config = SmtpConfig { port: Some(9), security: SmtpSecurity::Plaintext, ..SmtpConfig::new("127.0.0.1", FROM) };
    let mailer = SmtpMailer::new(config, Arc::new(MemorySentMailLog::default())).expect("mailer");
    let message = rejected(mailer.send("acme", "k", reply("jane.customer.example")).await);
    assert!(message.contains("\"jane.customer.example\""), "{message}");
}
