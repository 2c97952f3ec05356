//! Replays what the fuzzers found (fuzz/regressions/<target>/) and the whole hostile corpus through the same
//! entry points the fuzz targets drive, in the normal test run: each must return, with an answer or an error.

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("fuzz/regressions").join(target)];
    if target != "multipart" {
        dirs.push(root.join("fixtures/media/hostile"));
        dirs.push(root.join("fixtures/media"));
    }
    let mut out = vec![];
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let skip = p.is_dir() || p.extension().is_some_and(|x| x == "md" || x == "toml" || x == "sh");
            if !skip {
                out.push((p.display().to_string(), std::fs::read(&p).expect("read input")));
            }
        }
    }
    out
}

#[test]
fn sniff_and_image_decoding_survive_every_known_hostile_input() {
    let (mut sniffed, mut decoded) = (0, 0);
    for (name, data) in inputs("sniff").into_iter().chain(inputs("image_header")) {
        sniffed += mediamill_core::sniff::sniff(&data).is_some() as usize;
        let r = std::panic::catch_unwind(|| mediamill_workers::image::decode_at_least(&data, 4_000_000, 512, 100));
        assert!(r.is_ok(), "{name} panics the decoder");
        decoded += r.map(|r| r.is_ok() as usize).unwrap_or(0);
    }
    // The good fixtures are in the set too, so both paths were really exercised.
    assert!(sniffed > 20 && decoded > 5, "sniffed {sniffed}, decoded {decoded}");
}

#[test]
fn zip_planning_survives_every_known_hostile_input() {
    let limits = mediamill_core::config::Limits::default();
    let dir = std::env::temp_dir().join(format!("mm-fuzz-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, data)) in inputs("zip").into_iter().enumerate() {
        let path = dir.join(format!("{i}.zip"));
        std::fs::write(&path, &data).unwrap();
        let r = std::panic::catch_unwind(|| mediamill_ingest::archive::open(&path, &limits).is_ok());
        assert!(r.is_ok(), "{name} panics the archive planner");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
