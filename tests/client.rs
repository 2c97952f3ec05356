//! `mediamill upload` and `mediamill watch`, the client, against `up` on the embedded default: folders with
//! what is not media skipped, a batch followed to its end with failures named and a non-zero exit, a run killed
//! mid-upload resumed by the next one, and hostile input (missing paths, a damaged resume file, a wrong key).

mod harness;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::embedded::Up;
use harness::{bin, repo_root};

fn up(extra: &[(&str, &str)]) -> Up {
    Up::start(extra)
}

impl Up {
    fn client(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .args(["--url", &self.url])
            .env("MEDIAMILL_KEY", &self.key)
            .env("MEDIAMILL_DATA", self.dir.join("client-data"));
        if args.first() == Some(&"upload") {
            c.args(["--state", self.dir.join("resume.json").to_str().unwrap()]);
        }
        c
    }

    fn run(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let out = self.client(args).arg("--json").output().expect("run the client");
        let json = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, json)
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    repo_root().join("fixtures/media").join(name)
}

fn copy(name: &str, to: &Path) {
    std::fs::copy(fixture(name), to.join(name)).unwrap();
}

#[test]
fn a_folder_goes_up_as_one_batch_and_failures_are_named() {
    let up = up(&[]);
    let dir = up.dir.join("photos");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    copy("progressive.jpg", &dir);
    copy("alpha.png", &dir);
    copy("photo.webp", &dir.join("nested"));
    copy("truncated.jpg", &dir.join("nested"));
    std::fs::write(dir.join("notes.txt"), "not media").unwrap();
    std::fs::write(dir.join("nested/empty.jpg"), "").unwrap();

    let (out, json) = up.run(&["upload", dir.to_str().unwrap(), "--watch", "--batch", "holiday"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one item failed: {stderr}\n{json}");
    assert!(stderr.contains("1 item(s) failed"), "{stderr}");
    assert_eq!(json["sent"].as_array().unwrap().len(), 4, "{json}");
    let skipped: Vec<(&str, &str)> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().rsplit('/').next().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped, [("empty.jpg", "empty"), ("notes.txt", "not_media")]);
    let batch = json["batch_id"].as_str().unwrap();
    let outcomes = json["outcomes"].as_array().unwrap();
    let state_of = |f: &str| outcomes.iter().find(|o| o["filename"] == f).map(|o| o["state"].clone());
    assert_eq!(state_of("progressive.jpg"), Some("processed".into()));
    assert_eq!(state_of("photo.webp"), Some("processed".into()));
    let failed = outcomes.iter().find(|o| o["filename"] == "truncated.jpg").unwrap();
    assert_eq!((failed["state"].as_str(), failed["reason"].as_str()), (Some("failed"), Some("corrupt")), "{failed}");

    // The batch on the server says the same, and `watch` of a finished batch answers at once.
    let b: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/batches/{batch}", up.url))
        .bearer_auth(&up.key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!((b["name"].as_str(), b["status"].as_str()), (Some("holiday"), Some("completed")), "{b}");
    let (out, json) = up.run(&["watch", batch]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["outcomes"].as_array().unwrap().len(), 4);
    // One good file on its own: no batch, exit 0, watched to `processed`.
    let (out, json) = up.run(&["upload", fixture("orient6.jpg").to_str().unwrap(), "--watch"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        (json["batch_id"].clone(), json["outcomes"][0]["state"].clone()),
        (serde_json::Value::Null, "processed".into())
    );
    let media = json["sent"][0]["media_id"].as_str().unwrap();
    let (out, json) = up.run(&["watch", media]);
    assert!(out.status.success());
    assert_eq!(json["outcomes"][0]["media_id"], media);
}

#[test]
fn a_killed_run_resumes_where_it_stopped() {
    // A slow server (1 MiB/s per tenant) so the run can be killed mid-file.
    let up = up(&[("MEDIAMILL_TENANTS__UPLOAD_BYTES_PER_SEC", "1048576")]);
    let mut photo = std::fs::read(fixture("progressive.jpg")).unwrap();
    photo.resize(6 << 20, 0x5a);
    let file = up.dir.join("large.jpg");
    std::fs::write(&file, &photo).unwrap();
    let mut first = up
        .client(&["upload", file.to_str().unwrap(), "--chunk-mib", "1", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the server holds some bytes of it: the resume file names the upload.
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let kept = loop {
        assert!(Instant::now() < deadline, "the first run never got going");
        std::thread::sleep(Duration::from_millis(200));
        let Ok(state) = std::fs::read(up.dir.join("resume.json")) else { continue };
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
        let Some(entry) = state["uploads"].as_object().and_then(|u| u.values().next().cloned()) else { continue };
        let r = http
            .head(entry["upload_url"].as_str().unwrap())
            .bearer_auth(&up.key)
            .header("tus-resumable", "1.0.0")
            .send()
            .unwrap();
        let offset: u64 = r.headers()["upload-offset"].to_str().unwrap().parse().unwrap();
        if offset >= 2 << 20 {
            break offset;
        }
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(kept < photo.len() as u64, "the first run finished before it was killed");

    let (out, json) = up.run(&["upload", file.to_str().unwrap(), "--chunk-mib", "1", "--watch"]);
    assert!(out.status.success(), "{}\n{json}", String::from_utf8_lossy(&out.stderr));
    let resumed = json["sent"][0]["resumed_from"].as_u64().unwrap();
    assert!(resumed >= kept, "resumed from {resumed}, the server had {kept}");
    assert_eq!(json["outcomes"][0]["state"], "processed", "{json}");
    let media = json["sent"][0]["media_id"].as_str().unwrap();
    let m: serde_json::Value =
        http.get(format!("{}/v1/media/{media}", up.url)).bearer_auth(&up.key).send().unwrap().json().unwrap();
    use sha2::Digest;
    assert_eq!(m["sha256"], hex::encode(sha2::Sha256::digest(&photo)), "the joined bytes are the file's");
    // Only one item exists: the second run did not start another upload.
    let list: serde_json::Value =
        http.get(format!("{}/v1/media", up.url)).bearer_auth(&up.key).send().unwrap().json().unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[test]
fn hostile_input_gets_a_clear_error() {
    let up = up(&[]);
    // Nothing that exists: refused, naming why.
    let (out, json) = up.run(&["upload", "/nonexistent/photo.jpg"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["skipped"][0]["reason"], "not_found");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to upload"));
    // A damaged resume file is set aside, not trusted.
    std::fs::write(up.dir.join("resume.json"), "{ this is not json").unwrap();
    let (out, json) = up.run(&["upload", fixture("progressive.jpg").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("moved to"));
    assert!(up.dir.join("resume.json.damaged").exists());
    assert!(json["sent"][0]["media_id"].is_string());
    // A wrong key: the server's refusal, in words, and a non-zero exit.
    let out = up
        .client(&["upload", fixture("alpha.png").to_str().unwrap()])
        .env("MEDIAMILL_KEY", "mm_wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("401"), "{all}");
    // No key at all.
    let out =
        up.client(&["upload", fixture("alpha.png").to_str().unwrap()]).env_remove("MEDIAMILL_KEY").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key"));
}
