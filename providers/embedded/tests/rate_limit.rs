//! Response rate limiting over the wire: a client network past its rate gets every second
//! query answered with an empty truncated reply (TC=1) that dnspython parses, the rest
//! nothing; TCP is never limited; without `[rate_limit]` nothing is.

mod support;

use hickory_proto::rr::RecordType;
use support::wire::{dnspython_one, parse_strict, query, tcp, udp};
use support::{a_set, apply, config, started, TestResult};

/// Sends `n` UDP queries for shop.example.test A at once (each from its own socket, so the
/// silent ones' time-outs do not let the bucket refill); counts (answers, truncated, silent).
async fn burst(addr: std::net::SocketAddr, n: usize) -> Result<(usize, usize, usize), String> {
    let q = query("shop.example.test.", RecordType::A, None)?;
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..n {
        let q = q.clone();
        all.spawn(async move { udp(addr, &q).await });
    }
    let (mut answered, mut truncated, mut silent) = (0, 0, 0);
    while let Some(done) = all.join_next().await {
        match done.map_err(|e| e.to_string())? {
            Ok(reply) => {
                let m = parse_strict(&reply)?;
                if m.metadata.truncation {
                    assert!(m.answers.is_empty(), "a slip carries no records");
                    dnspython_one(&reply)?;
                    truncated += 1;
                } else {
                    assert_eq!(m.answers.len(), 1);
                    answered += 1;
                }
            }
            Err(_) => silent += 1,
        }
    }
    Ok((answered, truncated, silent))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_past_its_rate_gets_truncated_replies_and_silence_but_tcp_always_answers(
) -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.rate_limit = Some(dnsfailback_provider_embedded::rrl::RateLimitConfig {
        responses_per_second: 5,
        slip: 2,
        ipv4_prefix: 24,
        ipv6_prefix: 56,
    });
    let (p, addr) = started(cfg).await?;
    apply(
        &p,
        "example.test",
        vec![dnsfailback_provider::Change::Create {
            new: a_set("shop.example.test", 60, &["192.0.2.10"]),
        }],
    )
    .await?;
    let (answered, truncated, silent) = burst(addr, 16).await?;
    // 5 a second with a 1 s burst: 5 (one more if the burst spans a fifth of a second), then
    // every second limited query slips and the others get nothing.
    assert!((5..=6).contains(&answered), "answered {answered}");
    assert!((4..=6).contains(&truncated), "truncated {truncated}");
    assert!((4..=6).contains(&silent), "silent {silent}");
    assert_eq!(answered + truncated + silent, 16);
    let m = parse_strict(&tcp(addr, &query("shop.example.test.", RecordType::A, None)?).await?)?;
    assert_eq!(m.answers.len(), 1, "TCP is not limited");

    // Without [rate_limit], the same burst is answered in full.
    let (p2, addr2) = started(config(&["example.test"])).await?;
    apply(
        &p2,
        "example.test",
        vec![dnsfailback_provider::Change::Create {
            new: a_set("shop.example.test", 60, &["192.0.2.10"]),
        }],
    )
    .await?;
    assert_eq!(burst(addr2, 16).await?, (16, 0, 0));
    Ok(())
}
