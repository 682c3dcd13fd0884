//! The exports a host calls, in the newest contract's types, whatever
//! version the component implements. A 0.2.0 component shares every type
//! with 0.2.1 but those its exports define, which cross by their serde form.

use wasmtime::Store;

use crate::bindings::{contacts, crm, describe, latest, messenger, org, streaming, sync, types};
use crate::compat::v0_1_0 as old;
use crate::compat::v0_2_0::answer as from_0_2_0;
use crate::{ContractVersion, GuestState, VersionedConnector};

/// What a call returns: a trap or host failure outside, the connector's own
/// answer inside.
pub type Call<T> = wasmtime::Result<Result<T, org::SyncError>>;

/// One live instance of the connector, for one org.
pub struct GuestInstance {
    pub store: Store<GuestState>,
    pub(crate) connector: VersionedConnector,
}

impl GuestInstance {
    /// The contract version of the instance's component.
    pub fn version(&self) -> ContractVersion {
        match self.connector {
            VersionedConnector::V0_1_0(_) => ContractVersion::V0_1_0,
            VersionedConnector::V0_2_0(_) => ContractVersion::V0_2_0,
            VersionedConnector::V0_2_1(_) => ContractVersion::V0_2_1,
            VersionedConnector::V0_2_2(_) => ContractVersion::V0_2_2,
            VersionedConnector::V0_2_3(_) => ContractVersion::V0_2_3,
            VersionedConnector::V0_2_4(_) => ContractVersion::V0_2_4,
        }
    }

    /// The newest contract's bindings, for calls that exist only there (the
    /// pure exports, `crm`); `None` for an older component.
    pub fn latest(&mut self) -> Option<(&latest::Connector, &mut Store<GuestState>)> {
        match &self.connector {
            VersionedConnector::V0_2_4(connector) => Some((connector, &mut self.store)),
            _ => None,
        }
    }

    /// `sync.run-cycle`.
    pub async fn run_cycle(&mut self) -> Call<sync::CycleReport> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_run_cycle(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_run_cycle(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_run_cycle(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_run_cycle(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_run_cycle(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::report(c.casebridge_connector_sync().call_run_cycle(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-users`.
    pub async fn list_users(&mut self) -> Call<Vec<sync::UserChoice>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_users(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_users(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_list_users(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_users(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_users(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_users(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-queues`.
    pub async fn list_queues(&mut self) -> Call<Vec<sync::QueueChoice>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_queues(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_queues(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_list_queues(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_queues(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_queues(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_queues(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-conversations`.
    pub async fn list_conversations(&mut self) -> Call<Vec<sync::ConversationSummary>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_conversations(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_conversations(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => {
                c.casebridge_connector_sync().call_list_conversations(&mut self.store).await
            }
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_conversations(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_conversations(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_conversations(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.get-conversation`.
    pub async fn get_conversation(&mut self, case_id: &str) -> Call<Option<types::Conversation>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                c.casebridge_connector_sync().call_get_conversation(&mut self.store, case_id).await
            }
            VersionedConnector::V0_2_3(c) => {
                c.casebridge_connector_sync().call_get_conversation(&mut self.store, case_id).await
            }
            VersionedConnector::V0_2_4(c) => {
                c.casebridge_connector_sync().call_get_conversation(&mut self.store, case_id).await
            }
            VersionedConnector::V0_2_0(c) => {
                c.casebridge_connector_sync().call_get_conversation(&mut self.store, case_id).await
            }
            VersionedConnector::V0_2_1(c) => {
                c.casebridge_connector_sync().call_get_conversation(&mut self.store, case_id).await
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                let answer =
                    c.casebridge_connector_sync().call_get_conversation(&mut self.store, &config, case_id).await?;
                Ok(old::sync_error(answer).map(|found| found.map(old::conversation_to_latest)))
            }
        }
    }

    /// `sync.list-errors`.
    pub async fn list_errors(&mut self) -> Call<Vec<sync::RecordError>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_errors(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_errors(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_list_errors(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_errors(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_errors(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_errors(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.retry-error`.
    pub async fn retry_error(&mut self, error_id: &str) -> Call<()> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                c.casebridge_connector_sync().call_retry_error(&mut self.store, error_id).await
            }
            VersionedConnector::V0_2_3(c) => {
                c.casebridge_connector_sync().call_retry_error(&mut self.store, error_id).await
            }
            VersionedConnector::V0_2_4(c) => {
                c.casebridge_connector_sync().call_retry_error(&mut self.store, error_id).await
            }
            VersionedConnector::V0_2_0(c) => {
                c.casebridge_connector_sync().call_retry_error(&mut self.store, error_id).await
            }
            VersionedConnector::V0_2_1(c) => {
                c.casebridge_connector_sync().call_retry_error(&mut self.store, error_id).await
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                Ok(old::sync_error(
                    c.casebridge_connector_sync().call_retry_error(&mut self.store, &config, error_id).await?,
                ))
            }
        }
    }

    /// `sync.list-fields`.
    pub async fn list_fields(&mut self) -> Call<Vec<describe::ObjectCatalog>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_fields(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_fields(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_list_fields(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_fields(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_list_fields(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                let answer = c.casebridge_connector_sync().call_list_fields(&mut self.store, &config).await?;
                old::catalogs(answer)
            }
        }
    }

    /// `sync.check-mappings`; a 0.1.0 component had no mappings: none can fail.
    pub async fn check_mappings(&mut self) -> Call<Vec<sync::MappingProblem>> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_check_mappings(&mut self.store).await?)
            }
            VersionedConnector::V0_2_3(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_check_mappings(&mut self.store).await?)
            }
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_sync().call_check_mappings(&mut self.store).await,
            VersionedConnector::V0_2_0(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_check_mappings(&mut self.store).await?)
            }
            VersionedConnector::V0_2_1(c) => {
                from_0_2_0(c.casebridge_connector_sync().call_check_mappings(&mut self.store).await?)
            }
            VersionedConnector::V0_1_0(_) => Ok(Ok(Vec::new())),
        }
    }

    /// `sync.add-field`, `sync.remove-field` or `sync.resync-field`.
    pub async fn change_field(
        &mut self,
        change: FieldChange,
        object: &str,
        field: &str,
    ) -> Call<describe::ObjectCatalog> {
        match &self.connector {
            VersionedConnector::V0_2_2(c) => {
                let sync = c.casebridge_connector_sync();
                match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, object, field).await,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, object, field).await,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, object, field).await,
                }
            }
            VersionedConnector::V0_2_3(c) => {
                let sync = c.casebridge_connector_sync();
                match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, object, field).await,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, object, field).await,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, object, field).await,
                }
            }
            VersionedConnector::V0_2_4(c) => {
                let sync = c.casebridge_connector_sync();
                match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, object, field).await,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, object, field).await,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, object, field).await,
                }
            }
            VersionedConnector::V0_2_0(c) => {
                let sync = c.casebridge_connector_sync();
                match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, object, field).await,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, object, field).await,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, object, field).await,
                }
            }
            VersionedConnector::V0_2_1(c) => {
                let sync = c.casebridge_connector_sync();
                match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, object, field).await,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, object, field).await,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, object, field).await,
                }
            }
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                let sync = c.casebridge_connector_sync();
                let answer = match change {
                    FieldChange::Add => sync.call_add_field(&mut self.store, &config, object, field).await?,
                    FieldChange::Remove => sync.call_remove_field(&mut self.store, &config, object, field).await?,
                    FieldChange::Resync => sync.call_resync_field(&mut self.store, &config, object, field).await?,
                };
                old::catalogs(answer.map(|catalog| vec![catalog]))
                    .map(|result| result.map(|mut catalogs| catalogs.remove(0)))
            }
        }
    }
}

/// A change to an object's field catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldChange {
    /// Sync the field.
    Add,
    /// Stop syncing it.
    Remove,
    /// Re-read its allowed values.
    Resync,
}

/// What a CRM call returns: a trap or host failure outside, the connector's
/// own answer inside.
pub type CrmCall<T> = wasmtime::Result<Result<T, crm::CrmError>>;

/// Call a `crm` or `messenger` export (`$interface`) of a 0.2.2 or newer
/// component; a 0.2.2 answer crosses by its serde form (its export types are
/// its own). An older component answers `unsupported` (`$refused`).
macro_rules! export_call {
    ($self:ident, $interface:ident, $refused:expr, $call:ident($($arg:expr),*)) => {
        match &$self.connector {
            VersionedConnector::V0_2_4(c) => c.$interface().$call(&mut $self.store $(, $arg)*).await,
            VersionedConnector::V0_2_3(c) => {
                let answer = c.$interface().$call(&mut $self.store $(, $arg)*).await?;
                crate::compat::same_shape(&answer)
            }
            VersionedConnector::V0_2_2(c) => {
                let answer = c.$interface().$call(&mut $self.store $(, $arg)*).await?;
                crate::compat::same_shape(&answer)
            }
            _ => Ok(Err($refused($self.version()))),
        }
    };
}

fn no_crm(version: ContractVersion) -> crm::CrmError {
    crm::CrmError::Unsupported(format!(
        "the connector implements casebridge:connector@{version}, whose CRM actions this host does not call; load one built against 0.2.2 or later"
    ))
}

fn no_messenger(version: ContractVersion) -> org::SyncError {
    org::SyncError::Unsupported(format!(
        "the connector implements casebridge:connector@{version}, which has no messenger; load one built against 0.2.2 or later"
    ))
}

/// The `crm` exports (0.2.2 and later).
impl GuestInstance {
    /// `crm.profile`.
    pub async fn crm_profile(&mut self, person_id: &str) -> CrmCall<Option<crm::ProfileView>> {
        export_call!(self, casebridge_connector_crm, no_crm, call_profile(person_id))
    }

    /// `crm.create-lead`.
    pub async fn crm_create_lead(&mut self, key: &str, person_id: &str) -> CrmCall<crm::SavedRecord> {
        export_call!(self, casebridge_connector_crm, no_crm, call_create_lead(key, person_id))
    }

    /// `crm.create-case`.
    pub async fn crm_create_case(
        &mut self,
        key: &str,
        conversation_id: &str,
        fields: &[types::Attribute],
    ) -> CrmCall<crm::SavedRecord> {
        export_call!(self, casebridge_connector_crm, no_crm, call_create_case(key, conversation_id, fields))
    }

    /// `crm.log-task`.
    pub async fn crm_log_task(
        &mut self,
        key: &str,
        conversation_id: &str,
        part_id: Option<&str>,
    ) -> CrmCall<Vec<crm::SavedRecord>> {
        export_call!(self, casebridge_connector_crm, no_crm, call_log_task(key, conversation_id, part_id))
    }

    /// `crm.find-contact`.
    pub async fn crm_find_contact(&mut self, person_id: &str, query: Option<&str>) -> CrmCall<contacts::Outcome> {
        export_call!(self, casebridge_connector_crm, no_crm, call_find_contact(person_id, query))
    }

    /// `crm.link-contact`.
    pub async fn crm_link_contact(
        &mut self,
        key: &str,
        person_id: &str,
        contact_id: Option<&str>,
    ) -> CrmCall<crm::SavedRecord> {
        export_call!(self, casebridge_connector_crm, no_crm, call_link_contact(key, person_id, contact_id))
    }

    /// `crm.unlink-contact`.
    pub async fn crm_unlink_contact(&mut self, person_id: &str) -> CrmCall<()> {
        export_call!(self, casebridge_connector_crm, no_crm, call_unlink_contact(person_id))
    }

    /// `crm.flagged-cases`.
    pub async fn crm_flagged_cases(&mut self) -> CrmCall<Vec<crm::FlaggedCase>> {
        export_call!(self, casebridge_connector_crm, no_crm, call_flagged_cases())
    }
}

fn no_streaming(version: ContractVersion) -> org::SyncError {
    org::SyncError::Unsupported(format!(
        "the connector implements casebridge:connector@{version}, which has no streaming mode; load one built against 0.2.4 or later, or set mode = \"polling\""
    ))
}

/// The `streaming` exports (0.2.4 and later).
impl GuestInstance {
    /// `streaming.open`.
    pub async fn stream_open(&mut self) -> Call<streaming::StreamStep> {
        match &self.connector {
            VersionedConnector::V0_2_4(c) => c.casebridge_connector_streaming().call_open(&mut self.store).await,
            _ => Ok(Err(no_streaming(self.version()))),
        }
    }

    /// `streaming.deliver`.
    pub async fn stream_deliver(&mut self, answer: &streaming::HeldAnswer) -> Call<streaming::StreamStep> {
        match &self.connector {
            VersionedConnector::V0_2_4(c) => {
                c.casebridge_connector_streaming().call_deliver(&mut self.store, answer).await
            }
            _ => Ok(Err(no_streaming(self.version()))),
        }
    }
}

/// The `messenger` exports (0.2.2 and later).
impl GuestInstance {
    /// `messenger.relay`.
    pub async fn messenger_relay(&mut self, conversation_id: &str) -> Call<messenger::RelayReport> {
        export_call!(self, casebridge_connector_messenger, no_messenger, call_relay(conversation_id))
    }

    /// `messenger.live-conversations`.
    pub async fn messenger_live_conversations(&mut self) -> Call<Vec<String>> {
        export_call!(self, casebridge_connector_messenger, no_messenger, call_live_conversations())
    }
}
