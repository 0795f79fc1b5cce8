//! A hands-on demo of the embedded provider: serves `example.test` and flips
//! `shop.example.test` between two addresses every few seconds, with a 5/95 weighted
//! `www.example.test`, so `dig` shows answers changing.
//!
//! ```text
//! cargo run -p dnsfailback-provider-embedded --example serve -- 127.0.0.1:5353 30
//! dig @127.0.0.1 -p 5353 shop.example.test
//! ```
//!
//! Arguments: listen address (default 127.0.0.1:5353) and how many seconds to run (default 60).

use std::time::Duration;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_embedded::{Config, EmbeddedProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:5353".into())
        .parse()?;
    let seconds: u64 = args.next().unwrap_or_else(|| "60".into()).parse()?;
    let zone = Fqdn::new("example.test")?;
    let config = Config {
        listen,
        zones: vec![zone.clone()],
        ..Config::default()
    };
    let p = EmbeddedProvider::new("demo", config)?;
    let addr = p.start().await?;
    println!("embedded DNS listening on udp+tcp {addr} for {seconds} s");
    println!(
        "try: dig @{} -p {} shop.example.test",
        addr.ip(),
        addr.port()
    );

    let shop = |ip: &str| {
        RecordSet::new(
            Fqdn::new("shop.example.test").unwrap_or(zone.clone()),
            RecordType::A,
            30,
            vec![ip.into()],
        )
    };
    let www = |id: &str, ip: &str, w: u32| {
        RecordSet::weighted(
            Fqdn::new("www.example.test").unwrap_or(zone.clone()),
            RecordType::A,
            30,
            vec![ip.into()],
            id,
            w,
        )
    };
    let mut current = shop("192.0.2.10");
    let seed = ChangeSet {
        zone: zone.clone(),
        changes: vec![
            Change::Create {
                new: current.clone(),
            },
            Change::Create {
                new: www("primary", "192.0.2.1", 5),
            },
            Change::Create {
                new: www("backup", "198.51.100.2", 95),
            },
        ],
    };
    p.apply(&seed).await?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let next = if current.values.first().map(String::as_str) == Some("192.0.2.10") {
            shop("198.51.100.20")
        } else {
            shop("192.0.2.10")
        };
        let cs = ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Update {
                old: current,
                new: next.clone(),
            }],
        };
        p.apply(&cs).await?;
        println!("shop.example.test now {}", next.values.join(", "));
        current = next;
    }
    p.shutdown().await;
    Ok(())
}
