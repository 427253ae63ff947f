//! A local moto server (SQS and SNS) for tests against the real AWS SDK.
//!
//! [`Moto::shared`] starts one server per test binary on a free loopback port;
//! tests use unique queue and topic names ([`unique_name`]) so they can run in
//! parallel without resetting it. [`Moto::start`] gives a private server for a test
//! that needs a clean one.
//!
//! moto comes from `python3` when it can `import moto`; otherwise the harness creates
//! a virtualenv at `$CARGO_TARGET_DIR/moto-venv` (or `target/moto-venv`) and installs
//! `moto[server]==5.2.1` into it. If that fails the harness panics with what to
//! install: the moto tier is never skipped silently.
//!
//! The server runs `moto.server.main` (what `python3 -m moto.server -H 127.0.0.1 -p
//! PORT` runs) under a small Python watchdog that exits when its stdin closes, so a
//! server outlives neither its [`Moto`] (dropping it kills the process by its own
//! PID) nor the test process (a `static` is never dropped; the pipe closes on exit).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The moto version the harness installs when none is available.
pub const MOTO_VERSION: &str = "5.2.1";

/// The account moto puts every resource in.
pub const ACCOUNT: &str = "123456789012";

/// The region the harness's clients use.
pub const REGION: &str = "us-east-1";

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `moto.server.main(["-H", "127.0.0.1", "-p", PORT])` in a thread and exits as
/// soon as stdin reaches end of file, that is when the owning test process ends.
const WATCHDOG: &str = "\
import os, sys, threading
from moto.server import main
threading.Thread(target=main, args=(['-H', '127.0.0.1', '-p', sys.argv[1]],), daemon=True).start()
sys.stdin.read()
os._exit(0)
";

/// A running moto server on loopback.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server's log (stdout and stderr).
    pub log: PathBuf,
    child: Child,
}

impl Moto {
    /// Starts a private moto server and waits until it answers (at most 10 s).
    ///
    /// # Panics
    /// When moto is not installed and cannot be installed, or the server does not
    /// come up: the message says how to install moto by hand.
    pub fn start() -> Moto {
        let python = python_with_moto();
        let mut last_error = String::new();
        // A port found free can be taken before moto binds it: try a few.
        for _ in 0..3 {
            match spawn(&python) {
                Ok(moto) => return moto,
                Err(e) => last_error = e,
            }
        }
        panic!(
            "moto did not start: {last_error}\n\
             install it with `python3 -m pip install 'moto[server]=={MOTO_VERSION}'` and run the tests again"
        );
    }

    /// The moto server of this test binary, started on first use and ended when the
    /// process exits. Use [`unique_name`] for queues and topics.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// An SDK configuration for this server: its endpoint, region `us-east-1`, and
    /// static credentials `test`/`test`.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }

    /// Clears all of the server's state (`POST /moto-api/reset`). Do not call it on
    /// the [`shared`](Self::shared) server: other tests are using it.
    ///
    /// # Panics
    /// When the server does not answer 200.
    pub fn reset(&self) {
        let status = http(self.addr(), "POST", "/moto-api/reset").unwrap_or_else(|e| panic!("moto reset: {e}"));
        assert_eq!(status, 200, "moto reset answered HTTP {status}");
    }

    /// The URL moto gives the queue `name`.
    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.endpoint)
    }

    /// The ARN moto gives the topic `name`.
    pub fn topic_arn(name: &str) -> String {
        format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}")
    }

    /// The server's socket address (for a [`Relay`](crate::relay::Relay) in front of it).
    pub fn addr(&self) -> SocketAddr {
        let port = self.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Our own child, by its PID: never a broad kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK configuration for a moto server (or a relay in front of one) at
/// `endpoint`: region `us-east-1` and static credentials `test`/`test`.
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "moto")))
        .build()
}

/// A queue or topic name no other test of this process uses: `prefix-PID-N`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A Python interpreter that can `import moto`: `python3`, else the harness's venv
/// (created on first use).
fn python_with_moto() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(find_or_install_moto).clone()
}

fn find_or_install_moto() -> PathBuf {
    let system = PathBuf::from("python3");
    if imports_moto(&system) {
        return system;
    }
    let venv = target_dir().join("moto-venv");
    let venv_python = venv.join("bin").join("python");
    if imports_moto(&venv_python) {
        return venv_python;
    }
    install_venv(&venv);
    venv_python
}

fn imports_moto(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Creates the venv in a temporary directory and renames it into place, so a
/// half-done install is never mistaken for a working one (`python -m pip` needs no
/// script with an absolute path, so the renamed venv works).
fn install_venv(venv: &Path) {
    let how = format!(
        "install moto with `python3 -m pip install 'moto[server]=={MOTO_VERSION}'` \
         (on Debian/Ubuntu, `apt-get install -y python3-venv` makes the harness's venv work)"
    );
    let staging = venv.with_file_name(format!("moto-venv.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!("moto: installing moto[server]=={MOTO_VERSION} into {}", venv.display());
    let status = Command::new("python3").arg("-m").arg("venv").arg(&staging).status();
    if !status.is_ok_and(|s| s.success()) {
        panic!("moto is not installed and `python3 -m venv {}` failed: {how}", staging.display());
    }
    let status = Command::new(staging.join("bin").join("python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("moto[server]=={MOTO_VERSION}"))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        panic!("moto is not installed and pip could not install it into {}: {how}", staging.display());
    }
    let _ = std::fs::remove_dir_all(venv);
    if let Err(e) = std::fs::rename(&staging, venv) {
        panic!("could not move {} to {}: {e}; {how}", staging.display(), venv.display());
    }
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

fn spawn(python: &Path) -> Result<Moto, String> {
    let port = free_port()?;
    let log = std::env::temp_dir().join(format!("asyncmcp-moto-{}-{port}.log", std::process::id()));
    let out = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    let child = Command::new(python)
        .args(["-c", WATCHDOG, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let mut moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), log, child };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(200) = http(moto.addr(), "GET", "/moto-api/") {
            return Ok(moto);
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            let log = std::fs::read_to_string(&moto.log).unwrap_or_default();
            return Err(format!("moto exited ({status}); its log:\n{log}"));
        }
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(&moto.log).unwrap_or_default();
            return Err(format!("moto did not answer on port {port} within {READY_TIMEOUT:?}; its log:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.0 request with no body; returns the status code.
fn http(addr: SocketAddr, method: &str, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&response);
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", head.lines().next().unwrap_or("")))
}
