//! JSON options (as users of the JavaScript SDK write them) → tree.
//!
//! Mirrors pinejs-client-core 8.5.40's compiler: the same forms are
//! accepted and give the same URL. Forms for which pinejs-client silently
//! produces a meaningless query (`{$in: [1, 2]}` without a field, `{$eq: 5}`
//! without a field, comparison arrays of three operands) are refused with an
//! error instead. Unsupported: parameter aliases (`@x`), `$duration`, `$fn`,
//! `$isof`, `$cast`, `$format`.

use serde_json::{Map, Value};

use crate::ast::{
    ArithmeticOp, CompareOp, CustomParam, Direction, Expr, Function, Identifier, LambdaKind,
    Literal, Number, OrderByItem, OrderByTarget, PropertyPath, SelectItem,
};
use crate::error::OptionsError;
use crate::limits::{MAX_JSON_DEPTH, MAX_LITERAL_LEN, MAX_QUERY_LEN, MAX_TOP_SKIP};
use crate::options::{ExpandItem, ODataOptions, QueryOption};
use crate::parse;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong(path: &JPath<'_>, expected: &'static str, found: &Value) -> OptionsError {
    OptionsError::WrongType {
        path: display_path(path),
        expected,
        found: type_name(found),
    }
}

fn invalid(path: &JPath<'_>, message: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        path: display_path(path),
        message: message.into(),
    }
}

/// Where in the options object we are; only rendered when there is an error.
#[derive(Clone, Copy)]
enum JPath<'a> {
    Root,
    Key(&'a JPath<'a>, &'a str),
    Index(&'a JPath<'a>, usize),
}

impl JPath<'_> {
    fn write(&self, out: &mut String) {
        match self {
            JPath::Root => {}
            JPath::Key(parent, key) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            JPath::Index(parent, index) => {
                parent.write(out);
                out.push_str(&format!("[{index}]"));
            }
        }
    }
}

fn display_path(path: &JPath<'_>) -> String {
    let mut out = String::new();
    path.write(&mut out);
    if out.is_empty() {
        "(options)".to_owned()
    } else {
        out
    }
}

fn key_path<'a>(path: &'a JPath<'a>, key: &'a str) -> JPath<'a> {
    JPath::Key(path, key)
}

fn index_path<'a>(path: &'a JPath<'a>, index: usize) -> JPath<'a> {
    JPath::Index(path, index)
}

fn ident(text: &str, path: &JPath<'_>) -> Result<Identifier, OptionsError> {
    Identifier::new(text).map_err(|reason| OptionsError::Identifier {
        path: display_path(path),
        reason,
    })
}

fn check_depth(depth: usize, path: &JPath<'_>) -> Result<(), OptionsError> {
    if depth > MAX_JSON_DEPTH {
        return Err(OptionsError::Limit {
            path: display_path(path),
            what: "JSON nesting depth",
            limit: MAX_JSON_DEPTH,
        });
    }
    Ok(())
}

fn is_primitive(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn literal(value: &Value, path: &JPath<'_>) -> Result<Literal, OptionsError> {
    let lit_err = |reason| OptionsError::Literal {
        path: display_path(path),
        reason,
    };
    Ok(match value {
        Value::Null => Literal::Null,
        Value::Bool(b) => Literal::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Literal::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Literal::Number(Number::from(u))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Literal::Number(Number::from_f64(f).map_err(lit_err)?)
            }
        }
        Value::String(s) => {
            if s.len() > MAX_LITERAL_LEN {
                return Err(OptionsError::Limit {
                    path: display_path(path),
                    what: "string literal length",
                    limit: MAX_LITERAL_LEN,
                });
            }
            Literal::String(s.clone())
        }
        other => return Err(wrong(path, "a string, number, boolean or null", other)),
    })
}

/// Entry point of [`ODataOptions::from_json`].
pub(crate) fn options_from_json(value: &Value) -> Result<ODataOptions, OptionsError> {
    let mut options = read_options(value, &JPath::Root, 0, Level::Top)?;
    options.canonicalize();
    crate::options::validate_options(&options, "", 0, true)?;
    if options.to_query_string().len() > MAX_QUERY_LEN {
        return Err(OptionsError::Limit {
            path: display_path(&JPath::Root),
            what: "encoded query length",
            limit: MAX_QUERY_LEN,
        });
    }
    Ok(options)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Expand,
}

fn read_options(
    value: &Value,
    path: &JPath<'_>,
    depth: usize,
    level: Level,
) -> Result<ODataOptions, OptionsError> {
    check_depth(depth, path)?;
    let Value::Object(map) = value else {
        return Err(wrong(path, "an options object", value));
    };
    if let Some(inner) = map.get("$count") {
        if map.len() > 1 {
            return Err(invalid(
                path,
                "`$count` cannot stand beside other options; put them inside it: `{$count: {$filter: …}}`",
            ));
        }
        let inner_path = key_path(path, "$count");
        if level == Level::Expand
            && let Value::Object(inner_map) = inner
            && let Some(other) = inner_map.keys().find(|k| k.as_str() != "$filter")
        {
            return Err(invalid(
                &inner_path,
                format!("an expanded `$count` can only have a `$filter`, got `{other}`"),
            ));
        }
        if let Value::Object(inner_map) = inner
            && inner_map.contains_key("$count")
        {
            return Err(OptionsError::UnknownOption {
                path: display_path(&inner_path),
                option: "$count".to_owned(),
            });
        }
        let mut options = read_options(inner, &inner_path, depth + 1, level)?;
        options.count = true;
        return Ok(options);
    }
    let mut options = ODataOptions::new();
    for (key, value) in map {
        let here = key_path(path, key);
        let option = match key.as_str() {
            "$select" => QueryOption::Select(read_select(value, &here)?),
            "$expand" => QueryOption::Expand(read_expand(value, &here, depth + 1)?),
            "$filter" => QueryOption::Filter(read_filter(value, &here, depth + 1)?),
            "$orderby" => QueryOption::OrderBy(read_orderby(value, &here, depth + 1)?),
            "$top" => QueryOption::Top(read_count(value, &here)?),
            "$skip" => QueryOption::Skip(read_count(value, &here)?),
            k if k.starts_with('$') || k.starts_with('@') => {
                return Err(OptionsError::UnknownOption {
                    path: display_path(path),
                    option: key.clone(),
                });
            }
            _ if level == Level::Expand => {
                return Err(invalid(
                    &here,
                    format!("`{key}` is not an option; to expand it use `$expand: {{{key}: …}}`"),
                ));
            }
            _ => QueryOption::Custom(read_custom(key, value, &here)?),
        };
        options.options.push(option);
    }
    Ok(options)
}

fn read_custom(key: &str, value: &Value, path: &JPath<'_>) -> Result<CustomParam, OptionsError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => match literal(value, path)? {
            Literal::Number(n) => n.as_str().to_owned(),
            _ => String::new(),
        },
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    other => return Err(wrong(&index_path(path, i), "a string", other)),
                }
            }
            parts.join(",")
        }
        other => {
            return Err(wrong(
                path,
                "a string, number, boolean or array of strings",
                other,
            ));
        }
    };
    CustomParam::new(key, text).map_err(|reason| OptionsError::Identifier {
        path: display_path(path),
        reason,
    })
}

fn read_count(value: &Value, path: &JPath<'_>) -> Result<u64, OptionsError> {
    let Value::Number(n) = value else {
        return Err(wrong(path, "a non-negative integer", value));
    };
    let as_int = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9.0e15)
            .map(|f| f as u64)
    });
    match as_int {
        Some(v) if v <= MAX_TOP_SKIP => Ok(v),
        _ => Err(invalid(
            path,
            format!("expected a non-negative integer, found {n}"),
        )),
    }
}

fn syntax(path: &JPath<'_>, text: &str, reason: crate::ParseError) -> OptionsError {
    OptionsError::Syntax {
        path: display_path(path),
        text: text.to_owned(),
        reason,
    }
}

fn read_select(value: &Value, path: &JPath<'_>) -> Result<Vec<SelectItem>, OptionsError> {
    match value {
        Value::String(text) => {
            parse::parse_all(text, "`$select`", |p| p.select()).map_err(|e| syntax(path, text, e))
        }
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid(path, "`$select` arrays need at least one field"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let here = index_path(path, i);
                    match item {
                        Value::String(s) if s == "*" => Ok(SelectItem::All),
                        Value::String(s) => Ok(SelectItem::Field(ident(s, &here)?)),
                        other => Err(wrong(&here, "a field name", other)),
                    }
                })
                .collect()
        }
        other => Err(wrong(path, "a string or an array of field names", other)),
    }
}

fn read_expand(
    value: &Value,
    path: &JPath<'_>,
    depth: usize,
) -> Result<Vec<ExpandItem>, OptionsError> {
    check_depth(depth, path)?;
    let mut items = Vec::new();
    match value {
        Value::String(text) => items.push(expand_name(text, path)?),
        Value::Array(list) => {
            if list.is_empty() {
                return Err(invalid(path, "`$expand` arrays need at least one element"));
            }
            for (i, item) in list.iter().enumerate() {
                items.extend(read_expand(item, &index_path(path, i), depth + 1)?);
            }
        }
        Value::Object(map) => {
            if map.is_empty() {
                return Err(invalid(
                    path,
                    "`$expand` objects need at least one navigation",
                ));
            }
            for (key, options) in map {
                let here = key_path(path, key);
                if key.starts_with('$') {
                    return Err(invalid(
                        &here,
                        "cannot have expand options without first expanding something",
                    ));
                }
                if key.ends_with("/$count") {
                    return Err(invalid(
                        &here,
                        "use `$expand: {nav: {$count: {…}}}` instead of `nav/$count`",
                    ));
                }
                match options {
                    Value::Object(_) => {}
                    Value::Null => return Err(invalid(&here, "expand values must not be null")),
                    Value::Array(_) => {
                        return Err(invalid(
                            &here,
                            format!("use `$expand: {{{key}: {{…}}}}`, not an array"),
                        ));
                    }
                    _ => {
                        return Err(invalid(
                            &here,
                            format!("use `$expand: {{{key}: {{$expand: …}}}}` for a nested expand"),
                        ));
                    }
                }
                let navigation = ident(key, &here)?;
                let options = read_options(options, &here, depth + 1, Level::Expand)?;
                items.push(ExpandItem::new(navigation, options)?);
            }
        }
        other => return Err(wrong(path, "a string, array or object", other)),
    }
    Ok(items)
}

/// `nav` or `nav/$count` given as a string.
fn expand_name(text: &str, path: &JPath<'_>) -> Result<ExpandItem, OptionsError> {
    match text.strip_suffix("/$count") {
        Some(nav) => ExpandItem::new(ident(nav, path)?, ODataOptions::new().with_count()),
        None => Ok(ExpandItem::plain(ident(text, path)?)),
    }
}

fn read_orderby(
    value: &Value,
    path: &JPath<'_>,
    depth: usize,
) -> Result<Vec<OrderByItem>, OptionsError> {
    check_depth(depth, path)?;
    match value {
        Value::String(text) => {
            if text.contains("/$count") {
                return Err(invalid(
                    path,
                    "use `$orderby: {nav: {$count: {…}}, $dir: 'asc'}` instead of `nav/$count`",
                ));
            }
            parse::parse_all(text, "`$orderby`", |p| p.orderby()).map_err(|e| syntax(path, text, e))
        }
        Value::Array(list) => {
            if list.is_empty() {
                return Err(invalid(path, "`$orderby` arrays need at least one element"));
            }
            let mut items = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let here = index_path(path, i);
                if item.is_array() {
                    return Err(invalid(&here, "`$orderby` cannot have nested arrays"));
                }
                items.extend(read_orderby(item, &here, depth + 1)?);
            }
            Ok(items)
        }
        Value::Object(map) => {
            let dir = map.get("$dir");
            let entries: Vec<_> = map.iter().filter(|(k, _)| k.as_str() != "$dir").collect();
            let [(key, value)] = entries.as_slice() else {
                return Err(invalid(
                    path,
                    format!(
                        "`$orderby` objects must have exactly one field, got {}",
                        entries.len()
                    ),
                ));
            };
            let here = key_path(path, key);
            let parse_dir = |v: &Value, at: &JPath<'_>| match v {
                Value::String(s) if s == "asc" => Ok(Direction::Asc),
                Value::String(s) if s == "desc" => Ok(Direction::Desc),
                _ => Err(invalid(at, "`$orderby` direction must be 'asc' or 'desc'")),
            };
            match value {
                Value::String(_) => {
                    let path_value =
                        PropertyPath::parse(key).map_err(|reason| OptionsError::Identifier {
                            path: display_path(&here),
                            reason,
                        })?;
                    Ok(vec![OrderByItem::new(
                        path_value,
                        Some(parse_dir(value, &here)?),
                    )])
                }
                Value::Object(inner) => {
                    let count = inner.get("$count");
                    let Some(count) = count.filter(|_| inner.len() == 1) else {
                        return Err(invalid(
                            &here,
                            "an `$orderby` object value can only be `{$count: …}`",
                        ));
                    };
                    let count_path = key_path(&here, "$count");
                    let filter = read_count_filter(count, &count_path, depth + 1)?;
                    let Some(dir) = dir else {
                        return Err(invalid(
                            path,
                            "`$orderby: {nav: {$count: …}}` needs `$dir: 'asc'|'desc'`",
                        ));
                    };
                    let direction = parse_dir(dir, &key_path(path, "$dir"))?;
                    Ok(vec![OrderByItem {
                        target: OrderByTarget::Count {
                            path: PropertyPath::new(ident(key, &here)?),
                            filter,
                        },
                        direction: Some(direction),
                    }])
                }
                Value::Null => Err(invalid(&here, "`$orderby` object values must not be null")),
                other => Err(wrong(&here, "'asc', 'desc' or {$count: …}", other)),
            }
        }
        other => Err(wrong(path, "a string, array or object", other)),
    }
}

/// The value of a `$count` key: `{}` or `{$filter: …}`.
fn read_count_filter(
    value: &Value,
    path: &JPath<'_>,
    depth: usize,
) -> Result<Option<Box<Expr>>, OptionsError> {
    let Value::Object(map) = value else {
        return Err(wrong(path, "an object ({} or {$filter: …})", value));
    };
    if let Some(other) = map.keys().find(|k| k.as_str() != "$filter") {
        return Err(invalid(
            path,
            format!("`$count` can only have a `$filter`, got `{other}`"),
        ));
    }
    match map.get("$filter") {
        Some(filter) => Ok(Some(Box::new(read_filter(
            filter,
            &key_path(path, "$filter"),
            depth + 1,
        )?))),
        None => Ok(None),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    And,
    Or,
}

fn join(kind: Join, mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        return parts.pop().unwrap_or(Expr::And(Vec::new()));
    }
    match kind {
        Join::And => Expr::And(parts),
        Join::Or => Expr::Or(parts),
    }
}

fn eq_parent(parent: Option<&PropertyPath>, node: Expr) -> Expr {
    match parent {
        Some(p) => Expr::compare(Expr::Path(p.clone()), CompareOp::Eq, node),
        None => node,
    }
}

fn read_filter(value: &Value, path: &JPath<'_>, depth: usize) -> Result<Expr, OptionsError> {
    let mut cx = FilterCx { in_lambda: false };
    cx.filter(value, None, None, path, depth)
}

struct FilterCx {
    in_lambda: bool,
}

impl FilterCx {
    fn filter(
        &mut self,
        value: &Value,
        parent: Option<&PropertyPath>,
        joiner: Option<Join>,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<Expr, OptionsError> {
        check_depth(depth, path)?;
        match value {
            Value::Array(items) => {
                let parts = self.array(items, 2, path, depth)?;
                Ok(eq_parent(parent, join(joiner.unwrap_or(Join::Or), parts)))
            }
            Value::Object(map) => {
                let parts = self.object(map, parent, path, depth)?;
                if parts.is_empty() {
                    return Err(invalid(path, "filter objects need at least one entry"));
                }
                Ok(join(joiner.unwrap_or(Join::And), parts))
            }
            primitive => Ok(eq_parent(parent, Expr::Literal(literal(primitive, path)?))),
        }
    }

    fn array(
        &mut self,
        items: &[Value],
        min: usize,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<Vec<Expr>, OptionsError> {
        if items.len() < min {
            return Err(invalid(
                path,
                format!(
                    "filter arrays must have at least {min} elements, got {}",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.filter(item, None, None, &index_path(path, i), depth + 1))
            .collect()
    }

    fn object(
        &mut self,
        map: &Map<String, Value>,
        parent: Option<&PropertyPath>,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<Vec<Expr>, OptionsError> {
        let mut parts = Vec::with_capacity(map.len());
        for (key, value) in map {
            let here = key_path(path, key);
            if key.starts_with('$') {
                parts.push(self.operator(key, value, parent, &here, depth + 1)?);
            } else if key.starts_with('@') {
                return Err(OptionsError::UnknownOperator {
                    path: display_path(&here),
                    operator: key.clone(),
                });
            } else {
                let name = ident(key, &here)?;
                let keys = match parent {
                    Some(p) if !self.in_lambda => {
                        return Err(invalid(
                            &here,
                            format!(
                                "`{p}: {key}: …` needs a lambda: use `{p}: {{$any: {{$alias: 'x', $expr: {{x: {{{key}: …}}}}}}}}`"
                            ),
                        ));
                    }
                    Some(p) => p.child(name),
                    None => PropertyPath::new(name),
                };
                parts.push(self.filter(value, Some(&keys), None, &here, depth + 1)?);
            }
        }
        Ok(parts)
    }

    fn operator(
        &mut self,
        op: &str,
        value: &Value,
        parent: Option<&PropertyPath>,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<Expr, OptionsError> {
        check_depth(depth, path)?;
        let needs_field = |what: &str| {
            invalid(
                path,
                format!("`{op}` {what} needs a field: write `{{field: {{{op}: …}}}}`"),
            )
        };
        if let Some(cmp) = CompareOp::ALL.into_iter().find(|c| &op[1..] == c.keyword()) {
            return self.binary(
                value,
                parent,
                path,
                depth,
                op,
                |l, r| Expr::compare(l, cmp, r),
                &needs_field,
            );
        }
        if let Some(arith) = ArithmeticOp::ALL
            .into_iter()
            .find(|a| &op[1..] == a.keyword())
        {
            let build = |l, r| Expr::Arithmetic {
                op: arith,
                left: Box::new(l),
                right: Box::new(r),
            };
            return self.binary(value, parent, path, depth, op, build, &needs_field);
        }
        if let Some(function) =
            Function::from_name(&op[1..]).filter(|f| *f != Function::SubstringOf)
        {
            return self.function(function, value, parent, path, depth);
        }
        match op {
            "$raw" => {
                let text = self.raw_text(value, path, depth)?;
                let expr = parse::parse_filter_text(&text).map_err(|e| syntax(path, &text, e))?;
                Ok(eq_parent(parent, Expr::Group(Box::new(expr))))
            }
            "$" => Ok(eq_parent(parent, reference(value, path)?)),
            "$count" => {
                let Some(parent) = parent else {
                    return Err(needs_field("with a count"));
                };
                let filter = match value {
                    Value::Object(_) => read_count_filter_in(self, value, path, depth)?,
                    other => return Err(wrong(path, "an object ({} or {$filter: …})", other)),
                };
                Ok(Expr::Count {
                    path: parent.clone(),
                    filter,
                })
            }
            "$and" | "$or" => {
                if is_primitive(value) {
                    return Err(wrong(path, "an array or object", value));
                }
                let kind = if op == "$and" { Join::And } else { Join::Or };
                let node = self.filter(value, None, Some(kind), path, depth + 1)?;
                Ok(eq_parent(parent, node))
            }
            "$in" => match value {
                Value::Array(items) if items.is_empty() => Err(OptionsError::EmptyIn {
                    path: display_path(path),
                }),
                Value::Array(items) if items.iter().all(is_primitive) => {
                    let Some(parent) = parent else {
                        return Err(needs_field("with a list"));
                    };
                    let values = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| literal(item, &index_path(path, i)))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Expr::In {
                        operand: Box::new(Expr::Path(parent.clone())),
                        values,
                    })
                }
                Value::Array(items) => {
                    let parts = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            self.filter(item, parent, None, &index_path(path, i), depth + 1)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(join(Join::Or, parts))
                }
                Value::Object(map) => {
                    let parts = self.object(map, parent, path, depth)?;
                    if parts.is_empty() {
                        return Err(invalid(path, "`$in` objects need at least one entry"));
                    }
                    Ok(join(Join::Or, parts))
                }
                primitive => {
                    let Some(parent) = parent else {
                        return Err(needs_field("with a value"));
                    };
                    Ok(Expr::field_eq(parent.clone(), literal(primitive, path)?))
                }
            },
            "$not" => {
                let inner = self.filter(value, None, None, path, depth + 1)?;
                Ok(eq_parent(parent, Expr::Not(Box::new(inner))))
            }
            "$any" | "$all" => {
                let Some(parent) = parent else {
                    return Err(needs_field("lambda"));
                };
                let Value::Object(map) = value else {
                    return Err(wrong(path, "an object with $alias and $expr", value));
                };
                let alias = match map.get("$alias") {
                    Some(Value::String(s)) => ident(s, &key_path(path, "$alias"))?,
                    None | Some(Value::Null) => {
                        return Err(invalid(
                            path,
                            format!("lambda expression ({op}) has no alias defined"),
                        ));
                    }
                    Some(other) => return Err(wrong(&key_path(path, "$alias"), "a string", other)),
                };
                let expr = match map.get("$expr") {
                    None | Some(Value::Null) => {
                        return Err(invalid(
                            path,
                            format!("lambda expression ({op}) has no expr defined"),
                        ));
                    }
                    Some(expr) => expr,
                };
                let was = std::mem::replace(&mut self.in_lambda, true);
                let body = self.filter(expr, None, None, &key_path(path, "$expr"), depth + 1);
                self.in_lambda = was;
                Ok(Expr::Lambda {
                    path: parent.clone(),
                    kind: if op == "$any" {
                        LambdaKind::Any
                    } else {
                        LambdaKind::All
                    },
                    alias,
                    body: Box::new(body?),
                })
            }
            _ => Err(OptionsError::UnknownOperator {
                path: display_path(path),
                operator: op.to_owned(),
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        value: &Value,
        parent: Option<&PropertyPath>,
        path: &JPath<'_>,
        depth: usize,
        op: &str,
        build: impl Fn(Expr, Expr) -> Expr,
        needs_field: &dyn Fn(&str) -> OptionsError,
    ) -> Result<Expr, OptionsError> {
        match value {
            Value::Array(items) => {
                if items.len() != 2 {
                    return Err(invalid(
                        path,
                        format!(
                            "`{op}` arrays must have exactly 2 operands, got {}",
                            items.len()
                        ),
                    ));
                }
                let mut parts = self.array(items, 2, path, depth)?;
                let right = parts.pop().unwrap_or(Expr::Literal(Literal::Null));
                let left = parts.pop().unwrap_or(Expr::Literal(Literal::Null));
                Ok(eq_parent(parent, build(left, right)))
            }
            Value::Object(map) => {
                let mut parts = self.object(map, None, path, depth)?;
                match (parts.len(), parent) {
                    (0, _) => Err(invalid(
                        path,
                        format!("`{op}` objects must have at least 1 entry"),
                    )),
                    (1, Some(p)) => Ok(build(Expr::Path(p.clone()), parts.remove(0))),
                    (1, None) => Err(needs_field("with one operand")),
                    (2, _) => {
                        let right = parts.remove(1);
                        let left = parts.remove(0);
                        Ok(eq_parent(parent, build(left, right)))
                    }
                    (n, _) => Err(invalid(
                        path,
                        format!("`{op}` objects must have 1 or 2 entries, got {n}"),
                    )),
                }
            }
            primitive => match parent {
                Some(p) => Ok(build(
                    Expr::Path(p.clone()),
                    Expr::Literal(literal(primitive, path)?),
                )),
                None => Err(needs_field("with a single value")),
            },
        }
    }

    fn function(
        &mut self,
        function: Function,
        value: &Value,
        parent: Option<&PropertyPath>,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<Expr, OptionsError> {
        let (args, wrap_parent) = match value {
            Value::Array(items) => (self.array(items, 2, path, depth)?, true),
            Value::Object(map) => (self.object(map, None, path, depth)?, true),
            primitive => {
                let mut args = Vec::new();
                if let Some(p) = parent {
                    args.push(Expr::Path(p.clone()));
                }
                args.push(Expr::Literal(literal(primitive, path)?));
                (args, false)
            }
        };
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            return Err(invalid(
                path,
                format!(
                    "`{}` takes {min}..={max} argument(s), this gives it {}",
                    function.name(),
                    args.len()
                ),
            ));
        }
        let call = Expr::Function { function, args };
        Ok(if wrap_parent {
            eq_parent(parent, call)
        } else {
            call
        })
    }

    /// The text of a `$raw` filter with its bind parameters substituted, as
    /// pinejs-client does (`$1`/`$name` → `(compiled parameter)`).
    fn raw_text(
        &mut self,
        value: &Value,
        path: &JPath<'_>,
        depth: usize,
    ) -> Result<String, OptionsError> {
        let (mut text, params): (String, Vec<(String, &Value)>) = match value {
            Value::String(s) => return Ok(s.clone()),
            Value::Array(items) => {
                let Some(Value::String(first)) = items.first() else {
                    return Err(invalid(
                        path,
                        "the first element of a `$raw` array must be a string",
                    ));
                };
                (
                    first.clone(),
                    items[1..]
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ((i + 1).to_string(), v))
                        .collect(),
                )
            }
            Value::Object(map) => {
                let Some(Value::String(s)) = map.get("$string") else {
                    return Err(invalid(path, "`$raw` objects need a `$string`"));
                };
                let mut params = Vec::new();
                for (k, v) in map {
                    if k == "$string" {
                        continue;
                    }
                    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err(invalid(
                            path,
                            format!("`$raw` parameter names must be [a-zA-Z0-9]+, got `{k}`"),
                        ));
                    }
                    params.push((k.clone(), v));
                }
                (s.clone(), params)
            }
            other => return Err(wrong(path, "a string, array or object", other)),
        };
        for (name, param) in params {
            let compiled = self.filter(param, None, None, &key_path(path, &name), depth + 1)?;
            let replacement = format!("({compiled})");
            text = replace_bind(&text, &name, &replacement);
            if text.len() > MAX_QUERY_LEN {
                return Err(OptionsError::Limit {
                    path: display_path(path),
                    what: "`$raw` text length",
                    limit: MAX_QUERY_LEN,
                });
            }
        }
        Ok(text)
    }
}

fn read_count_filter_in(
    cx: &mut FilterCx,
    value: &Value,
    path: &JPath<'_>,
    depth: usize,
) -> Result<Option<Box<Expr>>, OptionsError> {
    let Value::Object(map) = value else {
        return Err(wrong(path, "an object", value));
    };
    if let Some(other) = map.keys().find(|k| k.as_str() != "$filter") {
        return Err(invalid(
            path,
            format!("`$count` can only have a `$filter`, got `{other}`"),
        ));
    }
    match map.get("$filter") {
        Some(filter) => Ok(Some(Box::new(cx.filter(
            filter,
            None,
            None,
            &key_path(path, "$filter"),
            depth + 1,
        )?))),
        None => Ok(None),
    }
}

/// Replaces `$name` when followed by a non-alphanumeric character or the end.
fn replace_bind(text: &str, name: &str, replacement: &str) -> String {
    let needle = format!("${name}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&needle) {
        let after = &rest[i + needle.len()..];
        out.push_str(&rest[..i]);
        if after
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        {
            out.push_str(&needle);
        } else {
            out.push_str(replacement);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `{$: 'field'}`, `{$: ['a', 'b']}`, `{$: 'nav/$count'}`.
fn reference(value: &Value, path: &JPath<'_>) -> Result<Expr, OptionsError> {
    let segments: Vec<&str> = match value {
        Value::String(s) => match s.strip_suffix("/$count") {
            Some(head) => vec![head, "$count"],
            None => vec![s.as_str()],
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(wrong(&index_path(path, i), "a string", other)),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(wrong(path, "a field name or an array of names", other)),
    };
    let (count, names) = match segments.split_last() {
        Some((&"$count", head)) => (true, head),
        _ => (false, segments.as_slice()),
    };
    let idents = names
        .iter()
        .map(|n| ident(n, path))
        .collect::<Result<Vec<_>, _>>()?;
    let property =
        PropertyPath::from_segments(idents).map_err(|reason| OptionsError::Identifier {
            path: display_path(path),
            reason,
        })?;
    Ok(if count {
        Expr::Count {
            path: property,
            filter: None,
        }
    } else {
        Expr::Path(property)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_replacement_respects_name_boundaries() {
        assert_eq!(
            replace_bind("a eq $1 or b eq $10", "1", "(x)"),
            "a eq (x) or b eq $10"
        );
        assert_eq!(replace_bind("$1", "1", "(x)"), "(x)");
        assert_eq!(replace_bind("$p $pp", "p", "(y)"), "(y) $pp");
    }

    #[test]
    fn custom_parameters_stringify_like_pinejs() {
        let options = options_from_json(
            &serde_json::json!({"a": ["x", "y"], "b": true, "c": 1.5, "d": "v w"}),
        )
        .unwrap();
        assert_eq!(options.to_query_string(), "a=x,y&b=true&c=1.5&d=v%20w");
        assert!(options_from_json(&serde_json::json!({"a": {"b": 1}})).is_err());
    }
}
