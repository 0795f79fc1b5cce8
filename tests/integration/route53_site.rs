//! A site failover against the real Route 53 API shape (the moto server, started by the test on
//! loopback): 100 services in one hosted zone, every primary on one address. The controller
//! must write the zone's changes together: one ChangeResourceRecordSets call for the first
//! publication and one for the whole failover, and every record must then say the backup.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::reconcile::{Clock, Controller, EVENTS_LOG};
use dnsfailback::state::{MemoryStore, SingleNode, Store};
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, Fqdn, Provider, ProviderError, RecordSet, RecordType,
    SyncStatus,
};
use dnsfailback_provider_route53::testkit::Moto;

use crate::harness::{probe, service_toml};

/// Counts the change sets the controller hands the Route 53 adapter: each is one
/// ChangeResourceRecordSets request (the adapter never splits one; it refuses a set over the
/// API's limits).
struct Counting {
    inner: Arc<dyn Provider>,
    applies: AtomicUsize,
    sizes: std::sync::Mutex<Vec<usize>>,
}

#[async_trait]
impl Provider for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        self.inner.read(zone, name, rtype).await
    }
    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        self.inner.read_zone(zone).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        self.applies.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.sizes.lock() {
            s.push(changes.changes.len());
        }
        self.inner.apply(changes).await
    }
    async fn sync_status(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        self.inner.sync_status(receipt).await
    }
}

fn fleet(n: usize, zone_id: &str) -> String {
    let mut t = format!("[providers.r53]\nkind = \"route53\"\nhosted_zone_id = \"{zone_id}\"\n");
    for i in 0..n {
        t.push_str(&service_toml(
            &format!("s{i:03}"),
            "r53",
            "192.0.2.10",
            "198.51.100.20",
            "",
        ));
    }
    t
}

fn round(ctl: &mut Controller, n: usize, primary_ok: bool) {
    for i in 0..n {
        for (target, ok) in [("primary", primary_ok), ("backup", true)] {
            ctl.observe(&probe(check_id(&format!("s{i:03}"), target, 0), ok));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_failover_on_route53_is_one_change_call_per_zone() {
    let n = 100;
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("example.test").await;
    let counting = Arc::new(Counting {
        inner: Arc::new(moto.provider("r53", &zone_id)),
        applies: AtomicUsize::new(0),
        sizes: Default::default(),
    });
    let (config, _) = parse(std::path::Path::new("r53.toml"), &fleet(n, &zone_id))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    providers.insert("r53".into(), counting.clone());
    let store = Arc::new(MemoryStore::default());
    let mut ctl = Controller::new(
        config,
        providers,
        store.clone(),
        Arc::new(SingleNode),
        Clock::system(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Healthy: health needs `rise` (3) results; then every record is published.
    for _ in 0..3 {
        round(&mut ctl, n, true);
        ctl.tick().await;
    }
    assert_eq!(
        counting.applies.load(Ordering::SeqCst),
        1,
        "first publication"
    );
    // Site A dies; `fall` (2) results later every primary is down, and once they have
    // stopped falling (the 3 s onset settle) every service fails over, together.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while counting.applies.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
        round(&mut ctl, n, false);
        ctl.tick().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let sizes = counting.sizes.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        sizes,
        vec![n, n],
        "one call for all creates, one for all failovers"
    );
    let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let served = counting
        .read_zone(&zone)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let on_backup = served
        .iter()
        .filter(|s| s.rtype == RecordType::A && s.values == vec!["198.51.100.20".to_string()])
        .filter(|s| s.ttl == 30)
        .count();
    assert_eq!(
        on_backup, n,
        "every record says the backup with the failover TTL"
    );
    let events: Vec<_> = store
        .history(EVENTS_LOG, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|e| e.action == "failure_event")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
}
