//! Who can take a case in the org (A2): the users and queues an admin picks
//! the agent user and the hand-off target from.

use serde_json::Value;

use super::client::{ClientError, SalesforceClient};
use super::transport::Transport;

/// A user who can own cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChoice {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: Option<String>,
}

/// A queue that handles cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueChoice {
    pub id: String,
    pub name: String,
    pub developer_name: String,
}

/// Users who can own cases: active standard users (guests, portal and automated users cannot).
const ASSIGNABLE_USERS_SOQL: &str =
    "SELECT Id, Name, Username, Email FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Name";

/// Queues that handle cases.
const CASE_QUEUES_SOQL: &str = "SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND Id IN (SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Case') ORDER BY Name";

fn text(record: &Value, field: &str) -> Option<String> {
    record.get(field).and_then(Value::as_str).map(str::to_string)
}

/// The users who can own cases, by name.
pub fn assignable_users<T: Transport>(client: &mut SalesforceClient<T>) -> Result<Vec<UserChoice>, ClientError> {
    Ok(client
        .query(ASSIGNABLE_USERS_SOQL)?
        .iter()
        .filter_map(|r| {
            Some(UserChoice {
                id: text(r, "Id")?,
                name: text(r, "Name").unwrap_or_default(),
                username: text(r, "Username").unwrap_or_default(),
                email: text(r, "Email"),
            })
        })
        .collect())
}

/// The queues that handle cases, by name.
pub fn case_queues<T: Transport>(client: &mut SalesforceClient<T>) -> Result<Vec<QueueChoice>, ClientError> {
    Ok(client
        .query(CASE_QUEUES_SOQL)?
        .iter()
        .filter_map(|r| {
            Some(QueueChoice {
                id: text(r, "Id")?,
                name: text(r, "Name").unwrap_or_default(),
                developer_name: text(r, "DeveloperName").unwrap_or_default(),
            })
        })
        .collect())
}
