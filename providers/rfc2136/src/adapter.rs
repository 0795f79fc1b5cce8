//! How the controller registers the RFC 2136 adapter: its `kind`, its capabilities before an
//! instance exists, and how it is built ([`dnsfailback_provider::Adapter`]).

use dnsfailback_provider::{Adapter, BuildContext, Capabilities, ProviderError, RecordTypes};

use crate::config::Config;
use crate::provider::Rfc2136Provider;
use crate::MAX_UPDATE_RECORDS;

impl Adapter for Rfc2136Provider {
    const KIND: &'static str = "rfc2136";

    /// One UPDATE with prerequisites (atomic, compare-and-swap), secondaries checked for the
    /// new serial (change status), SOA read. No weights: DNS has none outside SRV, so canary
    /// splits are 0/50/100 % by record membership.
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: false,
        max_weight: 0,
        atomic_batch: true,
        ttl_per_record: true,
        min_ttl: 0,
        change_status: true,
        prerequisites: true,
        soa: true,
        max_batch_records: MAX_UPDATE_RECORDS,
        record_types: RecordTypes::ALL,
    };

    type Config = Config;

    /// Loads the TSIG secret (unless `insecure = true`); sends nothing.
    fn from_config(
        name: &str,
        config: Config,
        _context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        Rfc2136Provider::new(name, config)
    }
}
