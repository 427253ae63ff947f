//! One stdio MCP server process: lines in on stdin, lines out on stdout, stderr
//! logged, and its exit reported after its last stdout line.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::reaper::Reaper;

/// Lines that may wait for a child's stdin: a process that stops reading holds up
/// its session (whose inbox then refuses) or has its pool requests refused.
pub(crate) const STDIN_LINES: usize = 64;

/// Which child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChildId(pub(crate) u64);

impl ChildId {
    /// A fresh id, unique in this process.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ChildId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a child said or did.
#[derive(Debug)]
pub(crate) enum ChildOutput {
    /// One stdout line.
    Line(ChildId, String),
    /// It exited (always after its last line); how, in words.
    Exited(ChildId, String),
}

/// The command that starts a child.
#[derive(Debug, Clone)]
pub(crate) struct CommandSpec {
    /// The program.
    pub(crate) program: String,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// Ends each child's process group when serve ends (`None`: nobody does).
    pub(crate) reaper: Option<Reaper>,
}

impl CommandSpec {
    /// The command line, for messages.
    pub(crate) fn display(&self) -> String {
        std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// A running child. Dropping it kills the process.
#[derive(Debug)]
pub(crate) struct Child {
    /// Its process id, for messages.
    pub(crate) pid: Option<u32>,
    stdin: mpsc::Sender<String>,
    kill: Option<oneshot::Sender<()>>,
}

impl Child {
    /// Starts `spec` with piped stdio in its own process group (so a Ctrl-C meant for
    /// `asyncmcp serve` does not end it before in-flight requests drain).
    ///
    /// # Errors
    /// When the process cannot be started.
    pub(crate) fn spawn(
        id: ChildId,
        spec: &CommandSpec,
        label: String,
        out: mpsc::UnboundedSender<ChildOutput>,
    ) -> std::io::Result<Child> {
        let mut command = tokio::process::Command::new(&spec.program);
        command.args(&spec.args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut process = command.spawn()?;
        let pid = process.id();
        let reaper = spec.reaper.clone().zip(pid);
        if let Some((reaper, pid)) = &reaper {
            reaper.watch(*pid);
        }
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            return Err(std::io::Error::other("the child's stdio pipes are missing"));
        };

        let (stdin_tx, mut stdin_rx) = mpsc::channel::<String>(STDIN_LINES);
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(mut line) = stdin_rx.recv().await {
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
            // Dropping stdin closes it: a stdio MCP server ends at end of input.
        });

        let stderr_label = label.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!("[{stderr_label}] {line}");
            }
        });

        let (kill_tx, mut kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut killed = false;
            loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(line)) => {
                            if out.send(ChildOutput::Line(id, line)).is_err() {
                                break;
                            }
                        }
                        Ok(None) | Err(_) => break,
                    },
                    _ = &mut kill_rx, if !killed => {
                        killed = true;
                        let _ = process.start_kill();
                    }
                }
            }
            let status = tokio::select! {
                status = process.wait() => status,
                _ = &mut kill_rx, if !killed => {
                    let _ = process.start_kill();
                    process.wait().await
                }
            };
            if let Some((reaper, pid)) = reaper {
                reaper.forget(pid);
            }
            let how = match status {
                Ok(status) => status.to_string(),
                Err(e) => format!("unknown status ({e})"),
            };
            tracing::debug!("[{label}] {how}");
            let _ = out.send(ChildOutput::Exited(id, how));
        });
        Ok(Child { pid, stdin: stdin_tx, kill: Some(kill_tx) })
    }

    /// Queues one line for its stdin without waiting; false when its stdin is closed
    /// or [`STDIN_LINES`] lines already wait (the process is not reading).
    pub(crate) fn send(&self, line: &str) -> bool {
        self.stdin.try_send(line.to_owned()).is_ok()
    }

    /// Writes one line to its stdin, waiting while [`STDIN_LINES`] lines already wait;
    /// false when its stdin is closed.
    pub(crate) async fn write(&self, line: &str) -> bool {
        self.stdin.send(line.to_owned()).await.is_ok()
    }

    /// Closes its stdin (a stdio MCP server ends then) and kills it if it is still
    /// running after `grace`.
    pub(crate) fn close(mut self, grace: Duration) {
        let Some(kill) = self.kill.take() else { return };
        drop(self);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = kill.send(());
        });
    }
}
