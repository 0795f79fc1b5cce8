//! What happens after a provider call fails: one rule for every call the loop makes.
//!
//! Sits right after the provider step (plan -> **provider** -> verify). kube-rs's controller
//! has `error_policy(error) -> Action`; this is the same seam: the provider crates classify
//! their errors ([`ErrorKind`]), and this module alone decides what the kind means for the
//! service: back off and retry (a timeout, a 5xx, a rate limit: the provider's Retry-After
//! wins), or stop calling the provider for the service until an operator acts (a refused
//! credential, a missing zone, an unsupported operation: retrying cannot heal them, and a
//! loop of refused calls can lock the account).

use std::time::Duration;

use dnsfailback_provider::ErrorKind;

use super::runtime::Runtime;

/// What the loop does next for a service whose provider call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    /// Retry after the back-off (1 s doubling to 60 s) or the provider's Retry-After.
    BackOff { retry_after: Option<Duration> },
    /// No provider call until a reload or `dnsfailback resume`; status, log and audit say so
    /// with the kind.
    NeedsOperator(ErrorKind),
}

/// The one mapping from an error's kind to what happens next. `None` is an error the
/// provider did not classify (a local failure): retried like a transient fault.
pub(super) fn error_policy(kind: Option<ErrorKind>, retry_after: Option<Duration>) -> Next {
    match kind {
        Some(k) if k.needs_operator() => Next::NeedsOperator(k),
        _ => Next::BackOff { retry_after },
    }
}

/// Applies [`error_policy`] to a service's loop state; returns the message status and the
/// audit trail show (for a needs-operator error: the provider's reason and the fix).
pub(super) fn follow(
    rt: &mut Runtime,
    kind: Option<ErrorKind>,
    message: &str,
    retry_after: Option<Duration>,
    now_ms: u64,
) -> String {
    match error_policy(kind, retry_after) {
        Next::NeedsOperator(kind) => {
            let m = needs_operator_message(kind, message);
            rt.needs_operator = Some(m.clone());
            m
        }
        Next::BackOff { retry_after } => {
            rt.back_off(now_ms, retry_after);
            message.to_string()
        }
    }
}

/// What status, the log and the audit trail say about an error retrying cannot heal.
pub(super) fn needs_operator_message(kind: ErrorKind, message: &str) -> String {
    format!(
        "needs operator ({}): {message}; fix it, then `dnsfailback reload` (or SIGHUP) or \
         `dnsfailback resume SERVICE`",
        kind.label()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ServiceState;

    #[test]
    fn every_error_kind_has_one_next_step() {
        let after = Some(Duration::from_secs(7));
        for kind in [ErrorKind::Auth, ErrorKind::NotFound, ErrorKind::Unsupported] {
            assert!(kind.needs_operator(), "{kind:?}");
            assert_eq!(error_policy(Some(kind), after), Next::NeedsOperator(kind));
        }
        // A conflict re-reads the zone and plans again from what is there (the next tick's
        // compare-and-swap), so it backs off like a transient fault.
        for kind in [
            ErrorKind::RateLimited,
            ErrorKind::Transient,
            ErrorKind::Conflict,
            ErrorKind::Invalid,
            ErrorKind::Protocol,
        ] {
            assert_eq!(
                error_policy(Some(kind), after),
                Next::BackOff { retry_after: after }
            );
        }
        assert_eq!(
            error_policy(None, None),
            Next::BackOff { retry_after: None }
        );
    }

    #[test]
    fn following_the_policy_sets_the_services_state() {
        let mut rt = Runtime::new(ServiceState::default(), 0);
        let m = follow(&mut rt, Some(ErrorKind::Auth), "TSIG refused", None, 1_000);
        assert!(
            m.starts_with("needs operator (") && m.contains("TSIG refused"),
            "{m}"
        );
        assert_eq!(rt.needs_operator.as_deref(), Some(m.as_str()));
        assert_eq!(rt.retry_at_ms, None, "no retry is scheduled");

        let mut rt = Runtime::new(ServiceState::default(), 0);
        let m = follow(
            &mut rt,
            Some(ErrorKind::RateLimited),
            "429",
            Some(Duration::from_secs(7)),
            1_000,
        );
        assert_eq!(m, "429");
        assert_eq!(rt.needs_operator, None);
        assert_eq!(
            rt.retry_at_ms,
            Some(8_000),
            "the provider's Retry-After wins"
        );
    }
}
