//! Bounds that keep a hostile query from exhausting memory or stack.
//!
//! Every entry point checks them: the URL parser ([`PineRequest::parse`](crate::PineRequest::parse),
//! [`ODataOptions::parse_query`](crate::ODataOptions::parse_query)), the JSON
//! reader ([`ODataOptions::from_json`](crate::ODataOptions::from_json)) and
//! [`ODataOptions::validate`](crate::ODataOptions::validate) for trees built by hand.

/// Longest accepted path-and-query (or query) in bytes, as received
/// (percent-encoded). The official SDK's longest OS-model URL is under 1 KiB;
/// a `$in` list of every balena device type is about 2 KiB.
pub const MAX_QUERY_LEN: usize = 32 * 1024;

/// Deepest accepted nesting: filter expressions (each operator, function,
/// lambda, `not` and pair of parentheses is a level) plus `$expand` levels.
/// The deepest OS-model query (supervisor releases) uses 8.
pub const MAX_DEPTH: usize = 32;

/// Longest string literal, in bytes after decoding.
pub const MAX_LITERAL_LEN: usize = 4096;

/// Longest identifier (resource, field, navigation, alias) or custom
/// parameter name, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// Longest number literal, in bytes of text.
pub const MAX_NUMBER_LEN: usize = 64;

/// Deepest JSON nesting [`ODataOptions::from_json`](crate::ODataOptions::from_json)
/// walks (several JSON levels make one tree level, e.g. `{"$any": {"$expr": …}}`).
pub const MAX_JSON_DEPTH: usize = 128;

/// Largest `$top` / `$skip` (fits a signed 64-bit SQL integer).
pub const MAX_TOP_SKIP: u64 = i64::MAX as u64;
