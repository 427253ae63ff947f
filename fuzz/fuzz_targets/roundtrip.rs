#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| asyncmcp_proto::fuzzing::roundtrip(data));
