//! Zip archives uploaded into a batch on the real stack: their media become items, hostile archives (traversal,
//! links, bombs, too many entries) are refused with the reason, and nothing of a refused archive is kept.

mod harness;

use harness::{repo_root, Pipeline};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/media").join(name)).expect("fixture")
}

fn zip_of(entries: &[(&str, Vec<u8>)], symlinks: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    for (name, target) in symlinks {
        w.add_symlink(*name, *target, opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn archives_become_items_and_hostile_ones_are_refused() {
    let p = Pipeline::start(&[("MEDIAMILL_LIMITS__MAX_ARCHIVE_ENTRIES", "20")]).await;
    let key = p.key("zips");
    let http = reqwest::Client::new();
    let post = |id: String, body: Vec<u8>| {
        let http = http.clone();
        let url = format!("{}/v1/batches/{id}/archive", p.url);
        let key = key.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/zip")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };

    // A good archive: media become items, the rest is listed as skipped.
    let id = p.create(&key, "/v1/batches", None).await;
    let inner = zip_of(&[("x.gif", fixture("still.gif"))], &[]);
    let good = zip_of(
        &[
            ("photos/a.gif", fixture("still.gif")),
            ("photos/b.gif", fixture("still.gif")),
            ("c.png", fixture("alpha.png")),
            ("broken.jpg", fixture("truncated.jpg")),
            ("notes.txt", b"just text".to_vec()),
            ("more.zip", inner),
        ],
        &[],
    );
    let (status, body) = post(id.clone(), good).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 4, "{body}");
    let skipped: Vec<(String, String)> = body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect();
    assert!(skipped.contains(&("notes.txt".into(), "unsupported_media_type".into())), "{skipped:?}");
    assert!(skipped.contains(&("more.zip".into(), "nested_archive".into())), "{skipped:?}");
    http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();
    let b = p.batch_reaching(&key, &id, "completed").await;
    assert_eq!((b["counts"]["processed"].as_u64(), b["counts"]["failed"].as_u64()), (Some(3), Some(1)));
    assert!(b["items"].as_array().unwrap().iter().any(|i| i["filename"] == "a.gif"), "folder stripped from names");

    // Hostile archives are refused whole, saying why.
    let id = p.create(&key, "/v1/batches", None).await;
    let zeros = vec![0u8; 40 * 1024 * 1024];
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (zip_of(&[("bomb.gif", zeros)], &[]), 413, "zip_bomb"),
        (zip_of(&[("../evil.gif", fixture("still.gif"))], &[]), 422, "unsafe_archive"),
        (zip_of(&[("/etc/evil.gif", fixture("still.gif"))], &[]), 422, "unsafe_archive"),
        (zip_of(&[("ok.gif", fixture("still.gif"))], &[("link.gif", "/etc/passwd")]), 422, "unsafe_archive"),
        (
            zip_of(
                &(0..21)
                    .map(|i| (Box::leak(format!("{i}.gif").into_boxed_str()) as &str, fixture("still.gif")))
                    .collect::<Vec<_>>(),
                &[],
            ),
            413,
            "too_many_entries",
        ),
        (b"PK\x03\x04 this is not really a zip".to_vec(), 400, "bad_archive"),
        (fixture("still.gif"), 400, "bad_archive"),
        (Vec::new(), 400, "empty"),
    ];
    for (i, (body, status, code)) in cases.into_iter().enumerate() {
        let (got, answer) = post(id.clone(), body).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "case {i}: {answer}");
    }
    let (_, b) = p.get(&key, &format!("/v1/batches/{id}")).await;
    assert_eq!(b["total"], 0, "nothing of a refused archive is kept: {b}");
}
