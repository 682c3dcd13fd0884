//! Conversions between the newest contract and older ones, so a component
//! built against an older version runs on the same capabilities and its
//! answers reach host code in the newest types.
//!
//! Values whose shape did not change between two versions cross through
//! their serde form (both versions' generated types derive it, with the
//! same names); what changed is converted by hand, next to the change.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// `value` as the same-shaped type of another version.
pub(crate) fn same_shape<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    Ok(serde_json::from_value(json)?)
}

/// `value` as another version's type after `adjust` changed its serde form.
fn reshaped<A: Serialize, B: DeserializeOwned>(
    value: &A,
    adjust: impl FnOnce(&mut serde_json::Value),
) -> wasmtime::Result<B> {
    let mut json = serde_json::to_value(value)?;
    adjust(&mut json);
    Ok(serde_json::from_value(json)?)
}

/// `casebridge:connector@0.2.0`: its imports are 0.2.2's (see
/// `bindings::v0_2_2`: the interfaces that changed since only grew); only
/// what its exports define needs crossing.
pub mod v0_2_0 {
    use super::same_shape;
    use crate::bindings::org;

    /// A 0.2.0 export's answer in the newest types.
    pub fn answer<A: serde::Serialize, B: serde::de::DeserializeOwned>(
        result: Result<A, org::SyncError>,
    ) -> super::super::calls::Call<B> {
        match result {
            Ok(value) => Ok(Ok(same_shape(&value)?)),
            Err(error) => Ok(Err(error)),
        }
    }
}

/// `casebridge:connector@0.1.0`: the org's settings as one `org-config`
/// record per call, Cases only, no platform records.
pub mod v0_1_0 {
    use super::{reshaped, same_shape};
    use crate::GuestState;
    use crate::bindings::v0_1_0::casebridge::connector as old;
    use crate::bindings::v0_1_0::exports::casebridge::connector as old_exports;
    use crate::bindings::{describe, org, sync, types};
    use crate::capabilities::{Capabilities, OrgSettings};

    /// The `org-config` record a 0.1.0 component is called with.
    pub fn org_config(settings: &OrgSettings) -> old::org::OrgConfig {
        use crate::bindings::settings::{HandOffTarget, ReplyChannel};
        old::org::OrgConfig {
            name: settings.name.clone(),
            login_url: settings.login_url.clone(),
            api_version: settings.api_version.clone(),
            credentials: old::org::Credentials {
                client_id: settings.credentials.client_id.clone(),
                client_secret: settings.credentials.client_secret.clone(),
                refresh_token: settings.credentials.refresh_token.clone(),
            },
            agent_user_id: settings.agent_user_id.clone(),
            hand_off: match &settings.hand_off {
                HandOffTarget::Queue(id) => old::org::HandOffTarget::Queue(id.clone()),
                HandOffTarget::User(id) => old::org::HandOffTarget::User(id.clone()),
            },
            reply_as: match settings.reply_as {
                ReplyChannel::CaseComment => old::org::ReplyChannel::CaseComment,
                ReplyChannel::FeedPost => old::org::ReplyChannel::FeedPost,
            },
            involved_field: settings.involved_field.clone(),
            resolution_state_field: settings.resolution_state_field.clone(),
            topics: settings.topics.clone(),
            daily_api_budget: settings.daily_api_budget,
            poll_overlap_seconds: settings.poll_overlap_seconds,
            resolution_timeouts: old::types::Timeouts {
                soft_resolution_after_ms: settings.resolution_timeouts.soft_resolution_after_ms,
                abandoned_after_ms: settings.resolution_timeouts.abandoned_after_ms,
            },
            // 0.1.0 had no two-way sync; its hosts always passed none.
            mappings: Vec::new(),
        }
    }

    /// A 0.1.0 error in the newest form. Its `api-limit` did not say which
    /// limit ran out nor when it resets: it reads as the org's limit.
    pub fn sync_error<T>(result: Result<T, old::org::SyncError>) -> Result<T, org::SyncError> {
        result.map_err(|error| match error {
            old::org::SyncError::Unsupported(m) => org::SyncError::Unsupported(m),
            old::org::SyncError::InvalidConfig(m) => org::SyncError::InvalidConfig(m),
            old::org::SyncError::ReconnectRequired(m) => org::SyncError::ReconnectRequired(m),
            old::org::SyncError::ApiLimit(usage) => org::SyncError::ApiLimit(org::ApiLimit {
                kind: org::LimitKind::OrgLimit,
                usage: org::ApiUsage { used: usage.used, max: usage.max },
                resets_at: None,
            }),
            old::org::SyncError::Salesforce(e) => org::SyncError::Salesforce(org::ApiError {
                status: e.status,
                code: e.code,
                message: e.message,
                fields: e.fields,
            }),
            old::org::SyncError::Transport(m) => org::SyncError::Transport(m),
            old::org::SyncError::MalformedResponse(m) => org::SyncError::MalformedResponse(m),
            old::org::SyncError::Storage(m) => org::SyncError::Storage(m),
            old::org::SyncError::Host(m) => org::SyncError::Host(m),
        })
    }

    /// A 0.1.0 answer whose value has the newest shape already.
    pub fn answer<A: serde::Serialize, B: serde::de::DeserializeOwned>(
        result: Result<A, old::org::SyncError>,
    ) -> super::super::calls::Call<B> {
        match sync_error(result) {
            Ok(value) => Ok(Ok(same_shape(&value)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    /// A 0.1.0 cycle report: it counted no platform records.
    pub fn report(
        result: Result<old_exports::sync::CycleReport, old::org::SyncError>,
    ) -> super::super::calls::Call<sync::CycleReport> {
        match sync_error(result) {
            Ok(report) => Ok(Ok(reshaped(&report, |json| {
                for count in ["records_to_salesforce", "records_to_platform", "records_linked"] {
                    json[count] = 0.into();
                }
            })?)),
            Err(error) => Ok(Err(error)),
        }
    }

    /// 0.1.0 catalogs: describe results had no `defaulted-on-create`, read
    /// as false (the conservative answer: the field must be given).
    pub fn catalogs(
        result: Result<Vec<old::describe::ObjectCatalog>, old::org::SyncError>,
    ) -> super::super::calls::Call<Vec<describe::ObjectCatalog>> {
        match sync_error(result) {
            Ok(catalogs) => Ok(Ok(reshaped(&catalogs, |json| {
                for catalog in json.as_array_mut().into_iter().flatten() {
                    for field in catalog["fields"].as_array_mut().into_iter().flatten() {
                        field["descriptor"]["defaulted_on_create"] = false.into();
                    }
                }
            })?)),
            Err(error) => Ok(Err(error)),
        }
    }

    /// A 0.1.0 conversation (always a case) in the newest form.
    pub fn conversation_to_latest(conversation: old::types::Conversation) -> types::Conversation {
        types::Conversation {
            id: conversation.id,
            channel: types::Channel::SalesforceCase,
            platform_id: None,
            case_number: Some(conversation.case_number),
            subject: conversation.subject,
            origin: conversation.origin,
            attributes: convert_list(&conversation.attributes),
            person: convert_list(&conversation.person),
            company: convert_list(&conversation.company),
            parts: convert_list(&conversation.parts),
            resolution: same_shape(&conversation.resolution).unwrap_or(types::ResolutionState::None),
        }
    }

    /// Items of a type whose shape is the same in both versions; an item
    /// that cannot cross (a non-finite decimal has no serde form) is left out.
    fn convert_list<A: serde::Serialize, B: serde::de::DeserializeOwned>(items: &[A]) -> Vec<B> {
        items.iter().filter_map(|item| same_shape(item).ok()).collect()
    }

    fn capabilities(state: &GuestState) -> &Capabilities {
        &state.capabilities
    }

    // The 0.1.0 imports, served by the same capabilities as the newest ones.

    impl old::store::Host for GuestState {
        async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, old::store::StoreError>> {
            let answer = crate::bindings::store::Host::get(self, key).await?;
            Ok(match answer {
                Ok(value) => Ok(value),
                Err(error) => Err(same_shape(&error)?),
            })
        }

        async fn scan(
            &mut self,
            prefix: String,
        ) -> wasmtime::Result<Result<Vec<old::store::Entry>, old::store::StoreError>> {
            let answer = crate::bindings::store::Host::scan(self, prefix).await?;
            Ok(match answer {
                Ok(entries) => Ok(same_shape(&entries)?),
                Err(error) => Err(same_shape(&error)?),
            })
        }

        async fn commit(
            &mut self,
            expect: Vec<old::store::Expectation>,
            writes: Vec<old::store::Write>,
        ) -> wasmtime::Result<Result<(), old::store::StoreError>> {
            let answer = crate::bindings::store::Host::commit(self, same_shape(&expect)?, same_shape(&writes)?).await?;
            Ok(match answer {
                Ok(()) => Ok(()),
                Err(error) => Err(same_shape(&error)?),
            })
        }
    }

    impl old::agent::Host for GuestState {
        async fn respond(
            &mut self,
            conversation: old::types::Conversation,
        ) -> wasmtime::Result<Result<old::agent::Turn, old::agent::AgentError>> {
            let agent = capabilities(self).agent.clone();
            let answer = agent.respond(&self.capabilities.org, conversation_to_latest(conversation)).await;
            Ok(match answer {
                Ok(turn) => Ok(same_shape(&turn)?),
                Err(error) => Err(same_shape(&error)?),
            })
        }
    }

    impl old::mail::Host for GuestState {
        async fn send(
            &mut self,
            idempotency_key: String,
            message: old::mail::Email,
        ) -> wasmtime::Result<Result<old::mail::Sent, old::mail::MailError>> {
            let answer = crate::bindings::mail::Host::send(self, idempotency_key, same_shape(&message)?).await?;
            Ok(match answer {
                Ok(sent) => Ok(same_shape(&sent)?),
                Err(error) => Err(same_shape(&error)?),
            })
        }
    }

    impl old::log::Host for GuestState {
        async fn write(
            &mut self,
            level: old::log::Level,
            message: String,
            fields: Vec<(String, String)>,
        ) -> wasmtime::Result<()> {
            crate::bindings::log::Host::write(self, same_shape(&level)?, message, fields).await
        }
    }

    impl old::types::Host for GuestState {}
    impl old::describe::Host for GuestState {}
    impl old::contacts::Host for GuestState {}
    impl old::org::Host for GuestState {}
}
