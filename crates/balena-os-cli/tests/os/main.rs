//! The SDK subcommands and `configure` of the `balena-os` binary, run as a
//! real process against the real catalog server (demo catalog, SQLite, a
//! loopback port), a real HTTP image server for downloads, and images
//! built with the real tools.

mod args;
mod common;
mod configure;
mod download;
mod image_server;
mod updates;
mod versions;
