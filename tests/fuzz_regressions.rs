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

/// What a zip input must come to: a plan of so many entries, or a refusal of this kind.
fn zip_expected(name: &str) -> Option<Result<usize, &'static str>> {
    let file = name.rsplit('/').next().unwrap_or(name);
    Some(match file {
        "valid-one-photo.zip" | "nested.zip" => Ok(1),
        "valid-two-photos-stored.zip" => Ok(2),
        "traversal.zip" | "symlink.zip" => Err("unsafe"),
        "ratio-bomb.zip" => Err("bomb"),
        "eocd-lies-about-count.zip" => Err("too_many_entries"),
        "truncated-half.zip" | "eocd-offset-past-end.zip" => Err("unreadable"),
        _ => return None,
    })
}

fn archive_outcome(path: &std::path::Path) -> Result<usize, &'static str> {
    use mediamill_ingest::archive::{self, ArchiveError};
    let (zip, plan) = archive::open(path, &mediamill_core::config::Limits::default()).map_err(|e| match e {
        ArchiveError::Unreadable(_) => "unreadable",
        ArchiveError::TooManyEntries { .. } => "too_many_entries",
        ArchiveError::Unsafe(_) => "unsafe",
        ArchiveError::Bomb(_) => "bomb",
        ArchiveError::Io(_) => "io",
    })?;
    // Every planned entry streams exactly its declared size, as the upload path reads it.
    for e in &plan.entries {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
        let _ = archive::is_nested_archive(&zip, e);
        archive::stream_entry(&zip, e, tx).map_err(|_| "stream")?;
        let mut n = 0u64;
        while let Ok(chunk) = rx.try_recv() {
            n += chunk.map_err(|_| "stream")?.len() as u64;
        }
        assert_eq!(n, e.size, "{}: entry {} streamed {n} bytes", path.display(), e.name);
    }
    Ok(plan.entries.len())
}

#[test]
fn zip_planning_survives_every_known_hostile_input_and_refuses_the_right_ones() {
    let dir = std::env::temp_dir().join(format!("mm-fuzz-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for (i, (name, data)) in inputs("zip").into_iter().enumerate() {
        let path = dir.join(format!("{i}.zip"));
        std::fs::write(&path, &data).unwrap();
        let r = std::panic::catch_unwind(|| archive_outcome(&path));
        let Ok(outcome) = r else { panic!("{name} panics the archive planner") };
        if let Some(want) = zip_expected(&name) {
            assert_eq!(outcome, want, "{name}");
            checked += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked >= 9, "only {checked} zip inputs with a known outcome: the seeds are missing");
}

/// What a multipart input must come to: so many file fields of these sizes, or a refusal with this code.
fn multipart_expected(name: &str) -> Option<Result<Vec<u64>, &'static str>> {
    let file = name.rsplit('/').next().unwrap_or(name);
    Some(match file {
        "valid-two-files.txt" => Ok(vec![9, 5]),
        "valid-with-text-field.txt" => Ok(vec![4]),
        "boundary-inside-data.txt" => Ok(vec![700]),
        "many-parts.txt" => Ok(vec![1; 300]),
        "long-preamble.txt" | "long-part-header.txt" => Err("part_header_too_large"),
        "no-final-boundary.txt" | "header-without-colon.txt" | "empty-body.txt" => Err("bad_multipart"),
        _ => return None,
    })
}

/// The body guard's shape check on the body in odd chunks, then the upload routes' form reading.
fn multipart_outcome(data: &[u8]) -> Result<Vec<u64>, &'static str> {
    use axum::extract::FromRequest;
    use mediamill_ingest::upload_body::UploadBody;
    let i = data.iter().position(|b| *b == b'\n').ok_or("no boundary line")?;
    let boundary = std::str::from_utf8(&data[..i]).map_err(|_| "boundary")?;
    let body = &data[i + 1..];
    let mut shape = mediamill_ingest::body_guard::Shape::new(format!("--{boundary}").as_bytes(), &Default::default());
    for c in body.chunks(97) {
        shape.feed(c).map_err(|e| e.code)?;
    }
    let req = axum::http::Request::builder()
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(axum::body::Body::from(body.to_vec()))
        .map_err(|_| "request")?;
    futures::executor::block_on(async {
        match UploadBody::from_request(req, &()).await.map_err(|e| e.code)? {
            UploadBody::Form(fields) => fields.drain().await.map_err(|e| e.code),
            UploadBody::Raw(_) => Err("not multipart"),
        }
    })
}

#[test]
fn multipart_bodies_are_bounded_and_read_as_the_upload_routes_read_them() {
    let mut checked = 0;
    for (name, data) in inputs("multipart") {
        let r = std::panic::catch_unwind(|| multipart_outcome(&data));
        let Ok(outcome) = r else { panic!("{name} panics the multipart path") };
        if let Some(want) = multipart_expected(&name) {
            assert_eq!(outcome, want, "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} multipart inputs with a known outcome: the seeds are missing");
}
