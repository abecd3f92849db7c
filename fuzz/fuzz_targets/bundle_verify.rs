#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_core::bundle::fuzz_verify(data));
