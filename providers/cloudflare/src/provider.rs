//! [`CloudflareProvider`]: the [`Provider`] implementation for Cloudflare DNS records.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify.
//! It reads record sets and applies change sets; it never decides anything.
//!
//! # Expected flow of `apply`
//!
//! 1. Validate the change set against [`Provider::capabilities`] (no request for a bad plan).
//! 2. Take this instance's apply lock, so two applies from one controller never interleave.
//! 3. Re-read every touched name and type, check each `old` (and that created sets are absent),
//!    and learn the record ids ([`crate::request::plan_changes`]). A mismatch is a
//!    [`ErrorKind::Conflict`] marked `not_applied`: nothing was sent.
//! 4. Send all record operations in one `POST /dns_records/batch` (one database transaction).
//!
//! # Caveats
//!
//! Cloudflare has no compare-and-swap, so `prerequisites` is false: a change made by someone
//! else between step 3 and step 4 (typically well under a second) is not detected, except
//! where it makes the batch fail (a deleted or patched record id that no longer exists, an
//! identical record that now exists). The controller's read-back verification catches the
//! rest. The batch is atomic in Cloudflare's database but propagation to the edge is not:
//! for a moment some edge locations may answer old and some new records.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError, RecordSet,
    RecordType, Secret,
};
use tokio::sync::Mutex;

use crate::client::Client;
use crate::config::Config;
use crate::request::{group_to_set, plan_changes, records_to_sets, BatchPlan, Current};

/// From this many names in one change set, `apply` reads the whole zone once instead of
/// each name (the controller's zone job uses the same threshold).
const READ_ZONE_FROM: usize = 8;

/// A Cloudflare DNS provider instance, built from its [`Config`].
///
/// Safe for concurrent use; cancel-safe as the [`Provider`] contract asks (a dropped `apply`
/// either never sent its batch or sent it whole).
pub struct CloudflareProvider {
    name: String,
    config: Config,
    client: Client,
    zones: Mutex<HashMap<Fqdn, String>>,
    apply_lock: Mutex<()>,
}

impl std::fmt::Debug for CloudflareProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareProvider")
            .field("name", &self.name)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl CloudflareProvider {
    /// Builds the provider the controller configured as `[providers.<instance_name>]`:
    /// validates `config` (reporting every problem), loads the API token from its env
    /// variable or file, and prepares the HTTP client. No request is sent yet.
    pub fn new(instance_name: &str, config: Config) -> Result<Self, ProviderError> {
        if let Err(problems) = config.validate() {
            return Err(ProviderError::new(
                instance_name,
                ErrorKind::Invalid,
                format!("invalid configuration: {}", problems.join("; ")),
            )
            .unchanged());
        }
        let token = config.api_token.load().map_err(|e| {
            ProviderError::new(instance_name, ErrorKind::Auth, format!("api_token: {e}"))
                .unchanged()
        })?;
        Self::with_token(instance_name, config, token)
    }

    /// Like [`CloudflareProvider::new`] with a token obtained some other way (tests, a
    /// secret manager); `config.api_token` is not read.
    pub fn with_token(
        instance_name: &str,
        config: Config,
        token: Secret,
    ) -> Result<Self, ProviderError> {
        if let Err(problems) = config.validate() {
            return Err(ProviderError::new(
                instance_name,
                ErrorKind::Invalid,
                format!("invalid configuration: {}", problems.join("; ")),
            )
            .unchanged());
        }
        let client = Client::new(instance_name, &config, token)?;
        Ok(CloudflareProvider {
            name: instance_name.to_string(),
            config,
            client,
            zones: Mutex::new(HashMap::new()),
            apply_lock: Mutex::new(()),
        })
    }

    /// The underlying API client, for tools and tests that need single record calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn err(&self, kind: ErrorKind, message: String) -> ProviderError {
        ProviderError::new(&self.name, kind, message)
    }

    /// The Cloudflare id of `zone`: configured, or looked up once and cached.
    async fn zone_id(&self, zone: &Fqdn) -> Result<String, ProviderError> {
        let mut zones = self.zones.lock().await;
        if let Some(id) = zones.get(zone) {
            return Ok(id.clone());
        }
        let id = match &self.config.zone_id {
            Some(id) => {
                if let Some(other) = zones.keys().next() {
                    return Err(self
                        .err(
                            ErrorKind::Invalid,
                            format!(
                                "zone_id {id} is configured for zone {other}; this instance \
                                 cannot also manage {zone} (configure another instance)"
                            ),
                        )
                        .unchanged());
                }
                match self.client.zone_name(id).await {
                    Ok(name) => {
                        let actual = Fqdn::new(&name).map_err(|e| {
                            self.err(ErrorKind::Protocol, format!("zone {id} has name {e}"))
                                .unchanged()
                        })?;
                        if &actual != zone {
                            return Err(self
                                .err(
                                    ErrorKind::Invalid,
                                    format!(
                                        "zone_id {id} is the zone {actual}, not {zone}; fix \
                                         `zone_id` or the zone name"
                                    ),
                                )
                                .unchanged());
                        }
                    }
                    // A token limited to DNS edit may not read zone details: trust the id.
                    Err(e) if e.is_auth() => tracing::warn!(
                        provider = %self.name, %zone, zone_id = %id,
                        "cannot read the zone to confirm zone_id (token lacks Zone Read); using it as configured"
                    ),
                    Err(e) => return Err(e),
                }
                id.clone()
            }
            None => self.client.find_zone(zone).await?,
        };
        zones.insert(zone.clone(), id.clone());
        Ok(id)
    }

    /// Current records of every name and type the change set touches: one listing per name
    /// for a few names, one listing of the whole zone from [`READ_ZONE_FROM`] names on.
    async fn read_current(
        &self,
        zone_id: &str,
        changes: &ChangeSet,
    ) -> Result<Current, ProviderError> {
        let keys: BTreeSet<(Fqdn, RecordType)> = changes
            .changes
            .iter()
            .map(|c| {
                let k = c.key();
                (k.name, k.rtype)
            })
            .collect();
        let mut current = Current::new();
        if keys.len() >= READ_ZONE_FROM {
            // One listing of the zone (pages of `per_page`) instead of one request per name:
            // a site failover of 1,000 names is 10 requests, not 1,000 (4 minutes of the
            // token's 1,200 per 5 minutes).
            let all = self
                .client
                .list_records(zone_id, None, None, self.config.per_page)
                .await?;
            for key in keys {
                current.insert(key, Vec::new());
            }
            for r in all {
                let Ok(name) = Fqdn::new(&r.name) else {
                    continue;
                };
                let Ok(rtype) = r.rtype.to_ascii_uppercase().parse::<RecordType>() else {
                    continue;
                };
                if let Some(list) = current.get_mut(&(name, rtype)) {
                    list.push(r);
                }
            }
            return Ok(current);
        }
        for (name, rtype) in keys {
            let records = self.list_exact(zone_id, &name, rtype).await?;
            current.insert((name, rtype), records);
        }
        Ok(current)
    }

    /// Records of exactly `name` and `rtype` (the API's filters are trusted, then checked).
    async fn list_exact(
        &self,
        zone_id: &str,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<crate::request::CfRecord>, ProviderError> {
        let records = self
            .client
            .list_records(zone_id, Some(name), Some(rtype), self.config.per_page)
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| {
                r.rtype.eq_ignore_ascii_case(rtype.as_str())
                    && Fqdn::new(&r.name).is_ok_and(|n| &n == name)
            })
            .collect())
    }

    /// Sends the plan one request at a time (`batch = false`): deletes, patches, posts.
    async fn apply_one_by_one(&self, zone_id: &str, plan: &BatchPlan) -> Result<(), ProviderError> {
        let total = plan.len();
        let mut done = 0usize;
        let partial = |mut e: ProviderError, done: usize| {
            if done > 0 {
                e.not_applied = false;
                e.message = format!(
                    "{} (after {done} of {total} record operations were applied: the zone is \
                     partly changed; re-read it)",
                    e.message
                );
            }
            e
        };
        for id in &plan.deletes {
            self.client
                .delete_record(zone_id, id)
                .await
                .map_err(|e| partial(e, done))?;
            done += 1;
        }
        for (id, fields) in &plan.patches {
            self.client
                .patch_record(zone_id, id, fields)
                .await
                .map_err(|e| partial(e, done))?;
            done += 1;
        }
        for body in &plan.posts {
            self.client
                .create_record(zone_id, body)
                .await
                .map_err(|e| partial(e, done))?;
            done += 1;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for CloudflareProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn call_stats(&self) -> Option<std::sync::Arc<dnsfailback_provider::CallStats>> {
        Some(self.client.stats.clone())
    }

    fn capabilities(&self) -> Capabilities {
        <Self as dnsfailback_provider::Adapter>::capabilities_of(&self.config)
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        let zone_id = self.zone_id(zone).await?;
        let records = self.list_exact(&zone_id, name, rtype).await?;
        let set = group_to_set(name, rtype, &records).map_err(|m| {
            self.err(ErrorKind::Protocol, format!("reading {name} {rtype}: {m}"))
                .unchanged()
        })?;
        Ok(set.into_iter().collect())
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        let zone_id = self.zone_id(zone).await?;
        let records = self
            .client
            .list_records(&zone_id, None, None, self.config.per_page)
            .await?;
        let sets = records_to_sets(&records).map_err(|m| {
            self.err(ErrorKind::Protocol, format!("reading zone {zone}: {m}"))
                .unchanged()
        })?;
        Ok(sets
            .into_iter()
            .filter(|s| s.name.is_in_zone(zone))
            .collect())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        if let Err(problems) = changes.validate(&self.capabilities()) {
            return Err(self
                .err(
                    ErrorKind::Invalid,
                    format!("refusing change set: {}", problems.join("; ")),
                )
                .unchanged());
        }
        if changes.is_empty() {
            return Ok(ApplyReceipt::default());
        }
        let _guard = self.apply_lock.lock().await;
        let zone_id = self.zone_id(&changes.zone).await?;
        let current = self.read_current(&zone_id, changes).await?;
        let plan = plan_changes(changes, &current)
            .map_err(|e| self.err(e.kind(), e.message().to_string()).unchanged())?;
        if plan.is_empty() {
            return Ok(ApplyReceipt::default());
        }
        if self.config.batch {
            if plan.len() > self.config.max_batch_size {
                return Err(self
                    .err(
                        ErrorKind::Invalid,
                        format!(
                            "change set needs {} record operations, above max_batch_size {} \
                             (Cloudflare Free plan: 200, paid plans: 3500); split the plan or \
                             raise max_batch_size",
                            plan.len(),
                            self.config.max_batch_size
                        ),
                    )
                    .unchanged());
            }
            tracing::debug!(provider = %self.name, operations = plan.len(), "sending batch");
            self.client.batch(&zone_id, &plan.to_batch_body()).await?;
        } else {
            self.apply_one_by_one(&zone_id, &plan).await?;
        }
        Ok(ApplyReceipt::default())
    }
}
