//! The subcommands.

pub mod admin;
pub mod completions;
pub mod configure;
pub mod image_server;
pub mod os;
pub mod output;
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
    /// The OS model's methods (versions, downloads, config.json, updates).
    #[command(flatten)]
    Os(os::OsCommand),
    /// Configure a local balenaOS image in place: config.json, wifi, static
    /// IP (no network needed with --config).
    Configure(configure::ConfigureArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

pub use output::{EXIT_CODES_HELP, exit_code};

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
        Command::Os(command) => os::run(command).await,
        Command::Configure(args) => configure::run(args).await,
        Command::Completions(args) => completions::run(args),
    }
}
