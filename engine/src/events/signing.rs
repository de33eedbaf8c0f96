//! Webhook signatures, and the signing secrets at rest.
//!
//! Every POST carries `Shiji-Signature: t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256 over `"<t>.<body>"` keyed with the subscription's
//! secret (its UTF-8 bytes, `whsec_` prefix included). The timestamp inside
//! the signed text lets a receiver refuse replays of old deliveries; the
//! scheme is Stripe's, so receivers already know how to check it.
//!
//! The engine must read a secret back to sign with it, so secrets are sealed
//! (AES-256-GCM), not hashed, under a key derived from the engine's key for
//! secrets at rest (`security.id_number_key`) with its own label, so one key
//! never serves two purposes.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const AAD: &[u8] = b"shiji/webhook-secret/v1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Shiji-Signature` header value for `body` sent at `timestamp` (unix seconds).
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex(&digest))
}

/// What a receiver does: parse the header, recompute, compare in constant
/// time, and refuse timestamps further than `tolerance_secs` from `now`.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return false;
    };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    candidates.iter().any(|candidate| {
        let Some(bytes) = unhex(candidate) else {
            return false;
        };
        mac(secret, t, body).verify_slice(&bytes).is_ok()
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Seals and opens webhook signing secrets.
pub struct SecretBox {
    aead: Aes256Gcm,
}

// The key stays out of logs even through `{:?}`.
impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox { key: <redacted> }")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the key for secrets at rest must be 32 bytes, base64-encoded")]
    InvalidKey,
    #[error("a stored webhook secret cannot be opened (damaged, or sealed with another key)")]
    Unopenable,
    #[error("a webhook secret cannot be sealed")]
    Unsealable,
}

impl SecretBox {
    /// `engine_key`: base64 of 32 bytes, the engine's key for secrets at rest.
    pub fn from_engine_key(engine_key: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(engine_key.trim())
            .map_err(|_| SealError::InvalidKey)?;
        if bytes.len() != 32 {
            return Err(SealError::InvalidKey);
        }
        // HKDF-Expand with one block and its own label.
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(&bytes).map_err(|_| SealError::InvalidKey)?;
        derive.update(b"shiji/webhook-secret/v1\x01");
        let key = derive.finalize().into_bytes();
        let aead = Aes256Gcm::new_from_slice(&key).map_err(|_| SealError::InvalidKey)?;
        Ok(Self { aead })
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)` with a random nonce.
    pub fn seal(&self, secret: &str) -> Result<String, SealError> {
        crate::sealed::seal(&self.aead, AAD, secret).ok_or(SealError::Unsealable)
    }

    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        crate::sealed::open(&self.aead, AAD, stored).ok_or(SealError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let header = signature_header("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            header,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn receivers_verify_and_refuse_tampering_other_secrets_and_old_timestamps() {
        let body = br#"{"id":"e1","kind":"order.paid"}"#;
        let header = signature_header("whsec_right", 1_700_000_000, body);
        assert!(verify_signature(
            "whsec_right",
            &header,
            body,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "whsec_wrong",
            &header,
            body,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "whsec_right",
            &header,
            br#"{"id":"e2","kind":"order.paid"}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "whsec_right",
            &header,
            body,
            1_700_001_000,
            300
        ));
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace("t=1700000000", "t=1700000900");
        assert!(!verify_signature(
            "whsec_right",
            &moved,
            body,
            1_700_000_900,
            300
        ));
        assert!(!verify_signature(
            "whsec_right",
            "garbage",
            body,
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn secrets_round_trip_sealed_and_fail_under_another_key() {
        let key = STANDARD.encode([7u8; 32]);
        let sealer = SecretBox::from_engine_key(&key).unwrap();
        let a = sealer.seal("whsec_abc").unwrap();
        let b = sealer.seal("whsec_abc").unwrap();
        assert_ne!(a, b, "fresh nonce each time");
        assert!(!a.contains("whsec_abc"));
        assert_eq!(sealer.open(&a).unwrap(), "whsec_abc");
        let other = SecretBox::from_engine_key(&STANDARD.encode([8u8; 32])).unwrap();
        assert_eq!(other.open(&a), Err(SealError::Unopenable));
        assert_eq!(
            SecretBox::from_engine_key("short").unwrap_err(),
            SealError::InvalidKey
        );
        assert!(!format!("{sealer:?}").contains(&key));
    }
}
