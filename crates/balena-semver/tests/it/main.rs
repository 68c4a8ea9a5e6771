//! Behaviour tests for balena-semver through its public API.

mod api;
mod props;
mod vectors;
