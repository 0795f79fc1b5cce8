//! `dnsfailback-provider-embedded`: the zero-setup default provider, an authoritative DNS
//! server inside the controller process.
//!
//! It sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** ->
//! verify, like every other adapter, but instead of calling a DNS service it *is* one: record
//! sets applied through the [`Provider`](dnsfailback_provider::Provider) trait are answered at
//! once over UDP and TCP, so `dig @127.0.0.1 -p 5353 shop.example.test` shows a failover the
//! moment it is applied.
//!
//! * [`config`]: the `[providers.<instance>]` keys ([`Config`]);
//! * [`EmbeddedProvider`] (`provider.rs`): the trait implementation, start and shutdown;
//! * `adapter.rs`: its registration with the controller (`kind = "embedded"`, capabilities,
//!   zones and data file from the controller, the DNS listener as a local server);
//! * `state.rs`: zone content and the rules a change must keep;
//! * `persist.rs`: the data file (atomic writes, checked loads);
//! * `apex.rs`: SOA, NS and name-server addresses of each zone, checked as BIND checks a zone;
//! * `statics.rs`: static records beside the managed ones (`records`);
//! * `lookup.rs`: how a question is answered (NXDOMAIN, NODATA, REFUSED, CNAME);
//! * `fit.rs`: how much of an answer fits in the reply (whole records, TC);
//! * `weighted.rs`: Route 53 style weighted answers;
//! * `rdata.rs`: presentation text to hickory wire records;
//! * `secondaries.rs`, `transfer.rs`, `notify.rs`, `tsig.rs`: zone transfers (AXFR, IXFR
//!   answered with the whole zone) to the configured secondaries, NOTIFY after every change,
//!   and TSIG on both;
//! * `handler.rs`, `udp.rs` and `server.rs`: the request handler, the UDP loops and the
//!   sockets; `rrl.rs`: response rate limiting on UDP.

mod adapter;
mod apex;
pub mod config;
mod fit;
mod handler;
mod lookup;
mod notify;
mod persist;
mod provider;
mod rdata;
pub mod rrl;
mod secondaries;
mod server;
mod state;
mod statics;
mod transfer;
mod tsig;
mod udp;
mod weighted;

pub use config::{
    CheckedConfig, Config, NameServer, Secondary, SoaConfig, StaticRecord, TsigAlgorithm, TsigKey,
    DEFAULT_LISTEN, DEFAULT_NEGATIVE_TTL, DEFAULT_NS_TTL,
};
pub use provider::EmbeddedProvider;
pub use statics::TYPES as STATIC_TYPES;
