//! The subcommands.

pub mod admin;
pub mod serve;

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Every subcommand of `balena-os`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the catalog API (`/v7` pine queries, `/ping`).
    Serve(serve::ServeArgs),
    /// Administer the catalog: organisations, users, API keys, fleets,
    /// imports.
    #[command(subcommand_required = true)]
    Admin(admin::AdminArgs),
}

/// Where the catalog is stored (shared by `serve` and `admin`).
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Data directory: the SQLite database and key files live here.
    #[arg(long, env = "BALENA_OS_DATA", default_value = "data")]
    pub data: PathBuf,
    /// Use this database instead of the SQLite file in the data directory
    /// (postgres://USER@HOST/DB or sqlite://PATH).
    #[arg(long, env = "BALENA_OS_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Runs a subcommand.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Admin(args) => admin::run(args).await,
    }
}
