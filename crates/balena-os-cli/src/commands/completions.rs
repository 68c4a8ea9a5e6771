//! `balena-os completions SHELL`: a completion script on stdout.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::output::Out;

/// Arguments of `balena-os completions`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  balena-os completions bash > ~/.local/share/bash-completion/completions/balena-os
  balena-os completions zsh > \"${fpath[1]}/_balena-os\"
  balena-os completions fish > ~/.config/fish/completions/balena-os.fish")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Prints the completion script.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "balena-os", &mut script);
    let mut out = Out::new();
    out.bytes(&script)?;
    out.flush()
}
