#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_core::entry::fuzz_decode(data));
