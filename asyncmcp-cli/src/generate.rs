//! `asyncmcp completions SHELL` and `asyncmcp man`: shell completion scripts and a
//! man page, generated from the command's own clap definitions.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use clap_complete::Shell;

use crate::error::{CliError, CliResult};

const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  asyncmcp completions bash > ~/.local/share/bash-completion/completions/asyncmcp
  asyncmcp completions zsh > ~/.zfunc/_asyncmcp        # with fpath+=(~/.zfunc)
  asyncmcp completions fish > ~/.config/fish/completions/asyncmcp.fish";

/// The options of `asyncmcp completions`.
#[derive(Debug, Args)]
#[command(after_help = COMPLETIONS_AFTER_HELP)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: CompletionShell,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
            CompletionShell::Elvish => Shell::Elvish,
            CompletionShell::Powershell => Shell::PowerShell,
        }
    }
}

/// Writes the completion script for `args.shell` of `command` to stdout.
pub(crate) fn completions(args: &CompletionsArgs, command: clap::Command) -> CliResult<ExitCode> {
    let mut command = without_hidden(&command);
    let name = command.get_name().to_owned();
    // Generated into memory: the generators panic on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(Shell::from(args.shell), &mut command, name, &mut script);
    write_out(&script, "the completions")
}

/// `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn write_out(bytes: &[u8], what: &str) -> CliResult<ExitCode> {
    write_stdout(bytes, what).map(|_| ExitCode::SUCCESS)
}

/// Writes `bytes` to stdout and flushes; `Ok(false)` when the reader has gone (a
/// closed pipe, as with `| head`), which `println!` would turn into a panic.
///
/// # Errors
/// Any other write error, naming `what` was being written.
pub(crate) fn write_stdout(bytes: &[u8], what: &str) -> CliResult<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::new(format!("cannot write {what}: {e}"))),
    }
}

/// `command` without its hidden subcommands (the generators would offer them).
fn without_hidden(command: &clap::Command) -> clap::Command {
    let visible = command.get_subcommands().filter(|c| !c.is_hide_set()).cloned();
    clap::Command::new("asyncmcp")
        .version(env!("CARGO_PKG_VERSION"))
        .about(command.get_about().cloned().unwrap_or_default())
        .subcommands(visible)
}

/// Writes the man page of `command` (roff, for `man -l -`) to stdout.
pub(crate) fn man(command: clap::Command) -> CliResult<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| CliError::new(format!("cannot render the man page: {e}")))?;
    write_out(&page, "the man page")
}
