//! Behaviour tests for balena-pine through its public API.

mod conformance;
mod pinejs;
mod roundtrip;
