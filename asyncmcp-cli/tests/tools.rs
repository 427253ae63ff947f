//! `asyncmcp tools` on moto: the tools of server-everything (from npm) and of the
//! Python SDK fixture server, each behind `asyncmcp serve`, as text and as `--json`.

mod common;

use std::time::Duration;

use common::{Moto, Serve, asyncmcp, fixture, infra_up, python_mcp, run, server_everything, unique_name};

#[test]
fn tools_lists_server_everything_tools() {
    let moto = Moto::shared();
    let cmd = server_everything();
    let infra = infra_up(moto, &unique_name("tools-ev"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let _serve = Serve::start(moto, &["--queue-url", queue], &cmd);
    let limit = Duration::from_secs(60);

    let text = run(asyncmcp(moto).args(["tools", "--server-queue-url", queue]), limit).ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines.contains(&"echo(message: string)"), "echo with its required argument:\n{}", text.stdout);
    assert!(lines.contains(&"get-sum(a: number, b: number)"), "{}", text.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with("trigger-long-running-operation(") && l.contains("duration?: number")),
        "optional arguments are marked:\n{}",
        text.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("    ") && l.contains("Echo")), "descriptions:\n{}", text.stdout);

    let json = run(asyncmcp(moto).args(["tools", "--modern", "--json", "--server-queue-url", queue]), limit).ok();
    let result: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("--json prints JSON");
    let names: Vec<&str> =
        result["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    for tool in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(names.contains(&tool), "{tool} in {names:?}");
    }
    assert!(result.get("nextCursor").is_none(), "all pages are joined");
}

#[test]
fn tools_lists_a_python_server_over_sns() {
    let moto = Moto::shared();
    let python = python_mcp().display().to_string();
    let infra = infra_up(moto, &unique_name("tools-py"), &["--transport", "sns-sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let topic = infra["topic_arn"].as_str().expect("topic ARN");
    let _serve =
        Serve::start(moto, &["--transport", "sns-sqs", "--queue-url", queue], &[&python, &fixture("py_server.py")]);
    let args = ["tools", "--transport", "sns-sqs", "--server-topic-arn", topic];
    let out = run(asyncmcp(moto).args(args), Duration::from_secs(60)).ok();
    let expected = "\
echo(text: string)
    Echo the text back.
add(a: integer, b: integer)
    Add two integers.
countdown(steps: integer)
    Count down, reporting each step as progress.
";
    assert_eq!(out.stdout, expected);
}
