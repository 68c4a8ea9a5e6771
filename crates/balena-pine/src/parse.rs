//! Text → tree: a hand-written recursive-descent parser.
//!
//! The parser works on the *decoded* text of one query parameter (after
//! `decodeURIComponent`, as pine's server does: `+` stays `+`) and reports
//! positions in it; the callers map them back to byte offsets in the raw,
//! percent-encoded input. It is hand-written rather than combinator-based so
//! that every error names its byte position and what was expected, and so
//! that recursion is counted explicitly against [`MAX_DEPTH`].
//!
//! Grammar (whitespace is spaces or tabs; keywords are lower case):
//!
//! ```text
//! filter   = or
//! or       = and *( WS "or" WS and )
//! and      = cmp *( WS "and" WS cmp )
//! cmp      = add *( WS cmpop WS add / WS "in" [WS] "(" literal *("," literal) ")" )
//! add      = mul *( WS ("add"/"sub") WS mul )
//! mul      = primary *( WS ("mul"/"div"/"mod") WS primary )
//! primary  = "(" filter ")" / literal / "not" [WS] "(" filter ")" / "not" WS primary
//!          / function "(" [filter *("," filter)] ")"
//!          / path [ "/$count" [ "($filter=" filter ")" ] / "/" ("any"/"all") "(" alias ":" filter ")" ]
//! path     = identifier *( "/" identifier )
//! literal  = "null" / "true" / "false" / number / "'" *( char / "''" ) "'" / "datetime'" date "'"
//! ```

use crate::ast::{
    ArithmeticOp, CompareOp, CustomParam, DateTime, Direction, Expr, Function, Identifier,
    LambdaKind, Literal, Number, OrderByItem, OrderByTarget, PropertyPath, ResourceKey, SelectItem,
    check_identifier, is_ident_continue, is_ident_start, number_len,
};
use crate::error::ParseError;
use crate::limits::{MAX_DEPTH, MAX_LITERAL_LEN, MAX_NUMBER_LEN, MAX_QUERY_LEN, MAX_TOP_SKIP};
use crate::options::{ExpandItem, ODataOptions, QueryOption};

type Result<T> = std::result::Result<T, ParseError>;

const SYSTEM_OPTIONS: [&str; 6] = ["$select", "$expand", "$filter", "$orderby", "$top", "$skip"];

pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pub(crate) pos: usize,
    /// Recursion depth of `primary` calls and `$expand` levels.
    nesting: usize,
    /// `$expand` level of the options being parsed.
    level: usize,
}

fn describe(src: &str, pos: usize) -> String {
    match src[pos..].chars().next() {
        None => "end of input".to_owned(),
        Some(c) => format!("`{c}`"),
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            nesting: 0,
            level: 0,
        }
    }

    fn err(&self, expected: impl Into<String>) -> ParseError {
        self.err_at(self.pos, expected)
    }

    fn err_at(&self, pos: usize, expected: impl Into<String>) -> ParseError {
        ParseError::new(pos, expected, Some(describe(self.src, pos)))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes[self.pos..].starts_with(s.as_bytes())
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `kw` if it is next and not followed by a name character.
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.starts_with(kw)
            && !self
                .bytes
                .get(self.pos + kw.len())
                .is_some_and(|&b| is_ident_continue(b))
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// After a binary keyword: whitespace, then something.
    fn operand_ws(&mut self, kw: &str) -> Result<()> {
        if self.at_end() {
            return Err(self.err(format!("expression after `{kw}`")));
        }
        if !self.skip_ws() {
            return Err(self.err(format!("space after `{kw}`")));
        }
        if self.at_end() {
            return Err(self.err(format!("expression after `{kw}`")));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<()> {
        self.nesting += 1;
        if self.nesting + self.level > MAX_DEPTH {
            return Err(self.err(format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn check_depth(&self, depth: usize, at: usize) -> Result<()> {
        if depth + self.level > MAX_DEPTH {
            return Err(self.err_at(at, format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    fn identifier(&mut self, what: &str) -> Result<Identifier> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return Err(self.err(what));
        }
        while self.peek().is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        Identifier::new(word).map_err(|e| ParseError::new(start, what, Some(e.to_string())))
    }

    // ---- expressions -------------------------------------------------------

    pub(crate) fn filter(&mut self) -> Result<(Expr, usize)> {
        self.or()
    }

    fn connective(
        &mut self,
        kw: &str,
        next: fn(&mut Self) -> Result<(Expr, usize)>,
        build: fn(Vec<Expr>) -> Expr,
    ) -> Result<(Expr, usize)> {
        let start = self.pos;
        let (first, mut depth) = next(self)?;
        let mut parts = Vec::new();
        loop {
            let save = self.pos;
            if self.skip_ws() && self.eat_kw(kw) {
                self.operand_ws(kw)?;
                let (part, d) = next(self)?;
                parts.push(part);
                depth = depth.max(d);
            } else {
                self.pos = save;
                break;
            }
        }
        if parts.is_empty() {
            return Ok((first, depth));
        }
        parts.insert(0, first);
        self.check_depth(depth + 1, start)?;
        Ok((build(parts), depth + 1))
    }

    fn or(&mut self) -> Result<(Expr, usize)> {
        self.connective("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<(Expr, usize)> {
        self.connective("and", Self::cmp, Expr::And)
    }

    fn cmp(&mut self) -> Result<(Expr, usize)> {
        let (mut left, mut depth) = self.add()?;
        loop {
            let save = self.pos;
            if !self.skip_ws() {
                break;
            }
            let op_pos = self.pos;
            if let Some(op) = CompareOp::ALL
                .into_iter()
                .find(|op| self.eat_kw(op.keyword()))
            {
                self.operand_ws(op.keyword())?;
                let (right, d) = self.add()?;
                depth = depth.max(d) + 1;
                self.check_depth(depth, op_pos)?;
                left = Expr::Compare {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                };
            } else if self.eat_kw("in") {
                self.skip_ws();
                let values = self.literal_list()?;
                depth += 1;
                self.check_depth(depth, op_pos)?;
                left = Expr::In {
                    operand: Box::new(left),
                    values,
                };
            } else {
                self.pos = save;
                break;
            }
        }
        Ok((left, depth))
    }

    fn arithmetic(&mut self, multiplicative: bool) -> Result<(Expr, usize)> {
        let (mut left, mut depth) = if multiplicative {
            self.primary()?
        } else {
            self.arithmetic(true)?
        };
        loop {
            let save = self.pos;
            if !self.skip_ws() {
                break;
            }
            let op_pos = self.pos;
            let Some(op) = ArithmeticOp::ALL
                .into_iter()
                .filter(|op| op.is_multiplicative() == multiplicative)
                .find(|op| self.eat_kw(op.keyword()))
            else {
                self.pos = save;
                break;
            };
            self.operand_ws(op.keyword())?;
            let (right, d) = if multiplicative {
                self.primary()?
            } else {
                self.arithmetic(true)?
            };
            depth = depth.max(d) + 1;
            self.check_depth(depth, op_pos)?;
            left = Expr::Arithmetic {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok((left, depth))
    }

    fn add(&mut self) -> Result<(Expr, usize)> {
        self.arithmetic(false)
    }

    fn primary(&mut self) -> Result<(Expr, usize)> {
        self.enter()?;
        let result = self.primary_inner();
        self.leave();
        result
    }

    fn primary_inner(&mut self) -> Result<(Expr, usize)> {
        let start = self.pos;
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                self.skip_ws();
                let (inner, depth) = self.filter()?;
                self.skip_ws();
                self.expect(b')', "`)`")?;
                self.check_depth(depth + 1, start)?;
                Ok((Expr::Group(Box::new(inner)), depth + 1))
            }
            Some(b'\'' | b'-' | b'0'..=b'9') => Ok((Expr::Literal(self.literal()?), 1)),
            Some(b) if is_ident_start(b) => self.word(),
            _ => Err(self.err("expression")),
        }
    }

    fn word(&mut self) -> Result<(Expr, usize)> {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        match word {
            "true" => return Ok((Expr::Literal(Literal::Bool(true)), 1)),
            "false" => return Ok((Expr::Literal(Literal::Bool(false)), 1)),
            "null" => return Ok((Expr::Literal(Literal::Null), 1)),
            "datetime" if self.peek() == Some(b'\'') => {
                self.pos = start;
                return Ok((Expr::Literal(self.literal()?), 1));
            }
            "not" => {
                let had_ws = self.skip_ws();
                if self.eat(b'(') {
                    self.skip_ws();
                    let (inner, depth) = self.filter()?;
                    self.skip_ws();
                    self.expect(b')', "`)`")?;
                    self.check_depth(depth + 1, start)?;
                    return Ok((Expr::Not(Box::new(inner)), depth + 1));
                }
                if had_ws && !self.at_end() {
                    let (inner, depth) = self.primary()?;
                    self.check_depth(depth + 1, start)?;
                    return Ok((Expr::Not(Box::new(inner)), depth + 1));
                }
                return Err(self.err("`(` or an expression after `not`"));
            }
            _ => {}
        }
        if self.peek() == Some(b'(') {
            let Some(function) = Function::from_name(word) else {
                return Err(ParseError::new(
                    start,
                    "a known function",
                    Some(format!("`{word}`")),
                ));
            };
            return self.function_call(function, start);
        }
        check_identifier(word)
            .map_err(|e| ParseError::new(start, "expression", Some(e.to_string())))?;
        self.pos = start;
        self.path_expr()
    }

    fn function_call(&mut self, function: Function, start: usize) -> Result<(Expr, usize)> {
        self.pos += 1; // (
        self.skip_ws();
        let mut args = Vec::new();
        let mut depth = 0;
        if !self.eat(b')') {
            loop {
                let (arg, d) = self.filter()?;
                args.push(arg);
                depth = depth.max(d);
                self.skip_ws();
                if self.eat(b',') {
                    self.skip_ws();
                    continue;
                }
                self.expect(b')', "`,` or `)`")?;
                break;
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min} argument(s) for `{}`", function.name())
            } else {
                format!("{min} to {max} arguments for `{}`", function.name())
            };
            return Err(ParseError::new(
                start,
                expected,
                Some(format!("{}", args.len())),
            ));
        }
        self.check_depth(depth + 1, start)?;
        Ok((Expr::Function { function, args }, depth + 1))
    }

    /// `a/b`, `a/$count(…)`, `a/any(x:…)`.
    fn path_expr(&mut self) -> Result<(Expr, usize)> {
        let start = self.pos;
        let mut segments = vec![self.identifier("identifier")?];
        while self.peek() == Some(b'/') {
            self.pos += 1;
            if self.starts_with("$count") {
                self.pos += "$count".len();
                let path = PropertyPath::from_segments(segments)
                    .map_err(|e| ParseError::new(start, "path", Some(e.to_string())))?;
                let (filter, depth) = self.count_filter()?;
                self.check_depth(depth + 1, start)?;
                return Ok((Expr::Count { path, filter }, depth + 1));
            }
            for kind in [LambdaKind::Any, LambdaKind::All] {
                if self.starts_with(kind.keyword()) && self.bytes.get(self.pos + 3) == Some(&b'(') {
                    self.pos += 4;
                    self.skip_ws();
                    let alias = self.identifier("lambda variable name")?;
                    self.skip_ws();
                    self.expect(b':', "`:` after the lambda variable")?;
                    self.skip_ws();
                    let (body, depth) = self.filter()?;
                    self.skip_ws();
                    self.expect(b')', "`)`")?;
                    self.check_depth(depth + 1, start)?;
                    let path = PropertyPath::from_segments(segments)
                        .map_err(|e| ParseError::new(start, "path", Some(e.to_string())))?;
                    return Ok((
                        Expr::Lambda {
                            path,
                            kind,
                            alias,
                            body: Box::new(body),
                        },
                        depth + 1,
                    ));
                }
            }
            segments.push(self.identifier("identifier, `$count`, `any(` or `all(` after `/`")?);
        }
        let path = PropertyPath::from_segments(segments)
            .map_err(|e| ParseError::new(start, "path", Some(e.to_string())))?;
        Ok((Expr::Path(path), 1))
    }

    /// Optional `($filter=…)` after `$count`; returns the filter's depth (0 if none).
    fn count_filter(&mut self) -> Result<(Option<Box<Expr>>, usize)> {
        if self.peek() != Some(b'(') {
            return Ok((None, 0));
        }
        self.enter()?;
        self.pos += 1;
        if !self.starts_with("$filter=") {
            self.leave();
            return Err(self.err("`$filter=` (the only option allowed in a `$count`)"));
        }
        self.pos += "$filter=".len();
        let result = self.filter();
        self.leave();
        let (filter, depth) = result?;
        self.expect(b')', "`;` is not allowed here; `)`")?;
        Ok((Some(Box::new(filter)), depth))
    }

    fn literal_list(&mut self) -> Result<Vec<Literal>> {
        self.expect(b'(', "`(` after `in`")?;
        self.skip_ws();
        let mut values = Vec::new();
        loop {
            values.push(self.literal()?);
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
                continue;
            }
            self.expect(b')', "`,` or `)`")?;
            return Ok(values);
        }
    }

    pub(crate) fn literal(&mut self) -> Result<Literal> {
        let start = self.pos;
        match self.peek() {
            Some(b'\'') => Ok(Literal::String(self.quoted()?)),
            Some(b'-' | b'0'..=b'9') => {
                let Some(len) = number_len(&self.bytes[self.pos..]) else {
                    return Err(self.err("number"));
                };
                if len > MAX_NUMBER_LEN {
                    return Err(
                        self.err(format!("a number of at most {MAX_NUMBER_LEN} characters"))
                    );
                }
                let text = &self.src[start..start + len];
                self.pos += len;
                let number = Number::new(text)
                    .map_err(|e| ParseError::new(start, "number", Some(e.to_string())))?;
                Ok(Literal::Number(number))
            }
            _ => {
                if self.eat_kw("true") {
                    Ok(Literal::Bool(true))
                } else if self.eat_kw("false") {
                    Ok(Literal::Bool(false))
                } else if self.eat_kw("null") {
                    Ok(Literal::Null)
                } else if self.starts_with("datetime'") {
                    self.pos += "datetime".len();
                    let text_start = self.pos + 1;
                    let Some(close) = self.bytes[text_start..].iter().position(|&b| b == b'\'')
                    else {
                        return Err(self.err_at(start, "closing `'` of the datetime literal"));
                    };
                    let text = &self.src[text_start..text_start + close];
                    let value = DateTime::new(text).map_err(|e| {
                        ParseError::new(text_start, "date-time", Some(e.to_string()))
                    })?;
                    self.pos = text_start + close + 1;
                    Ok(Literal::DateTime(value))
                } else {
                    Err(self.err("literal (string, number, true, false, null or datetime)"))
                }
            }
        }
    }

    /// A `'…'` string with `''` escapes.
    fn quoted(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.bytes[self.pos..];
            let Some(i) = rest.iter().position(|&b| b == b'\'') else {
                return Err(ParseError::new(
                    start,
                    "a closing `'` for the string that starts here",
                    Some("end of input".to_owned()),
                ));
            };
            value.push_str(&self.src[self.pos..self.pos + i]);
            self.pos += i + 1;
            if value.len() > MAX_LITERAL_LEN {
                return Err(ParseError::new(
                    start,
                    format!("a string literal of at most {MAX_LITERAL_LEN} bytes"),
                    Some(format!("{} bytes", value.len())),
                ));
            }
            if self.peek() == Some(b'\'') {
                value.push('\'');
                self.pos += 1;
            } else {
                return Ok(value);
            }
        }
    }

    // ---- options -------------------------------------------------------------

    pub(crate) fn select(&mut self) -> Result<Vec<SelectItem>> {
        let mut items = Vec::new();
        loop {
            if self.eat(b'*') {
                items.push(SelectItem::All);
            } else {
                items.push(SelectItem::Field(self.identifier("field name or `*`")?));
            }
            let save = self.pos;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
                continue;
            }
            self.pos = save;
            return Ok(items);
        }
    }

    pub(crate) fn expand(&mut self) -> Result<Vec<ExpandItem>> {
        let mut items = Vec::new();
        loop {
            let start = self.pos;
            let navigation = self.identifier("navigation property")?;
            let mut options = ODataOptions::new();
            if self.starts_with("/$count") {
                self.pos += "/$count".len();
                options.count = true;
            }
            if self.peek() == Some(b'(') {
                self.pos += 1;
                self.level += 1;
                let result = self
                    .enter()
                    .and_then(|()| self.nested_options(&mut options));
                self.leave();
                self.level -= 1;
                result?;
                self.expect(b')', "`;` or `)`")?;
            }
            let item = ExpandItem::new(navigation, options).map_err(|e| {
                ParseError::new(start, "an expand allowed by pine", Some(e.to_string()))
            })?;
            items.push(item);
            let save = self.pos;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
                continue;
            }
            self.pos = save;
            return Ok(items);
        }
    }

    fn nested_options(&mut self, options: &mut ODataOptions) -> Result<()> {
        loop {
            let start = self.pos;
            if !self.eat(b'$') {
                return Err(self.err("a `$` query option"));
            }
            while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                self.pos += 1;
            }
            let name = &self.src[start..self.pos];
            self.expect(b'=', "`=`")?;
            let option = self.option_value(name, start)?;
            if options.options.iter().any(|o| o.key() == option.key()) {
                return Err(ParseError::new(
                    start,
                    "each option at most once",
                    Some(format!("a second `{name}`")),
                ));
            }
            options.options.push(option);
            if !self.eat(b';') {
                return Ok(());
            }
        }
    }

    /// The value of `$name=`; stops before `;`, `)` or the end.
    pub(crate) fn option_value(&mut self, name: &str, name_pos: usize) -> Result<QueryOption> {
        Ok(match name {
            "$select" => QueryOption::Select(self.select()?),
            "$expand" => QueryOption::Expand(self.expand()?),
            "$filter" => QueryOption::Filter(self.filter()?.0.canonical()),
            "$orderby" => QueryOption::OrderBy(self.orderby()?),
            "$top" => QueryOption::Top(self.count_value()?),
            "$skip" => QueryOption::Skip(self.count_value()?),
            _ => {
                return Err(ParseError::new(
                    name_pos,
                    "one of $select, $expand, $filter, $orderby, $top, $skip",
                    Some(format!("`{name}`")),
                ));
            }
        })
    }

    fn count_value(&mut self) -> Result<u64> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("a non-negative integer"));
        }
        match self.src[start..self.pos].parse::<u64>() {
            Ok(n) if n <= MAX_TOP_SKIP => Ok(n),
            _ => Err(ParseError::new(
                start,
                format!("an integer of at most {MAX_TOP_SKIP}"),
                Some(self.src[start..self.pos].to_owned()),
            )),
        }
    }

    pub(crate) fn orderby(&mut self) -> Result<Vec<OrderByItem>> {
        let mut items = Vec::new();
        loop {
            let start = self.pos;
            let (expr, _) = self
                .enter()
                .and_then(|()| self.path_expr())
                .inspect(|_| self.leave())?;
            let target = match expr {
                Expr::Path(path) => OrderByTarget::Path(path),
                Expr::Count { path, filter } => OrderByTarget::Count {
                    path,
                    filter: filter.map(|f| Box::new(f.canonical())),
                },
                _ => {
                    return Err(ParseError::new(
                        start,
                        "a field or `nav/$count` to order by",
                        Some("a lambda".to_owned()),
                    ));
                }
            };
            let save = self.pos;
            let direction = if self.skip_ws() {
                if self.eat_kw("asc") {
                    Some(Direction::Asc)
                } else if self.eat_kw("desc") {
                    Some(Direction::Desc)
                } else {
                    self.pos = save;
                    None
                }
            } else {
                None
            };
            items.push(OrderByItem { target, direction });
            let save = self.pos;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
                continue;
            }
            self.pos = save;
            return Ok(items);
        }
    }

    fn resource_key(&mut self) -> Result<ResourceKey> {
        self.skip_ws();
        let start = self.pos;
        let key = match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let Literal::Number(n) = self.literal()? else {
                    return Err(self.err_at(start, "an integer key"));
                };
                match n.as_i64().filter(|_| n.is_integer()) {
                    Some(v) => ResourceKey::Integer(v),
                    None => {
                        return Err(ParseError::new(
                            start,
                            "an integer key",
                            Some(format!("`{n}`")),
                        ));
                    }
                }
            }
            Some(b'\'') => ResourceKey::String(self.quoted()?),
            Some(b) if is_ident_start(b) => {
                let mut pairs = Vec::new();
                loop {
                    let name = self.identifier("key name")?;
                    self.skip_ws();
                    self.expect(b'=', "`=` in a `name=value` key")?;
                    self.skip_ws();
                    pairs.push((name, self.literal()?));
                    self.skip_ws();
                    if self.eat(b',') {
                        self.skip_ws();
                        continue;
                    }
                    break;
                }
                ResourceKey::Named(pairs)
            }
            _ => return Err(self.err("an integer key, a quoted string key or `name=value`")),
        };
        self.skip_ws();
        self.expect(b')', "`)` closing the key")?;
        Ok(key)
    }
}

// ---- percent-decoding and raw positions --------------------------------------

/// `decodeURIComponent`; `Err` holds the raw offset of the bad escape.
pub(crate) fn percent_decode(raw: &str) -> std::result::Result<String, usize> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(i),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| raw_offset(raw, e.utf8_error().valid_up_to()))
}

/// Maps a byte offset in the decoded text back to the raw text.
pub(crate) fn raw_offset(raw: &str, decoded: usize) -> usize {
    let bytes = raw.as_bytes();
    let (mut r, mut d) = (0, 0);
    while r < bytes.len() && d < decoded {
        r += if bytes[r] == b'%' && r + 3 <= bytes.len() {
            3
        } else {
            1
        };
        d += 1;
    }
    r
}

fn map_error(mut err: ParseError, raw: &str, base: usize) -> ParseError {
    err.position = base + raw_offset(raw, err.position);
    err
}

fn decode_at(raw: &str, base: usize, what: &str) -> Result<String> {
    percent_decode(raw).map_err(|at| {
        ParseError::new(
            base + at,
            format!("valid percent-encoded UTF-8 in {what}"),
            Some(describe(raw, at)),
        )
    })
}

/// Parses a whole raw (percent-encoded) query string. `base` is added to
/// every error position.
pub(crate) fn parse_query(raw: &str, base: usize) -> Result<ODataOptions> {
    if raw.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            base + MAX_QUERY_LEN,
            format!("a query of at most {MAX_QUERY_LEN} bytes"),
            Some(format!("{} bytes", raw.len())),
        ));
    }
    let mut options = ODataOptions::new();
    if raw.is_empty() {
        return Ok(options);
    }
    let mut offset = 0;
    for segment in raw.split('&') {
        let seg_base = base + offset;
        offset += segment.len() + 1;
        if segment.is_empty() {
            return Err(ParseError::new(
                seg_base,
                "a query parameter",
                Some(describe(raw, seg_base - base)),
            ));
        }
        let (raw_key, raw_value, value_base) = match segment.find('=') {
            Some(i) => (&segment[..i], &segment[i + 1..], seg_base + i + 1),
            None => (segment, "", seg_base + segment.len()),
        };
        let key = decode_at(raw_key, seg_base, "a parameter name")?;
        let value = decode_at(raw_value, value_base, "a parameter value")?;
        let option = if key.starts_with('$') {
            if !segment.contains('=') {
                return Err(ParseError::new(
                    value_base,
                    "`=`",
                    Some(describe(segment, segment.len())),
                ));
            }
            if !SYSTEM_OPTIONS.contains(&key.as_str()) {
                return Err(ParseError::new(
                    seg_base,
                    "one of $select, $expand, $filter, $orderby, $top, $skip",
                    Some(format!("`{key}`")),
                ));
            }
            let mut parser = Parser::new(&value);
            let option = parser
                .option_value(&key, 0)
                .map_err(|e| map_error(e, raw_value, value_base))?;
            if !parser.at_end() {
                return Err(map_error(
                    parser.err(format!("end of the `{key}` value (`&` or end of query)")),
                    raw_value,
                    value_base,
                ));
            }
            option
        } else if key.starts_with('@') {
            return Err(ParseError::new(
                seg_base,
                "a parameter name (parameter aliases `@…` are not supported)",
                Some(format!("`{key}`")),
            ));
        } else {
            let param = CustomParam::new(key, value).map_err(|e| {
                ParseError::new(seg_base, "a valid parameter name", Some(e.to_string()))
            })?;
            QueryOption::Custom(param)
        };
        if options.options.iter().any(|o| o.key() == option.key()) {
            return Err(ParseError::new(
                seg_base,
                "each option at most once",
                Some(format!("a second `{}`", option.key())),
            ));
        }
        options.options.push(option);
    }
    Ok(options)
}

/// Parses `/<version>/<resource>[/$count][(key)][/$count][?query]`.
pub(crate) fn parse_request(input: &str) -> Result<(String, crate::PineRequest)> {
    if input.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            MAX_QUERY_LEN,
            format!("a path and query of at most {MAX_QUERY_LEN} bytes"),
            Some(format!("{} bytes", input.len())),
        ));
    }
    if let Some(i) = input.find('#') {
        return Err(ParseError::new(
            i,
            "no fragment (`#`) in a request target",
            Some("`#`".to_owned()),
        ));
    }
    let (path, query) = match input.find('?') {
        Some(i) => (&input[..i], Some((&input[i + 1..], i + 1))),
        None => (input, None),
    };
    if !path.starts_with('/') {
        return Err(ParseError::new(0, "`/`", Some(describe(input, 0))));
    }
    let after = &path[1..];
    let version_len = after.find('/').unwrap_or(after.len());
    let version = &after[..version_len];
    let valid_version = version.len() >= 2
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit());
    if !valid_version {
        return Err(ParseError::new(
            1,
            "an API version such as `v7`",
            Some(describe(input, 1)),
        ));
    }
    if version_len == after.len() {
        return Err(ParseError::new(
            path.len(),
            "`/` and a resource after the API version",
            Some(describe(input, path.len())),
        ));
    }
    let rest_base = 1 + version_len + 1;
    let raw_rest = &path[rest_base..];
    let rest = decode_at(raw_rest, rest_base, "the path")?;
    let map = |e: ParseError| map_error(e, raw_rest, rest_base);
    let mut parser = Parser::new(&rest);
    let resource = parser.identifier("resource name").map_err(map)?;
    let mut count = false;
    if parser.starts_with("/$count") {
        parser.pos += "/$count".len();
        count = true;
    }
    let mut key = None;
    if parser.eat(b'(') {
        key = Some(parser.resource_key().map_err(map)?);
    }
    if !count && parser.starts_with("/$count") {
        parser.pos += "/$count".len();
        count = true;
    }
    if !parser.at_end() {
        return Err(map(parser.err(if key.is_some() {
            "`/$count`, `?` or end of path"
        } else {
            "`(key)`, `/$count`, `?` or end of path"
        })));
    }
    let mut options = match query {
        Some((q, base)) => parse_query(q, base)?,
        None => ODataOptions::new(),
    };
    options.count = count;
    Ok((
        version.to_owned(),
        crate::PineRequest {
            resource: resource.as_str().to_owned(),
            key,
            options,
        },
    ))
}

/// Parses decoded filter text completely.
pub(crate) fn parse_filter_text(text: &str) -> Result<Expr> {
    if text.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            MAX_QUERY_LEN,
            format!("a filter of at most {MAX_QUERY_LEN} bytes"),
            Some(format!("{} bytes", text.len())),
        ));
    }
    let mut parser = Parser::new(text);
    parser.skip_ws();
    let (expr, _) = parser.filter()?;
    parser.skip_ws();
    if !parser.at_end() {
        return Err(parser.err("end of the filter"));
    }
    Ok(expr.canonical())
}

/// Runs `f` over the whole of `text` and requires it to consume everything.
pub(crate) fn parse_all<T>(
    text: &str,
    what: &str,
    f: impl FnOnce(&mut Parser<'_>) -> Result<T>,
) -> Result<T> {
    let mut parser = Parser::new(text);
    parser.skip_ws();
    let value = f(&mut parser)?;
    parser.skip_ws();
    if !parser.at_end() {
        return Err(parser.err(format!("end of {what}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_decode_uri_component() {
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b+c");
        assert_eq!(percent_decode("%C3%A9%27").unwrap(), "é'");
        assert_eq!(percent_decode("ab%2"), Err(2));
        assert_eq!(percent_decode("ab%zz"), Err(2));
        assert_eq!(percent_decode("a%C3"), Err(1));
        assert_eq!(percent_decode("é%20").unwrap(), "é ");
    }

    #[test]
    fn decoded_offsets_map_to_raw_offsets() {
        let raw = "a%20eq%20%27x%27";
        assert_eq!(raw_offset(raw, 0), 0);
        assert_eq!(raw_offset(raw, 1), 1);
        assert_eq!(raw_offset(raw, 2), 4);
        assert_eq!(raw_offset(raw, 5), 9);
        assert_eq!(raw_offset(raw, 100), raw.len());
    }

    #[test]
    fn keywords_need_word_boundaries() {
        assert_eq!(
            parse_filter_text("andy eq nota").unwrap().to_string(),
            "andy eq nota"
        );
        assert_eq!(
            parse_filter_text("a/any eq 1").unwrap().to_string(),
            "a/any eq 1"
        );
        assert_eq!(parse_filter_text("not a").unwrap().to_string(), "not(a)");
        assert_eq!(
            parse_filter_text("not (a or b) and c").unwrap().to_string(),
            "not(a or b) and c"
        );
        assert_eq!(
            parse_filter_text("a mul b add c").unwrap().to_string(),
            "(a mul b) add c"
        );
        assert_eq!(
            parse_filter_text("a add b mul c").unwrap().to_string(),
            "a add (b mul c)"
        );
        assert_eq!(
            parse_filter_text("a eq 1 or b eq 2 and c eq 3")
                .unwrap()
                .to_string(),
            "a eq 1 or (b eq 2 and c eq 3)"
        );
        assert_eq!(
            parse_filter_text("  a  eq  1  ").unwrap().to_string(),
            "a eq 1"
        );
    }

    #[test]
    fn redundant_parentheses_are_dropped_meaningful_ones_kept() {
        assert_eq!(
            parse_filter_text("(a eq 1) and (b or c)")
                .unwrap()
                .to_string(),
            "(a eq 1) and (b or c)"
        );
        assert!(
            matches!(parse_filter_text("(a eq 1) and (b or c)").unwrap(), Expr::And(parts) if matches!(parts[1], Expr::Or(_)) && matches!(parts[0], Expr::Group(_)))
        );
        assert_eq!(
            parse_filter_text("x eq (a eq 1)").unwrap().to_string(),
            "x eq (a eq 1)"
        );
        assert!(
            matches!(parse_filter_text("x eq (a eq 1)").unwrap(), Expr::Compare { right, .. } if matches!(*right, Expr::Compare { .. }))
        );
    }
}
