//! Image decoding with the worker's limits (pixel count from the header, frame cap, JPEG completeness, HEIF
//! brands): any bytes give an image or a `ProcessError`, never a panic or a huge allocation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mediamill_workers::image::decode_at_least(data, 4_000_000, 512, 100);
});
