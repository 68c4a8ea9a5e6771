//! Error types.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// Empty name or empty path.
    #[error("empty name")]
    Empty,
    /// Longer than [`MAX_IDENTIFIER_LEN`](crate::MAX_IDENTIFIER_LEN).
    #[error("name is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The first character cannot start a name.
    #[error("`{name}` must start with a letter or `_`")]
    InvalidStart {
        /// The name.
        name: String,
    },
    /// A character outside the allowed set.
    #[error("`{name}` has a character not allowed in a name at byte {index}")]
    InvalidCharacter {
        /// The name.
        name: String,
        /// Byte index of the character.
        index: usize,
    },
    /// One of [`RESERVED_WORDS`](crate::RESERVED_WORDS).
    #[error("`{name}` is a reserved word")]
    Reserved {
        /// The name.
        name: String,
    },
}

/// Why a literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LiteralError {
    /// Not a number in the accepted grammar.
    #[error("`{text}` is not a number")]
    InvalidNumber {
        /// The text.
        text: String,
    },
    /// NaN or an infinity.
    #[error("numbers must be finite")]
    NonFinite,
    /// Not a date-time in the accepted shape.
    #[error("`{text}` is not a date-time (YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM])")]
    InvalidDateTime {
        /// The text.
        text: String,
    },
    /// Over a length limit.
    #[error("literal is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A malformed options object (from JSON or built by hand) or tree.
///
/// `path` says where, in JavaScript notation from the options root:
/// `$filter.is_for__device_type.$any.$expr`, `$expand.owns__release.$select[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A value of the wrong JSON type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        path: String,
        /// What would have been accepted.
        expected: &'static str,
        /// What was there (`string`, `number`, `object`, …).
        found: &'static str,
    },
    /// A `$`-key in a filter that is not a known operator.
    #[error("{path}: unknown filter operator `{operator}`")]
    UnknownOperator {
        /// Where.
        path: String,
        /// The key.
        operator: String,
    },
    /// A `$`-key where options are expected that is not a supported option.
    #[error("{path}: unknown or unsupported option `{option}`")]
    UnknownOption {
        /// Where.
        path: String,
        /// The key.
        option: String,
    },
    /// `$in: []`.
    #[error("{path}: `$in` needs at least one value")]
    EmptyIn {
        /// Where.
        path: String,
    },
    /// A name that is not a valid identifier. The reason is part of the
    /// message (not a `source()`), so it is printed once.
    #[error("{path}: {reason}")]
    Identifier {
        /// Where.
        path: String,
        /// Why.
        reason: IdentifierError,
    },
    /// A literal that is not valid (the reason is part of the message).
    #[error("{path}: {reason}")]
    Literal {
        /// Where.
        path: String,
        /// Why.
        reason: LiteralError,
    },
    /// A string option (`$select`, `$orderby`, `$raw`) that does not parse
    /// (the parser's error is part of the message).
    #[error("{path}: cannot parse {text:?}: {reason}")]
    Syntax {
        /// Where.
        path: String,
        /// The text.
        text: String,
        /// The parser's error (positions are in `text`).
        reason: ParseError,
    },
    /// Over one of the [limits](crate::limits).
    #[error("{path}: {what} exceeds the limit of {limit}")]
    Limit {
        /// Where.
        path: String,
        /// What is too big.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Any other structural problem, described in `message`.
    #[error("{path}: {message}")]
    Invalid {
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A query or path that does not parse.
///
/// `position` is a byte offset into the text given to the parser (the raw,
/// percent-encoded text for [`PineRequest::parse`](crate::PineRequest::parse)
/// and [`ODataOptions::parse_query`](crate::ODataOptions::parse_query)).
///
/// ```
/// use balena_pine::ODataOptions;
/// let err = ODataOptions::parse_query("$filter=slug%20eq").unwrap_err();
/// assert_eq!(err.position(), 17);
/// assert_eq!(err.to_string(), "at byte 17: expected expression after `eq`, found end of input");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub(crate) position: usize,
    pub(crate) expected: String,
    pub(crate) found: Option<String>,
}

impl ParseError {
    pub(crate) fn new(position: usize, expected: impl Into<String>, found: Option<String>) -> Self {
        ParseError {
            position,
            expected: expected.into(),
            found,
        }
    }

    /// Byte offset of the problem.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What the parser expected there.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What it found instead (`None` when there is nothing useful to say).
    pub fn found(&self) -> Option<&str> {
        self.found.as_deref()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: expected {}", self.position, self.expected)?;
        if let Some(found) = &self.found {
            write!(f, ", found {found}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    /// The reason of a bad option is part of its message and not also a
    /// `source()`, so error chains print it once.
    #[test]
    fn reasons_are_shown_once() {
        let e =
            crate::ODataOptions::from_json(&serde_json::json!({"$select": ["a b"]})).unwrap_err();
        assert!(e.source().is_none());
        assert!(e.to_string().contains("a b"), "{e}");
    }
}
