//! [`Adapter`]: how the controller finds, checks and builds a provider from its
//! `[providers.NAME]` table.
//!
//! [`crate::Provider`] is what an instance does once built; this trait is what an adapter
//! declares *before* any instance exists: the `kind` users write, its settings type, what an
//! instance with given settings can do ([`Adapter::capabilities_of`], the same function its
//! [`crate::Provider::capabilities`] returns, so validation and run time cannot disagree), and
//! how to construct one. The controller registers each adapter with one line
//! (`Registration::of::<XProvider>()` in its `src/providers/registry.rs`) and never names an
//! adapter anywhere else. Lives in the core crate because adapters never depend on the
//! controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::capability::Capabilities;
use crate::error::ProviderError;
use crate::provider::Provider;
use crate::record::Fqdn;

/// What the controller tells an adapter about its surroundings when it builds an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildContext {
    /// Zones of the configured services that use this instance (sorted, no duplicates). An
    /// adapter that serves zones itself (the embedded server) serves these.
    pub zones: Vec<Fqdn>,
    /// The controller's state file. An adapter that keeps files of its own puts them beside
    /// it, named `<state>.<instance>.<what>`, so one controller's files stay together.
    pub state_file: PathBuf,
}

/// Something an adapter runs inside the controller's process (the embedded DNS server): the
/// controller starts it before the store is opened and the first tick, and stops it last.
#[async_trait]
pub trait LocalServer: Send + Sync + 'static {
    /// Starts serving; returns the bound address (which differs from the configured one when
    /// its port is 0). Fails when the address is taken or the server already runs.
    async fn start(&self) -> Result<SocketAddr, ProviderError>;
    /// Stops serving and waits until the listeners are closed.
    async fn shutdown(&self);
}

/// An adapter the controller can register: see the module docs.
pub trait Adapter: Provider + Sized {
    /// The `kind` users write in `[providers.NAME]` (`"route53"`); unique among adapters, and
    /// the name of its documentation page `docs/providers/<kind>.md`.
    const KIND: &'static str;

    /// What an instance with default settings can do. The controller's registry shows it per
    /// kind (e.g. which kinds have weighted records, for a canary warning's fix text).
    const CAPABILITIES: Capabilities;

    /// The zone is served by the controller's own process, so several controllers sharing
    /// state (`[controller.etcd]`) would each serve their own copy; validation refuses that.
    const IN_PROCESS: bool = false;

    /// The settings table after `kind`, parsed with serde. Use `deny_unknown_fields` so a typo
    /// is an error, not a silent default.
    type Config: DeserializeOwned;

    /// What an instance with `config` can do, computed without building it (configuration
    /// validation runs before any provider exists). [`crate::Provider::capabilities`] must
    /// return exactly this for the config it was built from; the controller's registry test
    /// checks that for every registered adapter.
    fn capabilities_of(_config: &Self::Config) -> Capabilities {
        Self::CAPABILITIES
    }

    /// Builds an instance named `name`: loads secrets and prepares clients, but sends nothing.
    fn from_config(
        name: &str,
        config: Self::Config,
        context: &BuildContext,
    ) -> Result<Self, ProviderError>;

    /// The part of this instance the controller must start and stop, if it runs one in the
    /// controller's process (see [`LocalServer`]).
    fn local_server(_this: &Arc<Self>) -> Option<Arc<dyn LocalServer>> {
        None
    }
}
