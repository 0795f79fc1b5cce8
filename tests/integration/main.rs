//! One integration-test binary (fast to link): end-to-end runs of the real binary, crash
//! recovery, CLI and admin API, configuration fixtures, and paused-clock scenarios.

mod admin_tls;
mod agent;
mod api;
mod chaos_disk;
mod chaos_faults;
mod chaos_fuzz;
mod chaos_kill;
mod chaos_proxy;
mod chaos_regress;
mod cli_output;
mod config_fixtures;
mod config_limits;
mod crash_phases;
mod drill;
mod e2e;
mod etcd;
mod export_apis;
mod governance;
mod governance_loop;
mod harness;
mod lifecycle;
mod mass_failover;
mod metrics;
mod module_graph;
mod notify;
mod operator;
mod packaging;
mod plan_replay;
mod provider_return;
mod reload;
mod reload_peer;
mod restart;
mod route53_site;
mod scenario;
mod site;
mod site_e2e;
mod source_size;
mod status_page;

/// The RFC 2136 adapter's BIND/Knot/PowerDNS launcher, shared with its own peer tests.
#[path = "../../providers/rfc2136/tests/harness/mod.rs"]
mod rfc2136_peer;

/// The Cloudflare adapter's stateful fake and Prism launcher, shared with its own tests.
#[path = "../../providers/cloudflare/tests/support/mod.rs"]
#[allow(dead_code)]
mod cloudflare_peer;
