//! One request budget per account, shared by every provider instance in the process that uses
//! the same credentials.
//!
//! Sits under the provider seam (plan -> **provider** -> verify): a provider's rate limit is
//! the account's (Route 53: 5 requests/s per account; Cloudflare: 1,200 requests per 5 minutes
//! per token), not the configuration entry's. Two `[providers.*]` entries with one token (one
//! per zone, say) must not each spend the whole budget, or a site failover is throttled exactly
//! when it matters.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A shared rate limiter; wait on it (`until_ready`) before every request.
pub type Budget = Arc<DefaultDirectRateLimiter>;

type Registry = Mutex<HashMap<(String, u64), Weak<DefaultDirectRateLimiter>>>;

fn registry() -> &'static Registry {
    static BUDGETS: OnceLock<Registry> = OnceLock::new();
    BUDGETS.get_or_init(Default::default)
}

/// The budget of `credential` for the API `kind` (`"route53"`, `"cloudflare"`): created with
/// `quota` by the first caller, shared by every later one while any holds it (a later caller's
/// different quota is ignored: the first instance's setting is the account's). Only a digest
/// of `credential` is kept, in memory, never logged.
pub fn shared_budget(kind: &str, credential: &str, quota: Quota) -> Budget {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    credential.hash(&mut h);
    let key = (kind.to_string(), h.finish());
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = map.get(&key).and_then(Weak::upgrade) {
        return existing;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let budget = Arc::new(RateLimiter::direct(quota));
    map.insert(key, Arc::downgrade(&budget));
    budget
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn quota(n: u32) -> Quota {
        Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
    }

    #[test]
    fn one_credential_one_budget_until_nobody_holds_it() {
        let a = shared_budget("test-api", "token-1", quota(5));
        let b = shared_budget("test-api", "token-1", quota(50));
        assert!(Arc::ptr_eq(&a, &b), "same account: same budget");
        let other = shared_budget("test-api", "token-2", quota(5));
        assert!(!Arc::ptr_eq(&a, &other), "another token: its own budget");
        let other_api = shared_budget("other-api", "token-1", quota(5));
        assert!(!Arc::ptr_eq(&a, &other_api), "the budget is per API");
        // Spending through one handle spends the other's budget too.
        for _ in 0..5 {
            assert!(a.check().is_ok());
        }
        assert!(b.check().is_err(), "the shared burst of 5 is used up");
        drop((a, b));
        let fresh = shared_budget("test-api", "token-1", quota(5));
        assert!(fresh.check().is_ok(), "a budget nobody holds starts afresh");
    }
}
