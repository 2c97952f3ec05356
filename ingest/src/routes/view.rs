//! JSON shapes of API answers.

use mediamill_core::model::{Media, Variant};
use serde_json::{json, Value};

/// A media item with its variants and links.
pub fn media(base: &str, m: &Media, variants: &[Variant]) -> Value {
    let self_url = format!("{base}/v1/media/{}", m.id);
    let vs: Vec<Value> = variants
        .iter()
        .map(|v| {
            json!({
                "name": v.name, "format": v.format, "content_type": v.content_type,
                "width": v.width, "height": v.height, "size": v.size,
                "url": if v.format == "m3u8" {
                    // Served from the HLS folder, where the playlists' relative URIs resolve.
                    format!("{self_url}/hls/master.m3u8")
                } else {
                    format!("{self_url}/variants/{}.{}", v.name, ext_of(&v.format))
                },
            })
        })
        .collect();
    let failure = m.failure_reason.as_ref().map(|r| json!({"reason": r, "message": m.failure_message}));
    json!({
        "id": m.id, "status": m.status, "kind": m.kind, "content_type": m.content_type,
        "filename": m.filename, "size": m.size, "sha256": m.sha256,
        "width": m.width, "height": m.height, "metadata": m.metadata,
        "failure": failure, "batch_id": m.batch_id,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "variants": vs,
        "links": {"self": self_url, "variants": format!("{self_url}/variants")},
    })
}

/// The short answer to an accepted upload.
pub fn accepted(base: &str, m: &Media) -> Value {
    let self_url = format!("{base}/v1/media/{}", m.id);
    json!({"id": m.id, "status": m.status, "kind": m.kind, "links": {"self": self_url}})
}

/// The file extension used in variant URLs for a format name.
pub fn ext_of(format: &str) -> &str {
    match format {
        "jpeg" => "jpg",
        other => other,
    }
}
