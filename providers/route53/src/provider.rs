//! [`Route53Provider`]: the [`Provider`] implementation for Amazon Route 53.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify.
//! It reads record sets (ListResourceRecordSets, paginated), applies a [`ChangeSet`] as one
//! transactional ChangeResourceRecordSets batch (updates as exact DELETE + CREATE, so a stale
//! plan fails as a conflict instead of overwriting someone else's change), and reports change
//! propagation through GetChange. It never decides anything: health, policy and timing are the
//! controller's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use dnsfailback_provider::{
    Adapter, ApplyReceipt, Capabilities, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError,
    RecordSet, RecordType, SyncStatus,
};

use crate::client::{CallKind, Client, ReqwestTransport, Transport};
use crate::config::{normalize_zone_id, Config};
use crate::credentials::{self, Environment};
use crate::request::{
    build_change_batch, change_path, decode_name, encode_query_value, parse_change_info,
    parse_hosted_zones, parse_list_page, precondition_failures, to_record_set, validate, ListPage,
};

const API: &str = "/2013-04-01";
/// Page size when reading one name: covers Route 53's 100 weighted sets per name and type.
const NAME_PAGE: u32 = 100;
/// Page size when reading a whole zone: Route 53's maximum.
const ZONE_PAGE: u32 = 300;
/// Safety stop for pagination against a server that never says "not truncated".
const MAX_PAGES: usize = 10_000;

/// What this adapter declares to the planner (see the capabilities table in
/// docs/providers/route53.md): [`Adapter::CAPABILITIES`], which the controller's registry reads
/// before any instance exists.
pub fn route53_capabilities() -> Capabilities {
    <Route53Provider as Adapter>::CAPABILITIES
}

/// A change set this instance failed to apply, kept so the intent is not lost even when the
/// caller drops the error: the controller (or an operator through `status`) can see it and
/// re-plan. Bounded to the last [`FAILED_KEPT`] entries.
#[derive(Debug, Clone)]
pub struct FailedApply {
    /// The change set exactly as it was asked for.
    pub changes: ChangeSet,
    /// The error's text (starts with the instance name).
    pub error: String,
    pub kind: ErrorKind,
    /// True when the zone is known unchanged by the failed call.
    pub not_applied: bool,
}

/// How many failed change sets [`Route53Provider::failed_applies`] keeps.
pub const FAILED_KEPT: usize = 32;

/// The Route 53 adapter. Cheap to share (`Arc`); all methods are safe for concurrent use.
pub struct Route53Provider {
    name: String,
    config: Config,
    client: Client,
    /// Zone name -> bare hosted zone id, from the config and from lookups.
    zone_ids: Mutex<BTreeMap<Fqdn, String>>,
    fixed_zone_id: Option<String>,
    failed: Mutex<Vec<FailedApply>>,
}

impl std::fmt::Debug for Route53Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53Provider")
            .field("name", &self.name)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Route53Provider {
    /// Builds the provider the controller configured as `[providers.<instance_name>]`:
    /// validates the config (every problem reported at once), resolves credentials (config
    /// keys, then `AWS_*` variables, then the shared credentials file) and sets up the HTTPS
    /// client. No request is sent yet.
    pub fn new(instance_name: &str, config: Config) -> Result<Self, ProviderError> {
        let transport = ReqwestTransport::new(config.request_timeout())
            .map_err(|e| ProviderError::new(instance_name, ErrorKind::Invalid, e).unchanged())?;
        Self::with_transport(
            instance_name,
            config,
            &Environment::from_process(),
            Arc::new(transport),
        )
    }

    /// Like [`Route53Provider::new`], with the environment and the HTTP transport given, so
    /// tests run the real signing, retry and XML code against an in-process fake.
    pub fn with_transport(
        instance_name: &str,
        config: Config,
        env: &Environment,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ProviderError> {
        let invalid =
            |msg: String| ProviderError::new(instance_name, ErrorKind::Invalid, msg).unchanged();
        config
            .validate()
            .map_err(|p| invalid(format!("invalid route53 configuration: {}", p.join("; "))))?;
        let creds = credentials::resolve(&config, env)
            .map_err(|e| ProviderError::new(instance_name, ErrorKind::Auth, e).unchanged())?;
        let fixed_zone_id = config
            .hosted_zone_id
            .as_deref()
            .map(normalize_zone_id)
            .transpose()
            .map_err(invalid)?;
        let mut zone_ids = BTreeMap::new();
        for (zone, id) in &config.zones {
            let zone = Fqdn::new(zone).map_err(invalid)?;
            zone_ids.insert(zone, normalize_zone_id(id).map_err(invalid)?);
        }
        let client = Client::new(instance_name, &config, creds, transport);
        Ok(Route53Provider {
            name: instance_name.to_string(),
            config,
            client,
            zone_ids: Mutex::new(zone_ids),
            fixed_zone_id,
            failed: Mutex::new(Vec::new()),
        })
    }

    fn err(&self, kind: ErrorKind, msg: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.name, kind, msg)
    }

    /// The bare hosted zone id serving `zone`: from `hosted_zone_id`, `zones`, or one
    /// ListHostedZonesByName lookup (cached).
    pub async fn zone_id(&self, zone: &Fqdn) -> Result<String, ProviderError> {
        if let Some(id) = &self.fixed_zone_id {
            return Ok(id.clone());
        }
        if let Some(id) = lock(&self.zone_ids).get(zone) {
            return Ok(id.clone());
        }
        let q = format!(
            "{API}/hostedzonesbyname?dnsname={}&maxitems=10",
            encode_query_value(zone.as_str())
        );
        let body = self
            .client
            .call("GET", &q, None, read_kind("ListHostedZonesByName"))
            .await?;
        let zones =
            parse_hosted_zones(&body).map_err(|e| self.protocol("ListHostedZonesByName", e))?;
        let matching: Vec<_> = zones
            .iter()
            .filter(|z| Fqdn::new(&z.name).ok().as_ref() == Some(zone))
            .collect();
        match matching.as_slice() {
            [one] => {
                lock(&self.zone_ids).insert(zone.clone(), one.id.clone());
                Ok(one.id.clone())
            }
            [] => Err(self
                .err(
                    ErrorKind::NotFound,
                    format!(
                        "no hosted zone named {zone} is visible to these credentials; create it \
                         or set `hosted_zone_id`/`zones` in the provider config"
                    ),
                )
                .unchanged()),
            many => Err(self
                .err(
                    ErrorKind::Invalid,
                    format!(
                        "several hosted zones are named {zone} ({}); choose one with `zones = {{ \"{zone}\" = \"ID\" }}`",
                        many.iter()
                            .map(|z| format!("{}{}", z.id, if z.private { " private" } else { "" }))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .unchanged()),
        }
    }

    fn protocol(&self, op: &str, e: String) -> ProviderError {
        self.err(
            ErrorKind::Protocol,
            format!("{op}: cannot understand Route 53's answer: {e}"),
        )
        .unchanged()
    }

    async fn list_page(
        &self,
        zone_id: &str,
        start: Option<(&str, &str, Option<&str>)>,
        max: u32,
    ) -> Result<ListPage, ProviderError> {
        let mut q = format!("{API}/hostedzone/{zone_id}/rrset?maxitems={max}");
        if let Some((name, rtype, ident)) = start {
            q.push_str(&format!(
                "&name={}&type={}",
                encode_query_value(name),
                encode_query_value(rtype)
            ));
            if let Some(i) = ident {
                q.push_str(&format!("&identifier={}", encode_query_value(i)));
            }
        }
        let body = self
            .client
            .call("GET", &q, None, read_kind("ListResourceRecordSets"))
            .await?;
        parse_list_page(&body).map_err(|e| self.protocol("ListResourceRecordSets", e))
    }

    fn next_start(page: &ListPage) -> Option<(String, String, Option<String>)> {
        if !page.is_truncated {
            return None;
        }
        Some((
            page.next_name.clone()?,
            page.next_type.clone()?,
            page.next_identifier.clone(),
        ))
    }

    /// A page whose "next" is where it started would be asked for again and again (up to
    /// [`MAX_PAGES`], minutes at the API's rate limit): a broken answer, reported at once.
    /// Found by the chaos suite's fuzzing (issue 17).
    fn no_progress(&self, next: &(String, String, Option<String>)) -> ProviderError {
        self.err(
            ErrorKind::Protocol,
            format!(
                "ListResourceRecordSets returned the page starting at {} {} again (no progress)",
                next.0, next.1
            ),
        )
        .unchanged()
    }

    fn map_set(
        &self,
        raw: &crate::request::RawRecordSet,
    ) -> Result<Option<RecordSet>, ProviderError> {
        to_record_set(raw).map_err(|e| self.protocol("ListResourceRecordSets", e))
    }

    /// Polls GetChange every `sync_interval_secs` until the receipt's change is INSYNC or
    /// `sync_timeout_secs` passed, and returns the status last seen (Pending = "still
    /// propagating", for `status` to report rather than block on).
    pub async fn wait_for_sync(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        dnsfailback_provider::wait_in_sync(
            self,
            receipt,
            self.config.sync_interval(),
            self.config.sync_timeout(),
        )
        .await
    }

    /// The change sets that failed here, oldest first (the last [`FAILED_KEPT`]).
    pub fn failed_applies(&self) -> Vec<FailedApply> {
        lock(&self.failed).clone()
    }

    /// The configuration this instance runs with (secrets are sources, never values).
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn record_failure(&self, changes: &ChangeSet, e: &ProviderError) {
        tracing::error!(
            provider = %self.name,
            zone = %changes.zone,
            kind = e.kind.label(),
            not_applied = e.not_applied,
            "Route 53 change set not applied: {e}\n{changes}"
        );
        let mut failed = lock(&self.failed);
        failed.push(FailedApply {
            changes: changes.clone(),
            error: e.to_string(),
            kind: e.kind,
            not_applied: e.not_applied,
        });
        let excess = failed.len().saturating_sub(FAILED_KEPT);
        failed.drain(..excess);
    }

    /// Reads every name and type the change set touches and refuses (conflict, nothing sent)
    /// when the zone is not as the plan expects.
    async fn precheck(&self, changes: &ChangeSet) -> Result<(), ProviderError> {
        let mut keys: Vec<(Fqdn, RecordType)> = changes
            .changes
            .iter()
            .map(|c| (c.key().name, c.key().rtype))
            .collect();
        keys.sort();
        keys.dedup();
        let mut current = Vec::new();
        for (name, rtype) in keys {
            current.extend(self.read(&changes.zone, &name, rtype).await?);
        }
        let problems = precondition_failures(changes, &current);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(self
                .err(
                    ErrorKind::Conflict,
                    format!("the zone changed since the plan: {}", problems.join("; ")),
                )
                .unchanged())
        }
    }

    async fn apply_inner(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        if changes.is_empty() {
            return Ok(ApplyReceipt::default());
        }
        validate(changes, &self.capabilities()).map_err(|p| {
            self.err(
                ErrorKind::Invalid,
                format!("refusing to send an invalid change batch: {}", p.join("; ")),
            )
            .unchanged()
        })?;
        let zone_id = self.zone_id(&changes.zone).await?;
        if self.config.precheck {
            self.precheck(changes).await?;
        }
        let comment = format!(
            "dnsfailback: {} change(s) to {}",
            changes.changes.len(),
            changes.zone
        );
        let batch = build_change_batch(changes, Some(&comment), self.config.upsert_writes)
            .map_err(|e| self.err(ErrorKind::Invalid, e).unchanged())?;
        let body = self
            .client
            .call(
                "POST",
                &format!("{API}/hostedzone/{zone_id}/rrset/"),
                Some(&batch.xml),
                CallKind {
                    operation: "ChangeResourceRecordSets",
                    writes: true,
                    has_delete: batch.has_delete,
                },
            )
            .await?;
        // The batch was accepted; an unreadable answer does not make it unapplied.
        let info = parse_change_info(&body).map_err(|e| {
            self.err(
                ErrorKind::Protocol,
                format!(
                    "ChangeResourceRecordSets was accepted but its answer is unreadable ({e}); \
                     re-read the zone"
                ),
            )
        })?;
        tracing::info!(
            provider = %self.name,
            zone = %changes.zone,
            change_id = %info.id,
            changes = batch.changes,
            "Route 53 change batch accepted"
        );
        Ok(ApplyReceipt {
            change_id: Some(info.id),
        })
    }
}

fn read_kind(operation: &'static str) -> CallKind {
    CallKind {
        operation,
        writes: false,
        has_delete: false,
    }
}

#[async_trait]
impl Provider for Route53Provider {
    fn name(&self) -> &str {
        &self.name
    }

    fn call_stats(&self) -> Option<std::sync::Arc<dnsfailback_provider::CallStats>> {
        Some(self.client.stats.clone())
    }

    fn capabilities(&self) -> Capabilities {
        route53_capabilities()
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        if !name.is_in_zone(zone) {
            return Err(self
                .err(ErrorKind::Invalid, format!("{name} is outside zone {zone}"))
                .unchanged());
        }
        let zone_id = self.zone_id(zone).await?;
        let mut out = Vec::new();
        let mut start = (
            name.as_str().to_string(),
            rtype.as_str().to_string(),
            None::<String>,
        );
        for _ in 0..MAX_PAGES {
            let page = self
                .list_page(
                    &zone_id,
                    Some((&start.0, &start.1, start.2.as_deref())),
                    NAME_PAGE,
                )
                .await?;
            // Results start at name/type; the first other set means the group is complete.
            for raw in &page.sets {
                let same = raw.rtype == rtype.as_str()
                    && Fqdn::new(&decode_name(&raw.name)).ok().as_ref() == Some(name);
                if !same {
                    return Ok(out);
                }
                if let Some(set) = self.map_set(raw)? {
                    out.push(set);
                }
            }
            match Self::next_start(&page) {
                Some(next) if next == start => return Err(self.no_progress(&next)),
                Some(next) => start = next,
                None => return Ok(out),
            }
        }
        Err(self
            .err(
                ErrorKind::Protocol,
                "ListResourceRecordSets never stopped paginating",
            )
            .unchanged())
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        let zone_id = self.zone_id(zone).await?;
        let mut out = Vec::new();
        let mut start: Option<(String, String, Option<String>)> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_page(
                    &zone_id,
                    start
                        .as_ref()
                        .map(|(n, t, i)| (n.as_str(), t.as_str(), i.as_deref())),
                    ZONE_PAGE,
                )
                .await?;
            for raw in &page.sets {
                if let Some(set) = self.map_set(raw)? {
                    out.push(set);
                }
            }
            match Self::next_start(&page) {
                Some(next) if start.as_ref() == Some(&next) => return Err(self.no_progress(&next)),
                Some(next) => start = Some(next),
                None => return Ok(out),
            }
        }
        Err(self
            .err(
                ErrorKind::Protocol,
                "ListResourceRecordSets never stopped paginating",
            )
            .unchanged())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        let result = self.apply_inner(changes).await;
        if let Err(e) = &result {
            self.record_failure(changes, e);
        }
        result
    }

    async fn sync_status(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        let Some(id) = &receipt.change_id else {
            return Ok(SyncStatus::InSync);
        };
        let path = change_path(id);
        let bare = path.trim_start_matches("/change/");
        let body = self
            .client
            .call(
                "GET",
                &format!("{API}/change/{}", encode_query_value(bare)),
                None,
                read_kind("GetChange"),
            )
            .await?;
        let info = parse_change_info(&body).map_err(|e| self.protocol("GetChange", e))?;
        Ok(if info.in_sync {
            SyncStatus::InSync
        } else {
            SyncStatus::Pending
        })
    }
}
