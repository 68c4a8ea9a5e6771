//! [`ODataOptions`]: the query options of one request or one `$expand` level.

use crate::ast::{CustomParam, Expr, Identifier, Literal, OrderByItem, OrderByTarget, SelectItem};
use crate::encode::{self, Mode};
use crate::error::OptionsError;
use crate::limits::{MAX_DEPTH, MAX_LITERAL_LEN, MAX_QUERY_LEN, MAX_TOP_SKIP};

/// One query option, in the order it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueryOption {
    /// `$select=a,b`
    Select(Vec<SelectItem>),
    /// `$expand=nav(…),nav2`
    Expand(Vec<ExpandItem>),
    /// `$filter=…`
    Filter(Expr),
    /// `$orderby=a desc,b`
    OrderBy(Vec<OrderByItem>),
    /// `$top=n`
    Top(u64),
    /// `$skip=n`
    Skip(u64),
    /// A parameter that is not an OData option (`apikey=…`); only allowed at
    /// the top level.
    Custom(CustomParam),
}

impl QueryOption {
    /// The parameter name: `$select`, …, or the custom parameter's name.
    pub fn key(&self) -> &str {
        match self {
            QueryOption::Select(_) => "$select",
            QueryOption::Expand(_) => "$expand",
            QueryOption::Filter(_) => "$filter",
            QueryOption::OrderBy(_) => "$orderby",
            QueryOption::Top(_) => "$top",
            QueryOption::Skip(_) => "$skip",
            QueryOption::Custom(param) => param.name(),
        }
    }
}

/// One `$expand` entry: a navigation property and the options applied to the
/// related rows (`owns__release($select=id;$top=3)`), or with
/// [`ODataOptions::is_count`] set, their count (`owns__release/$count($filter=…)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExpandItem {
    navigation: Identifier,
    options: ODataOptions,
}

impl ExpandItem {
    /// An expansion with options.
    ///
    /// # Errors
    /// [`OptionsError::Invalid`] when `options` has custom parameters, or is a
    /// count with options other than `$filter` (pinejs-client refuses both).
    pub fn new(navigation: Identifier, options: ODataOptions) -> Result<Self, OptionsError> {
        check_expand_options(&options, navigation.as_str())?;
        Ok(ExpandItem {
            navigation,
            options,
        })
    }

    /// A plain expansion without options (`nav`).
    pub fn plain(navigation: Identifier) -> Self {
        ExpandItem {
            navigation,
            options: ODataOptions::new(),
        }
    }

    /// The navigation property.
    pub fn navigation(&self) -> &Identifier {
        &self.navigation
    }

    /// The nested options.
    pub fn options(&self) -> &ODataOptions {
        &self.options
    }
}

fn check_expand_options(options: &ODataOptions, path: &str) -> Result<(), OptionsError> {
    if options
        .options
        .iter()
        .any(|o| matches!(o, QueryOption::Custom(_)))
    {
        return Err(OptionsError::Invalid {
            path: path.to_owned(),
            message: "custom parameters are not allowed inside `$expand`".to_owned(),
        });
    }
    if options.count
        && options
            .options
            .iter()
            .any(|o| !matches!(o, QueryOption::Filter(_)))
    {
        return Err(OptionsError::Invalid {
            path: path.to_owned(),
            message: "an expanded `$count` can only have a `$filter`".to_owned(),
        });
    }
    Ok(())
}

/// The options of a pine request: `$select`, `$expand`, `$filter`,
/// `$orderby`, `$top`, `$skip`, custom parameters, in the order they are sent,
/// plus whether the request asks for a count (`/$count`).
///
/// ```
/// use balena_pine::ODataOptions;
/// use serde_json::json;
///
/// let options = ODataOptions::from_json(&json!({
///     "$select": "slug",
///     "$filter": {"is_host": true, "slug": {"$in": ["intel-nuc", "it's"]}},
/// })).unwrap();
/// assert_eq!(
///     options.to_query_string(),
///     "$select=slug&$filter=is_host%20eq%20true%20and%20slug%20in%20(%27intel-nuc%27,%27it%27%27s%27)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ODataOptions {
    pub(crate) options: Vec<QueryOption>,
    pub(crate) count: bool,
}

macro_rules! getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self) -> Option<&$ty> {
            self.options.iter().find_map(|o| match o {
                QueryOption::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl ODataOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no options and no count.
    pub fn is_empty(&self) -> bool {
        self.options.is_empty() && !self.count
    }

    /// All options in sending order.
    pub fn options(&self) -> &[QueryOption] {
        &self.options
    }

    getter!(
        /// `$select`, if present.
        select, Select, Vec<SelectItem>);
    getter!(
        /// `$expand`, if present.
        expand, Expand, Vec<ExpandItem>);
    getter!(
        /// `$filter`, if present.
        filter, Filter, Expr);
    getter!(
        /// `$orderby`, if present.
        orderby, OrderBy, Vec<OrderByItem>);

    /// `$top`, if present.
    pub fn top(&self) -> Option<u64> {
        self.options.iter().find_map(|o| match o {
            QueryOption::Top(v) => Some(*v),
            _ => None,
        })
    }

    /// `$skip`, if present.
    pub fn skip(&self) -> Option<u64> {
        self.options.iter().find_map(|o| match o {
            QueryOption::Skip(v) => Some(*v),
            _ => None,
        })
    }

    /// Whether this asks for the number of rows (`resource/$count`,
    /// `nav/$count(…)`) instead of the rows.
    pub fn is_count(&self) -> bool {
        self.count
    }

    /// The custom (non-OData) parameters, in order.
    pub fn custom_params(&self) -> impl Iterator<Item = &CustomParam> {
        self.options.iter().filter_map(|o| match o {
            QueryOption::Custom(p) => Some(p),
            _ => None,
        })
    }

    /// The value of the custom parameter `name` (e.g. `apikey`).
    pub fn custom_param(&self, name: &str) -> Option<&str> {
        self.custom_params()
            .find(|p| p.name() == name)
            .map(CustomParam::value)
    }

    /// Sets an option: replaces the one with the same key where it stands,
    /// or appends it.
    pub fn set(&mut self, option: QueryOption) {
        match self.options.iter_mut().find(|o| o.key() == option.key()) {
            Some(slot) => *slot = option,
            None => self.options.push(option),
        }
    }

    /// Removes and returns the option with this key (`"$filter"`, `"apikey"`).
    pub fn remove(&mut self, key: &str) -> Option<QueryOption> {
        let index = self.options.iter().position(|o| o.key() == key)?;
        Some(self.options.remove(index))
    }

    /// Sets or clears the count flag.
    pub fn set_count(&mut self, count: bool) {
        self.count = count;
    }

    /// Builder form of [`set`](Self::set) with `$select`.
    pub fn with_select(mut self, items: Vec<SelectItem>) -> Self {
        self.set(QueryOption::Select(items));
        self
    }

    /// Builder form of [`set`](Self::set) with `$expand`.
    pub fn with_expand(mut self, items: Vec<ExpandItem>) -> Self {
        self.set(QueryOption::Expand(items));
        self
    }

    /// Builder form of [`set`](Self::set) with `$filter`.
    pub fn with_filter(mut self, filter: Expr) -> Self {
        self.set(QueryOption::Filter(filter));
        self
    }

    /// Builder form of [`set`](Self::set) with `$orderby`.
    pub fn with_orderby(mut self, items: Vec<OrderByItem>) -> Self {
        self.set(QueryOption::OrderBy(items));
        self
    }

    /// Builder form of [`set`](Self::set) with `$top`.
    pub fn with_top(mut self, top: u64) -> Self {
        self.set(QueryOption::Top(top));
        self
    }

    /// Builder form of [`set`](Self::set) with `$skip`.
    pub fn with_skip(mut self, skip: u64) -> Self {
        self.set(QueryOption::Skip(skip));
        self
    }

    /// Builder form of [`set`](Self::set) with a custom parameter.
    pub fn with_custom(mut self, param: CustomParam) -> Self {
        self.set(QueryOption::Custom(param));
        self
    }

    /// Builder form of [`set_count`](Self::set_count)`(true)`.
    pub fn with_count(mut self) -> Self {
        self.count = true;
        self
    }

    /// The query string exactly as the JavaScript SDK sends it, already
    /// percent-encoded (`$select=a,b&$filter=x%20eq%20%27y%27`); `""` when
    /// there are no options.
    ///
    /// The count flag does not appear here: it is part of the path
    /// ([`PineRequest::to_url_path`](crate::PineRequest::to_url_path)).
    /// Trees from [`from_json`](Self::from_json) and the parsers are valid;
    /// check trees built by hand with [`validate`](Self::validate) first, as
    /// an invalid tree (an empty `And`, say) encodes to text that does not
    /// parse back.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        encode::write_options(&mut out, self, Mode::Query, false);
        out
    }

    /// The decoded `(key, value)` pairs: what `decodeURIComponent` gives for
    /// each parameter of [`to_query_string`](Self::to_query_string) (the
    /// `query` field of the conformance fixtures).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.options
            .iter()
            .map(|option| {
                let mut value = String::new();
                encode::write_option_value(&mut value, option, Mode::Decoded);
                (option.key().to_owned(), value)
            })
            .collect()
    }

    /// Checks a tree built by hand: non-empty lists, function arities, the
    /// [limits](crate::limits), `$expand` rules. Trees from
    /// [`from_json`](Self::from_json) and the parsers always pass.
    ///
    /// # Errors
    /// The first problem found, with its location.
    pub fn validate(&self) -> Result<(), OptionsError> {
        validate_options(self, "", 0, true)?;
        let len = self.to_query_string().len();
        if len > MAX_QUERY_LEN {
            return Err(OptionsError::Limit {
                path: String::new(),
                what: "encoded query length",
                limit: MAX_QUERY_LEN,
            });
        }
        Ok(())
    }

    /// Rewrites every filter into canonical form ([`Expr::canonical`]).
    pub fn canonicalize(&mut self) {
        for option in &mut self.options {
            match option {
                QueryOption::Filter(expr) => expr.canonicalize(),
                QueryOption::Expand(items) => {
                    for item in items {
                        item.options.canonicalize();
                    }
                }
                QueryOption::OrderBy(items) => {
                    for item in items {
                        if let OrderByTarget::Count {
                            filter: Some(filter),
                            ..
                        } = &mut item.target
                        {
                            let taken = std::mem::replace(filter.as_mut(), Expr::And(Vec::new()));
                            **filter = taken.canonical();
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn join_path(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn invalid(path: &str, message: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn depth_error(path: &str) -> OptionsError {
    OptionsError::Limit {
        path: path.to_owned(),
        what: "nesting depth",
        limit: MAX_DEPTH,
    }
}

pub(crate) fn validate_options(
    options: &ODataOptions,
    path: &str,
    level: usize,
    top: bool,
) -> Result<(), OptionsError> {
    if level > MAX_DEPTH {
        return Err(depth_error(path));
    }
    let mut seen: Vec<&str> = Vec::new();
    for option in &options.options {
        let key = option.key();
        let here = join_path(path, key);
        if seen.contains(&key) {
            return Err(invalid(&here, "option given twice"));
        }
        seen.push(key);
        match option {
            QueryOption::Select(items) => {
                if items.is_empty() {
                    return Err(invalid(&here, "`$select` needs at least one field"));
                }
            }
            QueryOption::Expand(items) => {
                if items.is_empty() {
                    return Err(invalid(&here, "`$expand` needs at least one navigation"));
                }
                for item in items {
                    let item_path = join_path(&here, item.navigation.as_str());
                    check_expand_options(&item.options, &item_path)?;
                    validate_options(&item.options, &item_path, level + 1, false)?;
                }
            }
            QueryOption::Filter(expr) => {
                validate_expr(expr, &here, MAX_DEPTH.saturating_sub(level))?
            }
            QueryOption::OrderBy(items) => {
                if items.is_empty() {
                    return Err(invalid(&here, "`$orderby` needs at least one key"));
                }
                for item in items {
                    if let OrderByTarget::Count {
                        filter: Some(filter),
                        ..
                    } = &item.target
                    {
                        validate_expr(filter, &here, MAX_DEPTH.saturating_sub(level + 1))?;
                    }
                }
            }
            QueryOption::Top(n) | QueryOption::Skip(n) => {
                if *n > MAX_TOP_SKIP {
                    return Err(OptionsError::Limit {
                        path: here,
                        what: "value",
                        limit: MAX_TOP_SKIP as usize,
                    });
                }
            }
            QueryOption::Custom(_) => {
                if !top {
                    return Err(invalid(
                        &here,
                        "custom parameters are only allowed at the top level",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks an expression; `budget` is how many more levels are allowed.
pub(crate) fn validate_expr(expr: &Expr, path: &str, budget: usize) -> Result<(), OptionsError> {
    if budget == 0 {
        return Err(depth_error(path));
    }
    let next = budget - 1;
    match expr {
        Expr::Literal(lit) => validate_literal(lit, path),
        Expr::Path(_) => Ok(()),
        Expr::Count { filter, .. } => match filter {
            Some(f) => validate_expr(f, path, next),
            None => Ok(()),
        },
        Expr::Compare { left, right, .. } | Expr::Arithmetic { left, right, .. } => {
            validate_expr(left, path, next)?;
            validate_expr(right, path, next)
        }
        Expr::In { operand, values } => {
            if values.is_empty() {
                return Err(OptionsError::EmptyIn {
                    path: path.to_owned(),
                });
            }
            for value in values {
                validate_literal(value, path)?;
            }
            validate_expr(operand, path, next)
        }
        Expr::And(parts) | Expr::Or(parts) => {
            if parts.is_empty() {
                return Err(invalid(path, "`and`/`or` needs at least one part"));
            }
            parts.iter().try_for_each(|p| validate_expr(p, path, next))
        }
        Expr::Not(inner) | Expr::Group(inner) => validate_expr(inner, path, next),
        Expr::Function { function, args } => {
            let (min, max) = function.arity();
            if args.len() < min || args.len() > max {
                return Err(invalid(
                    path,
                    format!(
                        "`{}` takes {} argument(s), got {}",
                        function.name(),
                        if min == max {
                            min.to_string()
                        } else {
                            format!("{min} to {max}")
                        },
                        args.len()
                    ),
                ));
            }
            args.iter().try_for_each(|a| validate_expr(a, path, next))
        }
        Expr::Lambda { body, .. } => validate_expr(body, path, next),
    }
}

pub(crate) fn validate_literal(lit: &Literal, path: &str) -> Result<(), OptionsError> {
    if let Literal::String(s) = lit
        && s.len() > MAX_LITERAL_LEN
    {
        return Err(OptionsError::Limit {
            path: path.to_owned(),
            what: "string literal length",
            limit: MAX_LITERAL_LEN,
        });
    }
    Ok(())
}
