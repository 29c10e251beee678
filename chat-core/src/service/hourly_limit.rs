//! Per-user hourly limits: a token bucket per user, in the services' memory (so per node).
//! One serves the conversations a user starts ([`Limits::conversations_started_per_hour`]),
//! another their uploads ([`Limits::uploads_per_hour`]).
//!
//! An operation takes a token before it reaches the store and gives it back when nothing
//! was created (an existing direct conversation found, a refused upload, a failure), so only
//! what was actually created counts.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::ChatError;
use crate::ids::Identity;
#[cfg(doc)]
use crate::limits::Limits;

/// How many buckets may pile up before full ones are forgotten.
const SWEEP_AT: usize = 4096;

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per user: `per_hour` at once, refilled at `per_hour` an hour.
#[derive(Debug, Default)]
pub(crate) struct HourlyLimiter {
    buckets: Mutex<HashMap<Identity, Bucket>>,
}

/// A token taken for one operation; [`HourlyLimiter::give_back`] returns it.
#[must_use]
pub(crate) struct Reservation {
    taken: bool,
}

impl HourlyLimiter {
    /// Takes a token for `who` from a budget of `per_hour` (0: no limit), or `RateLimited`
    /// with the time until one is back.
    pub(crate) fn take(&self, per_hour: u32, who: &Identity) -> Result<Reservation, ChatError> {
        self.take_at(per_hour, who, Instant::now())
    }

    fn take_at(&self, per_hour: u32, who: &Identity, now: Instant) -> Result<Reservation, ChatError> {
        if per_hour == 0 {
            return Ok(Reservation { taken: false });
        }
        let capacity = f64::from(per_hour);
        let per_second = capacity / HOUR.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(who) {
            buckets.retain(|_, bucket| refilled(bucket, capacity, per_second, now) < capacity);
        }
        let bucket = buckets.entry(who.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = refilled(bucket, capacity, per_second, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(Reservation { taken: true })
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / per_second);
            Err(ChatError::RateLimited {
                retry_after: wait.max(Duration::from_secs(1)),
            })
        }
    }

    /// Returns the token of an operation that created nothing (`per_hour` as taken).
    pub(crate) fn give_back(&self, per_hour: u32, who: &Identity, reservation: Reservation) {
        if !reservation.taken {
            return;
        }
        let capacity = f64::from(per_hour);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(who) {
            bucket.tokens = (bucket.tokens + 1.0).min(capacity);
        }
    }
}

fn refilled(bucket: &Bucket, capacity: f64, per_second: f64, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};

    fn who(name: &str) -> Identity {
        Identity::new(TenantId::default(), UserId::new(name).expect("id"))
    }

    #[test]
    fn the_hourly_budget_refills_and_returned_tokens_count_again() {
        let mut per_hour = 3;
        let limiter = HourlyLimiter::default();
        let start = Instant::now();
        let mut kept = Vec::new();
        for _ in 0..3 {
            kept.push(limiter.take_at(per_hour, &who("a"), start).expect("within budget"));
        }
        let Err(ChatError::RateLimited { retry_after }) = limiter.take_at(per_hour, &who("a"), start) else {
            panic!("the fourth start is limited");
        };
        assert!(retry_after > Duration::from_secs(1000) && retry_after <= Duration::from_secs(1200));
        assert!(limiter.take_at(per_hour, &who("b"), start).is_ok(), "per user");
        limiter.give_back(per_hour, &who("a"), kept.remove(0));
        assert!(
            limiter.take_at(per_hour, &who("a"), start).is_ok(),
            "a returned token counts again"
        );
        let later = start + Duration::from_secs(1200);
        assert!(
            limiter.take_at(per_hour, &who("a"), later).is_ok(),
            "a third of an hour refills one"
        );
        per_hour = 0;
        for _ in 0..10 {
            assert!(
                limiter.take_at(per_hour, &who("a"), start).is_ok(),
                "0 disables the limit"
            );
        }
    }
}
