//! Helpers of the `asyncmcp` command's tests: the built binary pointed at a moto
//! server, the third-party MCP peers (installed on first use under the target
//! directory), and a running `asyncmcp serve` whose log the test can read.
//!
//! Missing tools are never a silent skip: a helper that cannot install what it needs
//! panics with what to install.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use asyncmcp_tests::moto::{Moto, unique_name};

/// The pinned reference server from the npm registry.
pub const SERVER_EVERYTHING: &str = "@modelcontextprotocol/server-everything@2026.8.31";
/// The pinned official Python MCP SDK.
pub const PYTHON_MCP: &str = "mcp==2.3.0";

/// The directory cargo builds into (the binary's grandparent).
pub fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_asyncmcp"));
    bin.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"))
}

/// The `asyncmcp` binary with the environment of a moto test: endpoint, test
/// credentials, region.
pub fn asyncmcp(moto: &Moto) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asyncmcp"));
    command.envs(moto_env(moto));
    command
}

/// The environment that points `asyncmcp` at moto.
pub fn moto_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("RUST_LOG", "asyncmcp=debug,aws_config=error,warn".to_owned()),
    ]
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Panics with the output unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `command` to the end, at most `limit`; panics (after killing it) past that.
pub fn run(command: &mut Command, limit: Duration) -> Finished {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = wait(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} did not finish within {limit:?} (a hang)\nstdout:\n{}\nstderr:\n{}",
            text(&stdout),
            text(&stderr)
        )
    });
    // Give the readers a moment to see end of file.
    std::thread::sleep(Duration::from_millis(50));
    Finished { status, stdout: text(&stdout), stderr: text(&stderr) }
}

/// Waits for `child` at most `limit`.
pub fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A stream's text, gathered by a thread as it comes.
pub type Collected = Arc<Mutex<String>>;

fn collect(stream: Option<impl Read + Send + 'static>) -> Collected {
    let text = Arc::new(Mutex::new(String::new()));
    if let Some(stream) = stream {
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut text = sink.lock().expect("log lock");
                text.push_str(&line);
                text.push('\n');
            }
        });
    }
    text
}

pub fn text(collected: &Collected) -> String {
    collected.lock().expect("log lock").clone()
}

/// A running `asyncmcp serve`; dropping it kills it (by its own PID).
pub struct Serve {
    pub child: Child,
    pub log: Collected,
}

impl Serve {
    /// Starts `asyncmcp serve ARGS -- CMD` and waits until it logs that it serves.
    pub fn start(moto: &Moto, args: &[&str], cmd: &[&str]) -> Serve {
        let mut command = asyncmcp(moto);
        command.arg("serve").args(args).arg("--").args(cmd);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run asyncmcp serve: {e}"));
        let log = collect(child.stderr.take());
        let serve = Serve { child, log };
        serve.wait_for_log("serving `", Duration::from_secs(20));
        serve
    }

    /// Waits until the log holds `needle`; returns the log.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = text(&self.log);
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "asyncmcp serve never logged {needle:?}; its log:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGINT (as Ctrl-C does).
    pub fn interrupt(&self) {
        let status = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -INT failed");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The request queue of a fresh deployment made with `asyncmcp infra up`: returns
/// the parsed `--output json`.
pub fn infra_up(moto: &Moto, name: &str, extra: &[&str]) -> serde_json::Value {
    let out = run(
        asyncmcp(moto).args(["infra", "up", "--name", name, "--output", "json"]).args(extra),
        Duration::from_secs(60),
    )
    .ok();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("infra up --output json: {e}: {}", out.stdout))
}

/// `node .../server-everything/dist/index.js stdio`: the reference MCP server from the
/// npm registry, installed on first use into `TARGET/npm-cli`.
pub fn server_everything() -> Vec<String> {
    static ENTRY: OnceLock<PathBuf> = OnceLock::new();
    let entry = ENTRY.get_or_init(install_server_everything);
    vec!["node".to_owned(), entry.display().to_string(), "stdio".to_owned()]
}

fn install_server_everything() -> PathBuf {
    let how = "install Node.js 20 or newer with npm (Debian/Ubuntu: apt-get install -y nodejs npm) and make sure the npm registry is reachable";
    let dir = target_dir().join("npm-cli");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let version = SERVER_EVERYTHING.rsplit('@').next().unwrap_or("");
    let manifest = dir.join("node_modules/@modelcontextprotocol/server-everything/package.json");
    let installed =
        std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains(&format!("\"version\": \"{version}\"")));
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(node_ok, "the server-everything tests need `node` on PATH: {how}");
    if installed && entry.is_file() {
        return entry;
    }
    let staging = target_dir().join(format!("npm-cli.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap_or_else(|e| panic!("cannot create {}: {e}", staging.display()));
    eprintln!("installing {SERVER_EVERYTHING} into {}", dir.display());
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&staging)
        .arg(SERVER_EVERYTHING)
        .status();
    assert!(
        status.as_ref().is_ok_and(ExitStatus::success),
        "`npm install {SERVER_EVERYTHING}` failed ({status:?}): {how}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)
        .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", staging.display(), dir.display()));
    assert!(entry.is_file(), "{SERVER_EVERYTHING} has no {}: has its layout changed?", entry.display());
    entry
}

/// A Python with the official `mcp` SDK: a venv at `TARGET/cli-py-venv`, made on
/// first use.
pub fn python_mcp() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(install_python_mcp).clone()
}

fn install_python_mcp() -> PathBuf {
    let how = "install python3 (3.10 or newer) with venv support (Debian/Ubuntu: apt-get install -y python3-venv) and make sure PyPI is reachable";
    let venv = target_dir().join("cli-py-venv");
    let python = venv.join("bin").join("python");
    let check = format!("import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '{}')", &PYTHON_MCP[5..]);
    if Command::new(&python).args(["-c", &check]).status().is_ok_and(|s| s.success()) {
        return python;
    }
    let staging = target_dir().join(format!("cli-py-venv.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!("installing {PYTHON_MCP} into {}", venv.display());
    let status = Command::new("python3").arg("-m").arg("venv").arg(&staging).status();
    assert!(status.is_ok_and(|s| s.success()), "`python3 -m venv` failed: {how}");
    let status = Command::new(staging.join("bin").join("python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYTHON_MCP])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "`pip install {PYTHON_MCP}` failed: {how}");
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&staging, &venv).unwrap_or_else(|e| panic!("cannot move the venv into {}: {e}", venv.display()));
    python
}

/// A file of `tests/fixtures`.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name).display().to_string()
}

/// `command` (an `asyncmcp` with its environment) serving `queue` with the
/// `sleepy_server.py` fixture, and its stderr to read once it has ended.
pub fn serve_sleepy(command: &mut Command, queue: &str) -> (Child, std::process::ChildStderr) {
    let mut serve = command
        .args(["serve", "--queue-url", queue, "--", "python3"])
        .arg(fixture("sleepy_server.py"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let log = serve.stderr.take().expect("serve's stderr");
    (serve, log)
}
