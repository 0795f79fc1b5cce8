//! How the controller registers the embedded server: its `kind`, its capabilities before an
//! instance exists, how it is built from the controller's context, and the DNS listener the
//! controller starts and stops ([`dnsfailback_provider::Adapter`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use dnsfailback_provider::{
    Adapter, BuildContext, Capabilities, LocalServer, ProviderError, RecordTypes,
};

use crate::config::CheckedConfig;
use crate::provider::EmbeddedProvider;

impl Adapter for EmbeddedProvider {
    const KIND: &'static str = "embedded";

    /// Weighted answers chosen per query, all-or-nothing applies with compare-and-swap, SOA
    /// served; changes are answered at once, so there is no change status.
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: true,
        max_weight: 255,
        atomic_batch: true,
        ttl_per_record: true,
        min_ttl: 1,
        change_status: false,
        prerequisites: true,
        soa: true,
        max_batch_records: 0,
        record_types: RecordTypes::ALL,
    };

    /// Each controller process answers from its own copy of the zones.
    const IN_PROCESS: bool = true;

    /// Parsed with the checks that need no zone list; the rest run in `from_config`.
    type Config = CheckedConfig;

    /// Serves the zones of the services that use this instance (plus any in `zones`), and
    /// persists them beside the controller's state (`<state>.<instance>.zones.json`) unless
    /// `data_file` is set.
    fn from_config(
        name: &str,
        config: CheckedConfig,
        context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        let CheckedConfig(mut config) = config;
        config.zones.extend(context.zones.iter().cloned());
        if config.data_file.is_none() && !context.state_file.as_os_str().is_empty() {
            let mut file = context.state_file.clone().into_os_string();
            file.push(format!(".{name}.zones.json"));
            config.data_file = Some(PathBuf::from(file));
        }
        EmbeddedProvider::new(name, config)
    }

    fn local_server(this: &Arc<Self>) -> Option<Arc<dyn LocalServer>> {
        Some(this.clone())
    }
}

#[async_trait]
impl LocalServer for EmbeddedProvider {
    async fn start(&self) -> Result<SocketAddr, ProviderError> {
        EmbeddedProvider::start(self).await
    }

    async fn shutdown(&self) {
        EmbeddedProvider::shutdown(self).await
    }
}
