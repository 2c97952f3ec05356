//! The embedded default (SQLite, local directory, in-process broker): the demo passes, and `up` killed with
//! SIGKILL mid-run loses nothing when started again.

mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::embedded::{printed_key, start_up, wait_ready};
use harness::{bin, Proc};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media").join(name)).expect("fixture")
}

#[test]
fn demo_passes_on_the_embedded_default() {
    let data = std::env::temp_dir().join(format!("mediamill-demo-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--data", data.to_str().unwrap()])
        .output()
        .expect("run demo");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.contains("qa: 26 passed, 0 failed"), "{table}");
    let derived = data.join("demo/objects/derived");
    assert!(derived.is_dir(), "variants on disk under {}", derived.display());
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn up_killed_mid_run_loses_nothing() {
    let data = std::env::temp_dir().join(format!("mediamill-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();

    let mut up = start_up(&data, port, &[]);
    wait_ready(&http, &url);
    let key = printed_key(&data);

    // Enough work that some of it is still queued or in flight when the process dies.
    let photo = fixture("progressive.jpg");
    let mut ids = Vec::new();
    for i in 0..24 {
        let r = http
            .post(format!("{url}/v1/media"))
            .bearer_auth(&key)
            .header("idempotency-key", format!("k{i}"))
            .body(photo.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(r.json::<serde_json::Value>().unwrap()["id"].as_str().unwrap().to_string());
    }
    let status = |id: &str| {
        http.get(format!("{url}/v1/media/{id}")).bearer_auth(&key).send().unwrap().json::<serde_json::Value>().unwrap()
            ["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let unfinished = ids.iter().filter(|id| status(id) != "processed").count();
    up.kill().unwrap(); // SIGKILL
    up.wait().unwrap();
    assert!(unfinished > 0, "every item finished before the kill; the test proved nothing");

    let mut up = start_up(&data, port, &[]);
    wait_ready(&http, &url);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left: Vec<_> = ids.iter().filter(|id| status(id) != "processed").collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} items never finished after the restart", left.len());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each item once: 24 items listed, each with its 6 variants.
    let list: serde_json::Value =
        http.get(format!("{url}/v1/media?limit=100")).bearer_auth(&key).send().unwrap().json().unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 24);
    assert!(items.iter().all(|i| i["variants"].as_array().unwrap().len() == 6));
    up.kill().unwrap();
    up.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn operator_commands_reach_up_through_its_data_folder() {
    let data = std::env::temp_dir().join(format!("mediamill-ops-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let d = data.to_str().unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let log = std::fs::File::create(data.join("up.log")).unwrap();
    let mut up = Proc::spawn(
        Command::new(bin())
            .args(["--data", d, "up", "--listen", &format!("127.0.0.1:{port}")])
            .env("MEDIAMILL_WORKER__CONCURRENCY", "1")
            .stdout(Stdio::null())
            .stderr(log),
    );
    wait_ready(&reqwest::blocking::Client::new(), &url);
    // From another directory, named by --data: the same database and the in-process broker.
    let run = |args: &[&str]| {
        Command::new(bin()).current_dir(std::env::temp_dir()).args(["--data", d]).args(args).output().unwrap()
    };
    let o = run(&["keys", "list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("default\t")), "the key `up` made");
    let o = run(&["dlq", "list"]);
    assert!(o.status.success(), "dlq list against up: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 dead letter(s)"), "{}", String::from_utf8_lossy(&o.stderr));
    // Stopped gracefully, `up` takes its broker address away again.
    unsafe { libc::kill(up.id() as i32, libc::SIGTERM) };
    up.wait().unwrap();
    assert!(!data.join("broker").exists(), "a stale broker address stayed behind");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn up_prints_its_address_only_once_its_consumer_groups_have_joined() {
    let data = std::env::temp_dir().join(format!("mediamill-join-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut up = start_up(&data, port, &[]);
    // No probe before the address line: /readyz caches its answer, and an early `joining` would linger.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(data.join("up.log")).unwrap_or_default().contains("API on http://") {
        assert!(Instant::now() < deadline, "up never printed its address");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = reqwest::blocking::get(format!("http://127.0.0.1:{port}/readyz")).unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["consumers"], "ok", "{body}");
    up.kill().unwrap();
    up.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_resumable_upload_works_on_the_embedded_default() {
    let up = harness::embedded::Up::start(&[]);
    let (url, key, data) = (up.url.clone(), up.key.clone(), up.dir.clone());
    let http = reqwest::blocking::Client::new();
    // A photo padded past one 8 MiB part, sent in two requests: one whole part, a tail, then the rest.
    let mut photo = fixture("progressive.jpg");
    photo.resize(9 << 20, 7);
    let r = http
        .post(format!("{url}/v1/uploads"))
        .bearer_auth(&key)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", photo.len().to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let at = r.headers()["location"].to_str().unwrap().to_string();
    let send = |from: usize, to: usize| {
        http.patch(&at)
            .bearer_auth(&key)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", from.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(photo[from..to].to_vec())
            .send()
            .unwrap()
    };
    let r = send(0, (8 << 20) + 100);
    assert_eq!((r.status().as_u16(), r.headers()["upload-offset"].to_str().unwrap()), (204, "8388708"));
    let r = send((8 << 20) + 100, photo.len());
    assert_eq!(r.status(), 204);
    let id = r.headers()["media-id"].to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m: serde_json::Value =
            http.get(format!("{url}/v1/media/{id}")).bearer_auth(&key).send().unwrap().json().unwrap();
        if m["status"] == "processed" {
            assert_eq!(m["size"], photo.len() as u64);
            break;
        }
        assert!(Instant::now() < deadline && m["status"] != "failed", "{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Direct uploads need an S3 store: the local one says so.
    let r = http
        .post(format!("{url}/v1/uploads/direct"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"size": 10, "sha256": "0".repeat(64)}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 501);
    assert!(r.text().unwrap().contains("store.backend"));
    // The local store keeps no part files once the upload is joined.
    let parts = data.join("objects/.parts");
    assert_eq!(std::fs::read_dir(&parts).map(|d| d.count()).unwrap_or(0), 0, "{}", parts.display());
}
