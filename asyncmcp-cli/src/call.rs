//! `asyncmcp call`: one `tools/call` to a queue-hosted server, for scripts and smoke
//! tests. Prints the result's text (or the whole result with `--json`); exits
//! non-zero on a JSON-RPC error, a tool error (`isError`), or no answer.

use std::process::ExitCode;
use std::time::Duration;

use asyncmcp_tokio::RequestError;
use asyncmcp_tokio::proto::{ClientEvent, Era, JsonRpcMessage, RequestId};
use asyncmcp_tokio::task_client::{CallAnswer, call_as_task};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::error::{CliError, CliResult};
use crate::reply::{ClientArgs, result_of};

const AFTER_HELP: &str = "\
Examples:
  asyncmcp call --server-queue-url $QUEUE echo message=hello
  asyncmcp call --server-queue-url $QUEUE get-sum a=40 b=2
  asyncmcp call --transport sns-sqs --server-topic-arn $TOPIC slow-tool duration=3 --json
  asyncmcp call --task --server-queue-url $QUEUE slow-tool duration=600   # prints a task id

Each key=value becomes one argument; the value is read as JSON when it parses (40, true,
[1,2], {\"k\":1}, \"quoted\") and as a string otherwise. Progress notifications are shown
on stderr. Exit status: 0 on success; 1 on an MCP error, a tool error or no answer.";

/// The options of `asyncmcp call`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the whole `tools/call` result as JSON instead of its text.
    #[arg(long)]
    json: bool,
    /// Ask the server to run the call as a task: print the task id and exit at once
    /// (then `asyncmcp task wait ID`). A tool the server runs only plain prints its
    /// result as usual.
    #[arg(long)]
    task: bool,
    /// With --task: how long the task's record lives, in seconds (2025-11-25 servers
    /// take the wish; 2026-07-28 servers decide).
    #[arg(long, requires = "task", value_name = "SECS")]
    ttl: Option<u64>,
    /// The tool to call.
    #[arg(value_name = "TOOL")]
    tool: String,
    /// Arguments as key=value (value parsed as JSON when it parses, else a string).
    #[arg(value_name = "KEY=VALUE")]
    arguments: Vec<String>,
    /// Seconds without a first answer before saying on stderr what `call` waits for.
    #[arg(long, default_value_t = 5, value_name = "SECS", hide = true)]
    waiting_note_after: u64,
}

/// Runs one tool call.
pub(crate) async fn run(args: CallArgs) -> CliResult<ExitCode> {
    let arguments = parse_arguments(&args.arguments)?;
    let mut stop = crate::signal::Stop::install();
    let (connection, mut events) = args.client.connect_or_stop("call", &mut stop).await?;
    // Progress and log notifications are shown on stderr while the call runs.
    let notes = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::Message(m) if m.method() == Some("notifications/progress") => {
                    let p = m.to_value();
                    let params = &p["params"];
                    let total = params["total"].as_f64().map(|t| format!("/{t}")).unwrap_or_default();
                    let note = params["message"].as_str().map(|t| format!(" {t}")).unwrap_or_default();
                    eprintln!("progress {}{total}{note}", params["progress"].as_f64().unwrap_or_default());
                }
                ClientEvent::Message(m) => tracing::debug!("server message: {}", m.as_str()),
                ClientEvent::Rejected(r) => tracing::warn!("dropped a reply: {}", r.reason),
                other => tracing::debug!(?other, "client event"),
            }
        }
    });
    let (outcome, drain) = tokio::select! {
        outcome = call(&connection.handle, &args, arguments) => (outcome, Duration::from_secs(2)),
        signal = stop.recv() => (Err(crate::reply::stopped_by(signal)), Duration::ZERO),
    };
    connection.close(drain).await;
    notes.abort();
    let result = outcome?;
    if args.task
        && let Some(task_id) = result.get("asyncmcp-task-id").and_then(Value::as_str)
    {
        println!("{task_id}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{result}");
    } else {
        print_content(&result);
    }
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        eprintln!("asyncmcp: the tool `{}` reported an error", args.tool);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn call(
    handle: &asyncmcp_tokio::ClientHandle,
    args: &CallArgs,
    arguments: Map<String, Value>,
) -> CliResult<Value> {
    let target = args.client.server_queue_url.as_deref().or(args.client.server_topic_arn.as_deref()).unwrap_or("?");
    if !args.client.modern {
        crate::reply::initialize(handle, "asyncmcp-call", |init| async move {
            waiting(handle.call("initialize", Some(init)), args.waiting_note_after, target)
                .await
                .map_err(|e| no_answer(handle, &e, "initialize", target))
        })
        .await?;
    }
    if args.task {
        let era = if args.client.modern { Era::Modern } else { Era::Legacy };
        let ttl = args.ttl.map(|secs| secs.saturating_mul(1_000));
        let answer = call_as_task(handle, era, &args.tool, Value::Object(arguments), ttl)
            .await
            .map_err(|e| CliError::new(format!("tools/call as a task: {e}")))?;
        return match answer {
            CallAnswer::Task(view) => Ok(json!({"asyncmcp-task-id": view.task_id})),
            CallAnswer::Done(reply) => result_of(&reply, "tools/call"),
            other => Err(CliError::new(format!("tools/call as a task: unexpected answer {other:?}"))),
        };
    }
    let params = json!({
        "name": args.tool,
        "arguments": arguments,
        "_meta": {"progressToken": "asyncmcp-call"},
    });
    let request = JsonRpcMessage::request(RequestId::String("call".into()), "tools/call", Some(params));
    // With a session, the server has answered `initialize` already: a slow tool is
    // no reason to doubt it is there.
    let reply = if args.client.modern {
        waiting(handle.request(request), args.waiting_note_after, target).await
    } else {
        handle.request(request).await
    };
    let reply = reply.map_err(|e| no_answer(handle, &e, "tools/call", target))?;
    result_of(&reply, "tools/call")
}

/// Awaits the first request to the server; if no answer came after `after_secs`,
/// says once on stderr what it waits for (a `call` to a queue nobody serves would
/// otherwise be silent for its whole timeout).
async fn waiting<F: Future>(request: F, after_secs: u64, target: &str) -> F::Output {
    let mut request = std::pin::pin!(request);
    tokio::select! {
        out = &mut request => return out,
        () = tokio::time::sleep(Duration::from_secs(after_secs)) => {}
    }
    eprintln!("asyncmcp: no answer yet from {target}: is `asyncmcp serve` running there?");
    request.await
}

fn no_answer(handle: &asyncmcp_tokio::ClientHandle, error: &RequestError, method: &str, target: &str) -> CliError {
    // A client that stopped on a failure of its reply queue says why.
    if let Some(failure) = handle.failure() {
        return CliError::new(format!("{method}: {}", failure.detail));
    }
    let hint = match error {
        RequestError::TimedOut => format!(
            ": check that `asyncmcp serve` (or another asyncmcp server) is running on {target} and that it may reply \
             to this client's reply queue (its --allow-reply)"
        ),
        _ => String::new(),
    };
    CliError::new(format!("{method}: {error}{hint}"))
}

pub(crate) fn print_content(result: &Value) {
    let Some(content) = result.get("content").and_then(Value::as_array) else {
        println!("{result}");
        return;
    };
    for item in content {
        match (item.get("type").and_then(Value::as_str), item.get("text").and_then(Value::as_str)) {
            (Some("text"), Some(text)) => println!("{text}"),
            _ => println!("{item}"),
        }
    }
    // Structured output duplicates the text by convention; show it only when alone.
    if content.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        println!("{structured}");
    }
}

/// `key=value` pairs as a JSON object; values are JSON when they parse.
fn parse_arguments(pairs: &[String]) -> CliResult<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::new(format!("argument {pair:?}: write it as key=value")));
        };
        if key.is_empty() {
            return Err(CliError::new(format!("argument {pair:?}: the key is empty")));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_json_when_they_parse() {
        let pairs = ["a=40", "b=2.5", "flag=true", "text=hello world", "q=\"7\"", "list=[1,2]", "eq=x=y"];
        let map = parse_arguments(&pairs.map(String::from)).expect("valid");
        assert_eq!(
            Value::Object(map),
            json!({"a": 40, "b": 2.5, "flag": true, "text": "hello world", "q": "7", "list": [1, 2], "eq": "x=y"})
        );
        assert!(parse_arguments(&["novalue".to_owned()]).is_err());
        assert!(parse_arguments(&["=1".to_owned()]).is_err());
    }
}
