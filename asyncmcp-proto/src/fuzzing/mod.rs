//! Bodies of the fuzz targets in `fuzz/fuzz_targets/`. **Not part of the stable API.**
//!
//! Compiled with `--cfg fuzzing` (cargo-fuzz) or the `__fuzz` feature (the corpus
//! replay test in `asyncmcp-tests`), so normal CI builds them and they cannot rot.
//! Each function takes the fuzzer's raw bytes, builds its structured input with
//! [`arbitrary::Unstructured`], and panics only when an invariant is violated: that
//! is how libFuzzer reports a finding. Any other input returns normally.
//!
//! The fuzz targets and the replay test call exactly these functions, so a crash
//! input saved under `fuzz/regressions/<target>/` replays on stable Rust.
//!
//! The input formats of [`decode_inbound`], [`roundtrip`] and [`sns_envelope`] are
//! documented on [`input`], which also writes them (for seed corpora).

mod codec;
pub mod input;
mod reassembly;
mod session;

pub use codec::{decode_inbound, roundtrip, sns_envelope};
pub use reassembly::reassembly;
pub use session::{Report, play, seeded_run, seeded_trace, session_machine};

/// The names of the fuzz targets, each the name of a function of this module and of a
/// corpus directory `fuzz/corpus/<name>/`.
pub const TARGETS: [&str; 5] = ["decode_inbound", "sns_envelope", "roundtrip", "reassembly", "session_machine"];

/// Runs the body of fuzz target `name` on `data`; `false` for an unknown name.
///
/// # Panics
/// When the body finds an invariant violated.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "decode_inbound" => decode_inbound(data),
        "sns_envelope" => sns_envelope(data),
        "roundtrip" => roundtrip(data),
        "reassembly" => reassembly(data),
        "session_machine" => session_machine(data),
        _ => return false,
    }
    true
}
