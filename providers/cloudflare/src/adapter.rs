//! How the controller registers the Cloudflare adapter: its `kind`, its capabilities (which
//! follow three settings: `batch`, `min_ttl`, `max_batch_size`), and how it is built
//! ([`dnsfailback_provider::Adapter`]).

use dnsfailback_provider::{Adapter, BuildContext, Capabilities, ProviderError, RecordTypes};

use crate::config::{Config, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MIN_TTL};
use crate::provider::CloudflareProvider;

impl Adapter for CloudflareProvider {
    const KIND: &'static str = "cloudflare";

    /// With default settings. No weights (plain DNS records have none, so canary splits are
    /// 0/50/100 % by record membership), atomic batches, no compare-and-swap (the adapter
    /// re-reads right before writing), no change status, no SOA read.
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: false,
        max_weight: 0,
        atomic_batch: true,
        ttl_per_record: true,
        min_ttl: DEFAULT_MIN_TTL,
        change_status: false,
        prerequisites: false,
        soa: false,
        max_batch_records: DEFAULT_MAX_BATCH_SIZE,
        record_types: RecordTypes::ALL,
    };

    type Config = Config;

    /// `batch = false` gives up atomicity; `min_ttl` and `max_batch_size` are the account's.
    fn capabilities_of(config: &Config) -> Capabilities {
        Capabilities {
            atomic_batch: config.batch,
            min_ttl: config.min_ttl,
            max_batch_records: config.max_batch_size,
            ..Self::CAPABILITIES
        }
    }

    /// Validates the settings and loads the API token; sends nothing.
    fn from_config(
        name: &str,
        config: Config,
        _context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        CloudflareProvider::new(name, config)
    }
}
