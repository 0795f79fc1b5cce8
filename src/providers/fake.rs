//! Test adapters, so tests can show that validation follows a registration's capabilities and
//! the registry's list, not adapter names.
//!
//! [`Fake<true>`] registers as `weighty` (weighted records), [`Fake<false>`] as `plain`
//! (none). Both take `min_ttl` and `record_types` from their settings table and are built
//! offline over the strict [`MemoryProvider`].

use async_trait::async_trait;
use dnsfailback_provider::memory::MemoryProvider;
use dnsfailback_provider::{
    Adapter, ApplyReceipt, BuildContext, Capabilities, ChangeSet, Fqdn, Provider, ProviderError,
    RecordSet, RecordType, RecordTypes,
};
use serde::Deserialize;

use super::{Registration, Registry};

/// The registry of the two fakes: `plain`, then `weighty`.
pub(crate) static FAKES: Registry = Registry::new(FAKE_ADAPTERS);
static FAKE_ADAPTERS: &[Registration] = &[
    Registration::of::<Fake<false>>(),
    Registration::of::<Fake<true>>(),
];

/// A test adapter with (`WEIGHTED = true`) or without weighted records.
pub(crate) struct Fake<const WEIGHTED: bool>(MemoryProvider);

/// Settings of a fake: the capabilities that tests vary per instance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FakeConfig {
    #[serde(default = "one")]
    min_ttl: u32,
    /// Default: every type.
    #[serde(default)]
    record_types: Option<Vec<RecordType>>,
}

fn one() -> u32 {
    1
}

impl<const WEIGHTED: bool> Adapter for Fake<WEIGHTED> {
    const KIND: &'static str = if WEIGHTED { "weighty" } else { "plain" };
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: WEIGHTED,
        max_weight: if WEIGHTED { 255 } else { 0 },
        ..Capabilities::CONSERVATIVE
    };
    type Config = FakeConfig;

    fn capabilities_of(config: &FakeConfig) -> Capabilities {
        Capabilities {
            min_ttl: config.min_ttl,
            record_types: match &config.record_types {
                Some(types) => types.iter().copied().collect(),
                None => RecordTypes::ALL,
            },
            ..Self::CAPABILITIES
        }
    }

    fn from_config(
        name: &str,
        config: FakeConfig,
        context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        let caps = Self::capabilities_of(&config);
        Ok(Fake(
            MemoryProvider::new(name, &context.zones).with_capabilities(caps),
        ))
    }
}

#[async_trait]
impl<const WEIGHTED: bool> Provider for Fake<WEIGHTED> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        self.0.read(zone, name, rtype).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        self.0.apply(changes).await
    }
}
