//! `ClientId` values that differ between processes.
//!
//! A client that keeps its configured name across restarts would otherwise send the
//! same `ClientId` as the process before it, and a server keyed on it (or a cache
//! keyed on it and on JSON-RPC ids, which restart at 0) could answer it with the old
//! process's results. A nonce from the process's random seed tells the two apart.

#[cfg(test)]
use crate::rng::Rng;
use crate::rng::splitmix64;

/// The start of the mixing chain, distinct from the state machines' own, so the nonce
/// reveals nothing about the numbers a machine seeded with the same bytes draws.
const DOMAIN: u64 = u64::from_le_bytes(*b"clientid");

/// `name`, a dash and 16 lowercase hex digits derived from `seed`: a `ClientId` that
/// two processes configured with the same `name` do not share.
///
/// The core draws no randomness: pass 32 bytes from a secure source
/// (`asyncmcp_driver::unique_client_id` does this for you). The same seed gives the
/// same id, so simulations stay reproducible. On the wire the result is an ordinary
/// `ClientId` string; peers need no change.
///
/// ```
/// use asyncmcp_proto::unique_client_id;
///
/// let first = unique_client_id("worker", [1; 32]);
/// let restarted = unique_client_id("worker", [2; 32]);
/// assert!(first.starts_with("worker-") && first.len() == "worker-".len() + 16);
/// assert_ne!(first, restarted);
/// assert_eq!(first, unique_client_id("worker", [1; 32]));
/// ```
pub fn unique_client_id(name: &str, seed: [u8; 32]) -> String {
    // Every byte of the seed feeds the chain, so seeds differing anywhere differ here.
    let mut acc = DOMAIN;
    for chunk in seed.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        acc = splitmix64(acc ^ u64::from_le_bytes(word));
    }
    format!("{name}-{:016x}", splitmix64(acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_not_the_first_number_of_a_machine_with_the_same_seed() {
        let seed = [7; 32];
        let first_draw = format!("{:016x}", Rng::from_seed(seed).next_u64());

        let id = unique_client_id("c", seed);

        assert!(!id.ends_with(&first_draw), "{id}");
    }

    #[test]
    fn seeds_that_differ_in_one_byte_give_different_ids() {
        let mut ids = std::collections::BTreeSet::new();
        for i in 0..32 {
            let mut seed = [0u8; 32];
            seed[i] = 1;
            ids.insert(unique_client_id("c", seed));
        }
        ids.insert(unique_client_id("c", [0; 32]));

        assert_eq!(ids.len(), 33);
    }
}
