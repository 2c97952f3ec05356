//! JSON shapes of API answers.

use mediamill_core::model::{Media, Variant};
use serde_json::{json, Value};

/// Variants as every answer shows them: in one order, each with its URL (the same shape as in events).
pub fn variants(base: &str, m: &Media, variants: &[Variant]) -> Vec<Variant> {
    let mut vs: Vec<Variant> = variants.iter().map(|v| v.clone().linked(base, &m.id)).collect();
    mediamill_core::model::sort_variants(&mut vs);
    vs
}

/// A media item with its variants and links.
pub fn media(base: &str, m: &Media, vs: &[Variant]) -> Value {
    let self_url = format!("{base}/v1/media/{}", m.id);
    let failure = m.failure_reason.as_ref().map(|r| json!({"reason": r, "message": m.failure_message}));
    json!({
        "id": m.id, "status": m.status, "kind": m.kind, "content_type": m.content_type,
        "filename": m.filename, "size": m.size, "sha256": m.sha256,
        "width": m.width, "height": m.height, "metadata": m.metadata,
        "failure": failure, "batch_id": m.batch_id,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "variants": variants(base, m, vs),
        "links": {"self": self_url, "variants": format!("{self_url}/variants")},
    })
}

/// The short answer to an accepted upload.
pub fn accepted(base: &str, m: &Media) -> Value {
    let self_url = format!("{base}/v1/media/{}", m.id);
    json!({"id": m.id, "status": m.status, "kind": m.kind, "links": {"self": self_url}})
}
