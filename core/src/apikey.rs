//! API keys: random secrets shown once, stored only as SHA-256 hashes.
//!
//! A key has 256 bits of randomness, so a plain SHA-256 (not a slow password hash) is enough: nobody can
//! guess a preimage, and lookups stay one indexed query per request.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is recognisable in logs and secret scanners.
pub const PREFIX: &str = "mm_";

/// A new key: (the secret to show once, its hash to store, a short prefix for listings).
pub fn generate() -> (String, String, String) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let prefix = secret.chars().take(10).collect();
    (secret.clone(), hash(&secret), prefix)
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let (a, ha, pa) = generate();
        let (b, _, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert_eq!(hash(&a), ha);
        assert!(a.starts_with(&pa));
        assert_ne!(ha, a, "the hash is not the secret");
    }
}
