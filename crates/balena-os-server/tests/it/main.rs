//! Behaviour tests: real servers on loopback, real databases, real HTTP.

mod access;
mod bad_input;
mod common;
mod conformance;
mod import;
mod js_sdk;
