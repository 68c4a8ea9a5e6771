//! Behaviour tests for balena-pine through its public API.

mod conformance;
mod errors;
mod pinejs;
mod roundtrip;
