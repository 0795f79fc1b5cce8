//! Test helpers shared by the policy's unit tests: one two-target service and health rows.

use crate::config::Service;
use crate::health::{State, TargetHealth};

/// Service `shop`: primary `eu` (192.0.2.10), backup `us` (198.51.100.20), defaults otherwise.
pub fn service() -> Service {
    let text = r#"
[providers.local]
kind = "embedded"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"

[[services.shop.targets]]
name = "eu"
address = "192.0.2.10"
priority = 1
[[services.shop.targets.checks]]
kind = "tcp"
address = "192.0.2.10:443"

[[services.shop.targets]]
name = "us"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "198.51.100.20:443"
"#;
    let (config, _) =
        crate::config::validate::parse(std::path::Path::new("t.toml"), text).expect("valid config");
    config.services.get("shop").cloned().expect("service shop")
}

/// A target judged `state` by everyone (local view included), no checks.
pub fn health(target: &str, state: State) -> TargetHealth {
    TargetHealth {
        target: target.into(),
        state,
        local: state,
        flapping: false,
        vantage: None,
        checks: Vec::new(),
    }
}
