//! The agents: the built-in help-centre agent's rules on realistic customer
//! messages, and the webhook agent against a local HTTP server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use casebridge::agent::{
    BuiltinAgent, HelpCenter, MAX_AGENT_REPLIES, MIN_RELEVANCE, WebhookAgent, WebhookConfig, intent,
};
use casebridge::runtime::Agent;
use casebridge::runtime::bindings::agent::{Action, AgentError, Turn};
use casebridge::runtime::bindings::types::{
    Attachment, Attribute, AttributeValue, AuthorRole, CalendarDate, Channel, Conversation, ConversationPart,
    PartSource, ResolutionState, TimeOfDay,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Conversations
// ---------------------------------------------------------------------------

fn part(author: AuthorRole, text: &str, minute: i64) -> ConversationPart {
    ConversationPart {
        id: format!("0D5000000000{minute:03}"),
        source: if minute == 0 { PartSource::CaseDescription } else { PartSource::FeedItem },
        author,
        author_name: None,
        text: text.to_string(),
        created_at: 1_735_787_045_000 + minute * 60_000,
        attachments: Vec::new(),
    }
}

/// A case with `subject` whose parts alternate as given: `(author, text)`.
fn case(subject: &str, messages: &[(AuthorRole, &str)]) -> Conversation {
    Conversation {
        id: "500000000000001AAA".into(),
        channel: Channel::SalesforceCase,
        platform_id: None,
        case_number: Some("00001001".into()),
        subject: (!subject.is_empty()).then(|| subject.to_string()),
        origin: Some("Web".into()),
        attributes: Vec::new(),
        person: vec![Attribute { name: "FirstName".into(), value: AttributeValue::Text("Jane".into()) }],
        company: Vec::new(),
        parts: messages.iter().enumerate().map(|(i, (author, text))| part(*author, text, i as i64)).collect(),
        resolution: ResolutionState::None,
    }
}

fn customer_asks(subject: &str, text: &str) -> Conversation {
    case(subject, &[(AuthorRole::Customer, text)])
}

use AuthorRole::{Agent as AgentRole, Customer, System, Teammate};

fn decide(agent: &BuiltinAgent, conversation: &Conversation) -> Action {
    match agent.decide(conversation) {
        Ok(Turn { action, detected }) => {
            assert!(detected.is_empty(), "the built-in agent detects no attributes");
            action
        }
        Err(error) => panic!("expected a turn, got {error:?}"),
    }
}

fn answer_text(action: Action) -> String {
    match action {
        Action::Answer(text) => text,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn describe(action: &Action) -> &'static str {
    match action {
        Action::Answer(_) => "answer",
        Action::Ask(_) => "ask",
        Action::HandOff(_) => "hand-off",
        Action::Solved(_) => "solved",
    }
}

/// The agent's first answer on a question, then the conversation continued with it.
fn answered(agent: &BuiltinAgent, subject: &str, question: &str) -> (Conversation, String) {
    let conversation = customer_asks(subject, question);
    let reply = answer_text(decide(agent, &conversation));
    (conversation, reply)
}

fn continue_with(mut conversation: Conversation, messages: &[(AuthorRole, &str)]) -> Conversation {
    let start = conversation.parts.len() as i64;
    for (i, (author, text)) in messages.iter().enumerate() {
        conversation.parts.push(part(*author, text, start + i as i64));
    }
    conversation
}

// ---------------------------------------------------------------------------
// Built-in agent: answers
// ---------------------------------------------------------------------------

#[test]
fn sample_help_center_answers_the_demo_subjects() {
    let agent = BuiltinAgent::sample();
    let demos = [
        (
            "Password reset",
            "I forgot my password and can't log in. How do I reset it?",
            "Reset your password",
            "Forgot password?",
        ),
        (
            "Wrong invoice amount",
            "My last invoice is much higher than my plan price. Why was I charged more?",
            "Invoices, billing errors and refunds",
            "Extra seats",
        ),
        ("Export data", "How can I export all of our data to CSV?", "Export your data", "Start export"),
        (
            "App crashes",
            "The iPhone app crashes every time I try to upload a photo from my camera roll.",
            "The mobile app crashes when uploading photos",
            "Update the app",
        ),
    ];
    for (subject, question, title, step) in demos {
        let reply = answer_text(decide(&agent, &customer_asks(subject, question)));
        assert!(reply.contains(&format!("“{title}”")), "{subject}: the answer names its article:\n{reply}");
        assert!(reply.contains(step), "{subject}: the answer quotes the steps:\n{reply}");
    }
}

#[test]
fn an_answer_greets_quotes_numbered_steps_and_offers_a_teammate() {
    let agent = BuiltinAgent::sample();
    let reply = answer_text(decide(&agent, &customer_asks("", "How do I reset my password? I forgot it.")));
    assert!(reply.starts_with("Hi Jane,\n\n"), "{reply}");
    assert!(reply.contains("under “Reset a forgotten password”"), "{reply}");
    assert!(reply.contains("1. Go to the sign-in page"), "{reply}");
    assert!(reply.contains("5. Choose a new password"), "{reply}");
    assert!(!reply.contains("**"), "Markdown is reduced to plain text: {reply}");
    assert!(reply.ends_with("I'll bring in a teammate."), "{reply}");
}

#[test]
fn a_long_customer_email_with_greetings_and_signature_is_still_answered() {
    let agent = BuiltinAgent::sample();
    let email = "Hello Acme team,\n\nI hope you're well. Since this morning, whenever I upload pictures from my \
                 Android phone the app just closes — it crashes right after I pick the photos. I'm on the latest \
                 version I think.\n\nCould you please help?\n\nKind regards,\nJohn Miller\nMiller & Sons";
    let reply = answer_text(decide(&agent, &customer_asks("Android app closing", email)));
    assert!(reply.contains("“The mobile app crashes when uploading photos”"), "{reply}");
}

#[test]
fn every_demo_question_matches_its_article_first_and_above_the_threshold() {
    let agent = BuiltinAgent::sample();
    for (question, title) in [
        ("reset my password", "Reset your password"),
        ("wrong invoice amount", "Invoices, billing errors and refunds"),
        ("export data", "Export your data"),
        ("app crash when uploading a photo", "The mobile app crashes when uploading photos"),
        ("turn on two-factor authentication", "Two-factor authentication (2FA)"),
        ("upgrade my plan", "Change your plan"),
        ("create an API key", "Create and manage API keys"),
        ("delete my account", "Delete your Acme Cloud account"),
        ("card payment declined", "Update your payment method"),
        ("invite a teammate", "Invite teammates and manage roles"),
        ("request a refund", "Invoices, billing errors and refunds"),
    ] {
        let best = agent.search(question);
        let best = best.first().unwrap_or_else(|| panic!("{question:?} matches nothing"));
        assert_eq!(best.article.title, title, "{question:?}");
        assert!(best.relevance >= MIN_RELEVANCE, "{question:?} scored {:.2}", best.relevance);
    }
}

// ---------------------------------------------------------------------------
// Built-in agent: clarifying questions
// ---------------------------------------------------------------------------

#[test]
fn a_vague_message_gets_a_clarifying_question() {
    let agent = BuiltinAgent::sample();
    for (subject, message) in [
        ("", "Hi, it doesn't work. Please help!"),
        ("Help", "Hello?"),
        ("", "Something is wrong with my account"),
        ("Question", "I have a problem, can you help me?"),
        ("Issue", "The app doesn't work"),
    ] {
        let action = decide(&agent, &customer_asks(subject, message));
        match &action {
            Action::Ask(text) => assert!(text.contains("tell me a bit more"), "{text}"),
            other => panic!("{message:?}: expected a clarifying question, got {other:?}"),
        }
    }
}

#[test]
fn the_clarified_question_is_answered() {
    let agent = BuiltinAgent::sample();
    let conversation = customer_asks("", "It doesn't work, help!");
    let Action::Ask(question) = decide(&agent, &conversation) else { panic!("expected a clarifying question") };
    let conversation = continue_with(
        conversation,
        &[(AgentRole, &question), (Customer, "Sorry — I can't export my projects to a CSV file.")],
    );
    let reply = answer_text(decide(&agent, &conversation));
    assert!(reply.contains("“Export your data”"), "{reply}");
}

// ---------------------------------------------------------------------------
// Built-in agent: hand-off
// ---------------------------------------------------------------------------

#[test]
fn asking_for_a_person_hands_off() {
    let agent = BuiltinAgent::sample();
    for message in [
        "Can I talk to a human please?",
        "I want to speak to someone.",
        "Real person please",
        "agent please",
        "AGENT!!!",
        "representative",
        "Please connect me with a live agent, this bot is useless.",
        "Is there anyone I can talk to?",
        "I'd like to speak with customer service about my invoice.",
        "Can you escalate this to your support team?",
        "Get me a real human now",
        "This isn't helping. Can somebody call me?",
        "Thanks for the article, but I'd rather talk to a person about my refund.",
    ] {
        match decide(&agent, &customer_asks("Invoice question", message)) {
            Action::HandOff(reason) => assert_eq!(reason, "The customer asked to talk to a person.", "{message:?}"),
            other => panic!("{message:?}: expected a hand-off, got {other:?}"),
        }
    }
}

#[test]
fn mentioning_people_without_asking_for_one_does_not_hand_off() {
    for message in [
        "I don't need a human, just tell me how to export my data.",
        "Someone else changed the password on our account, how do I reset it?",
        "I want people on my team to see the project, how do I invite a teammate?",
        "Can someone help me reset my password?",
        "Are you a human?",
    ] {
        assert!(!intent::asks_for_person(message), "{message:?} is no request for a person");
    }
}

#[test]
fn a_question_no_article_covers_hands_off_with_the_relevance_in_the_reason() {
    let agent = BuiltinAgent::sample();
    for question in [
        "Do you sell gift cards for Christmas presents?",
        "What will the weather be like in Paris tomorrow afternoon?",
        "Is your office in Berlin open on public holidays?",
    ] {
        match decide(&agent, &customer_asks("", question)) {
            Action::HandOff(reason) => {
                assert!(reason.starts_with("No help article"), "{question:?}: {reason}");
            }
            other => panic!("{question:?}: expected a hand-off, got {other:?}"),
        }
    }
}

#[test]
fn the_threshold_separates_real_matches_from_incidental_words() {
    let agent = BuiltinAgent::sample();
    // One word in common with an article ("card", "photo") is not an answer.
    for incidental in ["gift card for my nephew", "photo of our office dog", "public holiday opening times"] {
        let best = agent.search(incidental).first().map_or(0.0, |m| m.relevance);
        assert!(best < MIN_RELEVANCE, "{incidental:?} scored {best:.2}");
    }
    for real in ["forgot password reset link", "invoice amount higher than plan", "export projects csv"] {
        let best = agent.search(real).first().map_or(0.0, |m| m.relevance);
        assert!(best >= MIN_RELEVANCE, "{real:?} scored {best:.2}");
    }
}

#[test]
fn the_threshold_holds_when_the_help_center_grows_a_hundredfold() {
    // The sample plus 1,000 unrelated articles: relevance is normalised by the
    // corpus, so the same questions stay above and below the threshold.
    let topics = [
        "gardening",
        "cooking",
        "astronomy",
        "sailing",
        "pottery",
        "chess",
        "cycling",
        "birdwatching",
        "knitting",
        "photography",
        "woodwork",
        "hiking",
        "baking",
        "fishing",
        "painting",
        "climbing",
        "surfing",
        "archery",
        "calligraphy",
        "origami",
    ];
    let filler: Vec<(String, String)> = (0..1000)
        .map(|i| {
            let topic = topics[i % topics.len()];
            let other = topics[(i * 7 + 3) % topics.len()];
            (
                format!("filler-{i}.md"),
                format!(
                    "# {topic} guide {i}\n\nAll about {topic} and {other}, lesson {i}.\n\n## Getting started with {topic}\n\n1. Buy {topic} gear.\n2. Practise {other} weekly {i}.\n"
                ),
            )
        })
        .collect();
    let sample = HelpCenter::sample();
    let mut markdown: Vec<(String, String)> = Vec::new();
    for article in sample.articles() {
        let path = format!("{}/help-center/{}", env!("CARGO_MANIFEST_DIR"), article.file);
        markdown.push((article.file.clone(), std::fs::read_to_string(path).expect("sample article")));
    }
    markdown.extend(filler);
    let big = BuiltinAgent::new(HelpCenter::from_markdown(markdown.iter().map(|(f, m)| (f.as_str(), m.as_str()))));
    let small = BuiltinAgent::sample();
    assert!(big.help_center().articles().len() >= 100 * small.help_center().articles().len());

    for agent in [&small, &big] {
        for question in [
            "I forgot my password, how do I reset it?",
            "export all projects to csv",
            "app crashes when I upload a photo",
        ] {
            assert!(matches!(decide(agent, &customer_asks("", question)), Action::Answer(_)), "{question:?}");
        }
        for question in
            ["Do you sell gift cards for Christmas presents?", "Is your office in Berlin open on public holidays?"]
        {
            assert!(matches!(decide(agent, &customer_asks("", question)), Action::HandOff(_)), "{question:?}");
        }
    }
}

#[test]
fn after_two_replies_a_customer_still_stuck_is_handed_off() {
    let agent = BuiltinAgent::sample();
    let (conversation, first) = answered(&agent, "App crashes", "The app crashes when I upload a photo");
    let conversation =
        continue_with(conversation, &[(AgentRole, &first), (Customer, "I updated the app but it still crashes.")]);
    let second = decide(&agent, &conversation);
    let second = match second {
        Action::Answer(text) | Action::Ask(text) => text,
        other => panic!("the second reply is another attempt, got {other:?}"),
    };
    let conversation = continue_with(conversation, &[(AgentRole, &second), (Customer, "Nope, same crash again.")]);
    match decide(&agent, &conversation) {
        Action::HandOff(reason) => {
            assert!(reason.contains(&format!("replied {MAX_AGENT_REPLIES} times")), "{reason}");
        }
        other => panic!("expected a hand-off, got {other:?}"),
    }
}

#[test]
fn a_section_that_did_not_help_is_not_sent_again() {
    let agent = BuiltinAgent::sample();
    let (conversation, first) = answered(&agent, "", "How do I reset my password? I forgot it.");
    let conversation = continue_with(
        conversation,
        &[(AgentRole, &first), (Customer, "I did that, but the reset email never arrives.")],
    );
    let second = answer_text(decide(&agent, &conversation));
    assert_ne!(first, second);
    assert!(second.contains("“The reset email didn't arrive”"), "{second}");
}

// ---------------------------------------------------------------------------
// Built-in agent: confirmations and negation
// ---------------------------------------------------------------------------

#[test]
fn a_confirmation_after_an_answer_is_solved_with_a_closing_message() {
    let agent = BuiltinAgent::sample();
    for message in [
        "That fixed it, thanks!",
        "It works now 🙂",
        "Problem solved.",
        "All good, you can close this.",
        "Perfect, thank you so much",
        "No problem, it's working again now.",
        "Yes, that did the trick.",
        "I updated the app and the crash is gone now. Thanks!",
        "Sorted, thanks. Can you close the case?",
        "Could you close the ticket please?",
    ] {
        let (conversation, first) = answered(&agent, "", "The app crashes when I upload a photo");
        let conversation = continue_with(conversation, &[(AgentRole, &first), (Customer, message)]);
        match decide(&agent, &conversation) {
            Action::Solved(Some(closing)) => {
                assert!(
                    closing.starts_with("Hi Jane,") && closing.contains("marked your issue as solved"),
                    "{closing}"
                );
                // The case stays open (the connector does not close cases), so the agent never says it will.
                assert!(!closing.contains("close"), "{closing}")
            }
            other => panic!("{message:?}: expected solved, got {other:?}"),
        }
    }
}

#[test]
fn negated_or_troubled_messages_are_not_confirmations() {
    for message in [
        "Thanks, but it still doesn't work.",
        "It's not fixed.",
        "That didn't fix it",
        "Still not working, thanks anyway",
        "That fixed the login, but now the export fails.",
        "Is it fixed yet?",
        "Let me know when it's fixed.",
        "I need this resolved today.",
        "It worked yesterday but today it crashes again.",
        "Thanks! Unfortunately nothing has changed, it's the same error.",
        "Not solved",
        "I fixed my billing address. How do I download the corrected invoice?",
        "I'm trying to close this workspace",
        "Why did you close the case?",
    ] {
        assert!(!intent::confirms_solved(message), "{message:?} is not a confirmation");
    }
}

#[test]
fn thanks_but_still_broken_gets_another_attempt_not_a_resolution() {
    let agent = BuiltinAgent::sample();
    let (conversation, first) = answered(&agent, "", "How do I reset my password? I forgot it.");
    let conversation =
        continue_with(conversation, &[(AgentRole, &first), (Customer, "Thanks, but it still doesn't work.")]);
    let action = decide(&agent, &conversation);
    assert!(!matches!(action, Action::Solved(_)), "got {action:?}");
}

#[test]
fn plain_thanks_asks_whether_it_helped_and_a_yes_closes() {
    let agent = BuiltinAgent::sample();
    let (conversation, first) = answered(&agent, "", "How can I export all my data as CSV?");
    let conversation = continue_with(conversation, &[(AgentRole, &first), (Customer, "Thanks a lot!")]);
    let Action::Ask(question) = decide(&agent, &conversation) else { panic!("expected a question") };
    assert!(question.contains("Did that solve the problem?"), "{question}");
    let conversation = continue_with(conversation, &[(AgentRole, &question), (Customer, "Yes, it did, thanks")]);
    assert!(matches!(decide(&agent, &conversation), Action::Solved(Some(_))));
}

// ---------------------------------------------------------------------------
// Built-in agent: reading the conversation
// ---------------------------------------------------------------------------

#[test]
fn system_parts_after_the_customer_are_ignored() {
    let agent = BuiltinAgent::sample();
    let conversation = case(
        "Export",
        &[(Customer, "How do I export my projects to CSV?"), (System, "Case assigned to Acme Agent by rule")],
    );
    assert!(answer_text(decide(&agent, &conversation)).contains("“Export your data”"));
}

#[test]
fn a_conversation_the_customer_has_not_answered_is_an_error_not_a_turn() {
    let agent = BuiltinAgent::sample();
    for last in [AgentRole, Teammate] {
        let conversation = case("", &[(Customer, "How do I export my data?"), (last, "Here you go.")]);
        match agent.decide(&conversation) {
            Err(AgentError::Unavailable(message)) => assert!(message.contains("not the customer"), "{message}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[test]
fn the_same_conversation_always_gets_the_same_turn() {
    let agent = BuiltinAgent::sample();
    let conversation = customer_asks("Invoice", "My invoice amount is wrong, I was charged twice for extra seats.");
    let first = format!("{:?}", decide(&agent, &conversation));
    for _ in 0..5 {
        assert_eq!(format!("{:?}", decide(&BuiltinAgent::sample(), &conversation)), first);
    }
}

#[tokio::test]
async fn the_builtin_agent_answers_through_the_agent_capability() {
    let agent: Arc<dyn Agent> = Arc::new(BuiltinAgent::sample());
    let turn = agent.respond("acme", customer_asks("2FA", "I lost my phone and can't get my two-factor code")).await;
    let action = turn.expect("a turn").action;
    assert_eq!(describe(&action), "answer");
    assert!(answer_text(action).contains("“Two-factor authentication (2FA)”"));
}

#[test]
fn the_sample_help_center_folder_and_the_embedded_copy_agree() {
    let folder = HelpCenter::load(concat!(env!("CARGO_MANIFEST_DIR"), "/help-center")).expect("the sample loads");
    let embedded = HelpCenter::sample();
    assert!((8..=12).contains(&folder.articles().len()));
    assert_eq!(folder.articles(), embedded.articles(), "update SAMPLE_ARTICLES in help_center.rs");
    for article in folder.articles() {
        assert!(article.sections.len() >= 2, "{} has sections", article.file);
    }
}

#[test]
fn loading_a_folder_without_articles_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = HelpCenter::load(dir.path()).expect_err("no articles");
    assert!(error.to_string().contains("holds no `.md` articles"), "{error}");
    let missing = HelpCenter::load(dir.path().join("missing")).expect_err("no folder");
    assert!(missing.to_string().contains("cannot read the help-centre folder"), "{missing}");
}

// ---------------------------------------------------------------------------
// Webhook agent
// ---------------------------------------------------------------------------

/// What the test server answers, and what it received.
#[derive(Clone, Default)]
struct Script {
    status: u16,
    body: String,
    delay: Duration,
    received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

async fn turn_endpoint(State(script): State<Script>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    script.received.lock().expect("lock").push((headers, json));
    tokio::time::sleep(script.delay).await;
    (StatusCode::from_u16(script.status).expect("status"), script.body.clone())
}

/// Serve `script` on a free local port; returns the webhook URL.
async fn serve(script: Script) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/turn", post(turn_endpoint)).with_state(script);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/turn?key=query-secret")
}

fn answering(status: u16, body: Value) -> Script {
    Script { status, body: body.to_string(), ..Script::default() }
}

async fn webhook_turn(script: Script) -> Result<Turn, AgentError> {
    let url = serve(script).await;
    let agent = WebhookAgent::new(WebhookConfig::new(&url).expect("url").bearer_token("tok-123")).expect("agent");
    agent.respond("acme", customer_asks("Export", "How do I export my data?")).await
}

fn invalid_turn(result: Result<Turn, AgentError>) -> String {
    match result {
        Err(AgentError::InvalidTurn(message)) => message,
        other => panic!("expected invalid-turn, got {other:?}"),
    }
}

fn unavailable(result: Result<Turn, AgentError>) -> String {
    match result {
        Err(AgentError::Unavailable(message)) => message,
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn webhook_answer_with_detected_values_of_every_json_kind() {
    let turn = webhook_turn(answering(
        200,
        json!({
            "action": "answer",
            "text": "Go to Settings › Workspace › Data export.",
            "detected": {
                "Type": "Question", "Escalated": false, "Seats": 12, "Score": 0.75,
                "Products": ["Web", "iOS"], "Address": {"city": "Berlin"}, "Reason": null
            },
            "confidence": 0.9
        }),
    ))
    .await
    .expect("a turn");
    assert!(matches!(&turn.action, Action::Answer(text) if text.starts_with("Go to Settings")));
    let detected: Vec<(String, String)> =
        turn.detected.iter().map(|a| (a.name.clone(), format!("{:?}", a.value))).collect();
    let value = |name: &str| detected.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).expect(name);
    assert_eq!(value("Type"), format!("{:?}", AttributeValue::Text("Question".into())));
    assert_eq!(value("Escalated"), format!("{:?}", AttributeValue::Boolean(false)));
    assert_eq!(value("Seats"), format!("{:?}", AttributeValue::Integer(12)));
    assert_eq!(value("Score"), format!("{:?}", AttributeValue::Decimal(0.75)));
    assert_eq!(value("Products"), format!("{:?}", AttributeValue::List(vec!["Web".into(), "iOS".into()])));
    assert_eq!(value("Address"), format!("{:?}", AttributeValue::Compound(r#"{"city":"Berlin"}"#.into())));
    assert_eq!(value("Reason"), format!("{:?}", AttributeValue::Null));
}

#[tokio::test]
async fn webhook_ask_hand_off_and_solved_turns_are_read() {
    let ask = webhook_turn(answering(200, json!({"action": "ask", "text": "Which device?"}))).await.expect("ask");
    assert!(matches!(ask.action, Action::Ask(text) if text == "Which device?"));

    let hand_off = webhook_turn(answering(200, json!({"action": "hand_off", "reason": "Refund over limit"})))
        .await
        .expect("hand-off");
    assert!(matches!(hand_off.action, Action::HandOff(reason) if reason == "Refund over limit"));

    let solved =
        webhook_turn(answering(200, json!({"action": "solved", "text": "Glad it works!"}))).await.expect("solved");
    assert!(matches!(solved.action, Action::Solved(Some(text)) if text == "Glad it works!"));

    let silent = webhook_turn(answering(200, json!({"action": "solved", "text": null}))).await.expect("solved");
    assert!(matches!(silent.action, Action::Solved(None)));
}

#[tokio::test]
async fn webhook_request_carries_the_documented_json_and_headers() {
    let script = answering(200, json!({"action": "ask", "text": "?"}));
    let received = script.received.clone();
    let url = serve(script).await;
    let agent = WebhookAgent::new(WebhookConfig::new(&url).expect("url").bearer_token("tok-123")).expect("agent");

    let mut conversation = customer_asks("Can't upload", "The app crashes");
    conversation.origin = Some("Email".into());
    conversation.attributes = vec![
        Attribute { name: "Priority".into(), value: AttributeValue::Text("High".into()) },
        Attribute { name: "IsEscalated".into(), value: AttributeValue::Boolean(false) },
        Attribute { name: "Seats".into(), value: AttributeValue::Integer(12) },
        Attribute { name: "Amount".into(), value: AttributeValue::Decimal(19.5) },
        Attribute {
            name: "Renewal".into(),
            value: AttributeValue::Date(CalendarDate { year: 2025, month: 3, day: 7 }),
        },
        Attribute { name: "Opened".into(), value: AttributeValue::Datetime(1_735_787_045_000) },
        Attribute {
            name: "CallAt".into(),
            value: AttributeValue::Time(TimeOfDay { hour: 9, minute: 5, second: 0, millisecond: 250 }),
        },
        Attribute { name: "Products".into(), value: AttributeValue::List(vec!["Web".into(), "iOS".into()]) },
        Attribute { name: "Where".into(), value: AttributeValue::Compound(r#"{"lat":52.5,"lon":13.4}"#.into()) },
        Attribute { name: "Empty".into(), value: AttributeValue::Null },
    ];
    conversation.company = vec![Attribute { name: "Name".into(), value: AttributeValue::Text("Example Ltd".into()) }];
    conversation.parts[0].author_name = Some("Jane Doe".into());
    conversation.parts[0].attachments = vec![Attachment {
        name: "crash.png".into(),
        content_type: "image/png".into(),
        size: 48213,
        content_path: "/services/data/v62.0/sobjects/ContentVersion/068/VersionData".into(),
        inline: true,
    }];
    agent.respond("acme", conversation).await.expect("a turn");

    let received = received.lock().expect("lock");
    let (headers, body) = &received[0];
    assert_eq!(headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer tok-123"));
    assert_eq!(headers.get("x-casebridge-org").and_then(|v| v.to_str().ok()), Some("acme"));
    assert_eq!(
        body,
        &json!({"conversation": {
            "id": "500000000000001AAA",
            "channel": "salesforce_case",
            "platform_id": null,
            "case_number": "00001001",
            "subject": "Can't upload",
            "origin": "Email",
            "attributes": {
                "Priority": "High", "IsEscalated": false, "Seats": 12, "Amount": 19.5, "Renewal": "2025-03-07",
                "Opened": "2025-01-02T03:04:05.000Z", "CallAt": "09:05:00.250", "Products": ["Web", "iOS"],
                "Where": {"lat": 52.5, "lon": 13.4}, "Empty": null
            },
            "person": {"FirstName": "Jane"},
            "company": {"Name": "Example Ltd"},
            "parts": [{
                "id": "0D5000000000000",
                "source": "case_description",
                "author": "customer",
                "author_name": "Jane Doe",
                "text": "The app crashes",
                "created_at": "2025-01-02T03:04:05.000Z",
                "attachments": [{
                    "name": "crash.png", "content_type": "image/png", "size": 48213,
                    "content_path": "/services/data/v62.0/sobjects/ContentVersion/068/VersionData", "inline": true
                }]
            }],
            "resolution": "none"
        }})
    );
}

#[tokio::test]
async fn webhook_body_that_is_not_json_is_an_invalid_turn() {
    let message =
        invalid_turn(webhook_turn(Script { status: 200, body: "<html>OK</html>".into(), ..Script::default() }).await);
    assert!(message.contains("not JSON"), "{message}");
}

#[tokio::test]
async fn webhook_turns_missing_what_their_action_needs_are_invalid_and_named() {
    let cases = [
        (json!({"text": "hi"}), "`action` is missing"),
        (json!({"action": "reply", "text": "hi"}), "`action` is \"reply\""),
        (json!({"action": "answer"}), "`text` is missing"),
        (json!({"action": "ask", "text": "   "}), "`text` is empty"),
        (json!({"action": "hand_off", "text": "need a person"}), "`reason` is missing"),
        (
            json!({"action": "answer", "text": "hi", "detected": {"Tags": ["a", 2]}}),
            "`detected.Tags`: a list holds only strings, but item 1 is a number",
        ),
        (json!({"action": "answer", "text": "hi", "detected": ["Type"]}), "`detected` must be an object"),
        (json!(["answer"]), "must be a JSON object"),
    ];
    for (body, expected) in cases {
        let message = invalid_turn(webhook_turn(answering(200, body.clone())).await);
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn webhook_server_error_is_unavailable_with_the_status() {
    let message =
        unavailable(webhook_turn(Script { status: 500, body: "model overloaded".into(), ..Script::default() }).await);
    assert!(message.contains("HTTP 500") && message.contains("model overloaded"), "{message}");
    assert!(!message.contains("query-secret") && !message.contains("tok-123"), "no secrets: {message}");
}

#[tokio::test]
async fn webhook_that_does_not_answer_in_time_is_unavailable() {
    let url = serve(Script {
        status: 200,
        body: json!({"action": "ask", "text": "late"}).to_string(),
        delay: Duration::from_secs(5),
        ..Script::default()
    })
    .await;
    let agent =
        WebhookAgent::new(WebhookConfig::new(&url).expect("url").timeout(Duration::from_millis(300))).expect("agent");
    let message = unavailable(agent.respond("acme", customer_asks("", "export my data")).await);
    assert!(message.contains("did not answer within"), "{message}");
}

#[tokio::test]
async fn webhook_that_refuses_connections_is_unavailable() {
    // Bind and drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let agent =
        WebhookAgent::new(WebhookConfig::new(&format!("http://127.0.0.1:{port}/turn")).expect("url")).expect("agent");
    let message = unavailable(agent.respond("acme", customer_asks("", "export my data")).await);
    assert!(message.contains("cannot connect"), "{message}");
}

#[tokio::test]
async fn webhook_response_larger_than_the_limit_is_an_invalid_turn() {
    let huge = json!({"action": "answer", "text": "x".repeat(casebridge::agent::MAX_TURN_BYTES)});
    let message = invalid_turn(webhook_turn(answering(200, huge)).await);
    assert!(message.contains("larger than"), "{message}");
}

#[test]
fn webhook_urls_must_be_http() {
    let error = WebhookConfig::new("ftp://agent.example.com/turn").expect_err("ftp");
    assert!(error.to_string().contains("http:// or https://"), "{error}");
    assert!(WebhookConfig::new("not a url").is_err());
}
