//! Codec benchmarks (placeholder until the codec lands).

fn main() {}
