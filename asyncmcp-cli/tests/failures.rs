//! Failures a user can see, on moto with the built binary: `call` says what it waits
//! for, and `serve` refuses at once, with the reason, a setup that can never work.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Moto, asyncmcp, infra_up, run, serve_sleepy, unique_name, wait};

fn request_queue(infra: &serde_json::Value) -> String {
    infra["request_queue_url"].as_str().expect("request_queue_url").to_owned()
}

#[test]
fn call_to_a_queue_nobody_serves_says_once_what_it_waits_for() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("fl-nobody"), &[]));

    let finished = run(
        asyncmcp(moto).args([
            "call",
            "--server-queue-url",
            &queue,
            "--request-timeout",
            "3",
            "--waiting-note-after",
            "1",
            "echo",
            "message=hi",
        ]),
        Duration::from_secs(60),
    );

    assert!(!finished.status.success(), "nobody answered:\n{}", finished.stderr);
    let note = format!("no answer yet from {queue}: is `asyncmcp serve` running there?");
    assert_eq!(finished.stderr.matches(&note).count(), 1, "the note, once:\n{}", finished.stderr);
    assert!(finished.stderr.contains("asyncmcp: error: initialize"), "the final error stays:\n{}", finished.stderr);
}

/// The `asyncmcp` binary with no AWS settings at all: no endpoint, credentials,
/// region or profile, and no instance metadata service to ask.
fn asyncmcp_without_aws() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asyncmcp"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .env("HOME", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Runs `serve` with `args` and `-- true`; asserts it failed without serving, and
/// returns its stderr.
fn serve_refuses(command: &mut Command, args: &[&str]) -> String {
    let finished = run(command.arg("serve").args(args).args(["--", "true"]), Duration::from_secs(30));
    assert!(!finished.status.success(), "serve must not start:\n{}", finished.stderr);
    assert!(!finished.stderr.contains("serving `"), "nothing was served:\n{}", finished.stderr);
    assert!(finished.stderr.contains("asyncmcp: error: "), "one error line:\n{}", finished.stderr);
    finished.stderr
}

#[test]
fn serve_with_an_endpoint_that_refuses_stops_at_once_and_names_it() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let queue = format!("{endpoint}/123456789012/nobody-listens");

    let stderr = serve_refuses(asyncmcp_without_aws().env("AWS_ENDPOINT_URL", &endpoint), &["--queue-url", &queue]);

    assert!(stderr.contains(&queue), "names the queue:\n{stderr}");
    assert!(stderr.contains("could not reach"), "says why:\n{stderr}");
    assert!(stderr.contains("endpoint URL"), "says what to check:\n{stderr}");
    assert!(stderr.contains("Connection refused"), "the cause, in words:\n{stderr}");
    assert!(!stderr.contains("DispatchFailure"), "no SDK debug dump:\n{stderr}");
}

#[test]
fn serve_with_no_region_stops_at_once_and_says_how_to_give_one() {
    let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/w-requests";

    let stderr = serve_refuses(&mut asyncmcp_without_aws(), &["--queue-url", queue]);

    assert!(stderr.contains("no AWS region"), "says why:\n{stderr}");
    assert!(stderr.contains("--region"), "says what to do:\n{stderr}");
}

#[test]
fn serve_with_no_credentials_stops_at_once_and_says_where_to_look() {
    let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/w-requests";

    let stderr = serve_refuses(asyncmcp_without_aws().env("AWS_REGION", "eu-west-1"), &["--queue-url", queue]);

    assert!(stderr.contains("no usable AWS credentials"), "says why:\n{stderr}");
    assert!(stderr.contains("AWS_PROFILE"), "says what to check:\n{stderr}");
    assert!(!stderr.contains("CredentialsNotLoaded"), "no SDK debug dump:\n{stderr}");
}

#[test]
fn serve_refuses_a_bare_queue_name() {
    let moto = Moto::shared();

    let stderr = serve_refuses(&mut asyncmcp(moto), &["--queue-url", "weather-requests"]);

    assert!(stderr.contains("--queue-url weather-requests"), "names the option:\n{stderr}");
    assert!(stderr.contains("not a queue URL"), "says why:\n{stderr}");
    assert!(stderr.contains("asyncmcp infra up"), "says where URLs come from:\n{stderr}");
}

/// `asyncmcp` pointed at moto by `AWS_ENDPOINT_URL` alone: no credentials, no region,
/// no profile, and the instance metadata service left enabled (as on a laptop).
fn asyncmcp_endpoint_only(moto: &Moto) -> Command {
    let mut command = asyncmcp_without_aws();
    command
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("RUST_LOG", "asyncmcp=debug,warn");
    command
}

#[test]
fn a_loopback_endpoint_without_credentials_or_region_works_without_asking_imds() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("fl-local"), &[]));
    let (mut serve, mut serve_log) = serve_sleepy(&mut asyncmcp_endpoint_only(moto), &queue);

    let call = run(
        asyncmcp_endpoint_only(moto).args(["call", "--server-queue-url", &queue, "echo", "text=local"]),
        Duration::from_secs(60),
    );
    let _ = serve.kill();
    let _ = serve.wait();
    let mut serve_text = String::new();
    let _ = serve_log.read_to_string(&mut serve_text);

    assert!(call.status.success(), "call works:\n{}\nserve:\n{serve_text}", call.stderr);
    assert!(call.stdout.contains("sleepy echo: local"), "{}", call.stdout);
    for (who, log) in [("call", &call.stderr), ("serve", &serve_text)] {
        assert!(!log.contains("IMDS") && !log.contains("Ec2InstanceMetadata"), "{who} asked IMDS:\n{log}");
    }
}

#[test]
fn call_with_a_reply_queue_that_does_not_exist_stops_and_names_it() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("fl-noreply"), &[]));
    let missing = format!("{}/123456789012/{}", moto.endpoint, unique_name("missing-replies"));

    let finished = run(
        asyncmcp(moto).args(["call", "--server-queue-url", &queue, "--reply-queue-url", &missing, "echo"]),
        Duration::from_secs(60),
    );

    assert!(!finished.status.success(), "no reply queue, no call:\n{}", finished.stderr);
    let error = finished.stderr.lines().find(|l| l.starts_with("asyncmcp: error: ")).unwrap_or_default();
    assert!(error.contains(&format!("queue {missing} does not exist")), "says why:\n{}", finished.stderr);
    assert!(error.contains("asyncmcp infra up"), "says what to do:\n{}", finished.stderr);
}

/// `proxy` with its stdin still open: a reply queue that does not exist stops the
/// client driver, and the proxy ends with the reason instead of waiting on stdin.
#[test]
fn proxy_with_a_reply_queue_that_does_not_exist_stops_and_names_it() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("fl-proxy-noreply"), &[]));
    let missing = format!("{}/123456789012/{}", moto.endpoint, unique_name("missing-replies"));
    let mut child = asyncmcp(moto)
        .args(["proxy", "--server-queue-url", &queue, "--reply-queue-url", &missing])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("asyncmcp proxy starts");
    // Held open until the end of the test: the proxy must not need end of file.
    let _stdin = child.stdin.take();
    let stderr = child.stderr.take().expect("piped stderr");

    let status = wait(&mut child, Duration::from_secs(60));

    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let stderr = std::io::read_to_string(stderr).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("proxy waited on stdin after its driver stopped:\n{stderr}"));
    assert!(!status.success(), "no reply queue, no proxy:\n{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("asyncmcp: error: ")).unwrap_or_default();
    assert!(error.contains(&format!("queue {missing} does not exist")), "says why:\n{stderr}");
}
