//! The records an emulated org starts with.
//!
//! [`Seed::Demo`] is a small support org with enough in it to show every
//! behaviour of casebridge: an integration user, an agent user ("Fin Agent")
//! owning open cases, a hand-off user and queue, users the set-up screen must
//! filter out (inactive, guest, automated process, a community customer),
//! accounts and contacts, and cases whose content covers each kind of
//! conversation part — an email, Chatter posts and comments from the
//! customer, a rich-text post with an inline screenshot, an attachment,
//! topics. [`Seed::Empty`] has only the integration user and the system
//! users every org has.
//!
//! Records are created through [`Database::create`], so they pass the same
//! validation as API writes, and are back-dated to look like a few days of
//! support work.
//!
//! [`bulk_seed`] adds thousands of cases with their conversations on top of
//! the demo seed, for load tests.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use rand::distr::{Alphanumeric, SampleString as _};
use serde::Serialize;
use serde_json::{Value, json};

use crate::db::{Database, WriteContext};
use crate::ids;

mod bulk;

pub use bulk::{BulkSeed, BulkSeedError, BulkSeeded, REPLY_GAP, bulk_seed};

/// Which records the org starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// A support org with users, a queue, accounts, contacts and cases.
    #[default]
    Demo,
    /// The integration user and the system users only.
    Empty,
}

impl FromStr for Seed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "demo" => Ok(Seed::Demo),
            "empty" => Ok(Seed::Empty),
            other => Err(format!("unknown seed {other:?}: use demo or empty")),
        }
    }
}

/// Ids of the seeded records a demo or a test needs to name. Everything but
/// the integration user is `None`/empty for [`Seed::Empty`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeededOrg {
    pub integration_user_id: String,
    pub integration_username: String,
    pub integration_password: String,
    pub automated_process_user_id: String,
    /// "Fin Agent": the user whose cases the AI agent works.
    pub agent_user_id: Option<String>,
    /// The person cases are handed to when the agent cannot help.
    pub handoff_user_id: Option<String>,
    /// A queue (`Group` of type Queue) that takes Cases.
    pub handoff_queue_id: Option<String>,
    /// A queue that takes Leads only (must not be offered for cases).
    pub lead_queue_id: Option<String>,
    /// The support site's guest user (`support-site.guest@…`, `UserType`
    /// Guest): who opens web cases and writes for their customers.
    pub guest_user_id: Option<String>,
    /// A community user who writes on their own case's feed.
    pub customer_user_id: Option<String>,
    pub customer_username: Option<String>,
    pub account_ids: Vec<String>,
    pub contact_ids: Vec<String>,
    /// Open cases owned by the agent user, oldest first.
    pub agent_case_ids: Vec<String>,
    /// The email-origin case with an incoming EmailMessage.
    pub email_case_id: Option<String>,
    /// The case with a Chatter post and the customer's comment.
    pub chatter_case_id: Option<String>,
    /// The case with the screenshot (ContentVersion + rich-text post) and an Attachment.
    pub screenshot_case_id: Option<String>,
    pub screenshot_content_version_id: Option<String>,
    pub screenshot_content_document_id: Option<String>,
    pub attachment_id: Option<String>,
    pub closed_case_id: Option<String>,
    /// A case already handed off to the queue.
    pub queued_case_id: Option<String>,
}

/// The screenshot attached to the crash case: a real PNG.
const CRASH_SCREENSHOT_PNG: &[u8] = include_bytes!("../assets/crash-screenshot.png");

/// Domain of every seeded login; `.example` never resolves.
const DOMAIN: &str = "casebridge.example";

/// Seeds `db` and returns the ids to remember. `now` is the emulator clock;
/// records are dated up to a few days before it.
pub fn seed(db: &mut Database, seed: Seed, now: DateTime<Utc>) -> Result<SeededOrg, String> {
    let mut org = Seeder { db, now };
    let mut out = org.system_users()?;
    if seed == Seed::Demo {
        org.demo(&mut out)?;
    }
    Ok(out)
}

struct Seeder<'a> {
    db: &'a mut Database,
    now: DateTime<Utc>,
}

impl Seeder<'_> {
    /// Creates a record as `user`, `ago` before now.
    fn create(&mut self, object: &str, user: &str, ago: Duration, fields: Value) -> Result<String, String> {
        let ctx = WriteContext { now: self.now - ago, user_id: user.to_string() };
        let Value::Object(fields) = fields else {
            return Err(format!("seed {object}: fields must be an object"));
        };
        self.db.create(object, &fields, &ctx).map_err(|errors| {
            let reasons: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect();
            format!("seed {object}: {}", reasons.join("; "))
        })
    }

    fn update(&mut self, object: &str, id: &str, user: &str, fields: Value) -> Result<(), String> {
        let ctx = WriteContext { now: self.now, user_id: user.to_string() };
        let Value::Object(fields) = fields else {
            return Err(format!("seed {object}: fields must be an object"));
        };
        self.db.update(object, id, &fields, &ctx).map_err(|errors| format!("seed {object} {id}: {errors:?}"))
    }

    /// One field of a record, as text.
    fn field(&self, object: &str, id: &str, field: &str) -> Option<String> {
        let record = self.db.retrieve(object, id, Some(&[field.to_string()]), "59.0").ok()?;
        record[field].as_str().map(str::to_string)
    }

    /// The integration user, the profiles, and the users every org has.
    fn system_users(&mut self) -> Result<SeededOrg, String> {
        // The first user creates itself, as the org's first admin does: its
        // id is the first one the database hands out.
        let first_id = ids::new_id("005", 1);
        let integration_username = format!("integration@{DOMAIN}");
        let integration = self.create(
            "User",
            &first_id,
            Duration::days(30),
            json!({
                "Username": integration_username, "FirstName": "Casebridge", "LastName": "Integration",
                "Email": format!("integration@{DOMAIN}"), "Alias": "cbint", "Title": "API Integration User",
                "UserType": "Standard",
            }),
        )?;
        let admin_profile = self.create(
            "Profile",
            &integration,
            Duration::days(30),
            json!({"Name": "System Administrator", "UserType": "Standard"}),
        )?;
        self.create(
            "Profile",
            &integration,
            Duration::days(30),
            json!({"Name": "Standard User", "UserType": "Standard"}),
        )?;
        self.update("User", &integration, &integration, json!({"ProfileId": admin_profile}))?;
        let automated_process = self.create(
            "User",
            &integration,
            Duration::days(30),
            json!({
                "Username": format!("autoproc@{DOMAIN}"), "LastName": "Automated Process",
                "Email": format!("autoproc@{DOMAIN}"), "Alias": "autoproc", "UserType": "AutomatedProcess",
            }),
        )?;
        Ok(SeededOrg {
            integration_user_id: integration,
            integration_username,
            integration_password: format!("demo-{}", Alphanumeric.sample_string(&mut rand::rng(), 16)),
            automated_process_user_id: automated_process,
            ..SeededOrg::default()
        })
    }

    fn demo(&mut self, out: &mut SeededOrg) -> Result<(), String> {
        let admin = out.integration_user_id.clone();
        let days = Duration::days;
        let hours = Duration::hours;
        let minutes = Duration::minutes;

        // ---- users ----
        let standard_profile = self.profile("Standard User")?;
        let user = |s: &mut Self, username: &str, first: &str, last: &str, title: &str, extra: Value| {
            let mut fields = json!({
                "Username": format!("{username}@{DOMAIN}"), "FirstName": first, "LastName": last,
                "Email": format!("{username}@{DOMAIN}"), "Title": title, "ProfileId": standard_profile,
            });
            if let (Value::Object(f), Value::Object(e)) = (&mut fields, extra) {
                f.extend(e);
            }
            s.create("User", &admin, days(20), fields)
        };
        let agent = user(
            self,
            "fin.agent",
            "Fin",
            "Agent",
            "AI Support Agent",
            json!({"Alias": "fin", "UserType": "Standard"}),
        )?;
        let handoff = user(self, "maya.patel", "Maya", "Patel", "Support Team Lead", json!({"UserType": "Standard"}))?;
        user(self, "tom.becker", "Tom", "Becker", "Support Engineer", json!({"UserType": "Standard"}))?;
        user(
            self,
            "ola.nordmann",
            "Ola",
            "Nordmann",
            "Former Support Engineer",
            json!({"UserType": "Standard", "IsActive": false}),
        )?;
        let guest = user(
            self,
            "support-site.guest",
            "Support Site",
            "Site Guest User",
            "Guest",
            json!({"UserType": "Guest", "ProfileId": null}),
        )?;
        out.agent_user_id = Some(agent.clone());
        out.handoff_user_id = Some(handoff.clone());
        out.guest_user_id = Some(guest.clone());

        // ---- queues ----
        let queue = self.create("Group", &admin, days(20), json!({"Name": "Tier 2 Support", "DeveloperName": "Tier_2_Support", "Type": "Queue", "Email": format!("tier2@{DOMAIN}")}))?;
        self.create("QueueSobject", &admin, days(20), json!({"QueueId": queue, "SobjectType": "Case"}))?;
        let lead_queue = self.create(
            "Group",
            &admin,
            days(20),
            json!({"Name": "Inbound Leads", "DeveloperName": "Inbound_Leads", "Type": "Queue"}),
        )?;
        self.create("QueueSobject", &admin, days(20), json!({"QueueId": lead_queue, "SobjectType": "Lead"}))?;
        self.create("Group", &admin, days(20), json!({"Name": "Support Team", "Type": "Regular"}))?;
        out.handoff_queue_id = Some(queue.clone());
        out.lead_queue_id = Some(lead_queue.clone());

        // ---- accounts and contacts ----
        let account = |s: &mut Self, name: &str, industry: &str, website: &str, city: &str, country: &str| {
            s.create(
                "Account",
                &admin,
                days(14),
                json!({"Name": name, "Industry": industry, "Website": website, "BillingCity": city, "BillingCountry": country, "Type": "Customer - Direct", "OwnerId": handoff}),
            )
        };
        let northwind =
            account(self, "Northwind Traders", "Retail", "https://northwind.example", "Seattle", "United States")?;
        let globex = account(
            self,
            "Globex Corporation",
            "Manufacturing",
            "https://globex.example",
            "Springfield",
            "United States",
        )?;
        let initech = account(self, "Initech", "Technology", "https://initech.example", "Austin", "United States")?;
        let umbrella = account(
            self,
            "Umbrella Health",
            "Healthcare",
            "https://umbrella-health.example",
            "London",
            "United Kingdom",
        )?;
        out.account_ids = vec![northwind.clone(), globex.clone(), initech.clone(), umbrella.clone()];

        let contact = |s: &mut Self, first: &str, last: &str, email: &str, account: &str, title: &str, phone: &str| {
            s.create(
                "Contact",
                &admin,
                days(13),
                json!({"FirstName": first, "LastName": last, "Email": email, "AccountId": account, "Title": title, "Phone": phone}),
            )
        };
        let amelia = contact(
            self,
            "Amelia",
            "Clarke",
            "amelia.clarke@northwind.example",
            &northwind,
            "Operations Manager",
            "+1 206 555 0141",
        )?;
        let ben = contact(
            self,
            "Ben",
            "Okafor",
            "ben.okafor@northwind.example",
            &northwind,
            "Store Lead",
            "+1 206 555 0178",
        )?;
        let carla = contact(
            self,
            "Carla",
            "Mendes",
            "carla.mendes@globex.example",
            &globex,
            "Accounts Payable",
            "+1 217 555 0102",
        )?;
        let dmitri = contact(
            self,
            "Dmitri",
            "Volkov",
            "dmitri.volkov@initech.example",
            &initech,
            "IT Director",
            "+1 512 555 0133",
        )?;
        let eva = contact(
            self,
            "Eva",
            "Lindqvist",
            "eva.lindqvist@umbrella-health.example",
            &umbrella,
            "Practice Manager",
            "+44 20 7946 0321",
        )?;
        let farah = contact(
            self,
            "Farah",
            "Haddad",
            "farah.haddad@globex.example",
            &globex,
            "Procurement Lead",
            "+1 217 555 0199",
        )?;
        let george = contact(
            self,
            "George",
            "Tanaka",
            "george.tanaka@initech.example",
            &initech,
            "Developer",
            "+1 512 555 0170",
        )?;
        out.contact_ids = vec![
            amelia.clone(),
            ben.clone(),
            carla.clone(),
            dmitri.clone(),
            eva.clone(),
            farah.clone(),
            george.clone(),
        ];

        // Dmitri also has a community login, so he can write on his case's feed.
        let customer = user(
            self,
            "dmitri.volkov.community",
            "Dmitri",
            "Volkov",
            "IT Director",
            json!({"UserType": "CspLitePortal", "CompanyName": "Initech", "Email": "dmitri.volkov@initech.example", "ProfileId": null}),
        )?;
        out.customer_user_id = Some(customer.clone());
        out.customer_username = Some(format!("dmitri.volkov.community@{DOMAIN}"));

        // ---- cases owned by the agent ----
        let auto = out.automated_process_user_id.clone();
        let case = |s: &mut Self, creator: &str, ago: Duration, fields: Value| s.create("Case", creator, ago, fields);

        let password = case(
            self,
            &guest,
            days(3),
            json!({
                "Subject": "Can't reset my password",
                "Description": "I clicked \"Forgot password\" three times this morning but the reset email never arrives. I checked spam and the quarantine. My login is amelia.clarke@northwind.example. I need to get into the dashboard before our 2pm stock review.",
                "Origin": "Web", "Priority": "High", "Status": "New", "Type": "Other",
                "ContactId": amelia, "AccountId": northwind, "OwnerId": agent,
                "SuppliedEmail": "amelia.clarke@northwind.example", "SuppliedName": "Amelia Clarke",
            }),
        )?;

        let invoice_subject = "Invoice INV-2024-0117 shows the wrong amount";
        let invoice = case(
            self,
            &auto,
            days(2),
            json!({
                "Subject": invoice_subject,
                "Description": "Hello,\n\nOur invoice INV-2024-0117 charges USD 1,250.00 for the Team plan, but our contract says 10 seats at USD 95.00, so USD 950.00. Could you send a corrected invoice? Our payment run is on Friday.\n\nThanks,\nCarla Mendes\nAccounts Payable, Globex Corporation",
                "Origin": "Email", "Priority": "Medium", "Status": "New", "Reason": "Other",
                "ContactId": carla, "AccountId": globex, "OwnerId": agent,
                "SuppliedEmail": "carla.mendes@globex.example", "SuppliedName": "Carla Mendes", "SuppliedCompany": "Globex Corporation",
            }),
        )?;
        let invoice_time = self.now - days(2);
        self.create("EmailMessage", &auto, days(2), json!({
            "ParentId": invoice, "RelatedToId": invoice, "Incoming": true, "Status": "0",
            "FromAddress": "carla.mendes@globex.example", "FromName": "Carla Mendes",
            "ToAddress": format!("support@{DOMAIN}"), "Subject": invoice_subject,
            "TextBody": "Hello,\n\nOur invoice INV-2024-0117 charges USD 1,250.00 for the Team plan, but our contract says 10 seats at USD 95.00, so USD 950.00. Could you send a corrected invoice? Our payment run is on Friday.\n\nThanks,\nCarla Mendes",
            "HtmlBody": "<p>Hello,</p><p>Our invoice <b>INV-2024-0117</b> charges USD 1,250.00 for the Team plan, but our contract says 10 seats at USD 95.00, so USD 950.00. Could you send a corrected invoice? Our payment run is on Friday.</p><p>Thanks,<br>Carla Mendes</p>",
            "MessageDate": crate::db::format_datetime(invoice_time),
            "MessageIdentifier": "<CAF7x9Q2@mail.globex.example>",
        }))?;

        let export = case(
            self,
            &customer,
            days(1) + hours(4),
            json!({
                "Subject": "How do I export all our project data?",
                "Description": "We need a full export of our projects, tasks and comments for our quarterly audit. Is there a way to get everything as CSV in one go?",
                "Origin": "Web", "Priority": "Medium", "Status": "New",
                "ContactId": dmitri, "AccountId": initech, "OwnerId": agent,
                "SuppliedEmail": "dmitri.volkov@initech.example", "SuppliedName": "Dmitri Volkov", "SuppliedCompany": "Initech",
            }),
        )?;
        let post = self.create(
            "FeedItem",
            &customer,
            days(1) + hours(4),
            json!({
                "ParentId": export, "Type": "TextPost", "IsRichText": false, "Visibility": "AllUsers",
                "Body": "The audit deadline is next Wednesday, so we need the export by Monday at the latest.",
            }),
        )?;
        self.create(
            "FeedComment",
            &customer,
            days(1) + hours(3),
            json!({
                "FeedItemId": post,
                "CommentBody": "Adding to this: we need the file attachments too, not only the records.",
            }),
        )?;

        let crash = case(
            self,
            &guest,
            hours(20),
            json!({
                "Subject": "iOS app crashes when I open Reports",
                "Description": "Since this morning's update (version 4.12.0) the iPhone app closes as soon as I tap the Reports tab. iPhone 14, iOS 17.4. Reinstalling did not help.",
                "Origin": "Web", "Priority": "High", "Status": "New", "Type": "Electronic",
                "ContactId": ben, "AccountId": northwind, "OwnerId": agent,
                "SuppliedEmail": "ben.okafor@northwind.example", "SuppliedName": "Ben Okafor",
            }),
        )?;
        let screenshot = self.create(
            "ContentVersion",
            &guest,
            hours(20),
            json!({
                "Title": "crash-screenshot", "PathOnClient": "crash-screenshot.png",
                "VersionData": BASE64.encode(CRASH_SCREENSHOT_PNG), "FirstPublishLocationId": crash,
            }),
        )?;
        let document = self
            .field("ContentVersion", &screenshot, "ContentDocumentId")
            .ok_or("seed: the screenshot has no ContentDocument")?;
        self.create("FeedItem", &guest, hours(20) - minutes(1), json!({
            "ParentId": crash, "Type": "TextPost", "IsRichText": true, "Visibility": "AllUsers",
            "Body": format!("<p>The app closes as soon as I tap <b>Reports</b>. Here is what I see just before:</p><p><img src=\"sfdc://{document}\" alt=\"crash-screenshot.png\"></img></p>"),
        }))?;
        let attachment = self.create("Attachment", &guest, hours(20) - minutes(2), json!({
            "ParentId": crash, "Name": "crash-log.txt", "ContentType": "text/plain",
            "Body": BASE64.encode("2024-03-18 08:14:07.221 Reports[4121:88213] *** Terminating app due to uncaught exception 'NSRangeException', reason: 'index 3 beyond bounds [0 .. 2]'\n"),
        }))?;
        out.screenshot_content_version_id = Some(screenshot);
        out.screenshot_content_document_id = Some(document);
        out.attachment_id = Some(attachment);

        let address = case(
            self,
            &handoff,
            hours(6),
            json!({
                "Subject": "New shipping address won't save",
                "Description": "Eva called: when she saves the new practice address in Settings > Shipping, the page reloads with the old address. Tried Chrome and Edge.",
                "Origin": "Phone", "Priority": "Low", "Status": "Working",
                "ContactId": eva, "AccountId": umbrella, "OwnerId": agent,
            }),
        )?;
        self.create(
            "CaseComment",
            &handoff,
            hours(6) - minutes(5),
            json!({
                "ParentId": address, "IsPublished": false,
                "CommentBody": "Customer called in, reproduced on her side twice. Assigned to Fin for a first answer.",
            }),
        )?;

        let seats = case(
            self,
            &guest,
            minutes(40),
            json!({
                "Subject": "Add 5 more seats to our plan",
                "Description": "We are onboarding five new buyers next week. Please add 5 seats to our Team plan and tell me how the charge is prorated.",
                "Origin": "Web", "Priority": "Medium", "Status": "New",
                "ContactId": farah, "AccountId": globex, "OwnerId": agent,
                "SuppliedEmail": "farah.haddad@globex.example", "SuppliedName": "Farah Haddad",
            }),
        )?;
        out.agent_case_ids =
            vec![password.clone(), invoice.clone(), export.clone(), crash.clone(), address, seats.clone()];
        out.email_case_id = Some(invoice.clone());
        out.chatter_case_id = Some(export.clone());
        out.screenshot_case_id = Some(crash.clone());

        // ---- a closed case and one already handed off ----
        let closed = case(
            self,
            &guest,
            days(6),
            json!({
                "Subject": "Two-factor codes arrive late",
                "Description": "The SMS codes take 3-4 minutes to arrive and expire before I can use them.",
                "Origin": "Web", "Priority": "Medium", "Status": "New",
                "ContactId": george, "AccountId": initech, "OwnerId": agent,
            }),
        )?;
        self.update(
            "Case",
            &closed,
            &agent,
            json!({"Status": "Closed", "FinInvolved__c": true, "FinResolutionState__c": "Hard Resolution"}),
        )?;
        out.closed_case_id = Some(closed);
        let queued = case(
            self,
            &guest,
            days(4),
            json!({
                "Subject": "Migrating 40,000 records from our old CRM",
                "Description": "We want to move our history from our old CRM. Can your team help with the mapping?",
                "Origin": "Web", "Priority": "Medium", "Status": "Escalated",
                "ContactId": amelia, "AccountId": northwind, "OwnerId": queue,
            }),
        )?;
        out.queued_case_id = Some(queued);

        // ---- topics ----
        let topic = |s: &mut Self, name: &str| s.create("Topic", &admin, days(10), json!({"Name": name}));
        let billing = topic(self, "Billing")?;
        let login = topic(self, "Login")?;
        let mobile = topic(self, "Mobile App")?;
        let data_export = topic(self, "Data Export")?;
        for (topic_id, entity) in
            [(&billing, &invoice), (&billing, &seats), (&login, &password), (&mobile, &crash), (&data_export, &export)]
        {
            self.create("TopicAssignment", &agent, hours(1), json!({"TopicId": topic_id, "EntityId": entity}))?;
        }

        // ---- sales records, for the profile view and lead matching ----
        let renewal = self.create(
            "Opportunity",
            &handoff,
            days(9),
            json!({
                "Name": "Northwind Traders - Renewal 2025", "AccountId": northwind, "StageName": "Negotiation/Review",
                "Amount": 24000, "CloseDate": (self.now + days(21)).format("%Y-%m-%d").to_string(), "OwnerId": handoff,
            }),
        )?;
        self.create(
            "OpportunityContactRole",
            &handoff,
            days(9),
            json!({"OpportunityId": renewal, "ContactId": amelia, "Role": "Decision Maker", "IsPrimary": true}),
        )?;
        self.create(
            "Opportunity",
            &handoff,
            days(8),
            json!({
                "Name": "Globex - Team plan expansion", "AccountId": globex, "StageName": "Qualification",
                "Amount": 5700, "CloseDate": (self.now + days(40)).format("%Y-%m-%d").to_string(), "OwnerId": handoff,
            }),
        )?;
        self.create("Lead", &admin, days(2), json!({
            "FirstName": "Hana", "LastName": "Kowalski", "Company": "Vandelay Industries", "Email": "hana.kowalski@vandelay.example",
            "LeadSource": "Web", "OwnerId": lead_queue,
        }))?;
        self.create("Lead", &admin, days(1), json!({
            "FirstName": "Ivan", "LastName": "Petrov", "Company": "Stark Logistics", "Email": "ivan.petrov@stark-logistics.example",
            "LeadSource": "Partner Referral", "OwnerId": handoff,
        }))?;
        self.create(
            "Task",
            &handoff,
            days(1),
            json!({
                "Subject": "Call", "WhoId": amelia, "WhatId": northwind, "Status": "Completed", "Priority": "Normal",
                "Description": "Walked Amelia through the renewal quote.", "OwnerId": handoff,
            }),
        )?;
        Ok(())
    }

    fn profile(&self, name: &str) -> Result<String, String> {
        let soql = format!("SELECT Id FROM Profile WHERE Name = '{name}'");
        let ctx = crate::db::QueryContext { now: self.now, api_version: "59.0".into(), user_id: String::new() };
        let result = self.db.query(&soql, false, &ctx).map_err(|e| format!("seed: {e}"))?;
        result
            .records
            .first()
            .and_then(|r| r["Id"].as_str())
            .map(str::to_string)
            .ok_or(format!("seed: no profile {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn seeds_parse_from_their_cli_names() {
        assert_eq!("demo".parse::<Seed>(), Ok(Seed::Demo));
        assert_eq!("Empty".parse::<Seed>(), Ok(Seed::Empty));
        assert!("full".parse::<Seed>().is_err());
    }

    #[test]
    fn the_first_user_is_the_integration_user() {
        let mut db = Database::new(Schema::standard());
        let seeded = seed(&mut db, Seed::Empty, Utc::now()).unwrap();
        assert_eq!(seeded.integration_user_id, ids::new_id("005", 1));
        assert!(seeded.agent_user_id.is_none());
    }

    #[test]
    fn the_demo_seed_passes_validation() {
        let mut db = Database::new(Schema::standard());
        let seeded = seed(&mut db, Seed::Demo, Utc::now()).unwrap();
        assert_eq!(seeded.agent_case_ids.len(), 6);
        assert!(seeded.screenshot_content_document_id.as_deref().is_some_and(|d| d.starts_with("069")));
        let png =
            db.blob("ContentVersion", seeded.screenshot_content_version_id.as_deref().unwrap(), "VersionData").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
