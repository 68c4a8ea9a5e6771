//! Tree → text, following pinejs-client-core 8.5.40 byte for byte.
//!
//! Parenthesisation is pinejs-client's: an `and` part is wrapped only when
//! it is an `or` (and the other way round), so nested `and`s flatten; an
//! operand of a comparison, arithmetic operator or `in` is wrapped when it is
//! itself made of several tokens (a comparison, `in`, lambda, multi-part
//! `and`/`or`); function arguments, `not(…)`, lambda bodies and `$count`
//! filters are never wrapped again. [`Expr::canonical`] is the matching
//! normal form: parsing the encoder's output gives the canonical tree back.
//!
//! Wire form: a string literal is `'` + `encodeURIComponent(value with '
//! doubled)` + `'`, then the WHATWG URL serialiser turns every space into
//! `%20` and every `'` into `%27` in the query (not in the path).

use std::fmt::{self, Write as _};

use crate::ast::{
    Expr, Literal, OrderByItem, OrderByTarget, PropertyPath, ResourceKey, SelectItem,
};
use crate::options::{ExpandItem, ODataOptions, QueryOption};

/// Which text is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Logical OData text (what `decodeURIComponent` of the wire form gives).
    Decoded,
    /// Percent-encoded for a URL query.
    Query,
    /// Percent-encoded for a URL path (quotes stay raw).
    Path,
}

impl Mode {
    fn space(self) -> &'static str {
        match self {
            Mode::Decoded => " ",
            Mode::Query | Mode::Path => "%20",
        }
    }

    fn quote(self) -> &'static str {
        match self {
            Mode::Query => "%27",
            Mode::Decoded | Mode::Path => "'",
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_pct(out: &mut String, byte: u8) {
    out.push('%');
    out.push(HEX[(byte >> 4) as usize] as char);
    out.push(HEX[(byte & 15) as usize] as char);
}

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
pub(crate) fn encode_uri_component(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(b as char);
        } else {
            push_pct(out, b);
        }
    }
}

/// Encoding for custom parameter names and values in a query: the WHATWG
/// special-query set plus `%`, `&`, `=` (names only) so that the result
/// splits and decodes back unambiguously.
fn encode_custom(out: &mut String, text: &str, is_name: bool) {
    for &b in text.as_bytes() {
        let escape = b <= 0x20
            || b >= 0x7f
            || matches!(b, b'"' | b'#' | b'<' | b'>' | b'\'' | b'%' | b'&')
            || (is_name && b == b'=');
        if escape {
            push_pct(out, b);
        } else {
            out.push(b as char);
        }
    }
}

pub(crate) fn write_literal(out: &mut String, lit: &Literal, mode: Mode) {
    match lit {
        Literal::Null => out.push_str("null"),
        Literal::Bool(true) => out.push_str("true"),
        Literal::Bool(false) => out.push_str("false"),
        Literal::Number(n) => out.push_str(n.as_str()),
        Literal::String(s) => {
            out.push_str(mode.quote());
            let doubled;
            let text = if s.contains('\'') {
                doubled = s.replace('\'', "''");
                doubled.as_str()
            } else {
                s.as_str()
            };
            match mode {
                Mode::Decoded => out.push_str(text),
                Mode::Path => encode_uri_component(out, text),
                Mode::Query => {
                    // encodeURIComponent keeps `'`; the URL serialiser then
                    // escapes it in the query.
                    for segment in text.split_inclusive('\'') {
                        match segment.strip_suffix('\'') {
                            Some(head) => {
                                encode_uri_component(out, head);
                                out.push_str("%27");
                            }
                            None => encode_uri_component(out, segment),
                        }
                    }
                }
            }
            out.push_str(mode.quote());
        }
        Literal::DateTime(d) => {
            out.push_str("datetime");
            out.push_str(mode.quote());
            out.push_str(d.as_str());
            out.push_str(mode.quote());
        }
    }
}

fn write_path(out: &mut String, path: &PropertyPath) {
    for (i, segment) in path.segments().iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment.as_str());
    }
}

/// How an expression renders, for the parenthesisation rules.
#[derive(Clone, Copy)]
struct Shape {
    /// Several tokens (wrapped when an operand).
    multi: bool,
    /// Has ` and ` at its top level (wrapped when an `or` part).
    top_and: bool,
    /// Has ` or ` at its top level (wrapped when an `and` part).
    top_or: bool,
}

const SINGLE: Shape = Shape {
    multi: false,
    top_and: false,
    top_or: false,
};

fn shape(expr: &Expr) -> Shape {
    match expr {
        Expr::And(parts) | Expr::Or(parts) if parts.len() == 1 => shape(&parts[0]),
        Expr::And(parts) if parts.len() >= 2 => Shape {
            multi: true,
            top_and: true,
            top_or: false,
        },
        Expr::Or(parts) if parts.len() >= 2 => Shape {
            multi: true,
            top_and: false,
            top_or: true,
        },
        Expr::Compare { .. } | Expr::Arithmetic { .. } | Expr::In { .. } | Expr::Lambda { .. } => {
            Shape {
                multi: true,
                top_and: false,
                top_or: false,
            }
        }
        _ => SINGLE,
    }
}

/// Where an expression stands, for the parenthesisation rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Nothing wraps it (filter root, inside parentheses of any kind).
    Free,
    /// A part of a multi-part `and`.
    AndPart,
    /// A part of a multi-part `or`.
    OrPart,
    /// An operand of a comparison, arithmetic operator or `in`.
    Operand,
}

fn wraps(position: Position, expr: &Expr) -> bool {
    let s = shape(expr);
    match position {
        Position::Free => false,
        Position::AndPart => s.top_or,
        Position::OrPart => s.top_and,
        Position::Operand => s.multi,
    }
}

fn write_at(out: &mut String, expr: &Expr, mode: Mode, position: Position) {
    if wraps(position, expr) {
        out.push('(');
        write_expr(out, expr, mode);
        out.push(')');
    } else {
        write_expr(out, expr, mode);
    }
}

pub(crate) fn write_expr(out: &mut String, expr: &Expr, mode: Mode) {
    match expr {
        Expr::Literal(lit) => write_literal(out, lit, mode),
        Expr::Path(path) => write_path(out, path),
        Expr::Count { path, filter } => {
            write_path(out, path);
            out.push_str("/$count");
            if let Some(filter) = filter {
                out.push_str("($filter=");
                write_expr(out, filter, mode);
                out.push(')');
            }
        }
        Expr::Compare { op, left, right } => {
            write_binary(out, left, op.keyword(), right, mode);
        }
        Expr::Arithmetic { op, left, right } => {
            write_binary(out, left, op.keyword(), right, mode);
        }
        Expr::In { operand, values } => {
            write_at(out, operand, mode, Position::Operand);
            out.push_str(mode.space());
            out.push_str("in");
            out.push_str(mode.space());
            out.push('(');
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_literal(out, value, mode);
            }
            out.push(')');
        }
        Expr::And(parts) => write_connective(out, parts, "and", Position::AndPart, mode),
        Expr::Or(parts) => write_connective(out, parts, "or", Position::OrPart, mode),
        Expr::Not(inner) => {
            out.push_str("not(");
            write_expr(out, inner, mode);
            out.push(')');
        }
        Expr::Function { function, args } => {
            out.push_str(function.name());
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_expr(out, arg, mode);
            }
            out.push(')');
        }
        Expr::Lambda {
            path,
            kind,
            alias,
            body,
        } => {
            write_path(out, path);
            out.push('/');
            out.push_str(kind.keyword());
            out.push('(');
            out.push_str(alias.as_str());
            out.push(':');
            write_expr(out, body, mode);
            out.push(')');
        }
        Expr::Group(inner) => {
            out.push('(');
            write_expr(out, inner, mode);
            out.push(')');
        }
    }
}

fn write_binary(out: &mut String, left: &Expr, keyword: &str, right: &Expr, mode: Mode) {
    write_at(out, left, mode, Position::Operand);
    out.push_str(mode.space());
    out.push_str(keyword);
    out.push_str(mode.space());
    write_at(out, right, mode, Position::Operand);
}

fn write_connective(
    out: &mut String,
    parts: &[Expr],
    keyword: &str,
    position: Position,
    mode: Mode,
) {
    if let [only] = parts {
        write_expr(out, only, mode);
        return;
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(mode.space());
            out.push_str(keyword);
            out.push_str(mode.space());
        }
        write_at(out, part, mode, position);
    }
}

fn write_select(out: &mut String, items: &[SelectItem]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            SelectItem::All => out.push('*'),
            SelectItem::Field(name) => out.push_str(name.as_str()),
        }
    }
}

fn write_expand(out: &mut String, items: &[ExpandItem], mode: Mode) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.navigation().as_str());
        if item.options().is_count() {
            out.push_str("/$count");
        }
        if !item.options().options.is_empty() {
            out.push('(');
            write_options(out, item.options(), mode, true);
            out.push(')');
        }
    }
}

fn write_orderby(out: &mut String, items: &[OrderByItem], mode: Mode) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match &item.target {
            OrderByTarget::Path(path) => write_path(out, path),
            OrderByTarget::Count { path, filter } => {
                write_path(out, path);
                out.push_str("/$count");
                if let Some(filter) = filter {
                    out.push_str("($filter=");
                    write_expr(out, filter, mode);
                    out.push(')');
                }
            }
        }
        if let Some(direction) = item.direction {
            out.push_str(mode.space());
            out.push_str(direction.keyword());
        }
    }
}

pub(crate) fn write_option_value(out: &mut String, option: &QueryOption, mode: Mode) {
    match option {
        QueryOption::Select(items) => write_select(out, items),
        QueryOption::Expand(items) => write_expand(out, items, mode),
        QueryOption::Filter(expr) => write_expr(out, expr, mode),
        QueryOption::OrderBy(items) => write_orderby(out, items, mode),
        QueryOption::Top(n) | QueryOption::Skip(n) => {
            let _ = write!(out, "{n}");
        }
        QueryOption::Custom(param) => match mode {
            Mode::Decoded => out.push_str(param.value()),
            Mode::Query | Mode::Path => encode_custom(out, param.value(), false),
        },
    }
}

/// Writes the options joined by `&` (top level) or `;` (inside `$expand`).
pub(crate) fn write_options(out: &mut String, options: &ODataOptions, mode: Mode, nested: bool) {
    for (i, option) in options.options.iter().enumerate() {
        if i > 0 {
            out.push(if nested { ';' } else { '&' });
        }
        match option {
            QueryOption::Custom(param) => match mode {
                Mode::Decoded => out.push_str(param.name()),
                Mode::Query | Mode::Path => encode_custom(out, param.name(), true),
            },
            other => out.push_str(other.key()),
        }
        out.push('=');
        write_option_value(out, option, mode);
    }
}

pub(crate) fn write_key(out: &mut String, key: &ResourceKey) {
    match key {
        ResourceKey::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ResourceKey::String(s) => write_literal(out, &Literal::String(s.clone()), Mode::Path),
        ResourceKey::Named(pairs) => {
            for (i, (name, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name.as_str());
                out.push('=');
                write_literal(out, value, Mode::Path);
            }
        }
    }
}

impl fmt::Display for Expr {
    /// The logical (decoded) OData text, e.g. `slug in ('a','b')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_expr(&mut out, self, Mode::Decoded);
        f.write_str(&out)
    }
}

impl Expr {
    /// The canonical form of this tree: what parsing its encoding gives.
    ///
    /// Nested `and`s (and `or`s) are flattened, one-part `and`/`or` are
    /// replaced by the part, and a [`Group`](Expr::Group) is dropped where
    /// the encoder would write the same parentheses anyway.
    ///
    /// ```
    /// use balena_pine::{Expr, ODataOptions};
    /// let a = Expr::path("a").unwrap();
    /// let b = Expr::path("b").unwrap();
    /// let c = Expr::path("c").unwrap();
    /// let nested = Expr::And(vec![Expr::Group(Box::new(Expr::Or(vec![a.clone(), b.clone()]))), c.clone()]);
    /// assert_eq!(nested.to_string(), "(a or b) and c");
    /// assert_eq!(nested.canonical(), Expr::And(vec![Expr::Or(vec![a, b]), c]));
    /// ```
    pub fn canonical(mut self) -> Expr {
        self.canonicalize();
        self
    }

    /// [`canonical`](Self::canonical) in place.
    pub fn canonicalize(&mut self) {
        canonicalize_at(self, Position::Free);
    }
}

/// A value to leave behind while moving a node out; never observable.
const PLACEHOLDER: Expr = Expr::Literal(Literal::Null);

fn canonicalize_at(expr: &mut Expr, position: Position) {
    match expr {
        Expr::Group(inner) => {
            canonicalize_at(inner, Position::Free);
            if wraps(position, inner) {
                let taken = std::mem::replace(&mut **inner, PLACEHOLDER);
                *expr = taken;
            }
        }
        Expr::And(_) | Expr::Or(_) => canonicalize_connective(expr, position),
        Expr::Compare { left, right, .. } | Expr::Arithmetic { left, right, .. } => {
            canonicalize_at(left, Position::Operand);
            canonicalize_at(right, Position::Operand);
        }
        Expr::In { operand, .. } => canonicalize_at(operand, Position::Operand),
        Expr::Not(inner) => canonicalize_at(inner, Position::Free),
        Expr::Function { args, .. } => args
            .iter_mut()
            .for_each(|a| canonicalize_at(a, Position::Free)),
        Expr::Lambda { body, .. } => canonicalize_at(body, Position::Free),
        Expr::Count {
            filter: Some(filter),
            ..
        } => canonicalize_at(filter, Position::Free),
        Expr::Count { filter: None, .. } | Expr::Literal(_) | Expr::Path(_) => {}
    }
}

fn canonicalize_connective(expr: &mut Expr, position: Position) {
    let is_and = matches!(expr, Expr::And(_));
    let (Expr::And(parts) | Expr::Or(parts)) = expr else {
        return;
    };
    if parts.len() == 1 {
        let only = parts.pop().unwrap_or(PLACEHOLDER);
        *expr = only;
        canonicalize_at(expr, position);
        return;
    }
    let part_position = if is_and {
        Position::AndPart
    } else {
        Position::OrPart
    };
    let mut flatten = false;
    for part in parts.iter_mut() {
        canonicalize_at(part, part_position);
        flatten |= matches!((is_and, &*part), (true, Expr::And(inner)) | (false, Expr::Or(inner)) if inner.len() >= 2);
    }
    if flatten {
        let old = std::mem::take(parts);
        for part in old {
            match (is_and, part) {
                (true, Expr::And(inner)) | (false, Expr::Or(inner)) if inner.len() >= 2 => {
                    parts.extend(inner)
                }
                (_, other) => parts.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_uri_component_keeps_the_unreserved_marks() {
        let mut out = String::new();
        encode_uri_component(&mut out, "aZ9-_.!~*'() /+%&é");
        assert_eq!(out, "aZ9-_.!~*'()%20%2F%2B%25%26%C3%A9");
    }

    #[test]
    fn literals_per_mode() {
        let lit = Literal::String("it's a/b".to_owned());
        let render = |mode| {
            let mut out = String::new();
            write_literal(&mut out, &lit, mode);
            out
        };
        assert_eq!(render(Mode::Decoded), "'it''s a/b'");
        assert_eq!(render(Mode::Query), "%27it%27%27s%20a%2Fb%27");
        assert_eq!(render(Mode::Path), "'it''s%20a%2Fb'");
    }
}
