//! Password hashing and strength scoring (ACC-3, ACC-6).
//!
//! Passwords are stored only as argon2id PHC strings, so a stolen table costs
//! an attacker real memory and time per guess. The strength score comes from
//! zxcvbn, whose feedback is English enums; every one is translated here so a
//! registration form can explain a refusal in the user's language.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU): callers on the
//! async runtime should run `hash`, `verify` and `dummy_verify` in
//! `tokio::task::spawn_blocking`.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use zxcvbn::feedback::{Suggestion, Warning};

use crate::i18n::{Locale, Text};

/// Argon2id memory cost in KiB (19 MiB).
///
/// 19 MiB, 2 passes, 1 lane is the first configuration in OWASP's Password
/// Storage Cheat Sheet (RFC 9106's second recommendation scaled down for
/// servers). It keeps one hash around 20–40 ms and 19 MiB, so a node on two
/// cores survives a burst of logins (memory grows with concurrent logins, not
/// with users), while a GPU attacker still pays 19 MiB of fast memory per guess.
pub const M_COST_KIB: u32 = 19 * 1024;
/// Argon2id passes over memory; see [`M_COST_KIB`].
pub const T_COST: u32 = 2;
/// Lanes. One: parallelism comes from concurrent requests, not from one hash.
pub const P_COST: u32 = 1;
/// Length of the stored hash output in bytes.
pub const OUTPUT_LEN: usize = 32;

/// Fewer characters than this are refused before zxcvbn is asked.
pub const MIN_LENGTH: usize = 8;
/// More characters than this are refused: nobody types them, and scoring and
/// hashing very long input is a cheap way to make the server work.
pub const MAX_LENGTH: usize = 128;
/// Registration and password change refuse a score below this unless the
/// market configures otherwise (zxcvbn 3: about 10^8–10^10 guesses).
pub const MIN_SCORE_DEFAULT: u8 = 3;

const PARAMS: Params = match Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)) {
    Ok(params) => params,
    Err(_) => panic!("argon2 parameters out of range"),
};

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored PHC string cannot be parsed or names an unsupported algorithm.
    #[error("stored password hash is malformed: {0}")]
    MalformedHash(argon2::password_hash::Error),
    /// Argon2 refused to hash (never for sane input; kept so callers need not panic).
    #[error("password hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`)
/// with a fresh 128-bit salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hashing)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(PasswordError::Hashing)
}

/// Checks a password against a stored PHC string, using the parameters stored
/// in it (so hashes made before a parameter change still verify).
///
/// `Ok(false)` for a wrong password; an error only when `phc` is not a hash.
pub fn verify(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(PasswordError::MalformedHash)?;
    match argon2().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(other) => Err(PasswordError::MalformedHash(other)),
    }
}

/// A hash of a random password, made once, for [`dummy_verify`].
static DUMMY_PHC: LazyLock<Option<String>> = LazyLock::new(|| {
    let mut secret = [0u8; 16];
    rand::rng().fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    hash(&secret).ok()
});

/// Spends what a real [`verify`] spends, for logins to accounts that do not
/// exist, so response time does not tell an attacker which accounts exist.
/// Always "fails"; there is nothing to return.
pub fn dummy_verify(password: &str) {
    match DUMMY_PHC.as_deref() {
        Some(phc) => {
            let _ = verify(password, phc);
        }
        // Hashing costs the same as verifying with the same parameters.
        None => {
            let _ = hash(password);
        }
    }
}

/// Whether a stored hash was made with other parameters (or another algorithm)
/// and should be replaced by `hash(password)` after the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() != M_COST_KIB
                || params.t_cost() != T_COST
                || params.p_cost() != P_COST
                || parsed.hash.map(|h| h.len()) != Some(OUTPUT_LEN)
        }
        Err(_) => true,
    }
}

/// How guessable a candidate password is, with advice in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    /// 0 (guessed at once) to 4 (more than 10^10 guesses).
    pub score: u8,
    /// What is wrong, when something specific is.
    pub warning: Option<String>,
    /// How to do better; empty for a good password.
    pub suggestions: Vec<String>,
}

impl Strength {
    pub fn is_acceptable(&self, min_score: u8) -> bool {
        self.score >= min_score
    }
}

const TOO_SHORT: Text = Text::new("Use at least 8 characters.", "密码至少需要 8 个字符。");
const TOO_LONG: Text = Text::new("Use at most 128 characters.", "密码最多 128 个字符。");
const LENGTH_HINT: Text = Text::new(
    "A few uncommon words together make a password that is long and easy to remember.",
    "把几个不常见的词连在一起，既够长又好记。",
);

/// Scores `password`. `user_inputs` are things the user has told us (name,
/// phone, email, shop name) that a password must not lean on.
pub fn strength(password: &str, user_inputs: &[&str], locale: Locale) -> Strength {
    // Characters, not bytes: a Chinese password is not three times as long.
    let length = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        let warning = if length < MIN_LENGTH {
            TOO_SHORT
        } else {
            TOO_LONG
        };
        return Strength {
            score: 0,
            warning: Some(warning.pick(locale).to_string()),
            suggestions: vec![LENGTH_HINT.pick(locale).to_string()],
        };
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    let feedback = entropy.feedback();
    Strength {
        score: u8::from(entropy.score()),
        warning: feedback
            .and_then(|f| f.warning())
            .map(|w| warning_text(w).pick(locale).to_string()),
        suggestions: feedback
            .map(|f| {
                f.suggestions()
                    .iter()
                    .map(|s| suggestion_text(*s).pick(locale).to_string())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// zxcvbn's warnings in both languages; the match is exhaustive so a new
/// variant in a zxcvbn upgrade fails the build instead of showing English.
pub fn warning_text(warning: Warning) -> Text {
    match warning {
        Warning::StraightRowsOfKeysAreEasyToGuess => Text::new(
            "Straight rows of keys are easy to guess.",
            "键盘上连成一排的按键很容易被猜到。",
        ),
        Warning::ShortKeyboardPatternsAreEasyToGuess => Text::new(
            "Short keyboard patterns are easy to guess.",
            "较短的键盘图形很容易被猜到。",
        ),
        Warning::RepeatsLikeAaaAreEasyToGuess => Text::new(
            "Repeats like \"aaa\" are easy to guess.",
            "像“aaa”这样的重复字符很容易被猜到。",
        ),
        Warning::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess => Text::new(
            "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\".",
            "像“abcabcabc”这样的重复只比“abc”稍难猜一点。",
        ),
        Warning::ThisIsATop10Password => Text::new(
            "This is a top-10 common password.",
            "这是最常用的 10 个密码之一。",
        ),
        Warning::ThisIsATop100Password => Text::new(
            "This is a top-100 common password.",
            "这是最常用的 100 个密码之一。",
        ),
        Warning::ThisIsACommonPassword => Text::new(
            "This is a very common password.",
            "这是一个非常常见的密码。",
        ),
        Warning::ThisIsSimilarToACommonlyUsedPassword => Text::new(
            "This is similar to a commonly used password.",
            "这与一个常用密码很相似。",
        ),
        Warning::SequencesLikeAbcAreEasyToGuess => Text::new(
            "Sequences like abc or 6543 are easy to guess.",
            "像 abc 或 6543 这样的连续序列很容易被猜到。",
        ),
        Warning::RecentYearsAreEasyToGuess => Text::new(
            "Recent years are easy to guess.",
            "最近的年份很容易被猜到。",
        ),
        Warning::AWordByItselfIsEasyToGuess => Text::new(
            "A word by itself is easy to guess.",
            "单独一个单词很容易被猜到。",
        ),
        Warning::DatesAreOftenEasyToGuess => {
            Text::new("Dates are often easy to guess.", "日期通常很容易被猜到。")
        }
        Warning::NamesAndSurnamesByThemselvesAreEasyToGuess => Text::new(
            "Names and surnames by themselves are easy to guess.",
            "单独的姓名很容易被猜到。",
        ),
        Warning::CommonNamesAndSurnamesAreEasyToGuess => Text::new(
            "Common names and surnames are easy to guess.",
            "常见的姓名很容易被猜到。",
        ),
    }
}

/// zxcvbn's suggestions in both languages; exhaustive for the same reason.
pub fn suggestion_text(suggestion: Suggestion) -> Text {
    match suggestion {
        Suggestion::UseAFewWordsAvoidCommonPhrases => Text::new(
            "Use a few words, avoid common phrases.",
            "使用几个单词组合，避免常见短语。",
        ),
        Suggestion::NoNeedForSymbolsDigitsOrUppercaseLetters => Text::new(
            "No need for symbols, digits, or uppercase letters.",
            "不必刻意使用符号、数字或大写字母。",
        ),
        Suggestion::AddAnotherWordOrTwo => Text::new(
            "Add another word or two. Uncommon words are better.",
            "再加一两个单词，不常见的单词更好。",
        ),
        Suggestion::CapitalizationDoesntHelpVeryMuch => Text::new(
            "Capitalization doesn't help very much.",
            "大写字母帮助不大。",
        ),
        Suggestion::AllUppercaseIsAlmostAsEasyToGuessAsAllLowercase => Text::new(
            "All-uppercase is almost as easy to guess as all-lowercase.",
            "全部大写和全部小写几乎一样容易被猜到。",
        ),
        Suggestion::ReversedWordsArentMuchHarderToGuess => Text::new(
            "Reversed words aren't much harder to guess.",
            "把单词倒过来写并不会难猜多少。",
        ),
        Suggestion::PredictableSubstitutionsDontHelpVeryMuch => Text::new(
            "Predictable substitutions like '@' instead of 'a' don't help very much.",
            "用“@”代替“a”这类可预测的替换帮助不大。",
        ),
        Suggestion::UseALongerKeyboardPatternWithMoreTurns => Text::new(
            "Use a longer keyboard pattern with more turns.",
            "使用更长、转折更多的键盘图形。",
        ),
        Suggestion::AvoidRepeatedWordsAndCharacters => Text::new(
            "Avoid repeated words and characters.",
            "避免重复的单词和字符。",
        ),
        Suggestion::AvoidSequences => Text::new("Avoid sequences.", "避免使用连续序列。"),
        Suggestion::AvoidRecentYears => Text::new("Avoid recent years.", "避免使用最近的年份。"),
        Suggestion::AvoidYearsThatAreAssociatedWithYou => Text::new(
            "Avoid years that are associated with you.",
            "避免使用与您相关的年份。",
        ),
        Suggestion::AvoidDatesAndYearsThatAreAssociatedWithYou => Text::new(
            "Avoid dates and years that are associated with you.",
            "避免使用与您相关的日期和年份。",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify_round_trip() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery staple", &phc).unwrap());
        assert!(!verify("correct horse battery stapler", &phc).unwrap());
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn the_same_password_gets_a_different_salt_each_time() {
        assert_ne!(hash("same").unwrap(), hash("same").unwrap());
    }

    #[test]
    fn a_malformed_hash_is_an_error_not_a_wrong_password() {
        assert!(matches!(
            verify("x", "not a hash"),
            Err(PasswordError::MalformedHash(_))
        ));
        assert!(matches!(
            verify("x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA"),
            Ok(false) | Err(PasswordError::MalformedHash(_))
        ));
    }

    #[test]
    fn hashes_with_old_parameters_still_verify_and_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, Some(32)).unwrap(),
        );
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        let phc = weak
            .hash_password(b"old password", &salt)
            .unwrap()
            .to_string();
        assert!(verify("old password", &phc).unwrap());
        assert!(needs_rehash(&phc));
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn dummy_verify_runs_without_an_account() {
        dummy_verify("whatever");
    }

    #[test]
    fn weak_passwords_score_low_and_passphrases_high() {
        let weak = strength("password", &[], Locale::En);
        assert!(weak.score < MIN_SCORE_DEFAULT);
        assert!(weak.warning.is_some());
        let strong = strength("violet tractor spoon monsoon 47", &[], Locale::En);
        assert!(strong.score >= MIN_SCORE_DEFAULT, "{strong:?}");
        assert!(strong.is_acceptable(MIN_SCORE_DEFAULT));
    }

    #[test]
    fn user_inputs_count_against_the_password() {
        let alone = strength("zhangwei13812345678", &[], Locale::En);
        let known = strength(
            "zhangwei13812345678",
            &["zhangwei", "13812345678"],
            Locale::En,
        );
        assert!(known.score < alone.score, "{alone:?} vs {known:?}");
    }

    #[test]
    fn length_limits_score_zero_with_a_reason() {
        let short = strength("Ab1!xyz", &[], Locale::ZhCn);
        assert_eq!(short.score, 0);
        assert_eq!(short.warning.as_deref(), Some(TOO_SHORT.zh_cn));
        let long = strength(&"horse ".repeat(30), &[], Locale::En);
        assert_eq!(long.score, 0);
        assert_eq!(long.warning.as_deref(), Some(TOO_LONG.en));
        // Eight Chinese characters are eight characters, not 24 bytes too many.
        assert_ne!(
            strength("我爱北京天安门啊", &[], Locale::En)
                .warning
                .as_deref(),
            Some(TOO_SHORT.en)
        );
    }

    #[test]
    fn chinese_feedback_is_chinese() {
        let s = strength("password", &[], Locale::ZhCn);
        let is_chinese = |t: &str| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        assert!(is_chinese(s.warning.as_deref().unwrap()), "{s:?}");
        assert!(!s.suggestions.is_empty());
        assert!(s.suggestions.iter().all(|t| is_chinese(t)), "{s:?}");
    }
}
