//! The tus 1.0 protocol's headers: version, metadata, checksums and dates, each parsed with an error that
//! says which header was wrong.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine;
use sha1::Digest;

use crate::error::ApiError;

/// The one protocol version served.
pub const VERSION: &str = "1.0.0";
/// The extensions served (`Tus-Extension`).
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// Checksum algorithms taken in `Upload-Checksum` (`Tus-Checksum-Algorithm`).
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The Content-Type of every request that carries upload bytes.
pub const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// `412` unless the request speaks tus 1.0.0.
pub fn check_version(h: &HeaderMap) -> Result<(), ApiError> {
    match h.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("Tus-Resumable must be {VERSION}; the request said {:?}", other.unwrap_or("nothing")),
        )
        .with_header(axum::http::HeaderName::from_static("tus-version"), VERSION)),
    }
}

/// A whole-number header, `None` when absent.
pub fn number(h: &HeaderMap, name: &'static str) -> Result<Option<u64>, ApiError> {
    let Some(v) = h.get(name) else { return Ok(None) };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("bad_header", format!("{name} must be a whole number of bytes")))
}

/// Whether the request's body is upload bytes (`application/offset+octet-stream`).
pub fn is_offset_stream(h: &HeaderMap) -> bool {
    h.get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(OFFSET_STREAM)))
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs (a key alone has an empty value). Values must
/// be UTF-8 text; keys are unique.
pub fn metadata(h: &HeaderMap) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut out = serde_json::Map::new();
    let Some(v) = h.get("upload-metadata") else { return Ok(out) };
    let bad = |why: String| ApiError::bad_request("bad_metadata", format!("Upload-Metadata: {why}"));
    let text = v.to_str().map_err(|_| bad("must be ASCII".into()))?;
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.split(' ');
        let key = it.next().unwrap_or_default();
        let value = it.next().unwrap_or_default();
        if it.next().is_some() || key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad(format!("{pair:?} is not `key base64value`")));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| bad(format!("the value of {key:?} is not base64")))?;
        let value = String::from_utf8(raw).map_err(|_| bad(format!("the value of {key:?} is not UTF-8 text")))?;
        if out.insert(key.to_string(), value.into()).is_some() {
            return Err(bad(format!("{key:?} appears twice")));
        }
    }
    Ok(out)
}

/// `Upload-Metadata` as sent back by `HEAD`.
pub fn encode_metadata(m: &serde_json::Map<String, serde_json::Value>) -> String {
    m.iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            format!("{k} {}", base64::engine::general_purpose::STANDARD.encode(v))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A checksum a request declared for its own bytes (`Upload-Checksum`).
pub struct Checksum {
    algorithm: &'static str,
    expected: Vec<u8>,
    state: Hasher,
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Checksum {
    /// Feeds bytes of the request.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }

    /// `460` when the bytes fed are not what was declared.
    pub fn verify(self) -> Result<(), ApiError> {
        let got = match self.state {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        if got == self.expected {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            "checksum_mismatch",
            format!(
                "the request's bytes have {} {}, not the {} its Upload-Checksum declared; none of them were kept",
                self.algorithm,
                base64::engine::general_purpose::STANDARD.encode(got),
                base64::engine::general_purpose::STANDARD.encode(&self.expected)
            ),
        ))
    }
}

/// `Upload-Checksum: ALGORITHM base64(digest)`, `None` when absent; `400` for an algorithm not served or a
/// digest of the wrong form.
pub fn checksum(h: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
    let Some(v) = h.get("upload-checksum") else { return Ok(None) };
    let bad = |why: &str| ApiError::bad_request("bad_checksum", format!("Upload-Checksum: {why}"));
    let text = v.to_str().map_err(|_| bad("must be ASCII"))?;
    let (algorithm, digest) = text.trim().split_once(' ').ok_or_else(|| bad("must be `algorithm base64digest`"))?;
    let expected =
        base64::engine::general_purpose::STANDARD.decode(digest.trim()).map_err(|_| bad("the digest is not base64"))?;
    let (algorithm, state, len) = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => ("sha1", Hasher::Sha1(sha1::Sha1::new()), 20),
        "sha256" => ("sha256", Hasher::Sha256(sha2::Sha256::new()), 32),
        other => {
            return Err(bad(&format!("algorithm {other:?} is not served; these are: {CHECKSUM_ALGORITHMS}")));
        }
    };
    if expected.len() != len {
        return Err(bad(&format!("a {algorithm} digest has {len} bytes, this one {}", expected.len())));
    }
    Ok(Some(Checksum { algorithm, expected, state }))
}

/// An instant (ms since the epoch) as an HTTP date, for `Upload-Expires`.
pub fn http_date(ms: i64) -> HeaderValue {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn metadata_round_trips_and_refuses_what_is_malformed() {
        let h = headers(&[("upload-metadata", "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")]);
        let m = metadata(&h).unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert_eq!(metadata(&headers(&[("upload-metadata", &encode_metadata(&m))])).unwrap(), m);
        for bad in ["filename !!!", "a b c", "x YQ==,x Yg==", "k /w=="] {
            let e = metadata(&headers(&[("upload-metadata", bad)])).unwrap_err();
            assert_eq!(e.code, "bad_metadata", "{bad:?} accepted");
        }
    }

    #[test]
    fn checksums_are_verified() {
        // sha1("hello") = aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
        let good = base64::engine::general_purpose::STANDARD
            .encode(hex::decode("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d").unwrap());
        let mut c = checksum(&headers(&[("upload-checksum", &format!("sha1 {good}"))])).unwrap().unwrap();
        c.update(b"hel");
        c.update(b"lo");
        c.verify().unwrap();
        let mut c = checksum(&headers(&[("upload-checksum", &format!("sha1 {good}"))])).unwrap().unwrap();
        c.update(b"hellO");
        assert_eq!(c.verify().unwrap_err().status.as_u16(), 460);
        for bad in ["md5 AAAA", "sha1", "sha1 !!", "sha256 AAAA"] {
            assert!(checksum(&headers(&[("upload-checksum", bad)])).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn only_tus_1_0_0_is_spoken() {
        check_version(&headers(&[("tus-resumable", "1.0.0")])).unwrap();
        let e = check_version(&headers(&[("tus-resumable", "0.2.2")])).unwrap_err();
        assert_eq!(e.status, StatusCode::PRECONDITION_FAILED);
        assert!(check_version(&HeaderMap::new()).is_err());
    }
}
