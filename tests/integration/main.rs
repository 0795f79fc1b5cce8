//! One integration-test binary (fast to link): end-to-end runs of the real binary, crash
//! recovery, CLI and admin API, configuration fixtures, and paused-clock scenarios.

mod agent;
mod api;
mod config_fixtures;
mod crash_phases;
mod e2e;
mod etcd;
mod harness;
mod lifecycle;
mod operator;
mod plan_replay;
mod restart;
mod route53_site;
mod scenario;
mod site;
mod site_e2e;
