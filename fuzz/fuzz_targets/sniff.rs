//! Type sniffing of an upload's first bytes: any input gives an answer, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mediamill_core::sniff::sniff(data);
});
