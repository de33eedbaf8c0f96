//! Sealed text at rest: AES-256-GCM with a random nonce, stored as
//! `base64(nonce ‖ ciphertext ‖ tag)`. What needs it (ID numbers, webhook
//! signing secrets) keeps its own key and its own associated data, so a
//! value sealed for one purpose never opens as another.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// The nonce that leads every sealed value.
pub const NONCE_LEN: usize = 12;

/// Seals `plain`; `None` only if the cipher refuses (it does not for text).
pub fn seal(aead: &Aes256Gcm, aad: &[u8], plain: &str) -> Option<String> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = aead
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plain.as_bytes(),
                aad,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Some(STANDARD.encode(out))
}

/// Opens what `seal` made with the same key and associated data; any change
/// to it, another key or another purpose gives `None`.
pub fn open(aead: &Aes256Gcm, aad: &[u8], stored: &str) -> Option<String> {
    let bytes = STANDARD.decode(stored).ok()?;
    let (nonce, sealed) = bytes.split_first_chunk::<NONCE_LEN>()?;
    let plain = aead
        .decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad })
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use aes_gcm::KeyInit;

    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_purpose() {
        let key = Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
        let other = Aes256Gcm::new_from_slice(&[8u8; 32]).unwrap();
        let sealed = seal(&key, b"a", "秘密").unwrap();
        assert_ne!(
            sealed,
            seal(&key, b"a", "秘密").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(open(&key, b"a", &sealed).as_deref(), Some("秘密"));
        assert_eq!(open(&key, b"b", &sealed), None, "another purpose");
        assert_eq!(open(&other, b"a", &sealed), None, "another key");
        assert_eq!(open(&key, b"a", "not base64!"), None);
    }
}
