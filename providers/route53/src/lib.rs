//! `dnsfailback-provider-route53`: the Amazon Route 53 adapter of dnsfailback.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify:
//! the controller hands it [`dnsfailback_provider::ChangeSet`]s and reads record sets back; it
//! never decides health, policy or timing.
//!
//! Module map:
//!
//! * [`config`]: [`Config`], the keys under `[providers.<instance>] kind = "route53"`;
//! * [`credentials`]: static AWS keys from the config, `AWS_*` variables or shared files;
//! * [`request`]: pure XML translation (ChangeBatch out; record sets, ChangeInfo, errors in),
//!   tested offline against fixtures;
//! * [`client`]: SigV4 signing (aws-sigv4), rate limiting (governor), retries (backon) over a
//!   pluggable [`client::Transport`] (reqwest in production);
//! * [`provider`]: [`Route53Provider`], the [`dnsfailback_provider::Provider`] implementation;
//! * `adapter`: its registration with the controller (`kind = "route53"`, capabilities before
//!   an instance exists; [`dnsfailback_provider::Adapter`]).
//!
//! The controller builds it through its provider registry
//! ([`dnsfailback_provider::Adapter::from_config`], which calls
//! `Route53Provider::new(instance_name, config)`). User documentation,
//! including the IAM policy and moto differences: `docs/providers/route53.md`.

mod adapter;
pub mod client;
pub mod config;
pub mod credentials;
pub mod provider;
pub mod request;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::Config;
pub use provider::{route53_capabilities, FailedApply, Route53Provider};
