//! A multipart upload body as ingest reads it: the body guard's streaming shape check ([`Shape`], which cuts a
//! body whose preamble, part headers or part count break the limits) on the body in odd chunks, then, if it
//! passes, the upload routes' form reading ([`UploadBody`]: file fields in order, each read to its end).
//! The input's first line is the boundary.
#![no_main]
use axum::extract::FromRequest;
use mediamill_ingest::body_guard::Shape;
use mediamill_ingest::upload_body::UploadBody;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(i) = data.iter().position(|b| *b == b'\n') else { return };
    let Ok(boundary) = std::str::from_utf8(&data[..i]) else { return };
    let body = &data[i + 1..];
    let limits = mediamill_core::config::Limits::default();
    let mut shape = Shape::new(format!("--{boundary}").as_bytes(), &limits);
    if body.chunks(97).any(|c| shape.feed(c).is_err()) {
        return;
    }
    let Ok(req) = axum::http::Request::builder()
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(axum::body::Body::from(body.to_vec()))
    else {
        return;
    };
    futures::executor::block_on(async {
        if let Ok(UploadBody::Form(fields)) = UploadBody::from_request(req, &()).await {
            let _ = fields.drain().await;
        }
    });
});
