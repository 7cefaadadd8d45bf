//! Reading the daemon's JSON answers for printing: a field as text, a list's items, and the path
//! of a list page with its optional state filter.

use serde_json::Value;

/// The string field `key` of `v`, or `-` when it is missing or not a string.
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

/// The items of the array field `key` of `v` (none when it is missing or not an array).
pub fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The path of a list endpoint's first page: `limit` items, only those in `state` if given.
pub fn list_path(endpoint: &str, state: Option<&str>, limit: u32) -> String {
    let mut path = format!("{endpoint}?limit={limit}");
    if let Some(state) = state {
        path.push_str(&format!("&state={state}"));
    }
    path
}
