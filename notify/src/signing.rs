//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
//! where the key is the base64 part of the `whsec_…` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` header value for one message: one `v1,…` signature per secret in `secrets`
/// (space-separated; during a rotation both the new and the old secret sign, as Standard Webhooks allows).
pub fn sign_all(secrets: &str, id: &str, timestamp: i64, body: &str) -> String {
    secrets.split_whitespace().map(|s| sign(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// The `webhook-signature` header value for one message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key =
        STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_of_a_rotation_signs() {
        let (a, b) = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=");
        let both = sign_all(&format!("{a} {b}"), "m", 1, "{}");
        assert_eq!(both, format!("{} {}", sign(a, "m", 1, "{}"), sign(b, "m", 1, "{}")));
        assert_eq!(sign_all(a, "m", 1, "{}"), sign(a, "m", 1, "{}"));
    }

    #[test]
    fn matches_the_specs_example() {
        // The example in the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_differ() {
        use mediamill_core::webhook_target::new_secret;
        assert_ne!(new_secret(), new_secret());
        assert!(new_secret().starts_with("whsec_"));
        let s = new_secret();
        assert_eq!(sign(&s, "id", 1, "{}"), sign(&s, "id", 1, "{}"));
        assert_ne!(sign(&s, "id", 1, "{}"), sign(&s, "id", 2, "{}"));
    }
}
