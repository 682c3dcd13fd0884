//! Leads, accounts, contacts, opportunities and tasks: the CRM objects a
//! two-way sync touches, their required fields, conversion, relationship
//! queries and composite writes.

use casebridge_emulator::{EmulatorOptions, Seed};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

fn empty_org() -> Org {
    Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() })
}

fn admin_post(org: &Org, path: &str, body: Value) -> (u16, Value) {
    status_json(org.admin(Method::POST, path).json(&body).send().unwrap())
}

#[test]
fn a_lead_needs_last_name_and_company_and_gets_a_status() {
    let org = empty_org();
    let (status, body) = status_json(org.post("/sobjects/Lead", json!({"FirstName": "Ann"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName, Company]",
                "fields": ["LastName", "Company"]}])
    );
    let id = org.create("Lead", json!({"LastName": "Lee", "Company": "Lee & Sons"}));
    let (_, lead) = status_json(org.get(&format!("/sobjects/Lead/{id}")));
    assert_eq!(lead["Status"], "Open - Not Contacted");
    assert_eq!(lead["IsConverted"], false);
    assert_eq!(lead["ConvertedContactId"], Value::Null);

    let (_, describe) = status_json(org.get("/sobjects/Lead/describe"));
    let field = |name: &str| describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    for name in ["IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"] {
        assert_eq!(
            (field(name)["createable"].clone(), field(name)["updateable"].clone()),
            (json!(false), json!(false))
        );
    }
    assert_eq!(field("IsConverted")["defaultValue"], false);
    assert_eq!(
        (field("Status")["nillable"].clone(), field("Status")["defaultedOnCreate"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        (field("Company")["nillable"].clone(), field("Company")["defaultedOnCreate"].clone()),
        (json!(false), json!(false))
    );
    let (status, body) = status_json(org.patch(&format!("/sobjects/Lead/{id}"), json!({"IsConverted": true})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD_FOR_INSERT_UPDATE".to_string()]));
}

#[test]
fn converting_a_lead_creates_account_and_contact_and_freezes_the_lead() {
    let org = empty_org();
    let lead = org.create(
        "Lead",
        json!({"FirstName": "Ann", "LastName": "Lee", "Company": "Lee & Sons", "Email": "ann@lee.example",
               "Phone": "+1 555 0100", "LeadSource": "Web", "City": "Oslo"}),
    );
    let task = org.create("Task", json!({"Subject": "Call", "WhoId": lead}));
    let (status, converted) = admin_post(&org, "/leads/convert", json!({"lead_id": lead}));
    assert_eq!(status, 200, "{converted}");
    let (account, contact) = (converted["account_id"].as_str().unwrap(), converted["contact_id"].as_str().unwrap());
    assert!(account.starts_with("001") && contact.starts_with("003"), "{converted}");
    assert_eq!(converted["opportunity_id"], Value::Null);

    let row = &org.query(&format!(
        "SELECT IsConverted, ConvertedDate, ConvertedAccountId, ConvertedContactId, ConvertedOpportunityId, Status, \
         ConvertedContact.Email, ConvertedAccount.Name FROM Lead WHERE Id = '{lead}'"
    ))["records"][0];
    assert_eq!(row["IsConverted"], true);
    assert_eq!(row["ConvertedDate"], json!(org.emulator.now().date_naive().format("%Y-%m-%d").to_string()));
    assert_eq!(
        (row["ConvertedAccountId"].as_str(), row["ConvertedContactId"].as_str()),
        (Some(account), Some(contact))
    );
    assert_eq!(row["ConvertedOpportunityId"], Value::Null);
    assert_eq!(row["Status"], "Closed - Converted");
    assert_eq!(row["ConvertedContact"]["Email"], "ann@lee.example");
    assert_eq!(row["ConvertedAccount"]["Name"], "Lee & Sons");
    let made = &org.query(&format!(
        "SELECT Name, AccountId, Phone, LeadSource, MailingCity, Account.BillingCity FROM Contact WHERE Id = '{contact}'"
    ))["records"][0];
    assert_eq!((made["Name"].clone(), made["AccountId"].clone()), (json!("Ann Lee"), json!(account)));
    assert_eq!((made["LeadSource"].clone(), made["MailingCity"].clone()), (json!("Web"), json!("Oslo")));
    assert_eq!(made["Account"]["BillingCity"], "Oslo");
    let moved = &org.query(&format!("SELECT WhoId, AccountId FROM Task WHERE Id = '{task}'"))["records"][0];
    assert_eq!((moved["WhoId"].as_str(), moved["AccountId"].as_str()), (Some(contact), Some(account)));

    // A converted lead is read-only, as Salesforce answers it.
    let (status, body) = status_json(org.patch(&format!("/sobjects/Lead/{lead}"), json!({"Title": "CEO"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead"}])
    );
    let (status, body) = admin_post(&org, "/leads/convert", json!({"lead_id": lead}));
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body["errors"]), ["CANNOT_UPDATE_CONVERTED_LEAD"]);
}

#[test]
fn converting_into_existing_records_fills_only_their_empty_fields() {
    let org = empty_org();
    let account = org.create("Account", json!({"Name": "Existing Ltd", "Phone": "+47 1"}));
    let contact = org.create("Contact", json!({"LastName": "Old", "AccountId": account, "Title": "Buyer"}));
    let lead = org.create(
        "Lead",
        json!({"LastName": "New", "Company": "Lead Co", "Title": "CEO", "Email": "new@lead.example", "Phone": "+47 2"}),
    );
    let (status, converted) = admin_post(
        &org,
        "/leads/convert",
        json!({"lead_id": lead, "contact_id": contact, "opportunity_name": "First deal"}),
    );
    assert_eq!(status, 200, "{converted}");
    assert_eq!(
        (converted["account_id"].as_str(), converted["contact_id"].as_str()),
        (Some(account.as_str()), Some(contact.as_str()))
    );
    let opportunity = converted["opportunity_id"].as_str().unwrap();
    let kept = &org.query(&format!("SELECT LastName, Title, Email FROM Contact WHERE Id = '{contact}'"))["records"][0];
    assert_eq!((kept["LastName"].clone(), kept["Title"].clone()), (json!("Old"), json!("Buyer")));
    assert_eq!(kept["Email"], "new@lead.example");
    assert_eq!(
        org.query(&format!("SELECT Name, Phone FROM Account WHERE Id = '{account}'"))["records"][0]["Phone"],
        "+47 1"
    );
    let deal = &org.query(&format!(
        "SELECT Name, StageName, AccountId, IsClosed, (SELECT ContactId, IsPrimary FROM OpportunityContactRoles) \
         FROM Opportunity WHERE Id = '{opportunity}'"
    ))["records"][0];
    assert_eq!((deal["Name"].clone(), deal["StageName"].clone()), (json!("First deal"), json!("Prospecting")));
    assert_eq!(deal["OpportunityContactRoles"]["records"][0]["ContactId"], json!(contact));
    assert_eq!(deal["OpportunityContactRoles"]["records"][0]["IsPrimary"], true);

    // A contact of another account is refused, and nothing is written.
    let other = org.create("Account", json!({"Name": "Other"}));
    let lead2 = org.create("Lead", json!({"LastName": "Two", "Company": "Two Co"}));
    let (status, body) =
        admin_post(&org, "/leads/convert", json!({"lead_id": lead2, "contact_id": contact, "account_id": other}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        org.query(&format!("SELECT IsConverted FROM Lead WHERE Id = '{lead2}'"))["records"][0]["IsConverted"],
        false
    );
    let (status, _) = admin_post(&org, "/leads/convert", json!({"lead": lead2}));
    assert_eq!(status, 400);
}

#[test]
fn tasks_default_and_derive_like_salesforce() {
    let org = empty_org();
    let account = org.create("Account", json!({"Name": "Acme"}));
    let contact = org.create("Contact", json!({"LastName": "Lee", "AccountId": account}));
    let task = org.create(
        "Task",
        json!({"Subject": "Follow up", "WhoId": contact, "ActivityDate": "2024-03-01", "TaskSubtype": "Call",
               "Description": "x".repeat(32000)}),
    );
    let row = &org.query(&format!(
        "SELECT Status, Priority, IsClosed, IsHighPriority, TaskSubtype, AccountId, ActivityDate, OwnerId, Who.Name \
         FROM Task WHERE Id = '{task}'"
    ))["records"][0];
    assert_eq!((row["Status"].clone(), row["Priority"].clone()), (json!("Not Started"), json!("Normal")));
    assert_eq!((row["IsClosed"].clone(), row["IsHighPriority"].clone()), (json!(false), json!(false)));
    assert_eq!((row["TaskSubtype"].clone(), row["AccountId"].clone()), (json!("Call"), json!(account)));
    assert_eq!(row["ActivityDate"], "2024-03-01");
    assert_eq!(row["Who"]["Name"], "Lee");
    assert_eq!(row["OwnerId"], json!(org.emulator.seeded().integration_user_id));

    assert_eq!(
        org.patch(&format!("/sobjects/Task/{task}"), json!({"Status": "Completed", "Priority": "High"})).status(),
        204
    );
    let row = &org.query(&format!("SELECT IsClosed, IsHighPriority FROM Task WHERE Id = '{task}'"))["records"][0];
    assert_eq!((row["IsClosed"].clone(), row["IsHighPriority"].clone()), (json!(true), json!(true)));
    let (status, body) = status_json(org.patch(&format!("/sobjects/Task/{task}"), json!({"TaskSubtype": "Email"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD_FOR_INSERT_UPDATE".to_string()]));
    let (status, body) = status_json(org.post("/sobjects/Task", json!({"Subject": "x", "TaskSubtype": "Fax"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".to_string()]));
    let (status, body) = status_json(org.post("/sobjects/Task", json!({"Subject": "x", "WhoId": account})));
    assert_eq!((status, error_codes(&body)), (400, vec!["FIELD_INTEGRITY_EXCEPTION".to_string()]));
    let (status, body) =
        status_json(org.post("/sobjects/Task", json!({"Subject": "x", "Description": "x".repeat(32001)})));
    assert_eq!((status, error_codes(&body)), (400, vec!["STRING_TOO_LONG".to_string()]));

    let (_, describe) = status_json(org.get("/sobjects/Task/describe"));
    let field = |name: &str| describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(field("WhoId")["referenceTo"], json!(["Contact", "Lead"]));
    assert_eq!(field("WhatId")["referenceTo"], json!(["Account", "Case", "Opportunity"]));
    assert_eq!(
        (field("TaskSubtype")["createable"].clone(), field("TaskSubtype")["updateable"].clone()),
        (json!(true), json!(false))
    );
    let status = field("Status");
    let statuses: Vec<&Value> = status["picklistValues"].as_array().unwrap().iter().map(|v| &v["value"]).collect();
    assert_eq!(statuses, ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]);
}

#[test]
fn opportunities_need_stage_and_close_date_and_derive_closed_and_won() {
    let org = empty_org();
    let (status, body) = status_json(org.post("/sobjects/Opportunity", json!({"Name": "Deal"})));
    assert_eq!(status, 400);
    assert_eq!(body[0]["message"], "Required fields are missing: [StageName, CloseDate]");
    let deal = org.create(
        "Opportunity",
        json!({"Name": "Deal", "StageName": "Qualification", "CloseDate": "2024-06-30", "Amount": 1200.5}),
    );
    let row = &org.query(&format!("SELECT IsClosed, IsWon, Probability, Amount FROM Opportunity WHERE Id = '{deal}'"))
        ["records"][0];
    assert_eq!((row["IsClosed"].clone(), row["IsWon"].clone()), (json!(false), json!(false)));
    assert_eq!((row["Probability"].clone(), row["Amount"].clone()), (json!(10.0), json!(1200.5)));
    org.patch(&format!("/sobjects/Opportunity/{deal}"), json!({"StageName": "Closed Won"}));
    let row =
        &org.query(&format!("SELECT IsClosed, IsWon, Probability FROM Opportunity WHERE Id = '{deal}'"))["records"][0];
    assert_eq!(
        (row["IsClosed"].clone(), row["IsWon"].clone(), row["Probability"].clone()),
        (json!(true), json!(true), json!(100.0))
    );
    org.patch(&format!("/sobjects/Opportunity/{deal}"), json!({"StageName": "Closed Lost"}));
    let row = &org.query(&format!("SELECT IsClosed, IsWon FROM Opportunity WHERE Id = '{deal}'"))["records"][0];
    assert_eq!((row["IsClosed"].clone(), row["IsWon"].clone()), (json!(true), json!(false)));
    let (status, body) = status_json(org.patch(&format!("/sobjects/Opportunity/{deal}"), json!({"IsWon": true})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD_FOR_INSERT_UPDATE".to_string()]));
}

#[test]
fn relationship_queries_reach_opportunities_roles_cases_and_tasks() {
    let org = empty_org();
    let owner_name = "Casebridge Integration";
    let account = org.create("Account", json!({"Name": "Acme"}));
    let contact = org.create("Contact", json!({"FirstName": "Ann", "LastName": "Lee", "AccountId": account}));
    let open = org.create(
        "Opportunity",
        json!({"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2024-06-30", "Amount": 500, "AccountId": account}),
    );
    org.create(
        "Opportunity",
        json!({"Name": "Won", "StageName": "Closed Won", "CloseDate": "2024-01-31", "AccountId": account}),
    );
    org.create(
        "OpportunityContactRole",
        json!({"OpportunityId": open, "ContactId": contact, "Role": "Decision Maker"}),
    );
    let open_case = org.create("Case", json!({"Subject": "Open", "ContactId": contact, "Priority": "High"}));
    org.create("Case", json!({"Subject": "Done", "ContactId": contact, "Status": "Closed"}));
    let lead = org.create("Lead", json!({"LastName": "Lead", "Company": "L"}));
    org.create("Task", json!({"Subject": "Call lead", "WhoId": lead}));
    org.create("Task", json!({"Subject": "Call contact", "WhoId": contact, "WhatId": open}));

    let acme = &org.query(&format!(
        "SELECT Id, Name, Owner.Name, (SELECT Id, Name, StageName, CloseDate, Amount, Owner.Name FROM Opportunities \
         WHERE IsClosed = false) FROM Account WHERE Id = '{account}'"
    ))["records"][0];
    assert_eq!(acme["Owner"]["Name"], owner_name);
    let opportunities = &acme["Opportunities"];
    assert_eq!(opportunities["totalSize"], 1);
    let renewal = &opportunities["records"][0];
    assert_eq!((renewal["Id"].as_str(), renewal["Name"].as_str()), (Some(open.as_str()), Some("Renewal")));
    assert_eq!(
        (renewal["StageName"].clone(), renewal["CloseDate"].clone()),
        (json!("Prospecting"), json!("2024-06-30"))
    );
    assert_eq!((renewal["Amount"].clone(), renewal["Owner"]["Name"].clone()), (json!(500.0), json!(owner_name)));
    assert_eq!(renewal["attributes"]["type"], "Opportunity");

    let ann = &org.query(&format!(
        "SELECT Id, Account.Owner.Name, (SELECT OpportunityId FROM OpportunityContactRoles), \
         (SELECT Id, CaseNumber, Status, Priority FROM Cases WHERE IsClosed = false), (SELECT Subject FROM Tasks) \
         FROM Contact WHERE Id = '{contact}'"
    ))["records"][0];
    assert_eq!(ann["Account"]["Owner"]["Name"], owner_name);
    assert_eq!(ann["OpportunityContactRoles"]["records"][0]["OpportunityId"], json!(open));
    assert_eq!(ann["Cases"]["totalSize"], 1);
    let case = &ann["Cases"]["records"][0];
    assert_eq!(
        (case["Id"].as_str(), case["Status"].as_str(), case["Priority"].as_str()),
        (Some(open_case.as_str()), Some("New"), Some("High"))
    );
    assert!(case["CaseNumber"].as_str().is_some());
    assert_eq!(ann["Tasks"]["records"][0]["Subject"], "Call contact");

    let lead_row =
        &org.query(&format!("SELECT (SELECT Subject FROM Tasks) FROM Lead WHERE Id = '{lead}'"))["records"][0];
    assert_eq!(lead_row["Tasks"]["records"][0]["Subject"], "Call lead");
    let deal = &org
        .query(&format!("SELECT (SELECT Subject, Who.Name FROM Tasks) FROM Opportunity WHERE Id = '{open}'"))["records"]
        [0];
    assert_eq!(deal["Tasks"]["records"][0]["Who"]["Name"], "Ann Lee");
}

#[test]
fn composite_creates_the_crm_objects_with_references_all_or_none() {
    let org = empty_org();
    let (status, body) = status_json(org.post(
        "/composite",
        json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "referenceId": "acct", "url": "/services/data/v59.0/sobjects/Account", "body": {"Name": "Composite Co"}},
            {"method": "POST", "referenceId": "person", "url": "/services/data/v59.0/sobjects/Contact",
             "body": {"LastName": "Kim", "AccountId": "@{acct.id}"}},
            {"method": "POST", "referenceId": "deal", "url": "/services/data/v59.0/sobjects/Opportunity",
             "body": {"Name": "Big", "StageName": "Prospecting", "CloseDate": "2024-12-31", "AccountId": "@{acct.id}"}},
            {"method": "POST", "referenceId": "role", "url": "/services/data/v59.0/sobjects/OpportunityContactRole",
             "body": {"OpportunityId": "@{deal.id}", "ContactId": "@{person.id}", "IsPrimary": true}},
            {"method": "POST", "referenceId": "todo", "url": "/services/data/v59.0/sobjects/Task",
             "body": {"Subject": "Kick-off", "WhoId": "@{person.id}", "WhatId": "@{deal.id}"}},
            {"method": "POST", "referenceId": "lead", "url": "/services/data/v59.0/sobjects/Lead",
             "body": {"LastName": "Prospect", "Company": "Elsewhere"}},
        ]}),
    ));
    assert_eq!(status, 200);
    let results = body["compositeResponse"].as_array().unwrap();
    assert!(results.iter().all(|r| r["httpStatusCode"] == 201), "{body}");
    let task = results[4]["body"]["id"].as_str().unwrap();
    let row = &org.query(&format!("SELECT AccountId, What.Name FROM Task WHERE Id = '{task}'"))["records"][0];
    assert_eq!(row["AccountId"], results[0]["body"]["id"]);
    assert_eq!(row["What"]["Name"], "Big");

    // One failing subrequest (a lead without company) rolls every one back.
    let (_, body) = status_json(org.post(
        "/composite",
        json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "referenceId": "acct", "url": "/services/data/v59.0/sobjects/Account", "body": {"Name": "Gone Co"}},
            {"method": "POST", "referenceId": "deal", "url": "/services/data/v59.0/sobjects/Opportunity",
             "body": {"Name": "Gone", "StageName": "Prospecting", "CloseDate": "2024-12-31", "AccountId": "@{acct.id}"}},
            {"method": "POST", "referenceId": "lead", "url": "/services/data/v59.0/sobjects/Lead", "body": {"LastName": "No company"}},
        ]}),
    ));
    let results = body["compositeResponse"].as_array().unwrap();
    assert_eq!(error_codes(&results[2]["body"]), ["REQUIRED_FIELD_MISSING"]);
    assert_eq!(error_codes(&results[0]["body"]), ["PROCESSING_HALTED"]);
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Gone Co'")["totalSize"], 0);
    assert_eq!(org.query("SELECT Id FROM Opportunity WHERE Name = 'Gone'")["totalSize"], 0);
}

#[test]
fn users_added_over_the_admin_api_can_own_records_and_be_found_by_email() {
    let org = empty_org();
    let (status, made) = admin_post(
        &org,
        "/users",
        json!({"username": "owner@acme.example", "email": "Owner@Acme.example", "first_name": "Olga", "last_name": "Owner"}),
    );
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap();
    assert!(id.starts_with("005"));
    let found = org.query("SELECT Id, Name, IsActive FROM User WHERE Email = 'owner@acme.example' AND IsActive = true");
    assert_eq!(found["totalSize"], 1);
    assert_eq!(
        (found["records"][0]["Id"].as_str(), found["records"][0]["Name"].as_str()),
        (Some(id), Some("Olga Owner"))
    );
    let account = org.create("Account", json!({"Name": "Owned", "OwnerId": id}));
    assert_eq!(
        org.query(&format!("SELECT Owner.Name FROM Account WHERE Id = '{account}'"))["records"][0]["Owner"]["Name"],
        "Olga Owner"
    );

    let (status, made) = admin_post(
        &org,
        "/users",
        json!({"username": "gone@acme.example", "email": "gone@acme.example", "last_name": "Gone", "active": false}),
    );
    assert_eq!(status, 201);
    let inactive = made["id"].as_str().unwrap();
    assert_eq!(org.query("SELECT Id FROM User WHERE Email = 'gone@acme.example' AND IsActive = true")["totalSize"], 0);
    let (status, body) = status_json(org.post("/sobjects/Account", json!({"Name": "x", "OwnerId": inactive})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INACTIVE_OWNER_OR_USER".to_string()]));
    let (status, body) = admin_post(
        &org,
        "/users",
        json!({"username": "owner@acme.example", "email": "a@b.example", "last_name": "Twin"}),
    );
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body["errors"]), ["DUPLICATE_VALUE"]);
    assert_eq!(admin_post(&org, "/users", json!({"username": "x@y.example"})).0, 400);
}
