//! Reading the plugin's per-market configuration (`market.config_json`).
//!
//! The engine validated the configuration against the manifest's JSON Schema
//! when an administrator enabled the plugin, so a plugin only has to pick its
//! values out. The readers here do that for the top-level keys of a JSON
//! object without a JSON library, which keeps a component tens of kilobytes
//! smaller:
//!
//! ```
//! use shiji_sdk::config;
//! let json = r#"{"discountPercent": 15, "label": "spring", "nested": {"discountPercent": 1}}"#;
//! assert_eq!(config::integer(json, "discountPercent"), Some(15));
//! assert_eq!(config::string(json, "label"), Some("spring"));
//! assert_eq!(config::integer(config::raw(json, "nested").unwrap(), "discountPercent"), Some(1));
//! assert_eq!(config::boolean(json, "missing"), None);
//! ```
//!
//! Every reader answers `None` for a missing key, a value of another type, or
//! input that is not a JSON object, so `unwrap_or(default)` gives the plugin
//! its default. Only top-level keys are seen (a key inside a nested object or
//! inside a string is not confused for one); read nested objects through
//! [`raw`]. Keys are compared as written, without unescaping, and the first
//! occurrence of a key wins. The rest of the text is not validated.
//!
//! For a richer configuration enable the crate's `json` feature and
//! deserialise it with `config::parse::<YourConfig>(json)` (serde_json).

/// The JSON text of the top-level `key`'s value (a number, string with its
/// quotes, object, array, `true`, `false` or `null`), or `None`.
pub fn raw<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let bytes = json.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_whitespace(bytes, at);
        if bytes.get(at) != Some(&b'"') {
            // `}` (the end) or something that is not JSON.
            return None;
        }
        let key_end = skip_string(bytes, at)?;
        let found = &json[at + 1..key_end - 1];
        at = skip_whitespace(bytes, key_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let value_start = skip_whitespace(bytes, at + 1);
        let value_end = skip_value(bytes, value_start)?;
        if found == key {
            return Some(&json[value_start..value_end]);
        }
        at = skip_whitespace(bytes, value_end);
        if bytes.get(at) != Some(&b',') {
            return None;
        }
        at += 1;
    }
}

/// The top-level `key` as an integer: `15`, `-5`, or `15.0` (a zero
/// fraction, as some JSON writers put it). Numbers beyond `i64` saturate at
/// `i64::MIN`/`i64::MAX`. A fraction other than zero, an exponent, or a value
/// that is not a number answers `None`.
pub fn integer(json: &str, key: &str) -> Option<i64> {
    let value = raw(json, key)?;
    let (negative, unsigned) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(fraction) = fraction
        && (fraction.is_empty() || !fraction.bytes().all(|b| b == b'0'))
    {
        return None;
    }
    Some(whole.bytes().fold(0i64, |n, digit| {
        let digit = i64::from(digit - b'0');
        if negative {
            n.saturating_mul(10).saturating_sub(digit)
        } else {
            n.saturating_mul(10).saturating_add(digit)
        }
    }))
}

/// The top-level `key` as a number (integer or not), e.g. a rate.
pub fn number(json: &str, key: &str) -> Option<f64> {
    let value = raw(json, key)?;
    // JSON numbers start with a digit or a minus; this keeps out the `inf`
    // and `NaN` that Rust's parser would accept.
    let first = value.bytes().next()?;
    if first != b'-' && !first.is_ascii_digit() {
        return None;
    }
    value.parse().ok()
}

/// The top-level `key` as a string, borrowed from `json`.
///
/// A string containing an escape sequence (`\"`, `\n`, `\u00e9`, ...) answers
/// `None`: it cannot be borrowed as written. Plain UTF-8 (Chinese included)
/// needs no escapes; for strings that do, use the `json` feature.
pub fn string<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let inner = raw(json, key)?.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return None;
    }
    Some(inner)
}

/// The top-level `key` as a boolean.
pub fn boolean(json: &str, key: &str) -> Option<bool> {
    match raw(json, key)? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Deserialises the whole configuration with serde_json.
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Config {
///     #[serde(default)]
///     discount_percent: Option<u8>,
/// }
/// let config: Config = shiji_sdk::config::parse(r#"{"discountPercent": 15}"#).unwrap();
/// assert_eq!(config.discount_percent, Some(15));
/// ```
#[cfg(feature = "json")]
pub fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(json)
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// `bytes[at]` is the opening quote; returns the index after the closing one.
fn skip_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// Returns the index just after the value starting at `at`. Objects and
/// arrays are skipped by counting brackets outside strings (no recursion, so
/// deep nesting cannot overflow the stack).
fn skip_value(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => skip_string(bytes, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = at;
            loop {
                match bytes.get(at)? {
                    b'"' => {
                        at = skip_string(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let end = bytes[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(bytes.len(), |length| at + length);
            (end > at).then_some(end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers() {
        assert_eq!(
            integer(r#"{"discountPercent": 15}"#, "discountPercent"),
            Some(15)
        );
        assert_eq!(integer(r#"{"a":0}"#, "a"), Some(0));
        assert_eq!(integer(r#"{"a": -5}"#, "a"), Some(-5));
        assert_eq!(integer(r#"{"a": 15.0}"#, "a"), Some(15));
        assert_eq!(integer(r#"{"a": 15.00}"#, "a"), Some(15));
        assert_eq!(integer(r#"{"a": 15.5}"#, "a"), None);
        assert_eq!(integer(r#"{"a": 15.}"#, "a"), None);
        assert_eq!(integer(r#"{"a": 1e2}"#, "a"), None);
        assert_eq!(integer(r#"{"a": -}"#, "a"), None);
        assert_eq!(
            integer(r#"{"a": 9223372036854775807}"#, "a"),
            Some(i64::MAX)
        );
        assert_eq!(
            integer(r#"{"a": -9223372036854775808}"#, "a"),
            Some(i64::MIN)
        );
    }

    #[test]
    fn huge_integers_saturate() {
        assert_eq!(
            integer(r#"{"a": 99999999999999999999999}"#, "a"),
            Some(i64::MAX)
        );
        assert_eq!(
            integer(r#"{"a": -99999999999999999999999}"#, "a"),
            Some(i64::MIN)
        );
    }

    #[test]
    fn whitespace_anywhere_json_allows_it() {
        let json = " \n{ \t\"a\" \r\n :\n 7 ,\"b\"\t:\"x\" , \"c\" : true }\n";
        assert_eq!(integer(json, "a"), Some(7));
        assert_eq!(string(json, "b"), Some("x"));
        assert_eq!(boolean(json, "c"), Some(true));
        assert_eq!(integer(r#"{"a":7}"#, "a"), Some(7));
    }

    #[test]
    fn missing_keys_and_non_objects_answer_none() {
        assert_eq!(integer("", "a"), None);
        assert_eq!(integer("{}", "a"), None);
        assert_eq!(integer("  {  }  ", "a"), None);
        assert_eq!(integer(r#"{"b": 1}"#, "a"), None);
        assert_eq!(integer("null", "a"), None);
        assert_eq!(integer(r#"[{"a": 1}]"#, "a"), None);
        assert_eq!(integer(r#""a": 1"#, "a"), None);
        // Truncated text: what was read before the break still counts.
        assert_eq!(integer(r#"{"a": 1, "b": "#, "a"), Some(1));
        assert_eq!(integer(r#"{"b": "unterminated, "a": 1"#, "a"), None);
        assert_eq!(integer(r#"{"a": "#, "a"), None);
        // A key differing in case is another key.
        assert_eq!(integer(r#"{"A": 1}"#, "a"), None);
    }

    #[test]
    fn wrong_types_answer_none() {
        let json = r#"{"n": 3, "s": "x", "b": false, "z": null, "o": {}, "l": [1]}"#;
        assert_eq!(integer(json, "s"), None);
        assert_eq!(integer(json, "b"), None);
        assert_eq!(integer(json, "z"), None);
        assert_eq!(integer(json, "o"), None);
        assert_eq!(integer(json, "l"), None);
        assert_eq!(string(json, "n"), None);
        assert_eq!(string(json, "z"), None);
        assert_eq!(boolean(json, "n"), None);
        assert_eq!(boolean(json, "s"), None);
        assert_eq!(boolean(json, "b"), Some(false));
        assert_eq!(number(json, "s"), None);
        assert_eq!(raw(json, "z"), Some("null"));
        assert_eq!(raw(json, "l"), Some("[1]"));
    }

    #[test]
    fn reads_numbers() {
        let json = r#"{"rate": 0.035, "n": -2, "e": 1.5e3, "word": nan}"#;
        assert_eq!(number(json, "rate"), Some(0.035));
        assert_eq!(number(json, "n"), Some(-2.0));
        assert_eq!(number(json, "e"), Some(1500.0));
        assert_eq!(number(json, "word"), None);
    }

    #[test]
    fn reads_strings() {
        let json = r#"{"behaviour": "loop", "greeting": "你好", "empty": "", "escaped": "a\"b"}"#;
        assert_eq!(string(json, "behaviour"), Some("loop"));
        assert_eq!(string(json, "greeting"), Some("你好"));
        assert_eq!(string(json, "empty"), Some(""));
        // Cannot be borrowed as written: `None` rather than a wrong string.
        assert_eq!(string(json, "escaped"), None);
    }

    #[test]
    fn nested_values_and_strings_do_not_confuse_the_reader() {
        let json = r#"{
            "inner": {"a": 1, "deeper": {"a": 2}, "list": ["a", {"a": 3}]},
            "text": "\"a\": 4, } ] {",
            "list": [[{"a": 5}], "]", "}"],
            "a": 6
        }"#;
        assert_eq!(integer(json, "a"), Some(6));
        assert_eq!(
            string(json, "text"),
            None,
            "escaped quotes inside the string"
        );
        let inner = raw(json, "inner").unwrap();
        assert_eq!(integer(inner, "a"), Some(1));
        assert_eq!(integer(raw(inner, "deeper").unwrap(), "a"), Some(2));
        // Only a nested occurrence: not a top-level key.
        assert_eq!(integer(r#"{"x": {"a": 1}}"#, "a"), None);
        assert_eq!(integer(r#"{"x": "\"a\": 1"}"#, "a"), None);
    }

    #[test]
    fn the_first_occurrence_wins() {
        assert_eq!(integer(r#"{"a": 1, "a": 2}"#, "a"), Some(1));
    }

    #[test]
    fn deep_nesting_is_no_problem() {
        let json = format!(
            r#"{{"deep": {}{}, "a": 1}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(integer(&json, "a"), Some(1));
    }

    #[cfg(feature = "json")]
    #[test]
    fn parses_with_serde() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Config {
            behaviour: String,
        }
        let config: Config = parse(r#"{"behaviour": "lo\"op"}"#).unwrap();
        assert_eq!(config.behaviour, "lo\"op");
        assert!(parse::<Config>("{}").is_err());
    }
}
