//! `asyncmcp task get|wait|cancel ID`: a task's state, its outcome, or its
//! cancellation, from any process: the task id is all it needs (`asyncmcp call
//! --task` printed it).

use std::process::ExitCode;
use std::time::Duration;

use asyncmcp_tokio::ClientHandle;
use asyncmcp_tokio::proto::tasks::Outcome;
use asyncmcp_tokio::proto::tasks::wire::TaskView;
use asyncmcp_tokio::task_client::{TaskClientError, cancel_task, get_task, wait_task};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};
use crate::reply::{ClientArgs, result_of};

const AFTER_HELP: &str = "\
Examples:
  id=$(asyncmcp call --task --server-queue-url $QUEUE slow-tool duration=60)
  asyncmcp task get $id --server-queue-url $QUEUE
  asyncmcp task wait $id --server-queue-url $QUEUE
  asyncmcp task cancel $id --server-queue-url $QUEUE

get prints the status (and its message); wait shows each status change on stderr and
prints the outcome as `call` does; cancel asks the server to stop the task. Exit status:
0 on success; 1 on an MCP error (an unknown or expired task), a failed or cancelled task
(wait), or no answer.";

/// What to do with the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Verb {
    /// Print the task's status.
    Get,
    /// Wait until the task ends and print its outcome.
    Wait,
    /// Cancel the task.
    Cancel,
}

/// The options of `asyncmcp task`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct TaskArgs {
    /// get, wait or cancel.
    #[arg(value_enum, value_name = "VERB")]
    verb: Verb,
    /// The task id `asyncmcp call --task` printed.
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    client: ClientArgs,
    /// Print JSON (the task, or the outcome) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs one task command.
pub(crate) async fn run(args: TaskArgs) -> CliResult<ExitCode> {
    let mut stop = crate::signal::Stop::install();
    let (connection, mut events) = args.client.connect_or_stop("task", &mut stop).await?;
    let drain_events = tokio::spawn(async move { while events.next().await.is_some() {} });
    let (outcome, drain) = tokio::select! {
        outcome = act(&connection.handle, &args) => (outcome, Duration::from_secs(2)),
        signal = stop.recv() => (Err(crate::reply::stopped_by(signal)), Duration::ZERO),
    };
    connection.close(drain).await;
    drain_events.abort();
    outcome
}

async fn act(handle: &ClientHandle, args: &TaskArgs) -> CliResult<ExitCode> {
    if !args.client.modern {
        crate::reply::initialize(handle, "asyncmcp-task", |init| async move {
            handle.call("initialize", Some(init)).await.map_err(|e| CliError::new(format!("initialize: {e}")))
        })
        .await?;
    }
    match args.verb {
        Verb::Get => {
            let view = get_task(handle, &args.id).await.map_err(failed)?;
            print_view(&view, args.json);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Cancel => {
            cancel_task(handle, &args.id).await.map_err(failed)?;
            if args.json {
                println!("{}", json!({"taskId": args.id, "cancelRequested": true}));
            } else {
                println!("cancel requested for {}", args.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Wait => {
            let mut last = None;
            let (view, outcome) = wait_task(handle, &args.id, |view| {
                let now = (view.status, view.status_message.clone());
                if last.as_ref() != Some(&now) {
                    let note = view.status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                    eprintln!("task {}{note}", view.status.as_str());
                    last = Some(now);
                }
            })
            .await
            .map_err(failed)?;
            match outcome {
                Outcome::Result(result) => {
                    if args.json {
                        println!("{result}");
                    } else {
                        crate::call::print_content(&result);
                    }
                    let tool_error = result.get("isError").and_then(Value::as_bool) == Some(true);
                    Ok(if tool_error { ExitCode::FAILURE } else { ExitCode::SUCCESS })
                }
                Outcome::Error(error) => {
                    let reply = asyncmcp_tokio::proto::JsonRpcMessage::from_value(&json!({
                        "jsonrpc": "2.0", "id": 0, "error": error,
                    }))
                    .map_err(|e| CliError::new(format!("the task's error is malformed: {e}")))?;
                    let status = view.status.as_str();
                    Err(result_of(&reply, &format!("task {} ({status})", args.id))
                        .err()
                        .unwrap_or_else(|| CliError::new(format!("task {} ended {status}", args.id))))
                }
                other => Err(CliError::new(format!("task {}: unexpected outcome {other:?}", args.id))),
            }
        }
    }
}

fn print_view(view: &TaskView, json: bool) {
    if json {
        println!(
            "{}",
            json!({
                "taskId": view.task_id,
                "status": view.status.as_str(),
                "statusMessage": view.status_message,
                "createdAt": view.created_at,
                "lastUpdatedAt": view.last_updated_at,
                "ttlMs": view.ttl_ms,
            })
        );
        return;
    }
    match &view.status_message {
        Some(message) => println!("{}: {message}", view.status.as_str()),
        None => println!("{}", view.status.as_str()),
    }
}

fn failed(e: TaskClientError) -> CliError {
    CliError::new(format!("task: {e}"))
}
