//! The shared provider conformance suite against the embedded server, with and without a data
//! file, while the DNS listener runs.

mod support;

use dnsfailback_provider::testkit::run_conformance;
use support::{config, fq, started, Scratch, TestResult};

#[tokio::test]
async fn embedded_passes_conformance_in_memory() -> TestResult {
    let (p, _addr) = started(config(&["example.test"])).await?;
    let report = run_conformance(&p, &fq("example.test"), "conf").await?;
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.passed.len(), 10, "{report:?}");
    p.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_passes_conformance_with_data_file() -> TestResult {
    let dir = Scratch::new("conformance")?;
    let mut cfg = config(&["example.test"]);
    cfg.data_file = Some(dir.file("zones.json"));
    let (p, _addr) = started(cfg).await?;
    let report = run_conformance(&p, &fq("example.test"), "conf").await?;
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.passed.len(), 10, "{report:?}");
    p.shutdown().await;
    Ok(())
}
