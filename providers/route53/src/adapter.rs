//! How the controller registers the Route 53 adapter: its `kind`, its capabilities before an
//! instance exists, and how it is built ([`dnsfailback_provider::Adapter`]).

use dnsfailback_provider::{Adapter, BuildContext, Capabilities, ProviderError, RecordTypes};

use crate::config::Config;
use crate::provider::Route53Provider;
use crate::request::{MAX_RECORDS_PER_BATCH, MAX_WEIGHT};

impl Adapter for Route53Provider {
    const KIND: &'static str = "route53";

    /// See the capabilities table in docs/providers/route53.md: weighted record sets (weight =
    /// share), one transactional ChangeBatch (exact DELETE + CREATE = compare-and-swap),
    /// `GetChange` until `INSYNC`; no SOA read.
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: true,
        max_weight: MAX_WEIGHT,
        atomic_batch: true,
        ttl_per_record: true,
        min_ttl: 0,
        change_status: true,
        prerequisites: true,
        soa: false,
        max_batch_records: MAX_RECORDS_PER_BATCH,
        record_types: RecordTypes::ALL,
    };

    type Config = Config;

    /// Resolves credentials (config, `AWS_*` variables or shared files); sends nothing.
    fn from_config(
        name: &str,
        config: Config,
        _context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        Route53Provider::new(name, config)
    }
}
