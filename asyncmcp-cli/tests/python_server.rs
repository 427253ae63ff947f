//! A stdio MCP server written with the official Python `mcp` SDK
//! (`tests/fixtures/py_server.py`, example style) behind `asyncmcp serve` on moto,
//! over SNS to SQS, reached with `asyncmcp call` in both MCP eras.

mod common;

use std::time::Duration;

use common::{Moto, Serve, asyncmcp, fixture, infra_up, python_mcp, run, unique_name};

#[test]
fn python_sdk_server_behind_serve() {
    let moto = Moto::shared();
    let python = python_mcp().display().to_string();
    let infra = infra_up(moto, &unique_name("py-serve"), &["--transport", "sns-sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let topic = infra["topic_arn"].as_str().expect("topic ARN");
    let server = fixture("py_server.py");
    let _serve = Serve::start(moto, &["--transport", "sns-sqs", "--queue-url", queue], &[&python, &server]);
    let limit = Duration::from_secs(60);
    let call = |args: &[&str]| {
        let mut command = asyncmcp(moto);
        command.args(["call", "--transport", "sns-sqs", "--server-topic-arn", topic]).args(args);
        run(&mut command, limit).ok()
    };

    assert_eq!(call(&["echo", "text=hi"]).stdout.trim(), "python echo: hi");
    assert_eq!(call(&["add", "a=40", "b=2"]).stdout.trim(), "42");
    let countdown = call(&["countdown", "steps=3"]);
    assert_eq!(countdown.stdout.trim(), "liftoff");
    assert!(countdown.stderr.contains("progress "), "{}", countdown.stderr);
    assert_eq!(call(&["--modern", "add", "a=1", "b=2"]).stdout.trim(), "3");
}
