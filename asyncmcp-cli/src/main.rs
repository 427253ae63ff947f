//! `asyncmcp`: MCP (the Model Context Protocol) over AWS SQS and SNS, from the
//! command line.
//!
//! - `asyncmcp demo`: a server and a client in one process over the in-memory broker.
//! - `asyncmcp infra up|down`: create or delete the queues, topic and subscription a
//!   deployment needs; `asyncmcp infra gc`: delete reply queues crashed clients left.
//! - `asyncmcp serve -- CMD ARGS`: put any stdio MCP server on a queue.
//! - `asyncmcp proxy`: a stdio MCP endpoint for desktop clients, forwarding to a
//!   queue-hosted server.
//! - `asyncmcp call TOOL key=value ...`: one tool call, for scripts and smoke tests.
//! - `asyncmcp call --task TOOL ...` prints a task id and exits; `asyncmcp task
//!   get|wait|cancel ID` reads, awaits or cancels that task from any later process.
//! - `asyncmcp tools`: the tools of a queue-hosted server.
//! - `asyncmcp status`: a server's queue, dead-letter queue and topic at a glance.
//! - `asyncmcp completions SHELL`, `asyncmcp man`: shell completions and a man page.
//!
//! Logs go to standard error (`RUST_LOG` filters them); standard output carries only
//! results (and, for `proxy`, the MCP stream).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod aws;
mod call;
mod demo;
mod error;
mod gc;
mod generate;
mod infra;
mod offload;
mod proxy;
mod reply;
mod serve;
mod signal;
mod status;
mod task;
mod tools;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::CliError;

const AFTER_HELP: &str = "\
Examples:
  asyncmcp demo
  asyncmcp infra up --name weather          # prints the request queue URL, say $QUEUE
  asyncmcp serve --queue-url $QUEUE -- npx -y @modelcontextprotocol/server-everything
  asyncmcp call --server-queue-url $QUEUE echo message=hello
  asyncmcp infra down --name weather

AWS access uses the standard credential chain (environment, profile, SSO, instance role).
--endpoint-url (or AWS_ENDPOINT_URL) points every command at a local SQS/SNS such as moto.
Logs go to stderr; RUST_LOG filters them (for example RUST_LOG=asyncmcp=debug).";

/// MCP over AWS SQS and SNS: serve any stdio MCP server from a queue, reach it from
/// any MCP client.
#[derive(Debug, Parser)]
#[command(name = "asyncmcp", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The format of the logs on stderr: text for people, json (one object a line)
    /// for log shippers.
    #[arg(long, global = true, value_enum, default_value = "text", value_name = "FORMAT")]
    log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line: timestamp, level, message and fields at the top level.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an MCP server and client in one process over an in-memory queue (nothing to install).
    Demo(demo::DemoArgs),
    /// Create or delete the queues, topic and subscription a server needs.
    #[command(subcommand)]
    Infra(infra::InfraCommand),
    /// Run a stdio MCP server and serve it to clients over a queue.
    Serve(serve::ServeArgs),
    /// A stdio MCP server that forwards to a queue-hosted server (for desktop MCP clients).
    Proxy(proxy::ProxyArgs),
    /// Call one tool of a queue-hosted server and print the result.
    Call(call::CallArgs),
    /// Read, await or cancel a task by its id (from `call --task`), from any process.
    Task(task::TaskArgs),
    /// List the tools of a queue-hosted server (name, arguments, description).
    Tools(tools::ToolsArgs),
    /// A server's queue at a glance: depth, in flight, dead-letter queue, subscriptions.
    Status(status::StatusArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff; view it with `asyncmcp man | man -l -`).
    Man,
    /// Internal: started by `serve` to end its MCP servers when it ends.
    #[command(name = serve::REAPER_SUBCOMMAND, hide = true)]
    Reaper,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.command, cli.log_format);
    if matches!(cli.command, Command::Reaper) {
        return serve::run_reaper();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("asyncmcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Infra(command) => infra::run(command).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Proxy(args) => proxy::run(args).await,
            Command::Call(args) => call::run(args).await,
            Command::Task(args) => task::run(args).await,
            Command::Tools(args) => tools::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Completions(args) => generate::completions(&args, Cli::command()),
            Command::Man => generate::man(Cli::command()),
            Command::Reaper => Ok(serve::run_reaper()),
        }
    });
    // Tasks still blocked on stdin must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(code) => code,
        Err(CliError(message)) => {
            eprintln!("asyncmcp: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info for asyncmcp, warn for the
/// rest), as text or as JSON lines.
fn init_tracing(command: &Command, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // The demo's own output is the show; keep its logs quiet unless asked.
    let default = match command {
        Command::Demo(_) => "warn,aws_config=error",
        _ => "warn,asyncmcp=info,aws_config=error",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}
