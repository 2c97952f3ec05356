//! The router's `/v1` routes, read from `ingest/src/lib.rs` itself, so a route added later is covered by the
//! tests that walk them (tenancy, the OpenAPI document).

use super::repo_root;

/// (method, path template) of every `/v1` route: each `.route(` call, one line or several as rustfmt left it,
/// up to the next line that starts another call.
pub fn v1() -> Vec<(String, String)> {
    let src = std::fs::read_to_string(repo_root().join("ingest/src/lib.rs")).expect("router source");
    let mut out = Vec::new();
    for call in src.split(".route(").skip(1) {
        let call: String = call
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !(l.trim_start().starts_with('.') || l.trim_start().starts_with('}')))
            .map(|(_, l)| l)
            .collect();
        let call = call.trim_start();
        if !call.starts_with("\"/v1") {
            continue;
        }
        let path = call.split('"').nth(1).expect("path").to_string();
        let methods = [
            ("get(", "GET"),
            ("post(", "POST"),
            ("delete(", "DELETE"),
            ("head(", "HEAD"),
            ("patch(", "PATCH"),
            ("options(", "OPTIONS"),
            ("put(", "PUT"),
        ];
        for (needle, method) in methods {
            if call.contains(needle) {
                out.push((method.to_string(), path.clone()));
            }
        }
    }
    assert!(out.len() >= 25, "the router's routes were not found: {out:?}");
    out
}
