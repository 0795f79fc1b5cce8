//! HTTP client for Cloudflare's v4 API: bearer token, rate limit, retries, error bodies.
//!
//! Sits under `provider.rs` in the provider step of the flow (plan -> **provider** ->
//! verify). Every request waits for the client-side rate limiter (governor, at Cloudflare's
//! documented 1,200 requests per five minutes unless configured lower), carries the API token
//! as `Authorization: Bearer`, and is retried with exponential back-off (backon) when that is
//! safe:
//!
//! * reads are retried on 429, 5xx and connection failures;
//! * writes are retried only when the failure is known to have changed nothing (429, or a
//!   connection that could not be opened), so a batch is never sent twice after a 5xx or a
//!   timeout whose outcome is unknown; that error goes back to the controller, which re-reads;
//! * a 429's `Retry-After` replaces the back-off delay when it is at most
//!   `max_retry_wait`; a longer one is returned to the controller in
//!   [`ProviderError::retry_after`].
//!
//! Failed answers become [`ProviderError`]s that start with the instance name, say what was
//! being done, and quote Cloudflare's `errors[].code` and `message`. The token is scrubbed from
//! every message, so not even an API echoing it back can leak it into a log.

use std::num::NonZeroU32;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use dnsfailback_provider::Budget;
use dnsfailback_provider::{ErrorKind, Fqdn, ProviderError, RecordType, Secret};
use governor::Quota;
use reqwest::{header, Method};
use serde_json::{Map, Value};

use crate::config::{is_cloudflare_id, Config};
use crate::request::{
    classify, describe_errors, parse_envelope, parse_record, parse_records, parse_retry_after,
    parse_zone_name, parse_zones, snippet, CfRecord, Envelope,
};

/// Most pages one listing may take; a server that never stops paging is an error, not a hang.
const MAX_PAGES: u32 = 10_000;

/// A Cloudflare API client for one provider instance. Cheap to share behind an `Arc`; safe
/// for concurrent use.
pub struct Client {
    provider: String,
    http: reqwest::Client,
    base: String,
    token: Secret,
    /// The token's budget, shared with every instance using the same token.
    limiter: Budget,
    /// Retries and rate-limiter waits, for metrics.
    pub stats: std::sync::Arc<dnsfailback_provider::CallStats>,
    max_retries: usize,
    max_retry_wait: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The governor quota for `requests` per five minutes: a small burst, and a refill rate
/// chosen so that no five-minute window ever holds more than `requests` calls.
pub fn quota_per_5min(requests: u32) -> Option<Quota> {
    let n = requests.max(1);
    let burst = n.min(10);
    let sustained = if n > burst { n - burst } else { n };
    let period = Duration::from_secs(300) / sustained;
    Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?))
}

impl Client {
    /// A client for `config` (already validated) with the loaded `token`.
    pub fn new(provider: &str, config: &Config, token: Secret) -> Result<Self, ProviderError> {
        let invalid = |m: String| ProviderError::new(provider, ErrorKind::Invalid, m).unchanged();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("dnsfailback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let quota = quota_per_5min(config.requests_per_5min).ok_or_else(|| {
            invalid(format!(
                "requests_per_5min {} gives no usable rate limit",
                config.requests_per_5min
            ))
        })?;
        let limiter = dnsfailback_provider::shared_budget("cloudflare", token.expose(), quota);
        Ok(Client {
            provider: provider.to_string(),
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            token,
            limiter,
            stats: Default::default(),
            max_retries: config.max_retries,
            max_retry_wait: config.max_retry_wait,
        })
    }

    fn err(&self, kind: ErrorKind, message: String) -> ProviderError {
        ProviderError::new(&self.provider, kind, self.scrub(message))
    }

    /// Removes the token from any text that is about to become an error message.
    fn scrub(&self, text: String) -> String {
        let t = self.token.expose();
        if t.is_empty() {
            text
        } else {
            text.replace(t, "<redacted>")
        }
    }

    fn check_id(&self, id: &str, what: &str) -> Result<(), ProviderError> {
        if is_cloudflare_id(id) {
            Ok(())
        } else {
            Err(self
                .err(
                    ErrorKind::Protocol,
                    format!("{what} `{id}` is not a Cloudflare id (1-32 letters and digits)"),
                )
                .unchanged())
        }
    }

    /// One request, no retries. Reads (`write == false`) are always marked `not_applied`.
    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
        write: bool,
    ) -> Result<Envelope, ProviderError> {
        self.stats.wait_for(&self.limiter).await;
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose())
            .header(header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                // A refused connection never carried the request; a timeout may have.
                let known_unsent = e.is_connect();
                let mut pe = self.err(
                    ErrorKind::Transient,
                    format!("{what}: request to {url} failed: {e}"),
                );
                pe.not_applied = !write || known_unsent;
                return Err(pe);
            }
        };
        let status = resp.status().as_u16();
        let header_str = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header_str(header::RETRY_AFTER.as_str())
            .as_deref()
            .and_then(parse_retry_after);
        let violations = header_str("sl-violations");
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                let mut pe = self.err(
                    ErrorKind::Transient,
                    format!("{what}: HTTP {status}, but reading the answer failed: {e}"),
                );
                pe.not_applied = !write;
                return Err(pe);
            }
        };
        let envelope = parse_envelope(&text);
        if (200..300).contains(&status) {
            let env = envelope.map_err(|m| {
                let mut pe = self.err(ErrorKind::Protocol, format!("{what}: HTTP {status}: {m}"));
                pe.not_applied = !write;
                pe
            })?;
            if env.success != Some(false) {
                return Ok(env);
            }
            let kind = match classify(400, &env.errors) {
                ErrorKind::Invalid => ErrorKind::Protocol,
                k => k,
            };
            let mut pe = self.err(
                kind,
                format!(
                    "{what}: HTTP {status} but `success` is false: {}",
                    describe_errors(&env.errors)
                ),
            );
            pe.not_applied = !write;
            return Err(pe);
        }
        let (errors, details) = match envelope {
            Ok(env) => {
                let d = describe_errors(&env.errors);
                (env.errors, d)
            }
            Err(_) => (Vec::new(), format!("answer body `{}`", snippet(&text))),
        };
        let kind = classify(status, &errors);
        let mut message = format!("{what}: HTTP {status}: {details}");
        if let Some(v) = violations {
            message.push_str(&format!("; schema violations (sl-violations): {v}"));
        }
        if kind == ErrorKind::Auth {
            message.push_str(
                "; check that the API token is valid and has Zone / DNS / Edit on this zone",
            );
        }
        let mut pe = self.err(kind, message).with_retry_after(retry_after);
        // A 4xx is a rejection: nothing was written (a batch is one transaction). After a
        // 5xx the outcome of a write is unknown.
        pe.not_applied = !write || (400..500).contains(&status);
        Err(pe)
    }

    /// One logical call with rate limiting and the retry policy of the module docs.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Envelope, ProviderError> {
        let write = method != Method::GET;
        retrying(self.max_retries, self.max_retry_wait, &self.stats, || {
            self.send_once(method.clone(), path, query, body, what, write)
        })
        .await
    }

    /// Looks a zone up by name (`GET /zones?name=`): its id.
    pub async fn find_zone(&self, zone: &Fqdn) -> Result<String, ProviderError> {
        let name = zone.without_dot().to_string();
        let what = format!("looking up zone {zone}");
        let env = self
            .call(
                Method::GET,
                "/zones",
                &[("name", name.clone())],
                None,
                &what,
            )
            .await?;
        let zones = parse_zones(&env.result).map_err(|m| {
            self.err(ErrorKind::Protocol, format!("{what}: {m}"))
                .unchanged()
        })?;
        let matching: Vec<&(String, String)> = zones
            .iter()
            .filter(|(_, n)| n.eq_ignore_ascii_case(&name))
            .collect();
        match matching.as_slice() {
            [(id, _)] => {
                self.check_id(id, "zone id")?;
                Ok(id.clone())
            }
            [] => Err(self
                .err(
                    ErrorKind::NotFound,
                    format!(
                        "{what}: no zone of that name is visible to this API token; check the \
                         zone name and the token's zone resources, or set `zone_id`"
                    ),
                )
                .unchanged()),
            _ => Err(self
                .err(
                    ErrorKind::Invalid,
                    format!("{what}: several zones of that name are visible; set `zone_id`"),
                )
                .unchanged()),
        }
    }

    /// The name of zone `zone_id` (`GET /zones/{zone_id}`), to check a configured id.
    pub async fn zone_name(&self, zone_id: &str) -> Result<String, ProviderError> {
        self.check_id(zone_id, "zone id")?;
        let what = format!("reading zone {zone_id}");
        let env = self
            .call(Method::GET, &format!("/zones/{zone_id}"), &[], None, &what)
            .await?;
        parse_zone_name(&env.result).map_err(|m| {
            self.err(ErrorKind::Protocol, format!("{what}: {m}"))
                .unchanged()
        })
    }

    /// Every record of the zone matching `name` and `rtype` (both optional), following
    /// pagination with `per_page` records per page.
    pub async fn list_records(
        &self,
        zone_id: &str,
        name: Option<&Fqdn>,
        rtype: Option<RecordType>,
        per_page: u32,
    ) -> Result<Vec<CfRecord>, ProviderError> {
        self.check_id(zone_id, "zone id")?;
        let path = format!("/zones/{zone_id}/dns_records");
        let what = match (name, rtype) {
            (Some(n), Some(t)) => format!("listing {n} {t} records"),
            (Some(n), None) => format!("listing records of {n}"),
            _ => "listing the zone's records".to_string(),
        };
        let per_page = per_page.max(1);
        let mut all = Vec::new();
        let mut page: u32 = 1;
        loop {
            let mut query = Vec::with_capacity(4);
            if let Some(n) = name {
                query.push(("name", n.without_dot().to_string()));
            }
            if let Some(t) = rtype {
                query.push(("type", t.as_str().to_string()));
            }
            query.push(("page", page.to_string()));
            query.push(("per_page", per_page.to_string()));
            let env = self.call(Method::GET, &path, &query, None, &what).await?;
            let records = parse_records(&env.result).map_err(|m| {
                self.err(ErrorKind::Protocol, format!("{what} (page {page}): {m}"))
                    .unchanged()
            })?;
            let got = records.len();
            all.extend(records);
            let info = env.result_info.unwrap_or_default();
            let more = got > 0
                && got >= per_page as usize
                && info.total_pages.is_none_or(|t| f64::from(page) < t)
                && info.total_count.is_none_or(|t| (all.len() as f64) < t);
            if !more {
                return Ok(all);
            }
            page += 1;
            if page > MAX_PAGES {
                return Err(self
                    .err(
                        ErrorKind::Protocol,
                        format!("{what}: still more pages after {MAX_PAGES}; giving up"),
                    )
                    .unchanged());
            }
        }
    }

    fn record_path(&self, zone_id: &str, id: &str) -> Result<String, ProviderError> {
        self.check_id(zone_id, "zone id")?;
        self.check_id(id, "record id")?;
        Ok(format!("/zones/{zone_id}/dns_records/{id}"))
    }

    fn one_record(&self, env: &Envelope, what: &str) -> Result<CfRecord, ProviderError> {
        // The write happened; only the answer is odd, so `not_applied` stays false.
        parse_record(&env.result).map_err(|m| self.err(ErrorKind::Protocol, format!("{what}: {m}")))
    }

    /// Creates one record (`POST /zones/{zone_id}/dns_records`); `body` from
    /// [`crate::request::record_body`].
    pub async fn create_record(
        &self,
        zone_id: &str,
        body: &Map<String, Value>,
    ) -> Result<CfRecord, ProviderError> {
        self.check_id(zone_id, "zone id")?;
        let what = "creating a record";
        let body = Value::Object(body.clone());
        let env = self
            .call(
                Method::POST,
                &format!("/zones/{zone_id}/dns_records"),
                &[],
                Some(&body),
                what,
            )
            .await?;
        self.one_record(&env, what)
    }

    /// Overwrites one record (`PUT`): fields left out return to Cloudflare's defaults.
    pub async fn put_record(
        &self,
        zone_id: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<CfRecord, ProviderError> {
        let path = self.record_path(zone_id, id)?;
        let what = format!("overwriting record {id}");
        let body = Value::Object(body.clone());
        let env = self
            .call(Method::PUT, &path, &[], Some(&body), &what)
            .await?;
        self.one_record(&env, &what)
    }

    /// Changes only the given fields of one record (`PATCH`).
    pub async fn patch_record(
        &self,
        zone_id: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<CfRecord, ProviderError> {
        let path = self.record_path(zone_id, id)?;
        let what = format!("patching record {id}");
        let body = Value::Object(fields.clone());
        let env = self
            .call(Method::PATCH, &path, &[], Some(&body), &what)
            .await?;
        self.one_record(&env, &what)
    }

    /// Deletes one record (`DELETE`).
    pub async fn delete_record(&self, zone_id: &str, id: &str) -> Result<(), ProviderError> {
        let path = self.record_path(zone_id, id)?;
        let what = format!("deleting record {id}");
        self.call(Method::DELETE, &path, &[], None, &what).await?;
        Ok(())
    }

    /// Sends one batch (`POST /zones/{zone_id}/dns_records/batch`): deletes, patches, puts and
    /// posts in one database transaction. Returns the answer's `result`.
    pub async fn batch(&self, zone_id: &str, body: &Value) -> Result<Value, ProviderError> {
        self.check_id(zone_id, "zone id")?;
        let what = "applying the batch";
        let env = self
            .call(
                Method::POST,
                &format!("/zones/{zone_id}/dns_records/batch"),
                &[],
                Some(body),
                what,
            )
            .await?;
        Ok(env.result)
    }
}

/// Runs `op` with exponential back-off, retrying only errors that are retryable *and* known
/// not to have changed the zone, and waiting for the provider's `Retry-After` when it gave
/// one no longer than `max_wait`.
///
/// Uses tokio's clock through backon's tokio sleeper, so tests assert waits on a paused clock.
pub async fn retrying<T, F, Fut>(
    max_retries: usize,
    max_wait: Duration,
    stats: &dnsfailback_provider::CallStats,
    op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(max_retries)
        .with_jitter();
    op.retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &ProviderError| e.is_retryable() && e.not_applied())
        .adjust(
            move |e: &ProviderError, delay| match (delay, e.retry_after) {
                (None, _) => None,
                (Some(_), Some(ra)) if ra > max_wait => None,
                (Some(_), Some(ra)) => Some(ra),
                (Some(d), None) => Some(d),
            },
        )
        .notify(|e: &ProviderError, d: Duration| {
            stats.retried();
            tracing::warn!(error = %e, wait_ms = d.as_millis() as u64, "retrying Cloudflare call");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limited(after: u64) -> ProviderError {
        ProviderError::new("cf", ErrorKind::RateLimited, "HTTP 429")
            .unchanged()
            .with_retry_after(Some(Duration::from_secs(after)))
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_on_the_paused_clock() {
        let calls = AtomicUsize::new(0);
        let stats = dnsfailback_provider::CallStats::default();
        let start = tokio::time::Instant::now();
        let out = retrying(3, Duration::from_secs(60), &stats, || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(limited(17))
            } else {
                Ok("done")
            }
        })
        .await;
        assert!(matches!(out, Ok("done")), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(17) && waited < Duration::from_secs(18),
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_max_wait_is_returned_not_slept() {
        let calls = AtomicUsize::new(0);
        let stats = dnsfailback_provider::CallStats::default();
        let start = tokio::time::Instant::now();
        let out: Result<(), _> = retrying(3, Duration::from_secs(60), &stats, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(limited(300))
        })
        .await;
        let e = out.err();
        assert_eq!(
            e.as_ref().and_then(|e| e.retry_after),
            Some(Duration::from_secs(300))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_with_unknown_outcome_are_not_retried() {
        let calls = AtomicUsize::new(0);
        let stats = dnsfailback_provider::CallStats::default();
        let out: Result<(), _> = retrying(3, Duration::from_secs(60), &stats, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            // A 5xx after a write: retryable kind, but the zone may have changed.
            Err(ProviderError::new("cf", ErrorKind::Transient, "HTTP 502"))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_read_failures_are_retried_then_surface() {
        let calls = AtomicUsize::new(0);
        let stats = dnsfailback_provider::CallStats::default();
        let out: Result<(), _> = retrying(2, Duration::from_secs(60), &stats, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::new("cf", ErrorKind::Transient, "HTTP 503").unchanged())
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(stats.retries(), 2, "each retry counted for the metrics");
    }

    #[test]
    fn quota_never_exceeds_the_limit() {
        assert!(quota_per_5min(1200).is_some());
        assert!(quota_per_5min(1).is_some());
        assert!(quota_per_5min(u32::MAX).is_some());
        // 10 burst + 1190 refilled over 300 s = 1200 per window.
        let q = quota_per_5min(1200).map(|q| (q.burst_size().get(), q.replenish_interval()));
        assert_eq!(q, Some((10, Duration::from_secs(300) / 1190)));
    }
}
