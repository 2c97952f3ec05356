//! Signed variant URLs: `…/variants/{name}?exp=UNIX_SECONDS&sig=HEX`, where `sig` is HMAC-SHA256 over
//! `GET\n{path}\n{exp}` with `server.url_signing_key`. A browser can show a variant from such a URL (an
//! `<img src>`) without holding the bearer key; it works until `exp`, for that one path only.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The MAC over what a signature covers.
fn mac(key: &str, path: &str, exp: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("GET\n{path}\n{exp}").as_bytes());
    mac
}

/// The signature of `path` until `exp`.
pub fn sign(key: &str, path: &str, exp: i64) -> String {
    hex::encode(mac(key, path, exp).finalize().into_bytes())
}

/// Why a signed URL is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotConfigured,
    Expired,
    BadSignature,
}

/// Checks `sig` for `path` at `now` (seconds), in constant time.
pub fn verify(key: &str, path: &str, exp: i64, sig: &str, now: i64) -> Result<(), Refusal> {
    if key.is_empty() {
        return Err(Refusal::NotConfigured);
    }
    if exp < now {
        return Err(Refusal::Expired);
    }
    let given = hex::decode(sig).map_err(|_| Refusal::BadSignature)?;
    mac(key, path, exp).verify_slice(&given).map_err(|_| Refusal::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_path_until_its_expiry() {
        let p = "/v1/media/m1/variants/thumb.jpg";
        let sig = sign("k", p, 100);
        assert_eq!(verify("k", p, 100, &sig, 99), Ok(()));
        assert_eq!(verify("k", p, 100, &sig, 101), Err(Refusal::Expired));
        assert_eq!(verify("k", "/v1/media/m2/variants/thumb.jpg", 100, &sig, 99), Err(Refusal::BadSignature));
        assert_eq!(verify("k", p, 200, &sig, 99), Err(Refusal::BadSignature), "a later expiry is another signature");
        assert_eq!(verify("other", p, 100, &sig, 99), Err(Refusal::BadSignature));
        assert_eq!(verify("k", p, 100, "zz", 99), Err(Refusal::BadSignature));
        assert_eq!(verify("", p, 100, &sig, 99), Err(Refusal::NotConfigured));
    }
}
