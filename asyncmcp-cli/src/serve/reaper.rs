//! Ends `serve`'s MCP server processes when `serve` ends, however it ends: `kill -9`
//! included, where no code of `serve` runs any more.
//!
//! `serve` starts one helper, its own binary as `asyncmcp __reaper`, with a pipe on
//! the helper's stdin, and writes `+PID` for each child it starts (each child leads
//! its own process group) and `-PID` when it has reaped it. When `serve` exits or
//! dies, the kernel closes the pipe; the helper reads end of file and sends SIGTERM to
//! every process group still listed (the MCP server and whatever it started), then
//! SIGKILL to those still there after [`GRACE`]. The helper runs in its own process
//! group, so a Ctrl-C meant for `serve` leaves it watching while `serve` drains.
//!
//! This needs no `unsafe` (no `PR_SET_PDEATHSIG` in a `pre_exec` hook) and works on
//! every Unix. Its limit: a `kill -9` of the helper itself leaves the children
//! unguarded.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The hidden subcommand that runs the helper.
pub(crate) const SUBCOMMAND: &str = "__reaper";

/// How long the process groups get between SIGTERM and SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// `serve`'s end of the pipe to the helper. Clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Reaper {
    pipe: Arc<Mutex<std::process::ChildStdin>>,
}

impl Reaper {
    /// Starts the helper.
    ///
    /// # Errors
    /// When this binary cannot be found or started again.
    pub(crate) fn start() -> std::io::Result<Reaper> {
        let exe = std::env::current_exe()?;
        let mut command = std::process::Command::new(exe);
        command.arg(SUBCOMMAND).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::inherit());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut helper = command.spawn()?;
        let pipe = helper.stdin.take().ok_or_else(|| std::io::Error::other("the helper's stdin pipe is missing"))?;
        // The helper outlives this handle by design; `serve` never waits for it.
        drop(helper);
        Ok(Reaper { pipe: Arc::new(Mutex::new(pipe)) })
    }

    /// The process group led by `pid` is to end with `serve`.
    pub(crate) fn watch(&self, pid: u32) {
        self.write(&format!("+{pid}\n"));
    }

    /// The process `pid` was reaped: its group id may be reused, leave it alone.
    pub(crate) fn forget(&self, pid: u32) {
        self.write(&format!("-{pid}\n"));
    }

    fn write(&self, line: &str) {
        let mut pipe = self.pipe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = pipe.write_all(line.as_bytes()).and_then(|()| pipe.flush()) {
            tracing::warn!("the helper that ends MCP servers with serve is gone ({e}): they may outlive a crash");
        }
    }
}

/// The helper's main: reads `+PID` / `-PID` lines until end of file, then ends the
/// process groups still listed.
pub(crate) fn run() -> ExitCode {
    let mut groups = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (sign, pid) = line.split_at(line.len().min(1));
        match (sign, pid.parse::<u32>()) {
            ("+", Ok(pid)) => {
                groups.insert(pid);
            }
            ("-", Ok(pid)) => {
                groups.remove(&pid);
            }
            _ => tracing::debug!("reaper: ignored {line:?}"),
        }
    }
    if !groups.is_empty() {
        tracing::info!("serve ended: ending {} MCP server process group(s)", groups.len());
    }
    end_groups(groups);
    ExitCode::SUCCESS
}

#[cfg(unix)]
fn end_groups(mut groups: BTreeSet<u32>) {
    use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
    use std::time::Instant;
    let pid = |p: u32| i32::try_from(p).ok().and_then(Pid::from_raw);
    groups.retain(|&p| pid(p).is_some_and(|g| kill_process_group(g, Signal::TERM).is_ok()));
    let deadline = Instant::now() + GRACE;
    while !groups.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        groups.retain(|&p| pid(p).is_some_and(|g| test_kill_process_group(g).is_ok()));
    }
    for p in groups {
        if let Some(g) = pid(p) {
            let _ = kill_process_group(g, Signal::KILL);
        }
    }
}

#[cfg(not(unix))]
fn end_groups(_groups: BTreeSet<u32>) {}
