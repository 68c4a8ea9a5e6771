//! Behaviour tests: real servers on loopback, real databases, real HTTP.

mod access;
mod bad_input;
mod caching;
mod common;
mod conformance;
mod images;
mod import;
mod js_sdk;
mod query_count;
mod rust_sdk;
mod shutdown;
