//! `balena-os`: run and administer the self-hostable balenaOS catalog server.
//!
//! The logic lives in the `balena-os-server` library; this binary parses
//! arguments, sets up logging and prints results. Each subcommand is a
//! module under `commands/`.

mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Run and administer a self-hostable balenaOS catalog API.
#[derive(Debug, Parser)]
#[command(
    name = "balena-os",
    version,
    about,
    propagate_version = true,
    after_help = commands::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(code) = commands::exit_code(&e) {
                return code;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
