//! Behaviour tests for balena-semver through its public API.

mod vectors;
