//! SOSL for contact search: name fields, parent fields, escaped reserved
//! characters and relevance.

use casebridge_emulator::{EmulatorOptions, Seed};
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

fn search(org: &Org, sosl: &str) -> (u16, Value) {
    status_json(org.request(reqwest::Method::GET, "/search").query(&[("q", sosl)]).send().unwrap())
}

fn names(org: &Org, sosl: &str) -> Vec<String> {
    let (status, body) = search(org, sosl);
    assert_eq!(status, 200, "{sosl}: {body}");
    body["searchRecords"].as_array().unwrap().iter().map(|r| r["Name"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn contact_search_by_name_prefix_returns_account_names_exact_matches_first() {
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() });
    let account = org.create("Account", json!({"Name": "Acme"}));
    org.create(
        "Contact",
        json!({"FirstName": "Annabel", "LastName": "Smith", "Email": "annabel@acme.example", "AccountId": account}),
    );
    org.create("Contact", json!({"FirstName": "Joanna", "LastName": "Annesley"}));
    let ann = org.create(
        "Contact",
        json!({"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example", "AccountId": account}),
    );
    org.create("Contact", json!({"FirstName": "Bob", "LastName": "Stone", "Description": "Ann's colleague"}));

    let (status, body) =
        search(&org, "FIND {Ann*} IN NAME FIELDS RETURNING Contact(Id, Name, Email, AccountId, Account.Name) LIMIT 20");
    assert_eq!(status, 200, "{body}");
    let found = body["searchRecords"].as_array().unwrap();
    let order: Vec<&str> = found.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    assert_eq!(order, ["Ann Lee", "Annabel Smith", "Joanna Annesley"], "the exact name match first, then record order");
    let first = &found[0];
    assert_eq!(first["attributes"]["type"], "Contact");
    assert_eq!((first["Id"].as_str(), first["Email"].as_str()), (Some(ann.as_str()), Some("ann@acme.example")));
    assert_eq!(first["AccountId"], json!(account));
    assert_eq!(first["Account"]["Name"], "Acme");
    assert_eq!(found[2]["Account"], Value::Null);
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["attributes", "Id", "Name", "Email", "AccountId", "Account"]);

    // Ranking happens before the object's LIMIT; without Id selected, none is added.
    let (_, body) = search(&org, "FIND {Ann*} IN NAME FIELDS RETURNING Contact(Name LIMIT 1)");
    assert_eq!(
        body["searchRecords"],
        json!([{"attributes": body["searchRecords"][0]["attributes"], "Name": "Ann Lee"}])
    );
    // ORDER BY wins over relevance.
    assert_eq!(
        names(&org, "FIND {Ann*} IN NAME FIELDS RETURNING Contact(Name ORDER BY Name DESC)"),
        ["Joanna Annesley", "Annabel Smith", "Ann Lee"]
    );
    // In all fields, an exact name match still comes before an exact match elsewhere.
    assert_eq!(names(&org, "FIND {Ann} RETURNING Contact(Name)"), ["Ann Lee", "Bob Stone"]);
    assert_eq!(names(&org, "FIND {Ann*} RETURNING Contact(Name) LIMIT 2"), ["Ann Lee", "Bob Stone"]);
}

#[test]
fn every_reserved_character_can_be_searched_escaped() {
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() });
    // One contact per reserved character, found by a term escaping it.
    let cases: &[(&str, &str)] = &[
        ("Who? Knows", r"Who\? Knows"),
        ("R&D Team", r"R\&D"),
        ("Pipe|Line", r"Pipe\|Line"),
        ("Hello! World", r"Hello\!"),
        ("{Curly} Brace", r"\{Curly\}"),
        ("[Square] Bracket", r"\[Square\]"),
        ("Tom (Tommy)", r"\(Tommy\)"),
        ("Hat^Trick", r"Hat\^Trick"),
        ("Tilde~Mark", r"Tilde\~Mark"),
        ("Star* Power", r"Star\*"),
        ("Colon: Sign", r"Colon\:"),
        (r"Back\Slash", r"Back\\Slash"),
        ("\"Quoted\" Name", r#"\"Quoted\""#),
        ("O'Neil", r"O\'Neil"),
        ("C++ Dev", r"C\+\+ Dev"),
        ("Smith-Jones", r"Smith\-Jones"),
    ];
    for (last_name, _) in cases {
        org.create("Contact", json!({"LastName": last_name}));
    }
    for (last_name, term) in cases {
        let found = names(&org, &format!("FIND {{{term}}} IN NAME FIELDS RETURNING Contact(Id, Name)"));
        assert_eq!(found, [last_name.to_string()], "{term}");
    }
    // Unescaped, they are refused as Salesforce refuses them.
    for bad in ["R&D", "Hello!", "Star\\", "O'Neil", "Hat^Trick"] {
        let (status, body) = search(&org, &format!("FIND {{{bad}}} IN NAME FIELDS RETURNING Contact(Name)"));
        assert_eq!((status, error_codes(&body)), (400, vec!["MALFORMED_SEARCH".to_string()]), "{bad}");
    }
}
