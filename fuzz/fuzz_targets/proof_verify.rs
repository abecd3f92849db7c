#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_core::merkle::fuzz_verify_proofs(data));
