//! The configuration file: the documented example, defaults, and validation
//! errors that name the option and say what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use casebridge::config::{AgentConfig, Config, ConfigError, EXAMPLE_CONFIG, HandOff, MailConfig, ReplyAs, SmtpTls};
use casebridge::secrets::{OrgCredentials, Secret};

/// A minimal valid org, for tests that change one option.
const ORG: &str = r#"
[[org]]
name = "acme"
client_id = "3MVG9example"
agent_user = "0055g00000AgentAAB"
hand_off = { queue = "00G5g00000SupQuEAJ" }
"#;

fn problems_of(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Err(error @ ConfigError::Invalid { .. }) => error.problems().iter().map(ToString::to_string).collect(),
        other => panic!("expected validation problems, got {other:?}"),
    }
}

/// `ORG` with one line added to its section.
fn org_with(line: &str) -> String {
    format!("{ORG}{line}\n")
}

#[test]
fn the_example_configuration_parses() {
    let config = Config::parse(EXAMPLE_CONFIG).expect("the example parses");
    assert_eq!(config.host.max_concurrent_cycles, 32);
    assert_eq!(config.host.key_file, PathBuf::from("casebridge.key"));
    assert!(matches!(&config.agent, AgentConfig::Builtin(builtin) if builtin.help_center == Path::new("help-center")));
    assert_eq!(config.mail.from_address(), "support@example.com");
    assert_eq!(config.orgs.len(), 2);
    let acme = config.org("acme").expect("acme");
    assert_eq!(acme.hand_off, HandOff::Queue("00G5g00000SupQuEAJ".into()));
    assert_eq!(acme.topics, ["casebridge"]);
    assert_eq!(acme.client_secret_env.as_deref(), Some("ACME_CLIENT_SECRET"));
    let emulator = config.org("emulator").expect("emulator");
    assert_eq!(emulator.login_url, "http://127.0.0.1:8080");
}

#[test]
fn the_example_shows_every_option() {
    // Each option of each section appears in the example, set or commented.
    let options = [
        "database",
        "max_concurrent_cycles",
        "guest_memory_mb",
        "cycle_deadline_seconds",
        "key_file",
        "cycle_log_per_org",
        "help_center",
        "url",
        "timeout_seconds",
        "outbox",
        "from",
        "host",
        "port",
        "username",
        "password_env",
        "tls",
        "name",
        "login_url",
        "api_version",
        "client_id",
        "client_secret_env",
        "refresh_token_env",
        "agent_user",
        "hand_off",
        "reply_as",
        "involved_field",
        "resolution_state_field",
        "topics",
        "poll_interval_seconds",
        "poll_overlap_seconds",
        "daily_api_budget",
        "soft_resolution_after_seconds",
        "abandoned_after_seconds",
        "agent",
        "component",
        "enabled",
        "listen",
        "match_people_by",
        "match_companies_by",
        "attribute",
        "object",
        "field",
        "direction",
    ];
    for option in options {
        assert!(EXAMPLE_CONFIG.contains(&format!("{option} =")), "{option} is missing from the example");
    }
}

#[test]
fn an_org_with_only_the_required_options_gets_safe_defaults() {
    let config = Config::parse(ORG).expect("minimal");
    assert_eq!(config.host.database, PathBuf::from("casebridge.db"));
    assert_eq!(config.host.guest_memory_mb, 64);
    assert_eq!(config.host.guest_limits().deadline, Duration::from_secs(300));
    assert!(matches!(config.mail, MailConfig::Outbox(_)), "nothing is sent unless configured");
    let org = &config.orgs[0];
    assert_eq!(org.login_url, "https://login.salesforce.com");
    assert_eq!(org.api_version, "62.0");
    assert_eq!(org.reply_as, ReplyAs::CaseComment);
    assert_eq!(org.involved_field, "FinInvolved__c");
    assert_eq!(org.resolution_state_field, "FinResolutionState__c");
    assert!(org.topics.is_empty());
    assert_eq!(org.poll_interval(), Duration::from_secs(60));
    assert_eq!(org.poll_overlap_seconds, 120);
    assert_eq!(org.daily_api_budget, 5000);
    assert_eq!(org.client_secret_env, None);
    assert_eq!(config.agent_for(org), &config.agent);
}

#[test]
fn an_empty_file_is_a_valid_configuration_with_no_orgs() {
    let config = Config::parse("").expect("empty");
    assert!(config.orgs.is_empty());
}

#[test]
fn each_invalid_value_is_reported_with_its_option() {
    let cases: &[(&str, String)] = &[
        ("host.max_concurrent_cycles", format!("[host]\nmax_concurrent_cycles = 0\n{ORG}")),
        ("host.max_concurrent_cycles", format!("[host]\nmax_concurrent_cycles = 100000\n{ORG}")),
        ("host.guest_memory_mb", format!("[host]\nguest_memory_mb = 4096\n{ORG}")),
        ("host.cycle_deadline_seconds", format!("[host]\ncycle_deadline_seconds = 0\n{ORG}")),
        ("host.cycle_log_per_org", format!("[host]\ncycle_log_per_org = 0\n{ORG}")),
        ("host.database", format!("[host]\ndatabase = \"\"\n{ORG}")),
        ("agent.url", format!("[agent]\nkind = \"webhook\"\nurl = \"http://agent.example.com\"\n{ORG}")),
        ("agent.url", format!("[agent]\nkind = \"webhook\"\nurl = \"not a url\"\n{ORG}")),
        ("agent.url", format!("[agent]\nkind = \"webhook\"\nurl = \"https://user:pw@agent.example.com\"\n{ORG}")),
        (
            "agent.timeout_seconds",
            format!("[agent]\nkind = \"webhook\"\nurl = \"https://a.example\"\ntimeout_seconds = 0\n{ORG}"),
        ),
        ("mail.from", format!("[mail]\nkind = \"outbox\"\nfrom = \"support\"\n{ORG}")),
        (
            "mail.from",
            format!("[mail]\nkind = \"smtp\"\nfrom = \"a b@example.com\"\nhost = \"smtp.example.com\"\n{ORG}"),
        ),
        ("mail.host", format!("[mail]\nkind = \"smtp\"\nfrom = \"s@example.com\"\nhost = \"\"\n{ORG}")),
        (
            "mail.tls",
            format!(
                "[mail]\nkind = \"smtp\"\nfrom = \"s@example.com\"\nhost = \"smtp.example.com\"\nusername = \"s\"\npassword_env = \"SMTP_PASSWORD\"\ntls = \"none\"\n{ORG}"
            ),
        ),
        (
            "mail.password_env",
            format!(
                "[mail]\nkind = \"smtp\"\nfrom = \"s@example.com\"\nhost = \"smtp.example.com\"\nusername = \"s\"\npassword_env = \"hunter 2\"\n{ORG}"
            ),
        ),
        (
            "mail.username",
            format!(
                "[mail]\nkind = \"smtp\"\nfrom = \"s@example.com\"\nhost = \"smtp.example.com\"\npassword_env = \"SMTP_PASSWORD\"\n{ORG}"
            ),
        ),
        ("org[0].name", ORG.replace("\"acme\"", "\"Acme Corp\"")),
        ("org[0].name", ORG.replace("\"acme\"", "\"\"")),
        ("org[acme].login_url", org_with("login_url = \"http://login.salesforce.com\"")),
        ("org[acme].login_url", org_with("login_url = \"https://login.salesforce.com/services/oauth2/token\"")),
        ("org[acme].login_url", org_with("login_url = \"ftp://login.salesforce.com\"")),
        ("org[acme].api_version", org_with("api_version = \"v62\"")),
        ("org[acme].client_id", ORG.replace("\"3MVG9example\"", "\"\"")),
        ("org[acme].client_secret_env", org_with("client_secret_env = \"my secret value\"")),
        ("org[acme].refresh_token_env", org_with("refresh_token_env = \"5Aep861.TSESvWeug\"")),
        ("org[acme].agent_user", ORG.replace("0055g00000AgentAAB", "005xyz")),
        ("org[acme].agent_user", ORG.replace("0055g00000AgentAAB", "00G5g00000SupQuEAJ")),
        ("org[acme].agent_user", ORG.replace("0055g00000AgentAAB", "0055g00000AgentZZZ")),
        ("org[acme].hand_off.queue", ORG.replace("00G5g00000SupQuEAJ", "0055g00000AgentAAB")),
        (
            "org[acme].hand_off.user",
            ORG.replace("{ queue = \"00G5g00000SupQuEAJ\" }", "{ user = \"00G5g00000SupQuEAJ\" }"),
        ),
        ("org[acme].involved_field", org_with("involved_field = \"Fin Involved\"")),
        ("org[acme].resolution_state_field", org_with("resolution_state_field = \"1State__c\"")),
        ("org[acme].topics[1]", org_with("topics = [\"ok\", \" \"]")),
        ("org[acme].poll_interval_seconds", org_with("poll_interval_seconds = 0")),
        ("org[acme].poll_overlap_seconds", org_with("poll_overlap_seconds = 0")),
        ("org[acme].daily_api_budget", org_with("daily_api_budget = 0")),
        ("org[acme].soft_resolution_after_seconds", org_with("soft_resolution_after_seconds = 0")),
        ("org[acme].abandoned_after_seconds", org_with("abandoned_after_seconds = 999999999")),
        ("org[acme].agent.url", org_with("agent = { kind = \"webhook\", url = \"http://10.0.0.1/agent\" }")),
        ("org[acme].name", format!("{ORG}{ORG}")),
    ];
    for (option, text) in cases {
        let problems = problems_of(text);
        assert!(
            problems.iter().any(|problem| problem.starts_with(&format!("{option}: "))),
            "expected a problem with {option}, got {problems:#?}\nfor:\n{text}"
        );
        // Every problem says what to do or what is expected, not just "invalid".
        for problem in &problems {
            assert!(problem.len() > option.len() + 20, "{problem}");
        }
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = format!("[host]\nguest_memory_mb = 1\n{}", org_with("daily_api_budget = 0\npoll_interval_seconds = 0"));
    let error = Config::parse(&text).expect_err("invalid");
    assert_eq!(error.problems().len(), 3, "{error}");
    let message = error.to_string();
    assert!(message.starts_with("the configuration text has 3 problems:"), "{message}");
}

#[test]
fn an_unknown_option_is_an_error_that_names_it() {
    for (text, option) in [
        (format!("[host]\ndatabse = \"x.db\"\n{ORG}"), "databse"),
        (org_with("pol_interval_seconds = 30"), "pol_interval_seconds"),
        (
            format!("[agent]\nkind = \"webhook\"\nurl = \"https://a.example\"\nhelp_center = \"x\"\n{ORG}"),
            "help_center",
        ),
        (format!("[mail]\nkind = \"outbox\"\nhost = \"smtp.example.com\"\n{ORG}"), "host"),
        (format!("[surprise]\n{ORG}"), "surprise"),
    ] {
        match Config::parse(&text) {
            Err(ConfigError::Parse { message, .. }) => {
                assert!(message.contains(option), "{option}: {message}")
            }
            other => panic!("{option}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn an_unknown_kind_is_an_error_that_lists_the_kinds() {
    let error = Config::parse(&format!("[mail]\nkind = \"carrier-pigeon\"\n{ORG}")).expect_err("unknown kind");
    let message = error.to_string();
    assert!(message.contains("carrier-pigeon") && message.contains("smtp") && message.contains("outbox"), "{message}");
}

#[test]
fn a_secret_written_into_the_file_is_refused_with_where_it_belongs() {
    let error = Config::parse(&org_with("client_secret = \"ABC123\"")).expect_err("secret in file");
    let message = error.to_string();
    assert!(message.contains("client_secret_env") && message.contains("casebridge org connect"), "{message}");
}

#[test]
fn plain_http_is_accepted_only_for_this_machine() {
    for url in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080/"] {
        let config = Config::parse(&org_with(&format!("login_url = \"{url}\""))).expect(url);
        assert!(!config.orgs[0].login_url.ends_with('/'), "trailing slash trimmed");
    }
    for url in ["https://acme.my.salesforce.com", "https://test.salesforce.com/"] {
        Config::parse(&org_with(&format!("login_url = \"{url}\""))).expect(url);
    }
}

#[test]
fn fifteen_character_ids_are_completed_to_eighteen() {
    let text = ORG.replace("0055g00000AgentAAB", "0055g00000Agent").replace("00G5g00000SupQuEAJ", "00G5g00000SupQu");
    let config = Config::parse(&text).expect("15-character ids");
    assert_eq!(config.orgs[0].agent_user, "0055g00000AgentAAB");
    assert_eq!(config.orgs[0].hand_off, HandOff::Queue("00G5g00000SupQuEAJ".into()));
}

#[test]
fn an_org_can_have_its_own_agent() {
    let text =
        org_with("agent = { kind = \"webhook\", url = \"https://agent.acme.example/turn\", timeout_seconds = 20 }");
    let config = Config::parse(&text).expect("per-org agent");
    match config.agent_for(&config.orgs[0]) {
        AgentConfig::Webhook(webhook) => {
            assert_eq!(webhook.url, "https://agent.acme.example/turn");
            assert_eq!(webhook.timeout(), Duration::from_secs(20));
        }
        other => panic!("expected the org's webhook, got {other:?}"),
    }
}

#[test]
fn smtp_defaults_to_starttls_on_its_usual_port() {
    let text = format!("[mail]\nkind = \"smtp\"\nfrom = \"support@example.com\"\nhost = \"smtp.example.com\"\n{ORG}");
    match Config::parse(&text).expect("smtp").mail {
        MailConfig::Smtp(smtp) => {
            assert_eq!(smtp.tls, SmtpTls::Starttls);
            assert_eq!(smtp.port(), 587);
        }
        other => panic!("expected smtp, got {other:?}"),
    }
}

#[test]
fn load_resolves_relative_paths_against_the_file_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("casebridge.toml");
    std::fs::write(&path, format!("[host]\ndatabase = \"state/cb.db\"\nkey_file = \"/etc/casebridge.key\"\n{ORG}"))
        .expect("write");

    let config = Config::load(&path).expect("load");
    assert_eq!(config.host.database, dir.path().join("state/cb.db"));
    assert_eq!(config.host.key_file, PathBuf::from("/etc/casebridge.key"));
    assert!(matches!(&config.mail, MailConfig::Outbox(outbox) if outbox.outbox == dir.path().join("outbox")));
    assert!(matches!(&config.agent, AgentConfig::Builtin(b) if b.help_center == dir.path().join("help-center")));
}

#[test]
fn errors_of_a_loaded_file_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.toml");
    let error = Config::load(&missing).expect_err("missing");
    assert!(error.to_string().contains("missing.toml") && error.to_string().contains("create it"), "{error}");

    let path = dir.path().join("bad.toml");
    std::fs::write(&path, org_with("poll_interval_seconds = 0")).expect("write");
    let error = Config::load(&path).expect_err("invalid");
    assert!(error.to_string().contains("bad.toml"), "{error}");

    std::fs::write(&path, "[[org]\nname = ").expect("write");
    let error = Config::load(&path).expect_err("not toml");
    assert!(error.to_string().contains("bad.toml"), "{error}");
}

#[test]
fn an_org_becomes_the_connectors_settings() {
    let config = Config::parse(EXAMPLE_CONFIG).expect("example");
    let acme = &config.orgs[0];
    let credentials = OrgCredentials {
        client_id: acme.client_id.clone(),
        client_secret: Secret::new("consumer-secret"),
        refresh_token: Secret::new("refresh-token"),
    };
    let record = acme.to_settings(&credentials);
    assert_eq!(record.name, "acme");
    assert_eq!(record.agent_user_id, "0055g00000AgentAAB");
    assert_eq!(record.credentials.refresh_token, "refresh-token");
    assert_eq!(record.resolution_timeouts.soft_resolution_after_ms, 1440 * 60_000);
    assert_eq!(record.poll_overlap_seconds, 120);
    assert_eq!(record.topics, ["casebridge"]);
}

#[test]
fn mappings_and_the_api_are_read_and_checked() {
    let config = Config::parse(EXAMPLE_CONFIG).expect("the example parses");
    let acme = config.org("acme").expect("acme");
    assert_eq!(acme.mappings.len(), 2);
    assert_eq!(acme.mappings[0].attribute, "plan");
    assert_eq!(acme.match_people_by.field, "Email");
    assert_eq!(config.api.listen, "127.0.0.1:8710", "loopback by default");
    let credentials = OrgCredentials {
        client_id: acme.client_id.clone(),
        client_secret: Secret::new("s"),
        refresh_token: Secret::new("r"),
    };
    let settings = acme.to_settings(&credentials);
    assert_eq!(settings.mappings.len(), 2);
    assert_eq!(settings.company_match_key.attribute, "name");

    let bad = format!(
        "[api]\nlisten = \"everywhere\"\n{ORG}\n[[org.mapping]]\nattribute = \"plan\"\nobject = \"Opportunity\"\nfield = \"Plan__c\"\ndirection = \"to_salesforce\"\n\
         [[org.mapping]]\nattribute = \"plan\"\nobject = \"Contact\"\nfield = \"Plan c\"\ndirection = \"to_salesforce\"\n\
         [[org.mapping]]\nattribute = \"tier\"\nobject = \"Account\"\nfield = \"Tier__c\"\ndirection = \"to_platform\"\n\
         [[org.mapping]]\nattribute = \"tier\"\nobject = \"Account\"\nfield = \"Tier__c\"\ndirection = \"to_salesforce\"\n"
    );
    let problems = problems_of(&bad);
    let has = |option: &str, says: &str| problems.iter().any(|p| p.contains(option) && p.contains(says));
    assert!(has("api.listen", "127.0.0.1:8710"), "{problems:#?}");
    assert!(has("org[acme].mapping[0].object", "Contact, Lead, Account, Case"), "{problems:#?}");
    assert!(has("org[acme].mapping[1].field", "API name"), "{problems:#?}");
    assert!(has("org[acme].mapping[3].direction", "both ways"), "{problems:#?}");
    let unknown = Config::parse(&format!(
        "{ORG}\n[[org.mapping]]\nattribute = \"a\"\nobject = \"Contact\"\nfield = \"F__c\"\ndirection = \"sideways\"\n"
    ));
    assert!(unknown.is_err(), "an unknown direction is refused");
}

#[test]
fn streaming_mode_is_off_by_default_and_its_safety_poll_is_checked() {
    use casebridge::config::SyncMode;
    let config = Config::parse(ORG).expect("parses");
    let org = &config.orgs[0];
    assert_eq!((org.mode, org.safety_poll_seconds), (SyncMode::Polling, 900));
    assert_eq!(org.cycle_interval(true), Duration::from_secs(60), "a polling org polls on its interval");

    let config = Config::parse(&org_with("mode = \"streaming\"")).expect("parses");
    let org = &config.orgs[0];
    assert_eq!(org.cycle_interval(true), Duration::from_secs(900), "a live stream: the safety poll");
    assert_eq!(org.cycle_interval(false), Duration::from_secs(60), "a stream that is down: the interval");

    let shorter = problems_of(&org_with("mode = \"streaming\"\nsafety_poll_seconds = 30"));
    assert!(
        shorter
            .iter()
            .any(|p| p.contains("org[acme].safety_poll_seconds") && p.contains("shorter than poll_interval_seconds")),
        "{shorter:?}"
    );
    let unknown = Config::parse(&org_with("mode = \"push\"")).expect_err("refused").to_string();
    assert!(unknown.contains("polling") && unknown.contains("streaming"), "{unknown}");
}
