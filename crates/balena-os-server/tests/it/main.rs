//! Behaviour tests: real servers on loopback, real databases, real HTTP.

mod common;
mod conformance;
