//! Real-name verification numbers (ACC-1, ACC-6): resident ID card numbers
//! (GB 11643), unified social credit codes (GB 32100) and phone numbers.
//!
//! Three jobs: catch typos before an operator reviews a submission (both
//! numbers carry a check character), mask numbers for anyone not allowed to
//! see them, and keep them encrypted at rest with a keyed hash beside them so
//! the database can still find duplicates. None of these ever put a number
//! into an error message or a log line.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::i18n::Text;

/// Length of both an ID card number and a credit code.
const NUMBER_LEN: usize = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The ID card number is wrong; the text says how, without repeating it.
    #[error("invalid ID card number: {}", .0.en)]
    InvalidIdCard(Text),
    #[error("invalid unified social credit code: {}", .0.en)]
    InvalidCreditCode(Text),
    /// The configured key is not 32 bytes of base64.
    #[error("identity-number key must be 32 bytes, base64-encoded")]
    InvalidKey,
    /// Stored ciphertext is damaged, or was made with another key.
    #[error("stored identity number cannot be decrypted")]
    Undecryptable,
    /// The cipher refused to encrypt (never for an identity number's size).
    #[error("identity number cannot be encrypted")]
    Unencryptable,
}

impl DocumentError {
    /// Stable code for `userErrors`.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::InvalidIdCard(_) => "INVALID_ID_CARD_NUMBER",
            DocumentError::InvalidCreditCode(_) => "INVALID_CREDIT_CODE",
            DocumentError::InvalidKey => "INVALID_KEY",
            DocumentError::Undecryptable => "UNDECRYPTABLE",
            DocumentError::Unencryptable => "UNENCRYPTABLE",
        }
    }

    pub fn text(&self) -> Text {
        match self {
            DocumentError::InvalidIdCard(text) | DocumentError::InvalidCreditCode(text) => *text,
            DocumentError::InvalidKey => Text::new(
                "The key for identity numbers is not configured correctly.",
                "证件号码加密密钥配置有误。",
            ),
            DocumentError::Undecryptable => Text::new(
                "A stored identity number could not be read.",
                "无法读取已存储的证件号码。",
            ),
            DocumentError::Unencryptable => Text::new(
                "The identity number could not be stored securely.",
                "无法安全地保存证件号码。",
            ),
        }
    }
}

const ID_LENGTH: Text = Text::new(
    "An ID card number has 18 characters.",
    "身份证号码应为 18 位。",
);
const ID_CHARACTERS: Text = Text::new(
    "An ID card number is 17 digits followed by a digit or X.",
    "身份证号码应为 17 位数字，最后一位为数字或 X。",
);
const ID_BIRTH_DATE: Text = Text::new(
    "The date of birth in the ID card number is not a valid date.",
    "身份证号码中的出生日期无效。",
);
const ID_CHECK: Text = Text::new(
    "The ID card number is not valid; please check it for typing mistakes.",
    "身份证号码校验位不正确，请检查是否输错。",
);
const CODE_LENGTH: Text = Text::new(
    "A unified social credit code has 18 characters.",
    "统一社会信用代码应为 18 位。",
);
const CODE_CHARACTERS: Text = Text::new(
    "A unified social credit code uses digits and capital letters other than I, O, S, V and Z.",
    "统一社会信用代码只能由数字和除 I、O、S、V、Z 以外的大写字母组成。",
);
const CODE_CHECK: Text = Text::new(
    "The unified social credit code is not valid; please check it for typing mistakes.",
    "统一社会信用代码校验位不正确，请检查是否输错。",
);

/// The canonical form stored and hashed: no surrounding spaces, capital
/// letters (people type the ID card's check `x` in lower case).
pub fn normalize(number: &str) -> String {
    number.trim().to_ascii_uppercase()
}

/// Checks a resident ID card number (GB 11643-1999): 17 digits, a birth date
/// at positions 7–14, and an ISO 7064 MOD 11-2 check character (`0`–`9`, `X`).
///
/// The region code (first six digits) is not checked against a table: codes
/// change as districts are reorganised while old cards keep theirs, and the
/// permanent residence cards of foreigners and the residence permits of
/// Hong Kong, Macao and Taiwan residents use the same format with other codes.
pub fn validate_id_card(number: &str) -> Result<(), DocumentError> {
    let number = normalize(number);
    let bytes = number.as_bytes();
    if number.chars().count() != NUMBER_LEN {
        return Err(DocumentError::InvalidIdCard(ID_LENGTH));
    }
    let (body, check) = bytes.split_at(NUMBER_LEN - 1);
    if !body.iter().all(u8::is_ascii_digit) || !(check[0].is_ascii_digit() || check[0] == b'X') {
        return Err(DocumentError::InvalidIdCard(ID_CHARACTERS));
    }
    let digits = |range: std::ops::Range<usize>| -> u32 {
        body[range]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    if !is_past_date(digits(6..10), digits(10..12), digits(12..14)) {
        return Err(DocumentError::InvalidIdCard(ID_BIRTH_DATE));
    }
    if id_card_check_char(body) != Some(check[0]) {
        return Err(DocumentError::InvalidIdCard(ID_CHECK));
    }
    Ok(())
}

/// The check character for the first 17 digits of an ID card number; `None`
/// if `body` is not 17 ASCII digits.
pub fn id_card_check_char(body: &[u8]) -> Option<u8> {
    if body.len() != NUMBER_LEN - 1 || !body.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Weight of position i is 2^(17-i) mod 11 (ISO 7064 MOD 11-2).
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(b"10X98765432"[(sum % 11) as usize])
}

/// A calendar date from 1900 up to today (China time).
fn is_past_date(year: u32, month: u32, day: u32) -> bool {
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => return false,
    };
    year >= 1900 && (1..=days_in_month).contains(&day) && (year, month, day) <= today_in_china()
}

/// Today's date in UTC+8, without a calendar crate (Hinnant's civil_from_days).
fn today_in_china() -> (u32, u32, u32) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = ((secs + 8 * 3600) / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

/// GB 32100-2015's 31 characters, in value order (no I, O, S, V, Z).
const CREDIT_CODE_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Checks a unified social credit code (GB 32100-2015): 18 characters from
/// its alphabet, the last a MOD 31 check character over the first 17.
pub fn validate_credit_code(code: &str) -> Result<(), DocumentError> {
    let code = normalize(code);
    if code.chars().count() != NUMBER_LEN {
        return Err(DocumentError::InvalidCreditCode(CODE_LENGTH));
    }
    let bytes = code.as_bytes();
    if !bytes.iter().all(|b| CREDIT_CODE_ALPHABET.contains(b)) {
        return Err(DocumentError::InvalidCreditCode(CODE_CHARACTERS));
    }
    if credit_code_check_char(&bytes[..NUMBER_LEN - 1]) != Some(bytes[NUMBER_LEN - 1]) {
        return Err(DocumentError::InvalidCreditCode(CODE_CHECK));
    }
    Ok(())
}

/// The check character for the first 17 characters of a credit code; `None`
/// if `body` has another length or a character outside the alphabet.
pub fn credit_code_check_char(body: &[u8]) -> Option<u8> {
    if body.len() != NUMBER_LEN - 1 {
        return None;
    }
    // Weight of position i is 3^i mod 31.
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let mut sum = 0;
    for (c, w) in body.iter().zip(WEIGHTS) {
        let value = CREDIT_CODE_ALPHABET.iter().position(|a| a == c)? as u32;
        sum += value * w;
    }
    Some(CREDIT_CODE_ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// Masks all but the first 4 and last 4 characters of an ID card number or
/// credit code: `3201**********1234`. Shorter input is masked whole.
pub fn mask_id_number(number: &str) -> String {
    mask(number.trim(), 4, 4, 9)
}

/// Masks a phone number: `138****5678` for a mobile number; for shorter
/// numbers only the last four digits stay, and very short ones are masked whole.
pub fn mask_phone(phone: &str) -> String {
    let phone = phone.trim();
    match phone.chars().count() {
        n if n >= 11 => mask(phone, 3, 4, 11),
        _ => mask(phone, 0, 4, 7),
    }
}

/// Keeps `head` and `tail` characters when there are at least `min_len`, so a
/// short input never shows most of itself.
fn mask(value: &str, head: usize, tail: usize, min_len: usize) -> String {
    let n = value.chars().count();
    if n < min_len {
        return "*".repeat(n);
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// Associated data bound into every ciphertext, so a ciphertext made under the
/// same key for some other purpose never decrypts as an identity number.
const AAD: &[u8] = b"shiji/identity-number/v1";

/// Encrypts identity numbers at rest (AES-256-GCM) and hashes them for lookup.
///
/// Ciphertexts are `base64(nonce ‖ ciphertext ‖ tag)` with a random 96-bit
/// nonce; at the volumes of a marketplace (far below 2^32 encryptions per key)
/// random nonces are safe.
pub struct IdNumberCipher {
    aead: Aes256Gcm,
    /// HMAC already keyed with the lookup key; cloned for each hash.
    lookup: HmacSha256,
}

// Keys stay out of logs, even through `{:?}` of a struct that holds a cipher.
impl fmt::Debug for IdNumberCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdNumberCipher { keys: <redacted> }")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl IdNumberCipher {
    /// `key` is 32 random bytes in standard base64 (e.g. `openssl rand -base64 32`).
    pub fn from_base64_key(key: &str) -> Result<Self, DocumentError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| DocumentError::InvalidKey)?;
        if bytes.len() != 32 {
            return Err(DocumentError::InvalidKey);
        }
        let aead = Aes256Gcm::new_from_slice(&bytes).map_err(|_| DocumentError::InvalidKey)?;
        // A separate key for lookups, derived with a label (HKDF-Expand with
        // one block), so one key never serves two algorithms.
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(&bytes).map_err(|_| DocumentError::InvalidKey)?;
        derive.update(b"shiji/identity-number/lookup/v1\x01");
        let lookup = <HmacSha256 as Mac>::new_from_slice(&derive.finalize().into_bytes())
            .map_err(|_| DocumentError::InvalidKey)?;
        Ok(Self { aead, lookup })
    }

    /// Encrypts a number (normalised first, so its lookup hash matches).
    pub fn encrypt(&self, number: &str) -> Result<String, DocumentError> {
        crate::sealed::seal(&self.aead, AAD, &normalize(number)).ok_or(DocumentError::Unencryptable)
    }

    /// Decrypts what `encrypt` made; any change to it, or another key, fails.
    pub fn decrypt(&self, stored: &str) -> Result<String, DocumentError> {
        crate::sealed::open(&self.aead, AAD, stored).ok_or(DocumentError::Undecryptable)
    }

    /// A keyed hash of the normalised number (hex HMAC-SHA256), stored in an
    /// indexed column to find duplicate registrations.
    ///
    /// Keyed, because an ID number has so little entropy (a region, a birth
    /// date, three digits, a check digit) that a plain hash is reversed by
    /// enumeration in minutes; with the key held outside the database a
    /// stolen table reveals nothing. HMAC rather than `sha256(key ‖ number)`:
    /// the latter is sound here too, but HMAC is the standard keyed hash and
    /// nobody has to argue about length extension.
    pub fn lookup_hash(&self, number: &str) -> String {
        let mut mac = self.lookup.clone();
        mac.update(normalize(number).as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed ID card number for a birth date, with its check character.
    fn id_card(body17: &str) -> String {
        let check = id_card_check_char(body17.as_bytes()).unwrap();
        format!("{body17}{}", check as char)
    }

    #[test]
    fn id_card_check_digit_follows_gb_11643() {
        // The worked example in GB 11643-1999, appendix.
        assert_eq!(id_card_check_char(b"11010519491231002"), Some(b'X'));
        assert!(validate_id_card("11010519491231002X").is_ok());
        assert!(validate_id_card("11010519491231002x").is_ok());
        assert!(validate_id_card(" 11010519491231002X ").is_ok());
        let number = id_card("32010219900101123");
        assert!(validate_id_card(&number).is_ok(), "{number}");
        // Every other last character is refused.
        for c in b"0123456789X" {
            let mut other = number.clone().into_bytes();
            other[17] = *c;
            let other = String::from_utf8(other).unwrap();
            assert_eq!(validate_id_card(&other).is_ok(), other == number);
        }
    }

    #[test]
    fn id_card_errors_say_what_is_wrong() {
        let err = |n: &str| validate_id_card(n).unwrap_err();
        assert_eq!(
            err("1101051949123100"),
            DocumentError::InvalidIdCard(ID_LENGTH)
        );
        assert_eq!(
            err("1101051949123100AX"),
            DocumentError::InvalidIdCard(ID_CHARACTERS)
        );
        assert_eq!(
            err(&id_card("11010519490230002")),
            DocumentError::InvalidIdCard(ID_BIRTH_DATE)
        );
        assert_eq!(
            err(&id_card("11010518990101002")),
            DocumentError::InvalidIdCard(ID_BIRTH_DATE)
        );
        assert_eq!(
            err(&id_card("11010530000101002")),
            DocumentError::InvalidIdCard(ID_BIRTH_DATE)
        );
        assert!(validate_id_card(&id_card("11010520000229002")).is_ok());
        assert_eq!(
            err(&id_card("11010519000229002")),
            DocumentError::InvalidIdCard(ID_BIRTH_DATE)
        );
        // A transposition is caught by the check digit.
        assert_eq!(
            err("11010519491213002X"),
            DocumentError::InvalidIdCard(ID_CHECK)
        );
        // Messages never repeat the number, in either language.
        let e = err("11010519491231003X");
        assert!(!e.to_string().contains("110105"));
        assert!(e.text().zh_cn.contains("身份证"));
        assert_eq!(e.code(), "INVALID_ID_CARD_NUMBER");
    }

    #[test]
    fn today_is_a_plausible_date() {
        let (y, m, d) = today_in_china();
        assert!((2024..2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d));
    }

    #[test]
    fn credit_code_check_character_follows_gb_32100() {
        // A published example.
        assert!(validate_credit_code("91350100M000100Y43").is_ok());
        assert_eq!(credit_code_check_char(b"91350100M000100Y4"), Some(b'3'));
        assert!(validate_credit_code("91350100m000100y43").is_ok());
        assert_eq!(
            validate_credit_code("91350100M000100Y44"),
            Err(DocumentError::InvalidCreditCode(CODE_CHECK))
        );
        assert_eq!(
            validate_credit_code("91350100M000100Y4"),
            Err(DocumentError::InvalidCreditCode(CODE_LENGTH))
        );
        // O is not in the alphabet (people type it for 0).
        assert_eq!(
            validate_credit_code("91350100MO00100Y43"),
            Err(DocumentError::InvalidCreditCode(CODE_CHARACTERS))
        );
        // Check character 0 (sum ≡ 0 mod 31) maps to '0', not out of range.
        let body = b"00000000000000000";
        assert_eq!(credit_code_check_char(body), Some(b'0'));
        assert!(validate_credit_code("000000000000000000").is_ok());
    }

    #[test]
    fn masking_keeps_only_the_ends() {
        assert_eq!(mask_id_number("320102199001011234"), "3201**********1234");
        assert_eq!(mask_id_number("91350100M000100Y43"), "9135**********0Y43");
        assert_eq!(mask_id_number("12345678"), "********");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86*******5678");
        assert_eq!(mask_phone("87654321"), "****4321");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone(""), "");
    }

    fn key() -> String {
        STANDARD.encode([7u8; 32])
    }

    #[test]
    fn encryption_round_trips_with_a_fresh_nonce() {
        let cipher = IdNumberCipher::from_base64_key(&key()).unwrap();
        let a = cipher.encrypt("11010519491231002x").unwrap();
        let b = cipher.encrypt("11010519491231002X").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[..16], b[..16]);
        assert_eq!(cipher.decrypt(&a).unwrap(), "11010519491231002X");
        assert_eq!(cipher.decrypt(&b).unwrap(), "11010519491231002X");
        assert!(!a.contains("110105"));
    }

    #[test]
    fn tampering_and_other_keys_are_detected() {
        let cipher = IdNumberCipher::from_base64_key(&key()).unwrap();
        let sealed = cipher.encrypt("11010519491231002X").unwrap();
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        for i in [0, crate::sealed::NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_eq!(
                cipher.decrypt(&STANDARD.encode(&bytes)),
                Err(DocumentError::Undecryptable)
            );
            bytes[i] ^= 1;
        }
        assert_eq!(
            cipher.decrypt("not base64!"),
            Err(DocumentError::Undecryptable)
        );
        assert_eq!(cipher.decrypt("AAAA"), Err(DocumentError::Undecryptable));
        let other = IdNumberCipher::from_base64_key(&STANDARD.encode([8u8; 32])).unwrap();
        assert_eq!(other.decrypt(&sealed), Err(DocumentError::Undecryptable));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(IdNumberCipher::from_base64_key(&STANDARD.encode([1u8; 16])).is_err());
        assert!(IdNumberCipher::from_base64_key("not base64").is_err());
        assert!(IdNumberCipher::from_base64_key(&format!(" {} ", key())).is_ok());
    }

    #[test]
    fn lookup_hashes_find_duplicates_without_the_number() {
        let cipher = IdNumberCipher::from_base64_key(&key()).unwrap();
        let h = cipher.lookup_hash("11010519491231002X");
        assert_eq!(h.len(), 64);
        assert_eq!(h, cipher.lookup_hash(" 11010519491231002x"));
        assert_ne!(h, cipher.lookup_hash("320102199001011234"));
        let other = IdNumberCipher::from_base64_key(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(h, other.lookup_hash("11010519491231002X"));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let cipher = IdNumberCipher::from_base64_key(&key()).unwrap();
        let shown = format!("{cipher:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("7, 7"));
    }
}
