//! Drawing the injected faults from the broker's fault stream.

use std::time::Duration;

use crate::rng::Rng;

/// A random delay in `0..=max` at millisecond resolution; draws nothing when `max`
/// is zero, so a fault-free run does not consume the stream.
pub(crate) fn draw_delay(rng: &mut Rng, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.below(max_ms.saturating_add(1)))
}

/// A uuid-v4-shaped id, as SQS and SNS give messages.
pub(crate) fn uuid(rng: &mut Rng) -> String {
    let v = rng.next_u128();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (v >> 96) as u32,
        (v >> 80) & 0xffff,
        (v >> 64) & 0x0fff,
        ((v >> 48) & 0x3fff) | 0x8000,
        v & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_v4_shape() {
        let mut rng = Rng::from_seed([9; 32]);
        let id = uuid(&mut rng);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')));
        assert_ne!(id, uuid(&mut rng));
    }

    #[test]
    fn delay_stays_within_bounds_and_zero_draws_nothing() {
        let mut a = Rng::from_seed([1; 32]);
        let mut b = Rng::from_seed([1; 32]);
        assert_eq!(draw_delay(&mut a, Duration::ZERO), Duration::ZERO);
        assert_eq!(a.next_u64(), b.next_u64());
        for _ in 0..500 {
            assert!(draw_delay(&mut a, Duration::from_millis(20)) <= Duration::from_millis(20));
        }
    }
}
