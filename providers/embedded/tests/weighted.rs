//! Weighted answers over real DNS: one member per query, in proportion to its weight.

mod support;

use dnsfailback_provider::{Change, RecordSet, RecordType as T};
use hickory_net::proto::rr::RecordType;
use support::{a_values, apply, config, fq, started, Dns, TestResult};

fn member(id: &str, ip: &str, weight: u32) -> RecordSet {
    RecordSet::weighted(
        fq("www.example.test"),
        T::A,
        60,
        vec![ip.into()],
        id,
        weight,
    )
}

/// Counts answers per address over `n` UDP queries; every answer must hold exactly one member.
async fn tally(dns: &mut Dns, n: usize) -> Result<(usize, usize), String> {
    let (mut primary, mut backup) = (0, 0);
    for _ in 0..n {
        let m = dns.query("www.example.test.", RecordType::A).await?;
        match a_values(&m).as_slice() {
            [ip] if ip == "192.0.2.1" => primary += 1,
            [ip] if ip == "198.51.100.2" => backup += 1,
            other => return Err(format!("expected one weighted member, got {other:?}")),
        }
    }
    Ok((primary, backup))
}

#[tokio::test]
async fn five_ninety_five_split_over_2000_queries() -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.rng_seed = Some(20240601);
    let (p, addr) = started(cfg).await?;
    apply(
        &p,
        "example.test",
        vec![
            Change::Create {
                new: member("primary", "192.0.2.1", 5),
            },
            Change::Create {
                new: member("backup", "198.51.100.2", 95),
            },
        ],
    )
    .await?;
    let mut dns = Dns::udp(addr).await;
    let (primary, backup) = tally(&mut dns, 2000).await?;
    let share = primary as f64 / 2000.0 * 100.0;
    println!("weighted 5/95: primary {primary} / backup {backup} of 2000 = {share:.2}% primary");
    assert_eq!(primary + backup, 2000);
    assert!(
        (2.5..=7.5).contains(&share),
        "primary share {share:.2}% is not 5% +- 2.5"
    );
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn weight_zero_is_never_answered() -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.rng_seed = Some(7);
    let (p, addr) = started(cfg).await?;
    apply(
        &p,
        "example.test",
        vec![
            Change::Create {
                new: member("primary", "192.0.2.1", 0),
            },
            Change::Create {
                new: member("backup", "198.51.100.2", 1),
            },
        ],
    )
    .await?;
    let mut dns = Dns::udp(addr).await;
    let (primary, backup) = tally(&mut dns, 500).await?;
    assert_eq!((primary, backup), (0, 500));

    // All zero: both are answered, about equally.
    apply(
        &p,
        "example.test",
        vec![Change::Update {
            old: member("backup", "198.51.100.2", 1),
            new: member("backup", "198.51.100.2", 0),
        }],
    )
    .await?;
    let (primary, backup) = tally(&mut dns, 400).await?;
    println!("all-zero weights: primary {primary} / backup {backup} of 400");
    assert!(primary > 120 && backup > 120, "{primary}/{backup}");
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn mixing_plain_and_weighted_is_refused() -> TestResult {
    let (p, _addr) = started(config(&["example.test"])).await?;
    let plain = support::a_set("www.example.test", 60, &["192.0.2.9"]);
    apply(&p, "example.test", vec![Change::Create { new: plain }]).await?;
    let e = apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: member("primary", "192.0.2.1", 5),
        }],
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(e.starts_with("local: ") && e.contains("mixed"), "{e}");
    p.shutdown().await;
    Ok(())
}
