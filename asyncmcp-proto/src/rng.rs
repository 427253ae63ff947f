//! The seeded random source: xoshiro256** seeded from the caller's 32 bytes.
//!
//! Every random choice in the core (session ids, deduplication ids, fragment groups,
//! retry jitter, simulator faults) comes from one of these, so a run is reproduced
//! exactly by its seed.

/// A small, fast, seeded PRNG. Not cryptographic: session ids come from the caller's
/// seed, so the caller must seed from a secure source in production.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the generator. The seed's words are mixed through SplitMix64, so a
    /// low-entropy seed (mostly zeros, as tests use) still gives a well-mixed state;
    /// the state is never all zero, as xoshiro requires.
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        let mut acc = 0x9E37_79B9_7F4A_7C15u64;
        let mut s = [0u64; 4];
        for (word, chunk) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            acc = splitmix64(acc ^ u64::from_le_bytes(bytes));
            *word = acc;
        }
        if s == [0; 4] {
            s = [1, 2, 3, 4];
        }
        Self { s }
    }

    /// A child generator with its own stream (for a component that must not perturb
    /// the parent's sequence when it draws more or fewer numbers).
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        Self::from_seed(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.s;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    pub(crate) fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for jitter and faults.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p` (clamped to 0..=1).
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }

    /// 128 random bits as 32 lowercase hex characters.
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn hex128(&mut self) -> String {
        format!("{:032x}", self.next_u128())
    }
}

pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::from_seed([7; 32]);
        let mut b = Rng::from_seed([7; 32]);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn different_seeds_differ_and_zero_seed_works() {
        let mut a = Rng::from_seed([0; 32]);
        let mut b = Rng::from_seed([1; 32]);
        assert_ne!(a.next_u64(), b.next_u64());
        assert_ne!(a.next_u64(), 0);
    }

    #[test]
    fn below_stays_in_range_and_hex_is_32_chars() {
        let mut r = Rng::from_seed([3; 32]);
        for n in [1u64, 2, 7, 1000] {
            for _ in 0..200 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
        let h = r.hex128();
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn chance_extremes() {
        let mut r = Rng::from_seed([5; 32]);
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2000..3000).contains(&hits), "{hits}");
    }

    #[test]
    fn fork_is_deterministic_and_independent_of_the_parent() {
        let mut a = Rng::from_seed([8; 32]);
        let mut b = Rng::from_seed([8; 32]);
        let mut fa = a.fork();
        let mut fb = b.fork();
        assert_eq!(fa.next_u64(), fb.next_u64());
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(fa.next_u64(), a.next_u64());
    }
}
