//! The OpenAPI document at `/v1/openapi.json`: valid OpenAPI 3.1 for an independent validator
//! (openapi-spec-validator, PyPI), and the same operations as the router serves, none missing and none extra.

mod harness;

use std::collections::BTreeSet;
use std::process::Command;

use harness::embedded::{start_up, wait_ready};

#[test]
fn the_document_is_valid_and_lists_every_route() {
    let dir = std::env::temp_dir().join(format!("mediamill-openapi-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _up = start_up(&dir, port, &[]);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::blocking::Client::new(), &url);

    // No key needed: the document is how a client learns the API.
    let r = reqwest::blocking::get(format!("{url}/v1/openapi.json")).unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let python = std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh");
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "openapi-spec-validator: {}", String::from_utf8_lossy(&out.stderr));

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())).collect::<Vec<_>>()
        })
        .filter(|(m, _)| ["GET", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS", "PUT"].contains(&m.as_str()))
        .collect();
    let routed: BTreeSet<(String, String)> = harness::routes::v1().into_iter().collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes missing from the document: {missing:?}");
    assert!(extra.is_empty(), "operations the router does not serve: {extra:?}");
    // Every operation says what it does, and the key-less ones say so.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        }
    }
    assert_eq!(doc["paths"]["/v1/uploads"]["options"]["security"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}
