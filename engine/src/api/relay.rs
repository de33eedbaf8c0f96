//! Relay conventions: global object ids, opaque cursors and connections.
//!
//! Every list the API returns is a connection paged with `first`/`after`, at
//! most 100 items a page, so no query can ask the store for an unbounded list.
//! Cursors and ids are opaque to clients (base64url) and versioned so their
//! inside can change without breaking anyone who stored one.

use async_graphql::dynamic::ResolverContext;
use async_graphql::{Name, Value};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use indexmap::IndexMap;

use super::error::{ApiError, ErrorCode};
use crate::i18n::Text;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 100;
/// Page size when the client does not say.
pub const DEFAULT_PAGE_SIZE: usize = 20;

const CURSOR_PREFIX: &str = "c1:";

/// A global object id: which type, and the type's own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalId {
    pub type_name: String,
    pub key: String,
}

impl GlobalId {
    pub fn new(type_name: &str, key: impl ToString) -> Self {
        Self {
            type_name: type_name.to_string(),
            key: key.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.type_name, self.key))
    }

    pub fn decode(id: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new(ErrorCode::BadUserInput)
                .with_text(Text::new("The id is not valid.", "ID 无效。"))
                .with_field(&["id"])
        };
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (type_name, key) = text.split_once(':').ok_or_else(invalid)?;
        if type_name.is_empty() || key.is_empty() {
            return Err(invalid());
        }
        Ok(Self::new(type_name, key))
    }
}

/// `first` and `after` of a connection field, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub first: usize,
    /// The key of the last item the client has seen, decoded from the cursor.
    pub after: Option<String>,
}

impl PageRequest {
    pub fn from_args(ctx: &ResolverContext<'_>) -> Result<Self, ApiError> {
        let first = match ctx.args.get("first") {
            None => DEFAULT_PAGE_SIZE as i64,
            Some(v) if v.is_null() => DEFAULT_PAGE_SIZE as i64,
            Some(v) => v.i64().map_err(|_| too_many())?,
        };
        let first = usize::try_from(first)
            .ok()
            .filter(|f| *f <= MAX_PAGE_SIZE)
            .ok_or_else(too_many)?;
        let after = match ctx.args.get("after") {
            Some(v) if !v.is_null() => {
                let cursor = v.string().map_err(|_| bad_cursor())?;
                Some(decode_cursor(cursor)?)
            }
            _ => None,
        };
        Ok(Self { first, after })
    }

    /// The `after` key parsed as the store's key type; a key of another shape is a bad cursor.
    pub fn after_as<T: std::str::FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.after
            .as_deref()
            .map(|k| k.parse::<T>().map_err(|_| bad_cursor()))
            .transpose()
    }

    /// How many rows to fetch: one extra tells whether there is a next page.
    pub fn fetch_limit(&self) -> i64 {
        self.first as i64 + 1
    }
}

fn too_many() -> ApiError {
    ApiError::new(ErrorCode::BadUserInput)
        .with_text(Text::new(
            "`first` must be between 0 and 100.",
            "`first` 须在 0 到 100 之间。",
        ))
        .with_field(&["first"])
}

fn bad_cursor() -> ApiError {
    ApiError::new(ErrorCode::BadUserInput)
        .with_text(Text::new("The cursor is not valid.", "分页游标无效。"))
        .with_field(&["after"])
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let text = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
    text.strip_prefix(CURSOR_PREFIX)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .ok_or_else(bad_cursor)
}

/// Builds `{ edges { cursor node } pageInfo { ... } }` from up to `first + 1` rows
/// of `(cursor key, node)`.
pub fn connection(page: &PageRequest, mut rows: Vec<(String, Value)>) -> Value {
    let has_next_page = rows.len() > page.first;
    rows.truncate(page.first);
    let start_cursor = rows.first().map(|(k, _)| encode_cursor(k));
    let end_cursor = rows.last().map(|(k, _)| encode_cursor(k));
    let edges = rows
        .into_iter()
        .map(|(key, node)| {
            object([
                ("cursor", Value::String(encode_cursor(&key))),
                ("node", node),
            ])
        })
        .collect();
    let page_info = object([
        ("hasNextPage", Value::Boolean(has_next_page)),
        ("hasPreviousPage", Value::Boolean(page.after.is_some())),
        (
            "startCursor",
            start_cursor.map_or(Value::Null, Value::String),
        ),
        ("endCursor", end_cursor.map_or(Value::Null, Value::String)),
    ]);
    object([("edges", Value::List(edges)), ("pageInfo", page_info)])
}

/// A GraphQL object value from name/value pairs.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut map = IndexMap::with_capacity(N);
    for (name, value) in fields {
        map.insert(Name::new(name), value);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_garbage_is_refused() {
        let id = GlobalId::new("SchemaMigration", 3);
        assert_eq!(GlobalId::decode(&id.encode()).unwrap(), id);
        for bad in ["", "!!!", "bm9jb2xvbg", &URL_SAFE_NO_PAD.encode(":1")] {
            let err = GlobalId::decode(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadUserInput, "{bad}");
        }
    }

    #[test]
    fn connections_page_with_one_extra_row() {
        let page = PageRequest {
            first: 2,
            after: None,
        };
        let rows = (1..=3)
            .map(|i| (i.to_string(), Value::Number(i.into())))
            .collect();
        let json = connection(&page, rows).into_json().unwrap();
        assert_eq!(json["edges"].as_array().unwrap().len(), 2);
        assert_eq!(json["pageInfo"]["hasNextPage"], true);
        assert_eq!(json["pageInfo"]["hasPreviousPage"], false);
        let end = json["pageInfo"]["endCursor"].as_str().unwrap();
        assert_eq!(decode_cursor(end).unwrap(), "2");
        assert!(decode_cursor("not-a-cursor").is_err());
    }
}
