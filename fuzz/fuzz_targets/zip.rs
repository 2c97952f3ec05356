//! Archive checks before extraction (`ingest::archive::open`): bombs, traversal, symlinks and plain garbage
//! all end in a plan or a refusal, never a panic; every planned entry streams without one either.
#![no_main]
use std::io::Write;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else { return };
    if f.write_all(data).is_err() {
        return;
    }
    let mut limits = mediamill_core::config::Limits::default();
    limits.max_archive_expanded_bytes = 64 << 20;
    if let Ok((zip, plan)) = mediamill_ingest::archive::open(f.path(), &limits) {
        for e in plan.entries.iter().take(16) {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
            let _ = mediamill_ingest::archive::is_nested_archive(&zip, e);
            let _ = mediamill_ingest::archive::stream_entry(&zip, e, tx);
            while rx.try_recv().is_ok() {}
        }
    }
});
