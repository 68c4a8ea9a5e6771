//! Behaviour tests through the public API (one test binary).

mod client;
mod download;
mod errors;
mod replay;
