//! balena-os-server: a self-hostable API for balena's OS model.
//!
//! It answers the `/v7` pine (OData) queries that the official JavaScript
//! SDK, this project's Rust SDK and the CLI send to list balenaOS versions,
//! resolve device types and fleets and find supervisor releases, from a
//! catalog kept in SQLite (the embedded default) or PostgreSQL.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use balena_os_server::Server;
//!
//! let server = Server::builder().data_dir("data").demo(true).build().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("http://{}", listener.local_addr()?);
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! Modules, bottom up: [`schema`] describes the resources; [`db`] stores
//! them; [`catalog`] writes them (import, demo catalog, admin commands);
//! [`auth`] turns API keys into callers; [`query`] turns pine requests into
//! SQL and JSON; [`http`] serves it all.

pub mod auth;
pub mod cache;
pub mod catalog;
pub mod db;
pub mod http;
pub mod images;
pub mod query;
pub mod schema;
pub mod time;

mod drain;
mod error_chain;
mod server;

pub use error_chain::ErrorChain;

pub use server::{
    ADMIN_KEY_FILE, Bootstrap, DEFAULT_DRAIN_TIMEOUT, DEFAULT_LISTEN, DEMO_KEY_FILE, SQLITE_FILE,
    Server, ServerBuilder, ServerError,
};
