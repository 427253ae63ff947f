//! `--log-format json`: every log line on stderr is one JSON object (for log
//! shippers); the default stays text.

mod common;

use std::time::Duration;

use common::{Moto, asyncmcp, run, unique_name};

#[test]
fn log_format_json_writes_one_object_a_line() {
    let moto = Moto::shared();
    let name = unique_name("logfmt");
    // `infra down` of a deployment that does not exist logs (at info) each queue it did not find.
    let args = ["--log-format", "json", "infra", "down", "--name", &name];
    let out = run(asyncmcp(moto).args(args), Duration::from_secs(30)).ok();
    let logs: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!logs.is_empty(), "JSON log lines:\n{}", out.stderr);
    let found = logs.iter().find(|l| l["queue"].as_str().is_some_and(|q| q.starts_with(&name)));
    let found = found.unwrap_or_else(|| panic!("a log line with the queue field:\n{}", out.stderr));
    assert_eq!(found["level"], "INFO");
    assert!(found["message"].is_string() && found["timestamp"].is_string(), "{found}");

    let text = run(asyncmcp(moto).args(["infra", "down", "--name", &name]), Duration::from_secs(30)).ok();
    assert!(
        text.stderr.lines().any(|l| l.contains("INFO") && !l.starts_with('{')),
        "text by default:\n{}",
        text.stderr
    );
}
