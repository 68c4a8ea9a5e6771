//! balena's OData dialect ("pine"): one typed query tree, built from the JSON
//! options users of the JavaScript SDK write, merged with the SDK's defaults,
//! encoded to the exact URL the official SDK sends, and parsed back from a
//! URL on the server.
//!
//! ```
//! use balena_pine::{merge_pine_options, ODataOptions, PineRequest};
//! use serde_json::json;
//!
//! // The SDK's defaults for the release expand, and a caller's options.
//! let defaults = json!({
//!     "$select": ["id", "raw_version"],
//!     "$filter": {"is_final": true},
//! });
//! let caller = json!({"$filter": {"variant": "prod"}, "$top": 3});
//! let merged = merge_pine_options(&defaults, Some(&caller)).unwrap();
//! let options = ODataOptions::from_json(&merged).unwrap();
//! let url = PineRequest::new("release", options).to_url_path("v7");
//! assert_eq!(
//!     url,
//!     "/v7/release?$select=id,raw_version&$filter=is_final%20eq%20true%20and%20variant%20eq%20%27prod%27&$top=3"
//! );
//!
//! // The server reads the same tree back.
//! let (version, request) = PineRequest::parse(&url).unwrap();
//! assert_eq!(version, "v7");
//! assert_eq!(request.to_url_path("v7"), url);
//! ```
//!
//! The same tree can be built with typed values instead of JSON:
//!
//! ```
//! use balena_pine::{Expr, ExpandItem, Identifier, Literal, ODataOptions, PropertyPath, SelectItem};
//!
//! let id = |s: &str| Identifier::new(s).unwrap();
//! let slugs = Expr::In {
//!     operand: Box::new(Expr::path("dt/slug").unwrap()),
//!     values: vec![Literal::from("intel-nuc")],
//! };
//! let options = ODataOptions::new()
//!     .with_select(vec![SelectItem::Field(id("is_for__device_type"))])
//!     .with_expand(vec![ExpandItem::new(
//!         id("is_for__device_type"),
//!         ODataOptions::new().with_select(vec![SelectItem::Field(id("slug"))]),
//!     ).unwrap()])
//!     .with_filter(Expr::and([
//!         Expr::field_eq(PropertyPath::new(id("is_host")), true),
//!         Expr::any(PropertyPath::new(id("is_for__device_type")), id("dt"), slugs),
//!     ]));
//! options.validate().unwrap();
//! assert_eq!(
//!     options.to_query_string(),
//!     "$select=is_for__device_type&$expand=is_for__device_type($select=slug)\
//!      &$filter=is_host%20eq%20true%20and%20is_for__device_type/any(dt:dt/slug%20in%20(%27intel-nuc%27))"
//! );
//! ```
//!
//! # Accepted grammar
//!
//! A request target is `/<vN>/<resource>[/$count][(<key>)][/$count][?<query>]`
//! with `<key>` one of `123`, `'text'`, `name=<literal>[,name=<literal>…]`.
//! The query is `&`-separated `name=value` pairs, each decoded once with
//! `decodeURIComponent` rules (`+` stays `+`). System options, each at most
//! once: `$select`, `$expand`, `$filter`, `$orderby`, `$top`, `$skip`; other
//! names are kept as [`CustomParam`]s (`apikey`); `@` aliases are refused.
//!
//! ```text
//! select   = ("*" / identifier) *( "," ("*" / identifier) )
//! expand   = item *( "," item ),  item = identifier ["/$count"] ["(" option *(";" option) ")"]
//! orderby  = key *( "," key ),    key = path ["/$count" ["($filter=" filter ")"]] [WS ("asc"/"desc")]
//! filter   = or
//! or       = and *( WS "or" WS and )
//! and      = cmp *( WS "and" WS cmp )
//! cmp      = add *( WS ("eq"/"ne"/"gt"/"ge"/"lt"/"le") WS add / WS "in" [WS] "(" literal *("," literal) ")" )
//! add      = mul *( WS ("add"/"sub") WS mul )
//! mul      = primary *( WS ("mul"/"div"/"mod") WS primary )
//! primary  = "(" filter ")" / literal / "not" [WS] "(" filter ")" / "not" WS primary
//!          / function "(" [filter *("," filter)] ")"
//!          / path [ "/$count" [ "($filter=" filter ")" ] / "/" ("any"/"all") "(" identifier ":" filter ")" ]
//! path     = identifier *( "/" identifier )
//! literal  = "null" / "true" / "false" / number / "'" *( char / "''" ) "'" / "datetime'" date-time "'"
//! number   = ["-"] 1*DIGIT ["." 1*DIGIT] [("e"/"E") ["+"/"-"] 1*DIGIT]
//! ```
//!
//! `WS` is one or more spaces or tabs; optional whitespace is also accepted
//! inside parentheses and around commas. Keywords are lower case. Functions
//! are those of [`Function`] with their arities. Identifiers match
//! `[A-Za-z_][A-Za-z0-9_]*` and are not [`RESERVED_WORDS`].
//!
//! What the crate deliberately does not do: know pine's schema (which fields
//! and navigations exist), translate to SQL, or perform requests. Those
//! belong to the server and the SDK.
//!
//! Bounds on hostile input are in [`limits`]; they are re-exported at the
//! crate root.

mod ast;
mod encode;
mod error;
mod json;
pub mod limits;
mod merge;
mod options;
mod parse;
mod request;

pub use ast::{
    ArithmeticOp, CompareOp, CustomParam, DateTime, Direction, Expr, Function, Identifier,
    LambdaKind, Literal, Number, OrderByItem, OrderByTarget, PropertyPath, RESERVED_WORDS,
    ResourceKey, SelectItem,
};
pub use error::{IdentifierError, LiteralError, OptionsError, ParseError};
pub use limits::{
    MAX_DEPTH, MAX_IDENTIFIER_LEN, MAX_JSON_DEPTH, MAX_LITERAL_LEN, MAX_NUMBER_LEN, MAX_QUERY_LEN,
    MAX_TOP_SKIP,
};
pub use merge::merge_pine_options;
pub use options::{ExpandItem, ODataOptions, QueryOption};
pub use request::PineRequest;

impl ODataOptions {
    /// Reads options written as the JavaScript SDK's users write them (the
    /// pinejs-client-core 8.5.40 object form) and returns them as a
    /// validated, canonical tree.
    ///
    /// Accepted: `$select` (string or array), `$expand` (string, array or
    /// object with nested options, `{nav: {$count: {$filter}}}`), `$filter`
    /// (plain `field: value` equality, nested navigation objects inside
    /// lambdas, `$eq $ne $gt $ge $lt $le $add $sub $mul $div $mod $in $and
    /// $or $not $any $all ($alias/$expr) $count $raw $` and the string and
    /// date functions such as `$startswith $endswith $contains $tolower`;
    /// arrays mean `or`, or `and` under `$and`), `$orderby` (string, array,
    /// `{field: 'asc'|'desc'}`, `{nav: {$count: …}, $dir}`), `$top`, `$skip`,
    /// `$count`, and non-`$` keys as custom query parameters (top level only).
    ///
    /// ```
    /// use balena_pine::ODataOptions;
    /// use serde_json::json;
    ///
    /// let options = ODataOptions::from_json(&json!({
    ///     "$filter": {"is_for__device_type": {"$any": {"$alias": "dt", "$expr": {"dt": {"slug": {"$in": ["intel-nuc"]}}}}}}
    /// })).unwrap();
    /// assert_eq!(options.to_query_string(), "$filter=is_for__device_type/any(dt:dt/slug%20in%20(%27intel-nuc%27))");
    ///
    /// let err = ODataOptions::from_json(&json!({"$filter": {"slug": {"$in": []}}})).unwrap_err();
    /// assert_eq!(err.to_string(), "$filter.slug.$in: `$in` needs at least one value");
    /// ```
    ///
    /// # Errors
    /// [`OptionsError`] naming where in the object the problem is: wrong
    /// types, unknown operators or options, empty `$in` lists or arrays,
    /// invalid names, [limits](crate::limits) exceeded.
    pub fn from_json(options: &serde_json::Value) -> Result<Self, OptionsError> {
        json::options_from_json(options)
    }

    /// Parses a raw (percent-encoded) query string such as
    /// `$select=id&$filter=is_host%20eq%20true&apikey=…` (without the `?`).
    ///
    /// Every parameter is split on `&` and `=`, decoded once with
    /// `decodeURIComponent` rules (`+` stays `+`), and parsed. `$`-options
    /// must be one of `$select $expand $filter $orderby $top $skip` and
    /// appear once; `@` parameter aliases are refused; any other parameter is
    /// kept as a [`CustomParam`].
    ///
    /// # Errors
    /// [`ParseError`] with the byte offset in `query`.
    pub fn parse_query(query: &str) -> Result<Self, ParseError> {
        parse::parse_query(query, 0)
    }
}

impl Expr {
    /// Parses decoded filter text (`is_host eq true and slug in ('a')`) into
    /// a canonical tree. Positions in errors are byte offsets in `text`.
    ///
    /// ```
    /// use balena_pine::Expr;
    /// let expr = Expr::parse("a/any(x:x/b eq 'it''s')").unwrap();
    /// assert_eq!(expr.to_string(), "a/any(x:x/b eq 'it''s')");
    /// ```
    ///
    /// # Errors
    /// [`ParseError`].
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        parse::parse_filter_text(text)
    }
}
