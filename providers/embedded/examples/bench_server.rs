//! The embedded server side of the queries/s benchmark against BIND
//! (`scripts/bench-embedded-vs-bind.sh`, results in docs/benchmarks.md): serves `bench.test`
//! with `RECORDS` managed A records plus a weighted name, and writes the same zone as a BIND
//! zone file and a dnsperf query file, so both servers answer the same questions from the same
//! data. No logging subscriber is installed: per-query logging is off. The allocator is
//! mimalloc, as in the dnsfailback binary.
//!
//! ```text
//! cargo run --release -p dnsfailback-provider-embedded --example bench_server -- \
//!     127.0.0.1:5390 1000 60 /tmp/bench
//! ```
//!
//! Arguments: listen address, number of records, seconds to serve, output directory.

use std::fmt::Write as _;
use std::time::Duration;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_embedded::{Config, EmbeddedProvider};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: std::net::SocketAddr = args.next().ok_or("listen address")?.parse()?;
    let records: usize = args.next().ok_or("number of records")?.parse()?;
    let seconds: u64 = args.next().ok_or("seconds")?.parse()?;
    let out = std::path::PathBuf::from(args.next().ok_or("output directory")?);
    std::fs::create_dir_all(&out)?;

    let zone = Fqdn::new("bench.test")?;
    let config = Config {
        listen,
        zones: vec![zone.clone()],
        ..Config::default()
    };
    let p = EmbeddedProvider::new("bench", config)?;
    let mut cs = ChangeSet::new(zone.clone());
    let mut zone_file = String::new();
    let mut queries = String::new();
    for i in 0..records {
        let name = format!("host-{i}.bench.test");
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        cs.changes.push(Change::Create {
            new: RecordSet::new(Fqdn::new(&name)?, RecordType::A, 300, vec![ip.clone()]),
        });
        writeln!(zone_file, "{name}. 300 IN A {ip}")?;
        writeln!(queries, "{name} A")?;
    }
    // A weighted name: BIND serves it as the union (what a secondary would get by AXFR).
    for (id, ip, w) in [("blue", "192.0.2.10", 90), ("green", "192.0.2.11", 10)] {
        cs.changes.push(Change::Create {
            new: RecordSet::weighted(
                Fqdn::new("shop.bench.test")?,
                RecordType::A,
                30,
                vec![ip.into()],
                id,
                w,
            ),
        });
        writeln!(zone_file, "shop.bench.test. 30 IN A {ip}")?;
    }
    writeln!(queries, "shop.bench.test A")?;
    writeln!(queries, "missing.bench.test A")?;
    p.apply(&cs).await?;
    let serial = p.soa(&zone).await?.map_or(1, |s| s.serial);
    let head = format!(
        "bench.test. 60 IN SOA ns1.bench.test. hostmaster.bench.test. {serial} 3600 600 1209600 60\n\
         bench.test. 3600 IN NS ns1.bench.test.\nns1.bench.test. 3600 IN A {}\n",
        listen.ip()
    );
    std::fs::write(out.join("bench.test.zone"), head + &zone_file)?;
    std::fs::write(out.join("queries.txt"), queries)?;

    let addr = p.start().await?;
    println!("embedded DNS listening on udp+tcp {addr} for {seconds} s");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    p.shutdown().await;
    Ok(())
}
