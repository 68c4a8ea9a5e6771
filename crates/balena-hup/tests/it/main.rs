//! Behaviour tests for balena-hup, through its public API only.

mod arch;
mod engine;
mod props;
mod rules;
mod vectors;

use std::path::PathBuf;

/// The shared reference folder (`../shared` from the repository root).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}
