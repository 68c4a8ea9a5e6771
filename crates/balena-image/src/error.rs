//! The crate's error type.

use std::io;

/// Everything that can go wrong while reading, configuring, importing or
/// assembling an image.
///
/// Hostile or damaged input always ends up here (never in a panic): truncated
/// images, looping EBR chains, cyclic FAT cluster chains, absurd sizes, bad
/// CRCs and corrupt deflate data each have their own variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the underlying file, store or stream.
    #[error("I/O error")]
    Io(#[from] io::Error),

    /// The partition table (MBR, EBR chain or GPT) is damaged or inconsistent.
    #[error("invalid partition table: {0}")]
    PartitionTable(String),

    /// A FAT file system is damaged, unsupported or inconsistent.
    #[error("invalid FAT file system: {0}")]
    Fat(String),

    /// No partition could be chosen to receive `config.json`.
    #[error("no boot partition found: {0}")]
    NoBootPartition(String),

    /// A file that was looked up inside a file system does not exist.
    #[error("file not found in the image: {0}")]
    FileNotFound(String),

    /// A configuration value failed validation.
    #[error("invalid configuration: {field}: {reason}")]
    InvalidConfig {
        /// The offending field (`wifiKey`, `ip`, ...).
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The `image.json` manifest or a part it describes is invalid.
    #[error("invalid image manifest: {0}")]
    Manifest(String),

    /// A compressed part does not inflate to what its manifest says.
    #[error("corrupt compressed part {part}: {reason}")]
    CorruptPart {
        /// The part's file name.
        part: String,
        /// What did not match.
        reason: String,
    },

    /// An argument given to a public function is out of its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// JSON (de)serialisation failed.
    #[error("JSON error")]
    Json(#[from] serde_json::Error),

    /// The input archive (zip / gzip) could not be read.
    #[error("invalid archive: {0}")]
    Archive(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn fat(msg: impl Into<String>) -> Self {
        Error::Fat(msg.into())
    }
    pub(crate) fn table(msg: impl Into<String>) -> Self {
        Error::PartitionTable(msg.into())
    }
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod cause_tests {
    use super::*;
    use std::error::Error as _;

    /// The cause is reported through `source()` only, not repeated in the
    /// message.
    #[test]
    fn causes_are_shown_once() {
        let io = Error::from(io::Error::other("disk on fire"));
        let json = Error::from(serde_json::from_str::<serde_json::Value>("{").unwrap_err());
        for e in [io, json] {
            let source = e.source().expect("wrappers have a cause").to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
    }
}
