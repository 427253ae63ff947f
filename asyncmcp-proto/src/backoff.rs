//! Retry delays: capped exponential backoff with "equal jitter".
//!
//! Half of each delay is fixed and half is random, so retries of many operations that
//! failed together (an SQS throttling burst) spread out, yet no retry comes sooner than
//! half the nominal delay.

use std::time::Duration;

use crate::rng::Rng;

/// How a failed SQS or SNS operation is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Nominal delay before the first retry; each further retry doubles it.
    pub initial: Duration,
    /// Cap on the nominal delay; no delay ever exceeds it.
    pub max: Duration,
    /// How many attempts an operation gets in total, the first one included, before
    /// it is reported as failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 200 ms, doubling up to 20 s, 6 attempts.
    fn default() -> Self {
        Self { initial: Duration::from_millis(200), max: Duration::from_secs(20), max_attempts: 6 }
    }
}

/// The delay before retry number `attempt` (1-based; 0 is treated as 1).
///
/// The nominal delay is `min(max, initial * 2^(attempt - 1))`, computed without
/// overflow for any `attempt`; the result is uniform in `[nominal / 2, nominal]`, both
/// ends included, drawn from `rng`.
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) fn backoff_delay(policy: &RetryPolicy, attempt: u32, rng: &mut Rng) -> Duration {
    let nominal = nominal_nanos(policy, attempt);
    let low = nominal / 2;
    let span = nominal - low;
    let jitter = match u64::try_from(span) {
        Ok(span) if span < u64::MAX => u128::from(rng.below(span + 1)),
        // Spans beyond 2^64 ns (584 years) only arise from absurd policies; a modulo
        // bias there is harmless.
        _ => rng.next_u128() % (span + 1),
    };
    duration_from_nanos(low + jitter)
}

/// `min(max, initial * 2^(attempt - 1))` in nanoseconds (at most `Duration::MAX`,
/// which needs 94 bits, so a `u128` never overflows here).
fn nominal_nanos(policy: &RetryPolicy, attempt: u32) -> u128 {
    let cap = policy.max.as_nanos();
    let initial = policy.initial.as_nanos();
    let doublings = attempt.saturating_sub(1);
    // Shifting left by `doublings` keeps every bit while the value has that many
    // leading zeros; otherwise the product is far beyond any `Duration`.
    let scaled = if initial == 0 {
        0
    } else if doublings < initial.leading_zeros() {
        initial << doublings
    } else {
        u128::MAX
    };
    scaled.min(cap)
}

fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it always fits a u32.
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy { initial: Duration::from_millis(initial_ms), max: Duration::from_millis(max_ms), max_attempts: 6 }
    }

    #[test]
    fn default_policy_values() {
        let p = RetryPolicy::default();
        assert_eq!(p.initial, Duration::from_millis(200));
        assert_eq!(p.max, Duration::from_secs(20));
        assert_eq!(p.max_attempts, 6);
    }

    #[test]
    fn delays_stay_within_equal_jitter_bounds_for_every_attempt() {
        let p = RetryPolicy::default();
        let mut rng = Rng::from_seed([1; 32]);
        for attempt in 1..=64u32 {
            let nominal = p.initial.saturating_mul(1u32 << (attempt - 1).min(31)).min(p.max);
            for _ in 0..50 {
                let d = backoff_delay(&p, attempt, &mut rng);
                assert!(d >= nominal / 2, "attempt {attempt}: {d:?} < {:?}", nominal / 2);
                assert!(d <= nominal, "attempt {attempt}: {d:?} > {nominal:?}");
                assert!(d <= p.max);
            }
        }
    }

    #[test]
    fn nominal_doubles_then_caps() {
        let p = policy(100, 1_000);
        let nominal: Vec<u128> = (1..=6).map(|a| nominal_nanos(&p, a) / 1_000_000).collect();
        assert_eq!(nominal, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(nominal_nanos(&p, 0), nominal_nanos(&p, 1));
    }

    #[test]
    fn delays_grow_on_average() {
        let p = policy(10, 100_000);
        let mut rng = Rng::from_seed([2; 32]);
        let mean = |attempt: u32, rng: &mut Rng| -> Duration {
            (0..200).map(|_| backoff_delay(&p, attempt, rng)).sum::<Duration>() / 200
        };
        let mut previous = Duration::ZERO;
        for attempt in 1..=10 {
            let m = mean(attempt, &mut rng);
            assert!(m > previous, "attempt {attempt}: mean {m:?} did not grow past {previous:?}");
            previous = m;
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let p = RetryPolicy::default();
        let mut a = Rng::from_seed([9; 32]);
        let mut b = Rng::from_seed([9; 32]);
        let da: Vec<Duration> = (1..=20).map(|n| backoff_delay(&p, n, &mut a)).collect();
        let db: Vec<Duration> = (1..=20).map(|n| backoff_delay(&p, n, &mut b)).collect();
        assert_eq!(da, db);
        let mut c = Rng::from_seed([10; 32]);
        let dc: Vec<Duration> = (1..=20).map(|n| backoff_delay(&p, n, &mut c)).collect();
        assert_ne!(da, dc);
    }

    #[test]
    fn jitter_covers_the_range() {
        let p = policy(1_000, 1_000);
        let mut rng = Rng::from_seed([3; 32]);
        let delays: Vec<Duration> = (0..1_000).map(|_| backoff_delay(&p, 1, &mut rng)).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(600)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(900)));
    }

    #[test]
    fn degenerate_policies_never_panic() {
        let mut rng = Rng::from_seed([4; 32]);
        let zero = RetryPolicy { initial: Duration::ZERO, max: Duration::ZERO, max_attempts: 0 };
        let huge = RetryPolicy { initial: Duration::MAX, max: Duration::MAX, max_attempts: u32::MAX };
        let inverted = policy(5_000, 1_000);
        let tiny = RetryPolicy { initial: Duration::from_nanos(1), max: Duration::MAX, max_attempts: 1 };
        for attempt in [0, 1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, u32::MAX] {
            assert_eq!(backoff_delay(&zero, attempt, &mut rng), Duration::ZERO);
            let d = backoff_delay(&huge, attempt, &mut rng);
            assert!(d >= Duration::MAX / 2 - Duration::from_nanos(1));
            assert!(backoff_delay(&inverted, attempt, &mut rng) <= Duration::from_millis(1_000));
            let t = backoff_delay(&tiny, attempt, &mut rng);
            assert!(t <= Duration::MAX);
        }
        // 1 ns doubled 200 times saturates at the cap instead of wrapping.
        assert_eq!(nominal_nanos(&tiny, 200), Duration::MAX.as_nanos());
        assert_eq!(nominal_nanos(&tiny, 94), 1u128 << 93);
        assert_eq!(nominal_nanos(&tiny, 95), Duration::MAX.as_nanos());
    }
}
