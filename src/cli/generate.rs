//! `sovra completions` and `sovra man`: generated from the command line
//! itself, so they never drift from it.

use super::*;
use clap::CommandFactory;

/// The completions' options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra completions bash > /etc/bash_completion.d/sovra
  sovra completions zsh > \"${fpath[1]}/_sovra\"
  sovra completions fish > ~/.config/fish/completions/sovra.fish")]
pub(super) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// The man page's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra man > sovra.1 && man ./sovra.1")]
pub(super) struct ManArgs {}

pub(super) fn completions(a: CompletionsArgs) -> Result<u8, Fail> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "sovra", &mut out);
    Ok(0)
}

pub(super) fn man(_: ManArgs) -> Result<u8, Fail> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}
