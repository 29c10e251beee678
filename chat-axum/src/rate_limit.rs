//! Token-bucket rate limits: per user for sends over HTTP, per connection for WebSocket
//! frames.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chat_core::Identity;

/// A rate: `burst` actions at once, refilled at `per_second` actions per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: u32,
}

impl RateLimit {
    /// `n` actions per second on average, with a burst of `n` (at least 1).
    pub fn per_second(n: u32) -> Self {
        let n = n.max(1);
        Self {
            per_second: f64::from(n),
            burst: n,
        }
    }

    /// `n` actions per minute on average, with a burst of `n` (at least 1).
    pub fn per_minute(n: u32) -> Self {
        let n = n.max(1);
        Self {
            per_second: f64::from(n) / 60.0,
            burst: n,
        }
    }

    /// With another burst size (at least 1).
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// Actions per second on average.
    pub fn rate_per_second(&self) -> f64 {
        self.per_second
    }

    /// Actions allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// One bucket: tokens left and when they were counted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn full(limit: &RateLimit) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, limit: &RateLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
        self.at = now;
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn take(&mut self, limit: &RateLimit) -> Result<(), Duration> {
        self.refill(limit, Instant::now());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / limit.per_second))
        }
    }

    fn is_full(&self, limit: &RateLimit, now: Instant) -> bool {
        let mut copy = *self;
        copy.refill(limit, now);
        copy.tokens >= f64::from(limit.burst)
    }
}

/// Buckets per user. Full buckets are forgotten when the map grows, so memory follows the
/// number of recently active users.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<Identity, TokenBucket>>,
}

/// How many buckets may pile up before full ones are swept.
const SWEEP_AT: usize = 4096;

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one action for `who`, or says how long to wait.
    pub(crate) fn check(&self, who: &Identity) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(who) {
            let now = Instant::now();
            buckets.retain(|_, bucket| !bucket.is_full(&self.limit, now));
        }
        buckets
            .entry(who.clone())
            .or_insert_with(|| TokenBucket::full(&self.limit))
            .take(&self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::{TenantId, UserId};

    #[test]
    fn bucket_allows_the_burst_then_waits() {
        let limiter = RateLimiter::new(RateLimit::per_minute(60).with_burst(3));
        let who = Identity::new(TenantId::default(), UserId::new("a").expect("id"));
        let other = Identity::new(TenantId::default(), UserId::new("b").expect("id"));
        for _ in 0..3 {
            assert!(limiter.check(&who).is_ok());
        }
        let wait = limiter.check(&who).expect_err("limited");
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(limiter.check(&other).is_ok(), "buckets are per user");
    }
}
