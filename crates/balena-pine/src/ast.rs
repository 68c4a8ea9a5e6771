//! The typed query tree.
//!
//! Every name in the tree is an [`Identifier`] (checked against
//! `[A-Za-z_][A-Za-z0-9_]*`), every value a [`Literal`], every operator an
//! enum. Nothing here holds text that a SQL translator would have to splice:
//! strings are values, numbers keep their exact digits in a checked
//! [`Number`], dates are checked [`DateTime`]s.
//!
//! The tree deliberately does not know pine's schema: whether `owns__release`
//! is a navigation of `application` is for the server to decide.

use std::fmt;

use crate::error::{IdentifierError, LiteralError};
use crate::limits::{MAX_IDENTIFIER_LEN, MAX_NUMBER_LEN};

/// Words that the filter grammar gives a meaning to, so they cannot be names.
///
/// A field called `and` or `null` could not be written back unambiguously,
/// so [`Identifier::new`] refuses them.
pub const RESERVED_WORDS: &[&str] = &[
    "true", "false", "null", "not", "and", "or", "eq", "ne", "gt", "ge", "lt", "le", "add", "sub",
    "mul", "div", "mod", "in",
];

/// A checked name: a resource, field, navigation property or lambda alias.
///
/// ```
/// use balena_pine::Identifier;
/// assert!(Identifier::new("is_for__device_type").is_ok());
/// assert!(Identifier::new("slug; DROP TABLE").is_err());
/// assert!(Identifier::new("and").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// Checks `name` and wraps it.
    ///
    /// # Errors
    /// [`IdentifierError`] when the name is empty, longer than
    /// [`MAX_IDENTIFIER_LEN`](crate::MAX_IDENTIFIER_LEN), has a character
    /// outside `[A-Za-z0-9_]`, starts with a digit, or is a
    /// [reserved word](RESERVED_WORDS).
    pub fn new(name: impl Into<String>) -> Result<Self, IdentifierError> {
        let name = name.into();
        check_identifier(&name)?;
        Ok(Identifier(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(crate) fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(crate) fn check_identifier(name: &str) -> Result<(), IdentifierError> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(IdentifierError::Empty);
    };
    if bytes.len() > MAX_IDENTIFIER_LEN {
        return Err(IdentifierError::TooLong {
            len: bytes.len(),
            max: MAX_IDENTIFIER_LEN,
        });
    }
    if !is_ident_start(first) {
        return Err(IdentifierError::InvalidStart {
            name: name.to_owned(),
        });
    }
    if let Some(index) = bytes.iter().position(|&b| !is_ident_continue(b)) {
        return Err(IdentifierError::InvalidCharacter {
            name: name.to_owned(),
            index,
        });
    }
    if RESERVED_WORDS.contains(&name) {
        return Err(IdentifierError::Reserved {
            name: name.to_owned(),
        });
    }
    Ok(())
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Identifier {
    type Error = IdentifierError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Identifier::new(value)
    }
}

impl TryFrom<String> for Identifier {
    type Error = IdentifierError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Identifier::new(value)
    }
}

/// A non-empty `/`-separated path of identifiers: `slug`, `dt/slug`,
/// `a/is_for__device_type`.
///
/// The first segment may name a lambda alias (`dt` in `any(dt:dt/slug eq 'x')`);
/// the tree does not check that the alias is in scope.
///
/// ```
/// use balena_pine::PropertyPath;
/// let path = PropertyPath::parse("dt/is_of__cpu_architecture").unwrap();
/// assert_eq!(path.segments().len(), 2);
/// assert_eq!(path.to_string(), "dt/is_of__cpu_architecture");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropertyPath(Vec<Identifier>);

impl PropertyPath {
    /// A path of one segment.
    pub fn new(first: Identifier) -> Self {
        PropertyPath(vec![first])
    }

    /// A path from its segments.
    ///
    /// # Errors
    /// [`IdentifierError::Empty`] for an empty list.
    pub fn from_segments(segments: Vec<Identifier>) -> Result<Self, IdentifierError> {
        if segments.is_empty() {
            return Err(IdentifierError::Empty);
        }
        Ok(PropertyPath(segments))
    }

    /// Splits `text` on `/` and checks every segment.
    ///
    /// # Errors
    /// The first segment's [`IdentifierError`].
    pub fn parse(text: &str) -> Result<Self, IdentifierError> {
        let segments = text
            .split('/')
            .map(Identifier::new)
            .collect::<Result<Vec<_>, _>>()?;
        PropertyPath::from_segments(segments)
    }

    /// The segments, never empty.
    pub fn segments(&self) -> &[Identifier] {
        &self.0
    }

    /// This path with one more segment at the end.
    pub fn child(&self, segment: Identifier) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        PropertyPath(segments)
    }
}

impl fmt::Display for PropertyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(segment.as_str())?;
        }
        Ok(())
    }
}

impl From<Identifier> for PropertyPath {
    fn from(value: Identifier) -> Self {
        PropertyPath::new(value)
    }
}

/// A number literal, kept as its exact text (`3`, `-1`, `0.5`, `1e+21`).
///
/// The text matches `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?` and is at most
/// [`MAX_NUMBER_LEN`](crate::MAX_NUMBER_LEN) bytes. Keeping the text means the
/// encoder writes back exactly what was parsed and the server can bind the
/// value as an integer or a float without loss.
///
/// ```
/// use balena_pine::Number;
/// assert_eq!(Number::from(42i64).as_i64(), Some(42));
/// assert_eq!(Number::from_f64(1e21).unwrap().as_str(), "1e+21"); // as JavaScript prints it
/// assert!(Number::new("0x10").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Checks `text` against the number grammar.
    ///
    /// # Errors
    /// [`LiteralError::InvalidNumber`] or [`LiteralError::TooLong`].
    pub fn new(text: impl Into<String>) -> Result<Self, LiteralError> {
        let text = text.into();
        if text.len() > MAX_NUMBER_LEN {
            return Err(LiteralError::TooLong {
                len: text.len(),
                max: MAX_NUMBER_LEN,
            });
        }
        if number_len(text.as_bytes()) != Some(text.len()) {
            return Err(LiteralError::InvalidNumber { text });
        }
        Ok(Number(text))
    }

    /// The number as JavaScript's `String(value)` writes it (what
    /// pinejs-client puts in a URL).
    ///
    /// # Errors
    /// [`LiteralError::NonFinite`] for NaN and infinities.
    pub fn from_f64(value: f64) -> Result<Self, LiteralError> {
        if !value.is_finite() {
            return Err(LiteralError::NonFinite);
        }
        Ok(Number(js_number_to_string(value)))
    }

    /// The exact text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as an `i64` when the text is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The value as an `f64` (rounded as Rust's parser rounds).
    pub fn as_f64(&self) -> f64 {
        // The grammar is a subset of what f64's parser accepts.
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// Whether the text has no fraction and no exponent.
    pub fn is_integer(&self) -> bool {
        !self.0.contains(['.', 'e', 'E'])
    }
}

macro_rules! number_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(value: $t) -> Self {
                Number(value.to_string())
            }
        }
    )*};
}
number_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Length of the number at the start of `s`, if one is there.
pub(crate) fn number_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i += 1;
    }
    let digits =
        |s: &[u8], from: usize| s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let n = digits(s, i);
    if n == 0 {
        return None;
    }
    i += n;
    if s.get(i) == Some(&b'.') {
        let n = digits(s, i + 1);
        if n > 0 {
            i += 1 + n;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let n = digits(s, j);
        if n > 0 {
            i = j + n;
        }
    }
    Some(i)
}

/// ECMAScript `Number::toString(10)` for finite values.
pub(crate) fn js_number_to_string(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` prints the shortest round-tripping digits, like ECMAScript.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

/// A date-time literal, written `datetime'2020-01-01T00:00:00.000Z'`.
///
/// The text is `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, a
/// fraction of up to 9 digits and `Z` or `±HH:MM`. Only the shape is
/// checked, not the calendar.
///
/// ```
/// use balena_pine::DateTime;
/// assert!(DateTime::new("2020-01-01T00:00:00.000Z").is_ok());
/// assert!(DateTime::new("yesterday").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime(String);

impl DateTime {
    /// Checks the shape of `text`.
    ///
    /// # Errors
    /// [`LiteralError::InvalidDateTime`].
    pub fn new(text: impl Into<String>) -> Result<Self, LiteralError> {
        let text = text.into();
        if !is_datetime(text.as_bytes()) {
            return Err(LiteralError::InvalidDateTime { text });
        }
        Ok(DateTime(text))
    }

    /// The text between the quotes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_datetime(s: &[u8]) -> bool {
    fn digits(s: &[u8], at: usize, n: usize) -> bool {
        s.len() >= at + n && s[at..at + n].iter().all(u8::is_ascii_digit)
    }
    if !(digits(s, 0, 4)
        && s.get(4) == Some(&b'-')
        && digits(s, 5, 2)
        && s.get(7) == Some(&b'-')
        && digits(s, 8, 2))
    {
        return false;
    }
    let mut i = 10;
    if i == s.len() {
        return true;
    }
    if s[i] != b'T' || !digits(s, i + 1, 2) || s.get(i + 3) != Some(&b':') || !digits(s, i + 4, 2) {
        return false;
    }
    i += 6;
    if s.get(i) == Some(&b':') {
        if !digits(s, i + 1, 2) {
            return false;
        }
        i += 3;
        if s.get(i) == Some(&b'.') {
            let n = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return false;
            }
            i += 1 + n;
        }
    }
    match s.get(i) {
        None => true,
        Some(b'Z') => i + 1 == s.len(),
        Some(b'+' | b'-') => {
            i + 6 == s.len() && digits(s, i + 1, 2) && s[i + 3] == b':' && digits(s, i + 4, 2)
        }
        Some(_) => false,
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value in a filter or a resource key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, kept as its exact text.
    Number(Number),
    /// A string; the tree holds the value, quoting happens in the encoder.
    String(String),
    /// `datetime'…'`.
    DateTime(DateTime),
}

impl From<bool> for Literal {
    fn from(value: bool) -> Self {
        Literal::Bool(value)
    }
}
impl From<i64> for Literal {
    fn from(value: i64) -> Self {
        Literal::Number(Number::from(value))
    }
}
impl From<i32> for Literal {
    fn from(value: i32) -> Self {
        Literal::Number(Number::from(value))
    }
}
impl From<Number> for Literal {
    fn from(value: Number) -> Self {
        Literal::Number(value)
    }
}
impl From<&str> for Literal {
    fn from(value: &str) -> Self {
        Literal::String(value.to_owned())
    }
}
impl From<String> for Literal {
    fn from(value: String) -> Self {
        Literal::String(value)
    }
}
impl From<DateTime> for Literal {
    fn from(value: DateTime) -> Self {
        Literal::DateTime(value)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CompareOp {
    /// All comparison operators.
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The OData keyword (`eq`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithmeticOp {
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `mod`
    Mod,
}

impl ArithmeticOp {
    /// All arithmetic operators.
    pub const ALL: [ArithmeticOp; 5] = [
        ArithmeticOp::Add,
        ArithmeticOp::Sub,
        ArithmeticOp::Mul,
        ArithmeticOp::Div,
        ArithmeticOp::Mod,
    ];

    /// The OData keyword (`add`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            ArithmeticOp::Add => "add",
            ArithmeticOp::Sub => "sub",
            ArithmeticOp::Mul => "mul",
            ArithmeticOp::Div => "div",
            ArithmeticOp::Mod => "mod",
        }
    }

    /// Whether this operator binds tighter than `add`/`sub`.
    pub(crate) fn is_multiplicative(self) -> bool {
        matches!(
            self,
            ArithmeticOp::Mul | ArithmeticOp::Div | ArithmeticOp::Mod
        )
    }
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    /// `nav/any(x: …)`: at least one related row matches.
    Any,
    /// `nav/all(x: …)`: every related row matches.
    All,
}

impl LambdaKind {
    /// `any` or `all`.
    pub fn keyword(self) -> &'static str {
        match self {
            LambdaKind::Any => "any",
            LambdaKind::All => "all",
        }
    }
}

macro_rules! functions {
    ($($variant:ident => $name:literal, $min:literal ..= $max:literal;)*) => {
        /// A filter function. The list is pinejs-client's (minus `isof`,
        /// `cast` and `$fn`, which take type names or methods) plus OData v2's
        /// `substringof`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Function {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Function {
            /// Every supported function.
            pub const ALL: &'static [Function] = &[$(Function::$variant),*];

            /// The name as written in a URL.
            pub fn name(self) -> &'static str {
                match self { $(Function::$variant => $name),* }
            }

            /// The function with this name.
            pub fn from_name(name: &str) -> Option<Function> {
                match name { $($name => Some(Function::$variant),)* _ => None }
            }

            /// The accepted number of arguments (inclusive range).
            pub fn arity(self) -> (usize, usize) {
                match self { $(Function::$variant => ($min, $max)),* }
            }
        }
    };
}

functions! {
    Contains => "contains", 2..=2;
    EndsWith => "endswith", 2..=2;
    StartsWith => "startswith", 2..=2;
    SubstringOf => "substringof", 2..=2;
    Length => "length", 1..=1;
    IndexOf => "indexof", 2..=2;
    Substring => "substring", 2..=3;
    ToLower => "tolower", 1..=1;
    ToUpper => "toupper", 1..=1;
    Trim => "trim", 1..=1;
    Concat => "concat", 2..=2;
    Year => "year", 1..=1;
    Month => "month", 1..=1;
    Day => "day", 1..=1;
    Hour => "hour", 1..=1;
    Minute => "minute", 1..=1;
    Second => "second", 1..=1;
    FractionalSeconds => "fractionalseconds", 1..=1;
    Date => "date", 1..=1;
    Time => "time", 1..=1;
    TotalOffsetMinutes => "totaloffsetminutes", 1..=1;
    Now => "now", 0..=0;
    MaxDateTime => "maxdatetime", 0..=0;
    MinDateTime => "mindatetime", 0..=0;
    TotalSeconds => "totalseconds", 1..=1;
    Round => "round", 1..=1;
    Floor => "floor", 1..=1;
    Ceiling => "ceiling", 1..=1;
}

/// A `$filter` expression.
///
/// Build one by hand, with [`ODataOptions::from_json`](crate::ODataOptions::from_json),
/// or by parsing. Parsed and JSON-built trees are *canonical*
/// ([`Expr::canonical`]): nested `and`s and `or`s are flattened and a
/// [`Group`](Expr::Group) only appears where its parentheses are not ones the
/// encoder would write anyway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A value.
    Literal(Literal),
    /// A field, possibly through navigations or a lambda alias: `dt/slug`.
    Path(PropertyPath),
    /// `nav/$count` or `nav/$count($filter=…)`: the number of related rows.
    Count {
        /// The navigation whose rows are counted.
        path: PropertyPath,
        /// Only rows matching this are counted.
        filter: Option<Box<Expr>>,
    },
    /// `left op right`.
    Compare {
        /// The operator.
        op: CompareOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `left op right` with an arithmetic operator.
    Arithmetic {
        /// The operator.
        op: ArithmeticOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `operand in (v1,v2,…)`; never empty once validated.
    In {
        /// The tested expression (a field in everything pinejs-client sends).
        operand: Box<Expr>,
        /// The candidate values.
        values: Vec<Literal>,
    },
    /// Conjunction of two or more parts.
    And(Vec<Expr>),
    /// Disjunction of two or more parts.
    Or(Vec<Expr>),
    /// `not(…)`.
    Not(Box<Expr>),
    /// `name(arg,…)`.
    Function {
        /// Which function.
        function: Function,
        /// Its arguments, checked against [`Function::arity`].
        args: Vec<Expr>,
    },
    /// `path/any(alias:body)` or `path/all(alias:body)`.
    Lambda {
        /// The collection navigated to.
        path: PropertyPath,
        /// `any` or `all`.
        kind: LambdaKind,
        /// The name the body uses for each related row.
        alias: Identifier,
        /// The condition.
        body: Box<Expr>,
    },
    /// Parentheses that carry no precedence meaning but are part of the
    /// query as written (pinejs-client's `$raw` adds them).
    Group(Box<Expr>),
}

impl Expr {
    /// A path expression from `a/b` text.
    ///
    /// # Errors
    /// The first bad segment.
    pub fn path(text: &str) -> Result<Expr, IdentifierError> {
        Ok(Expr::Path(PropertyPath::parse(text)?))
    }

    /// A literal expression.
    pub fn literal(value: impl Into<Literal>) -> Expr {
        Expr::Literal(value.into())
    }

    /// `left op right`.
    pub fn compare(left: Expr, op: CompareOp, right: Expr) -> Expr {
        Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// `path eq value`, the commonest filter.
    pub fn field_eq(path: PropertyPath, value: impl Into<Literal>) -> Expr {
        Expr::compare(Expr::Path(path), CompareOp::Eq, Expr::literal(value))
    }

    /// Conjunction; flattens nested `And`s and unwraps a single part.
    pub fn and(parts: impl IntoIterator<Item = Expr>) -> Expr {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Expr::And(inner) if inner.len() >= 2 => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(flat)
        }
    }

    /// Disjunction; flattens nested `Or`s and unwraps a single part.
    pub fn or(parts: impl IntoIterator<Item = Expr>) -> Expr {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Expr::Or(inner) if inner.len() >= 2 => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(flat)
        }
    }

    /// `path/any(alias:body)`.
    pub fn any(path: PropertyPath, alias: Identifier, body: Expr) -> Expr {
        Expr::Lambda {
            path,
            kind: LambdaKind::Any,
            alias,
            body: Box::new(body),
        }
    }
}

/// One `$select` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SelectItem {
    /// `*`
    All,
    /// A field name.
    Field(Identifier),
}

/// Sort direction of an `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `asc`
    Asc,
    /// `desc`
    Desc,
}

impl Direction {
    /// `asc` or `desc`.
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// What an `$orderby` key sorts by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderByTarget {
    /// A field (possibly through navigations).
    Path(PropertyPath),
    /// The number of related rows: `nav/$count` or `nav/$count($filter=…)`.
    Count {
        /// The navigation counted.
        path: PropertyPath,
        /// Only rows matching this are counted.
        filter: Option<Box<Expr>>,
    },
}

/// One `$orderby` key.
///
/// A missing direction is sent as just the field; note that the real API
/// then sorts **descending** (see `open-balena-api.md`), the server decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderByItem {
    /// What to sort by.
    pub target: OrderByTarget,
    /// `asc`, `desc` or none written.
    pub direction: Option<Direction>,
}

impl OrderByItem {
    /// Sort by a field.
    pub fn new(path: PropertyPath, direction: Option<Direction>) -> Self {
        OrderByItem {
            target: OrderByTarget::Path(path),
            direction,
        }
    }
}

/// A query parameter that is not an OData option (`apikey=…`).
///
/// The name is non-empty, does not start with `$` or `@`, and has no `&`,
/// `=`, `#` or control character.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomParam {
    name: String,
    value: String,
}

impl CustomParam {
    /// Checks the name.
    ///
    /// # Errors
    /// [`IdentifierError`] describing what is wrong with the name.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Result<Self, IdentifierError> {
        let name = name.into();
        let value = value.into();
        check_custom_name(&name)?;
        Ok(CustomParam { name, value })
    }

    /// The parameter name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The (decoded) value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

pub(crate) fn check_custom_name(name: &str) -> Result<(), IdentifierError> {
    let Some(first) = name.chars().next() else {
        return Err(IdentifierError::Empty);
    };
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(IdentifierError::TooLong {
            len: name.len(),
            max: MAX_IDENTIFIER_LEN,
        });
    }
    if first == '$' || first == '@' {
        return Err(IdentifierError::InvalidStart {
            name: name.to_owned(),
        });
    }
    if let Some(index) = name
        .bytes()
        .position(|b| b == b'&' || b == b'=' || b == b'#' || b.is_ascii_control())
    {
        return Err(IdentifierError::InvalidCharacter {
            name: name.to_owned(),
            index,
        });
    }
    Ok(())
}

/// A resource key: `release(1)`, `device_type('raspberrypi4-64')`,
/// `device_type(slug='raspberrypi4-64')`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceKey {
    /// A numeric id.
    Integer(i64),
    /// A string key.
    String(String),
    /// Pine's natural-key form `name=value[,name=value…]`.
    Named(Vec<(Identifier, Literal)>),
}

impl From<i64> for ResourceKey {
    fn from(value: i64) -> Self {
        ResourceKey::Integer(value)
    }
}

impl From<&str> for ResourceKey {
    fn from(value: &str) -> Self {
        ResourceKey::String(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_javascript() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (123456.789, "123456.789"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (value, text) in cases {
            assert_eq!(js_number_to_string(value), text, "{value:e}");
            assert_eq!(
                Number::new(text).map(|n| n.as_str().to_owned()),
                Ok(text.to_owned())
            );
        }
        assert_eq!(Number::from_f64(f64::NAN), Err(LiteralError::NonFinite));
    }

    #[test]
    fn number_grammar() {
        assert_eq!(number_len(b"12 eq"), Some(2));
        assert_eq!(number_len(b"-1.5e+3)"), Some(7));
        assert_eq!(number_len(b"1.)"), Some(1));
        assert_eq!(number_len(b"1e"), Some(1));
        assert_eq!(number_len(b"-x"), None);
        assert!(Number::new("1.").is_err());
        assert!(Number::new("+1").is_err());
        assert_eq!(Number::new("007").unwrap().as_i64(), Some(7));
        assert!(!Number::new("1e3").unwrap().is_integer());
        assert_eq!(Number::new("1e3").unwrap().as_f64(), 1000.0);
    }

    #[test]
    fn datetime_shapes() {
        for ok in [
            "2020-01-01",
            "2020-01-01T00:00",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00.123456789+01:00",
        ] {
            assert!(is_datetime(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "2020-1-01",
            "2020-01-01T",
            "2020-01-01T00:00:00.Z",
            "2020-01-01T00:00:00.1234567890Z",
            "2020-01-01Z",
            "2020-01-01T00:00+0100",
        ] {
            assert!(!is_datetime(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(Identifier::new("_a1").is_ok());
        assert_eq!(Identifier::new(""), Err(IdentifierError::Empty));
        assert!(matches!(
            Identifier::new("1a"),
            Err(IdentifierError::InvalidStart { .. })
        ));
        assert!(matches!(
            Identifier::new("a-b"),
            Err(IdentifierError::InvalidCharacter { index: 1, .. })
        ));
        assert!(matches!(
            Identifier::new("or"),
            Err(IdentifierError::Reserved { .. })
        ));
        assert!(matches!(
            Identifier::new("é"),
            Err(IdentifierError::InvalidStart { .. })
        ));
        assert!(matches!(
            Identifier::new("a".repeat(129)),
            Err(IdentifierError::TooLong { len: 129, .. })
        ));
        assert!(CustomParam::new("api key", "v").is_ok());
        assert!(CustomParam::new("$top", "v").is_err());
        assert!(CustomParam::new("a=b", "v").is_err());
    }

    #[test]
    fn builders_flatten() {
        let a = Expr::path("a").unwrap();
        let b = Expr::path("b").unwrap();
        assert_eq!(Expr::and([a.clone()]), a);
        assert_eq!(
            Expr::and([Expr::and([a.clone(), b.clone()]), a.clone()]),
            Expr::And(vec![a.clone(), b.clone(), a.clone()])
        );
        assert_eq!(
            Expr::or([Expr::or([a.clone(), b.clone()]), a.clone()]),
            Expr::Or(vec![a.clone(), b, a])
        );
    }
}
