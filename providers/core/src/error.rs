//! Provider errors, classified so the controller can decide without matching strings.
//!
//! Sits at the provider boundary: `reconcile` asks [`ProviderError::is_retryable`] (retry with
//! back-off), [`ProviderError::is_conflict`] (someone else changed the zone: re-read and
//! re-plan) and [`ProviderError::not_applied`] (the zone is known unchanged). Messages start
//! with the provider name and never contain secrets.

use std::time::Duration;

/// What kind of failure a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A prerequisite failed: the zone differs from what the plan expected.
    Conflict,
    /// Credentials or key were rejected.
    Auth,
    /// The provider asked us to slow down.
    RateLimited,
    /// Timeout, connection failure, 5xx, SERVFAIL: worth retrying.
    Transient,
    /// The provider rejected the request as malformed or not allowed; retrying will not help.
    Invalid,
    /// The zone or record does not exist at the provider.
    NotFound,
    /// The operation is not offered by this provider (see its capabilities).
    Unsupported,
    /// The provider answered something we could not understand.
    Protocol,
}

impl ErrorKind {
    /// A short, stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::Conflict => "conflict",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Transient => "transient",
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Protocol => "protocol",
        }
    }

    /// Errors that retrying cannot heal: a refused credential, a missing zone, an operation
    /// the provider does not offer. The controller stops retrying the service and waits for an
    /// operator (a fixed secret and a reload, or `resume`), instead of hammering the provider.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            ErrorKind::Auth | ErrorKind::NotFound | ErrorKind::Unsupported
        )
    }
}

/// An error from a provider adapter.
#[derive(Debug, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct ProviderError {
    pub provider: String,
    pub kind: ErrorKind,
    pub message: String,
    /// True when the adapter knows the zone was left unchanged by the failed call.
    pub not_applied: bool,
    /// How long the provider asked us to wait (Retry-After), when it said.
    pub retry_after: Option<Duration>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProviderError {
    /// A new error; `not_applied` defaults to false (unknown), the safe assumption.
    pub fn new(provider: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            provider: provider.into(),
            kind,
            message: message.into(),
            not_applied: false,
            retry_after: None,
            source: None,
        }
    }

    /// Marks the zone as known unchanged (the request was rejected before any write).
    #[must_use]
    pub fn unchanged(mut self) -> Self {
        self.not_applied = true;
        self
    }

    /// Attaches the provider's Retry-After.
    #[must_use]
    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }

    /// Retrying the same request may succeed (rate limits and transient faults).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimited | ErrorKind::Transient)
    }

    /// The zone changed under us: re-read and re-plan rather than retry.
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }

    /// Credentials are wrong: no retry will help until an operator acts.
    pub fn is_auth(&self) -> bool {
        self.kind == ErrorKind::Auth
    }

    /// The zone is known unchanged by the failed call.
    pub fn not_applied(&self) -> bool {
        self.not_applied
    }
}
