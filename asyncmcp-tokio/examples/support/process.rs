//! What the bench examples share: the `bench_server` process they start and talk to
//! over its stdin/stdout, and CPU time from `/proc`.
#![allow(dead_code)] // each example uses a part
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux).
pub(crate) fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of process `pid` so far (all its threads, live or ended).
pub(crate) fn cpu_secs(pid: u32, ticks: f64) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("bad /proc stat")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 12th and 13th after the comm.
    let utime: f64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("no stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// The server process and its command pipe.
pub(crate) struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl ServerProcess {
    pub(crate) async fn start(bin: &str, endpoint: &str, queue_url: &str, allow: &str) -> Result<Self, Error> {
        Self::start_with(bin, endpoint, queue_url, allow, &[]).await
    }

    /// As [`start`](Self::start), with more arguments for `bench_server`.
    pub(crate) async fn start_with(
        bin: &str,
        endpoint: &str,
        queue_url: &str,
        allow: &str,
        more: &[&str],
    ) -> Result<Self, Error> {
        let mut child = tokio::process::Command::new(bin)
            .args(["--endpoint-url", endpoint, "--queue-url", queue_url, "--allow", allow])
            .args(more)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut server = Self { child, stdin, stdout };
        match server.stdout.next_line().await? {
            Some(line) if line == "READY" => Ok(server),
            other => Err(format!("bench_server did not start: {other:?}").into()),
        }
    }

    pub(crate) fn pid(&self) -> Result<u32, Error> {
        Ok(self.child.id().ok_or("server exited")?)
    }

    /// How many times the server's `echo` tool ran (the last field of its STATS line).
    pub(crate) async fn echoes(&mut self) -> Result<u64, Error> {
        let (_, line) = self.stats().await?;
        Ok(line.split_whitespace().nth(13).ok_or("no echo count in STATS")?.parse()?)
    }

    /// (total calls, the whole line) from the server's driver.
    pub(crate) async fn stats(&mut self) -> Result<(u64, String), Error> {
        self.stdin.write_all(b"stats\n").await?;
        self.stdin.flush().await?;
        let line = self.stdout.next_line().await?.ok_or("server gone")?;
        let total = line.split_whitespace().nth(1).ok_or("bad STATS line")?.parse()?;
        Ok((total, line))
    }

    pub(crate) async fn quit(mut self) -> Result<(), Error> {
        self.stdin.write_all(b"quit\n").await?;
        self.stdin.flush().await?;
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await??;
        if !status.success() {
            return Err(format!("bench_server exited with {status}").into());
        }
        Ok(())
    }
}
