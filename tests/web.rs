//! The upload page ingest serves at `/`, in headless Chromium (Debian's) driven by Playwright: three files dropped
//! become one batch that completes with three thumbnails; a reload mid-upload and the same file added again
//! resumes the upload instead of starting over. And the page's own serving: its headers, and `server.web = false`.

mod harness;

use std::process::Command;

use harness::embedded::Up;
use harness::repo_root;

fn up(extra: &[(&str, &str)]) -> Up {
    Up::start(extra)
}

fn page(args: &[&str]) -> serde_json::Value {
    let python = std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh");
    let out = Command::new(python)
        .arg(repo_root().join("tests/clients/web_page.py"))
        .args(args)
        .output()
        .expect("run Playwright");
    assert!(out.status.success(), "web_page.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)))
}

fn fixture(name: &str) -> String {
    repo_root().join("fixtures/media").join(name).to_string_lossy().into_owned()
}

#[test]
fn three_dropped_files_become_a_completed_batch_with_three_thumbnails() {
    let up = up(&[]);
    let r =
        page(&["drop", &up.url, &up.key, &fixture("progressive.jpg"), &fixture("alpha.png"), &fixture("photo.webp")]);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["thumbs"], 3, "{r}");
    // A file that fails shows its reason instead of a thumbnail.
    let r = page(&["drop", &up.url, &up.key, &fixture("truncated.jpg"), &fixture("orient6.jpg")]);
    assert_eq!((r["status"].as_str(), r["thumbs"].as_u64()), (Some("completed"), Some(1)), "{r}");
    let failed = r["failed"][0].as_str().unwrap_or_default();
    assert!(failed.contains("truncated.jpg") && failed.contains("corrupt"), "{r}");
}

#[test]
fn a_reload_mid_upload_resumes_the_upload() {
    // Slowed to 2 MiB/s per tenant, so the page can be reloaded while its first request is under way.
    let up = up(&[("MEDIAMILL_TENANTS__UPLOAD_BYTES_PER_SEC", "2097152")]);
    let mut photo = std::fs::read(fixture("progressive.jpg")).unwrap();
    photo.resize(12 << 20, 0x33);
    let file = up.dir.join("big.jpg");
    std::fs::write(&file, &photo).unwrap();
    let r = page(&["resume", &up.url, &up.key, file.to_str().unwrap()]);
    let method_count = |phase: &str, m: &str| r[phase].as_array().unwrap().iter().filter(|q| q["method"] == m).count();
    assert_eq!(method_count("before", "POST"), 1, "{r}");
    assert_eq!(method_count("after", "POST"), 0, "after the reload the upload is resumed, not created again: {r}");
    // The bytes the server kept are not sent again: a PATCH after the reload starts past 0. (One at 0 may come
    // first, while the server still finishes the interrupted request: it is refused as locked, and the client
    // asks again.)
    let resumed_at = r["after"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["method"] == "PATCH")
        .filter_map(|q| q["offset"].as_str().and_then(|o| o.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    assert!(resumed_at > 0, "after the reload the upload went on from the bytes kept: {r}");
    assert_eq!(r["completed"], true, "{r}");
    // One item, all of the file's bytes.
    let http = reqwest::blocking::Client::new();
    let list: serde_json::Value =
        http.get(format!("{}/v1/media", up.url)).bearer_auth(&up.key).send().unwrap().json().unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["size"], photo.len() as u64);
}

#[test]
fn the_page_is_served_with_its_headers_and_can_be_turned_off() {
    let on = up(&[]);
    let r = reqwest::blocking::get(format!("{}/", on.url)).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert!(r.text().unwrap().contains("/web/app.js"));
    let js = reqwest::blocking::get(format!("{}/web/app.js", on.url)).unwrap();
    assert_eq!((js.status().as_u16(), js.headers()["x-content-type-options"].to_str().unwrap()), (200, "nosniff"));
    assert!(js.text().unwrap().contains("/v1/uploads"), "the bundle is the page's script");
    let off = up(&[("MEDIAMILL_SERVER__WEB", "false")]);
    assert_eq!(reqwest::blocking::get(format!("{}/", off.url)).unwrap().status(), 404);
    assert_eq!(reqwest::blocking::get(format!("{}/web/app.js", off.url)).unwrap().status(), 404);
}
