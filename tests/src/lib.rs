//! Shared helpers for asyncmcp's cross-crate tests.
#![forbid(unsafe_code)]

pub mod moto;
