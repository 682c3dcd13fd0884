//! The exports a host calls, in the newest contract's types, whatever
//! version the component implements.

use wasmtime::Store;

use crate::bindings::{describe, latest, org, sync, types};
use crate::compat::v0_1_0 as old;
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
        }
    }

    /// The newest contract's bindings, for calls that exist only there (the
    /// pure exports, `crm`); `None` for an older component.
    pub fn latest(&mut self) -> Option<(&latest::Connector, &mut Store<GuestState>)> {
        match &self.connector {
            VersionedConnector::V0_2_0(connector) => Some((connector, &mut self.store)),
            VersionedConnector::V0_1_0(_) => None,
        }
    }

    /// `sync.run-cycle`.
    pub async fn run_cycle(&mut self) -> Call<sync::CycleReport> {
        match &self.connector {
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_run_cycle(&mut self.store).await,
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::report(c.casebridge_connector_sync().call_run_cycle(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-users`.
    pub async fn list_users(&mut self) -> Call<Vec<sync::UserChoice>> {
        match &self.connector {
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_list_users(&mut self.store).await,
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_users(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-queues`.
    pub async fn list_queues(&mut self) -> Call<Vec<sync::QueueChoice>> {
        match &self.connector {
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_list_queues(&mut self.store).await,
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_queues(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.list-conversations`.
    pub async fn list_conversations(&mut self) -> Call<Vec<sync::ConversationSummary>> {
        match &self.connector {
            VersionedConnector::V0_2_0(c) => {
                c.casebridge_connector_sync().call_list_conversations(&mut self.store).await
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
            VersionedConnector::V0_2_0(c) => {
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
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_list_errors(&mut self.store).await,
            VersionedConnector::V0_1_0(c) => {
                let config = old::org_config(&self.store.data().capabilities.settings);
                old::answer(c.casebridge_connector_sync().call_list_errors(&mut self.store, &config).await?)
            }
        }
    }

    /// `sync.retry-error`.
    pub async fn retry_error(&mut self, error_id: &str) -> Call<()> {
        match &self.connector {
            VersionedConnector::V0_2_0(c) => {
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
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_list_fields(&mut self.store).await,
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
            VersionedConnector::V0_2_0(c) => c.casebridge_connector_sync().call_check_mappings(&mut self.store).await,
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
            VersionedConnector::V0_2_0(c) => {
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
