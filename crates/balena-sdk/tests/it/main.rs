//! Behaviour tests through the public API (one test binary).

mod download;
mod replay;
