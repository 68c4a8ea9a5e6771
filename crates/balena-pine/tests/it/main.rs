//! Behaviour tests for balena-pine through its public API.

mod conformance;
mod errors;
mod merge;
mod pinejs;
mod roundtrip;
