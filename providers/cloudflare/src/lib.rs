//! `dnsfailback-provider-cloudflare`: the Cloudflare v4 DNS adapter.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify:
//! the controller hands it change sets and reads record sets back; the adapter never decides
//! health, policy or timing.
//!
//! Module map (the same file names as every dnsfailback adapter):
//!
//! * [`config`]: the `[providers.<instance>]` keys after `kind = "cloudflare"`;
//! * [`request`]: pure translation between record/change sets and Cloudflare JSON (batch
//!   bodies, per-record bodies, answers, error classification), unit-tested offline;
//! * [`client`]: HTTP with bearer token, governor rate limit, backon retries honouring
//!   `Retry-After`, and error bodies turned into clear [`ProviderError`]s;
//! * `provider`: [`CloudflareProvider`], the [`dnsfailback_provider::Provider`]
//!   implementation;
//! * `adapter`: its registration with the controller (`kind = "cloudflare"`, capabilities
//!   from the settings before an instance exists; [`dnsfailback_provider::Adapter`]).
//!
//! What Cloudflare can express is declared in `adapter.rs` (and returned by
//! [`Provider::capabilities`]): no weights (plain DNS
//! records have none, so canary splits are 0/50/100 % by record membership), atomic batches,
//! no compare-and-swap (the adapter re-reads right before writing), minimum TTL 60 (30 on
//! Enterprise), no change status. See `docs/providers/cloudflare.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dnsfailback_provider::ProviderError> {
//! use dnsfailback_provider::{Fqdn, Provider, RecordType};
//! use dnsfailback_provider_cloudflare::{CloudflareProvider, Config};
//!
//! let config: Config = toml::from_str(r#"api_token = { env = "CLOUDFLARE_API_TOKEN" }"#)
//!     .map_err(|e| dnsfailback_provider::ProviderError::new(
//!         "cf", dnsfailback_provider::ErrorKind::Invalid, e.to_string()))?;
//! let cf = CloudflareProvider::new("cf", config)?;
//! let zone = Fqdn::new("example.com").map_err(|e| dnsfailback_provider::ProviderError::new(
//!     "cf", dnsfailback_provider::ErrorKind::Invalid, e))?;
//! let sets = cf.read(&zone, &zone, RecordType::A).await?;
//! # let _ = sets; Ok(()) }
//! ```

mod adapter;
pub mod client;
pub mod config;
mod provider;
pub mod request;

#[doc(no_inline)]
pub use dnsfailback_provider::{Provider, ProviderError};

pub use config::Config;
pub use provider::CloudflareProvider;
