//! The Python side of the interop tier: a virtualenv with Python asyncmcp 0.2.1 (and
//! the official `mcp` SDK it brings) and AWS's SQS extended client
//! (`amazon-sqs-extended-client`), and the scripts in `tests/python/` run as child
//! processes.
//!
//! [`venv_python`] creates `$CARGO_TARGET_DIR/py-venv` (or `target/py-venv`) on first
//! use and installs `tests/python/requirements.txt` (every version pinned) from PyPI
//! into it; a venv whose copy of the requirements matches is reused. The install is
//! staged in a temporary directory and renamed into place, so a half-done install is
//! never mistaken for a working one. If Python, `venv` or pip cannot work, the harness
//! panics with what to install: the tier is never skipped silently.
//!
//! [`PyProcess`] runs one script with its stdout and stderr in log files (their paths
//! are in every panic message). It is ended by its own PID when dropped; the scripts
//! also exit when their stdin closes, so none outlives the test process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The Python asyncmcp version the tier installs (pinned in `tests/python/requirements.txt`).
pub const ASYNCMCP_VERSION: &str = "0.2.1";

/// `tests/python/`: the scripts and the requirements.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The venv's interpreter, with the pinned requirements installed (created on first use).
///
/// # Panics
/// When the venv cannot be created or the requirements cannot be installed; the
/// message says what to install.
pub fn venv_python() -> PathBuf {
    // A failed install is remembered, so the other tests fail at once with its message
    // instead of each trying again.
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let venv = PYTHON.get_or_init(|| {
        std::panic::catch_unwind(find_or_install).map_err(|e| {
            e.downcast_ref::<String>().cloned().unwrap_or_else(|| "the Python venv could not be made".to_owned())
        })
    });
    venv.clone().unwrap_or_else(|e| panic!("{e}"))
}

fn requirements() -> String {
    let path = scripts_dir().join("requirements.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The interpreter that makes the venv: `$ASYNCMCP_TEST_PYTHON` (to try another
/// Python version; its venv is `py-venv-<its path>`), else `python3`.
fn base_python() -> (PathBuf, PathBuf) {
    match std::env::var_os("ASYNCMCP_TEST_PYTHON") {
        Some(python) => {
            let python = PathBuf::from(python);
            let name: String = python
                .to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
                .collect();
            let venv = target_dir().join(format!("py-venv-{}", name.trim_matches('_')));
            (python, venv)
        }
        None => (PathBuf::from("python3"), target_dir().join("py-venv")),
    }
}

fn find_or_install() -> PathBuf {
    let (python3, venv) = base_python();
    let python = venv.join("bin").join("python");
    let wanted = requirements();
    let installed = std::fs::read_to_string(venv.join("requirements.txt")).unwrap_or_default();
    if installed == wanted && imports_asyncmcp(&python) {
        return python;
    }
    install(&python3, &venv, &wanted);
    python
}

fn imports_asyncmcp(python: &Path) -> bool {
    let check = format!(
        "import asyncmcp, mcp, boto3, sqs_extended_client; assert asyncmcp.__version__ == '{ASYNCMCP_VERSION}', asyncmcp.__version__"
    );
    Command::new(python)
        .args(["-c", &check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const HOW: &str = "the Python interop tier needs python3 (3.10 to 3.13) with venv and pip, and network access \
                   to PyPI on first run. On Debian/Ubuntu: `apt-get install -y python3 python3-venv`";

fn install(python3: &Path, venv: &Path, requirements: &str) {
    let name = venv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = venv.with_file_name(format!("{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!("python: installing asyncmcp=={ASYNCMCP_VERSION} and its pinned dependencies into {}", venv.display());
    match Command::new(python3).arg("-m").arg("venv").arg(&staging).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{} -m venv {}` failed ({}): {}\n{HOW}",
            python3.display(),
            staging.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run {}: {e}\n{HOW}", python3.display()),
    }
    let out = Command::new(staging.join("bin").join("python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"])
        .arg(scripts_dir().join("requirements.txt"))
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "pip could not install tests/python/requirements.txt into {} ({}):\n{}\n{HOW}",
            staging.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run the venv's python in {}: {e}\n{HOW}", staging.display()),
    }
    if let Err(e) = std::fs::write(staging.join("requirements.txt"), requirements) {
        panic!("cannot write into {}: {e}", staging.display());
    }
    if !imports_asyncmcp(&staging.join("bin").join("python")) {
        panic!("asyncmcp=={ASYNCMCP_VERSION} was installed into {} but does not import\n{HOW}", staging.display());
    }
    let _ = std::fs::remove_dir_all(venv);
    if let Err(e) = std::fs::rename(&staging, venv) {
        // Another test process may have won the race: use its venv if it works.
        if !imports_asyncmcp(&venv.join("bin").join("python")) {
            panic!("could not move {} to {}: {e}", staging.display(), venv.display());
        }
        let _ = std::fs::remove_dir_all(&staging);
    }
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
    }
}

/// A running Python script from `tests/python/`.
#[derive(Debug)]
pub struct PyProcess {
    /// What ran, for messages.
    pub name: String,
    /// Its standard output.
    pub stdout_log: PathBuf,
    /// Its standard error (Python's logging and tracebacks).
    pub stderr_log: PathBuf,
    child: Child,
}

impl PyProcess {
    /// Runs `tests/python/<script>` with `args` in the venv.
    ///
    /// # Panics
    /// When the venv cannot be made or the process cannot start.
    pub fn spawn(script: &str, args: &[&str]) -> PyProcess {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let python = venv_python();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stem = script.trim_end_matches(".py");
        let base = std::env::temp_dir().join(format!("asyncmcp-py-{}-{n}-{stem}", std::process::id()));
        let stdout_log = base.with_extension("out.log");
        let stderr_log = base.with_extension("err.log");
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        let child = Command::new(&python)
            .arg(scripts_dir().join(script))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(file(&stdout_log))
            .stderr(file(&stderr_log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} {script}: {e}", python.display()));
        PyProcess { name: format!("{script} {}", args.join(" ")), stdout_log, stderr_log, child }
    }

    /// Everything the script printed so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_log).unwrap_or_default()
    }

    /// Where its logs are, and the end of its stderr: for failure messages.
    pub fn logs(&self) -> String {
        let err = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let tail: Vec<&str> = err.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{}\n  stdout: {}\n  stderr: {}\n  last lines of stderr:\n{}",
            self.name,
            self.stdout_log.display(),
            self.stderr_log.display(),
            tail.join("\n")
        )
    }

    /// The first line of stdout starting with `prefix`, if printed yet.
    pub fn line(&self, prefix: &str) -> Option<String> {
        self.stdout().lines().find(|l| l.starts_with(prefix)).map(str::to_owned)
    }

    /// The exit status, if the process has exited (never blocks, so it can be polled
    /// from an async test whose runtime also runs the other side).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Checks the process while a test waits for it: `Err` with the logs once it has
    /// exited without printing a line starting with `prefix`, or once `deadline`
    /// passed.
    ///
    /// # Errors
    /// The failure message, naming the logs.
    pub fn check_line(&mut self, prefix: &str, deadline: Instant) -> Result<Option<String>, String> {
        if let Some(line) = self.line(prefix) {
            return Ok(Some(line));
        }
        if let Some(status) = self.exited() {
            // It may have printed the line just before exiting.
            return self
                .line(prefix)
                .map(Some)
                .ok_or_else(|| format!("{prefix:?} never printed: the script exited ({status})\n{}", self.logs()));
        }
        if Instant::now() >= deadline {
            return Err(format!("{prefix:?} not printed in time\n{}", self.logs()));
        }
        Ok(None)
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        // Our own child, by its PID: never a broad kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("python process logs: {}", self.logs());
        } else {
            let _ = std::fs::remove_file(&self.stdout_log);
            let _ = std::fs::remove_file(&self.stderr_log);
        }
    }
}
