//! Integration tests of the Route 53 adapter: one binary, three parts.
//!
//! * `moto`: scenarios and the conformance suite against moto 5.2.5 (a real Route 53 API
//!   server, installed by `scripts/install-test-deps.sh`), started per test on 127.0.0.1;
//! * `faults`: retries, give-up, and GetChange polling against an in-process fake transport
//!   on tokio's paused clock;
//! * `support`: the moto launcher, the loopback fault proxy and the fake transport.

mod faults;
mod moto;
mod support;
