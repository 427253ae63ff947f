//! `asyncmcp serve -- CMD ARGS`: any stdio MCP server, served over a queue.
//!
//! - **Legacy sessions** (protocol 2025-11-25 and earlier): each session gets its own
//!   child process running CMD; the client's `initialize` is the child's
//!   `initialize`, and everything of the session flows through unchanged, both ways
//!   (server requests such as `roots/list` included). The child ends when the session
//!   closes (close notification, idle timeout) by closing its stdin. At most
//!   `--max-sessions` children run; further `initialize`s get an error.
//! - **Modern requests** (2026-07-28, stateless): served by a pool of at most
//!   `--pool-size` children that the bridge initializes itself (see [`pool`]).
//! - A child that exits while it holds requests answers them with JSON-RPC errors
//!   that say so; its session is then closed.
//! - Ctrl-C / SIGTERM: stop receiving, drain requests in flight for `--drain`
//!   seconds, release the rest to other workers, end the children. A second signal
//!   exits at once.
//! - However serve ends (`kill -9` included), its children end with it (see
//!   [`reaper`]).

mod child;
mod counters;
mod pool;
mod reaper;
mod session;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_aws::{AwsQueueClient, DynamoTaskStore};
use asyncmcp_tokio::fanout::{Busy, Fanout, Handler, Limits, Request, Session};
use asyncmcp_tokio::proto::tasks::TaskSupport;
use asyncmcp_tokio::proto::{AllowList, Disposition, JsonRpcMessage, QueueUrl, Route, ServerConfig};
use asyncmcp_tokio::tasks::TaskOptions;
use asyncmcp_tokio::{MemoryTaskStore, ServerHandle, TaskStore};
use clap::Args;

use crate::aws::AwsArgs;
use crate::error::{CliError, CliResult};
use crate::infra::Transport;
use crate::offload::OffloadArgs;
use child::CommandSpec;
use pool::PoolClient;
pub(crate) use reaper::{SUBCOMMAND as REAPER_SUBCOMMAND, run as run_reaper};

/// The protocol version the bridge asks pool children for.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

/// How long a child whose stdin was closed may take to exit before it is killed.
pub(crate) const CHILD_GRACE: Duration = Duration::from_secs(2);

const AFTER_HELP: &str = "\
Examples:
  asyncmcp serve --queue-url $QUEUE -- npx -y @modelcontextprotocol/server-everything
  asyncmcp serve --transport sns-sqs --queue-url $QUEUE -- python weather_server.py
  asyncmcp serve --queue-url $QUEUE --allow-reply https://sqs.eu-west-1.amazonaws.com/1234/ -- ./srv

$QUEUE is the request queue URL `asyncmcp infra up` printed. Each client session (MCP
2025-11-25 and earlier) gets its own CMD process; stateless 2026-07-28 requests share a pool
of CMD processes that asyncmcp initializes itself. Replies go only to addresses allowed by
--allow-reply (default: queues and topics of the request queue's own account). Ctrl-C or
SIGTERM drains requests in flight, then exits; a second Ctrl-C exits at once. A message serve
cannot use is left for the queue's redrive policy (to reach the dead-letter queue) when the queue
has one, else deleted (--on-reject). If serve dies (even by kill -9) its CMD processes end too.";

/// The options of `asyncmcp serve`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// sqs: clients send to the queue; sns-sqs: clients publish to a topic feeding it
    /// (the queue to receive from is the same either way).
    #[arg(long, value_enum, default_value = "sqs")]
    transport: Transport,
    /// The request queue to serve (printed by `asyncmcp infra up`).
    #[arg(long, value_name = "URL")]
    queue_url: String,
    /// Allow replies to addresses (queue URLs, topic ARNs) starting with PREFIX;
    /// repeat for more. Default: the request queue's account.
    #[arg(long, value_name = "PREFIX")]
    allow_reply: Vec<String>,
    /// At most this many client sessions (one CMD process each) at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_sessions: usize,
    /// At most this many CMD processes serve stateless (2026-07-28) requests.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pool_size: usize,
    /// A session with no traffic for this many seconds is closed and its process ended.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    idle_timeout: u64,
    /// The request queue's visibility timeout in seconds (as set by `infra up`).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    visibility_timeout: u64,
    /// At most this many requests in flight at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_in_flight: usize,
    /// What to do with a message serve cannot use (undecodable, or a request with no
    /// allowed reply address): leave it for the queue's redrive policy (it moves to the
    /// dead-letter queue after maxReceiveCount receives) or delete it. Default: leave
    /// when the request queue has a redrive policy (`infra up` sets one), else delete.
    #[arg(long, value_enum, value_name = "WHAT")]
    on_reject: Option<OnReject>,
    /// On Ctrl-C / SIGTERM, wait this many seconds for requests in flight.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    drain: u64,
    /// Offer MCP tasks for tool NAME (repeat for more): a client that asks
    /// (`asyncmcp call --task`, a 2025-11-25 `params.task`, or the 2026-07-28 tasks
    /// extension) gets a task id at once, and the call runs on in a pool process.
    #[arg(long, value_name = "NAME")]
    task_tool: Vec<String>,
    /// With --task-tool: the DynamoDB table replicas share for tasks (`infra up
    /// --tasks` creates PREFIX-tasks). Default: in this process's memory (one replica).
    #[arg(long, value_name = "TABLE", requires = "task_tool")]
    task_table: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    offload: OffloadArgs,
    /// The stdio MCP server to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// What `serve` does with a message it cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnReject {
    /// Delete it at once.
    Delete,
    /// Leave it on the queue for the redrive policy to move to the dead-letter queue.
    Leave,
}

impl OnReject {
    /// The choice given, else leave when the queue has a redrive policy.
    fn resolve(given: Option<OnReject>, redrive_policy: Option<&str>) -> OnReject {
        given.unwrap_or(if redrive_policy.is_some() { OnReject::Leave } else { OnReject::Delete })
    }

    fn disposition(self) -> Disposition {
        match self {
            OnReject::Delete => Disposition::Delete,
            OnReject::Leave => Disposition::LeaveForRedrive,
        }
    }
}

/// Runs the bridge until a signal ends it.
pub(crate) async fn run(args: ServeArgs) -> CliResult<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(CliError::new(
            "give the MCP server to run after `--`, for example: -- npx -y @modelcontextprotocol/server-everything",
        ));
    };
    check_queue_url(&args.queue_url)?;
    check_program(program)?;
    // Started before any child, so that no child can outlive a crash of serve.
    let reaper = reaper::Reaper::start()
        .map_err(|e| CliError::new(format!("cannot start the helper that ends MCP servers with serve: {e}")))?;
    let spec = CommandSpec { program: program.clone(), args: rest.to_vec(), reaper: Some(reaper) };
    let sdk = args.aws.sdk_config().await?;
    let region = sdk.region().map(ToString::to_string).unwrap_or_else(|| "us-east-1".to_owned());
    // A setup that can never work (a missing queue, no or bad credentials, a denial,
    // an endpoint that refuses) fails here, with what to do, instead of in a retry loop.
    let redrive = match asyncmcp_aws::AwsAdmin::new(&sdk).redrive_policy(&args.queue_url).await {
        Ok(policy) => policy,
        Err(e) if e.kind.is_fatal_at_start() => return Err(e.into()),
        Err(e) => {
            tracing::warn!("could not check the request queue (serving anyway): {}", e.detail);
            None
        }
    };
    let on_reject = OnReject::resolve(args.on_reject, redrive.as_deref());
    match (on_reject, &redrive) {
        (OnReject::Leave, Some(policy)) => {
            tracing::info!("messages serve cannot use are left for the queue's redrive policy {policy}");
        }
        (OnReject::Leave, None) => tracing::warn!(
            "--on-reject leave, but the request queue has no redrive policy: unusable messages come back forever"
        ),
        (OnReject::Delete, _) => tracing::info!("messages serve cannot use are deleted"),
    }
    args.offload.check_bucket(&sdk).await?;
    let queue = Arc::new(args.offload.queue_client(&sdk, AwsQueueClient::new(&sdk)));

    let allow = allow_list(&args.allow_reply, &args.queue_url, &region)?;
    if allow.admits_nothing() {
        return Err(CliError::new(
            "the reply allow-list admits no address, so no client could be answered: give --allow-reply PREFIX",
        ));
    }
    let allowed = allow.to_string();
    let mut config = ServerConfig::new(args.queue_url.clone(), allow);
    config.session_idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.visibility_timeout = Duration::from_secs(args.visibility_timeout);
    config.max_in_flight = args.max_in_flight.max(1);
    config.common.undecodable = on_reject.disposition();
    args.offload.apply(&mut config.common);
    let (handle, events) = asyncmcp_tokio::spawn_server(config, queue)?;
    tracing::info!("serving `{}` on {} ({})", spec.display(), args.queue_url, args.transport.as_str());
    tracing::info!("replies allowed to: {allowed}");

    let offload = args.offload.s3_bucket.is_some();
    let (pool, pool_task) = pool::spawn(args.pool_size, spec.clone(), handle.clone());
    let mut limits = Limits::default();
    limits.max_sessions = args.max_sessions.max(1);
    limits.max_requests = args.max_in_flight.max(1);
    let mut fanout = Fanout::new(handle.clone(), events, Bridge { spec, pool }).with_limits(limits);
    if !args.task_tool.is_empty() {
        let store: Arc<dyn TaskStore> = match &args.task_table {
            Some(table) => Arc::new(DynamoTaskStore::new(&sdk, table)),
            None => Arc::new(MemoryTaskStore::new()),
        };
        let mut options = TaskOptions::new(store);
        // The lease ends when an unrenewed request message would come back.
        options.limits.lease_ms = args.visibility_timeout.max(1).saturating_mul(1_000);
        for tool in &args.task_tool {
            options = options.tool(tool, TaskSupport::Optional);
        }
        let store = args.task_table.as_deref().unwrap_or("memory");
        tracing::info!("tasks offered for {} (store: {store})", args.task_tool.join(", "));
        fanout = fanout.with_tasks(options);
    }
    tokio::select! {
        () = fanout.run() => {}
        () = on_signals(handle.clone(), Duration::from_secs(args.drain)) => {}
        () = counters::on_usr1(handle.clone(), offload) => {}
    }
    // The pool's task ends, closing its children, once the fan-out has let go of it.
    let _ = pool_task.await;
    let stats = handle.stats();
    // Give the children their grace period to exit on end of input.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(failure) = handle.failure() {
        // The driver stopped on a receive that can never work (the queue went
        // unreadable between the start-up check and the first receive).
        return Err(failure.into());
    }
    eprintln!("asyncmcp serve: stopped; {}", counters::line(&stats, offload));
    Ok(ExitCode::SUCCESS)
}

/// The first Ctrl-C / SIGTERM starts a graceful shutdown (the fan-out then ends with
/// the driver); the second returns, to exit at once.
async fn on_signals(handle: ServerHandle, drain: Duration) {
    crate::signal::terminated().await;
    let in_flight = handle.stats().in_flight;
    tracing::info!(
        "shutting down: no new requests; draining {in_flight} in flight for up to {}s (Ctrl-C again to exit now)",
        drain.as_secs()
    );
    tokio::spawn(async move { handle.shutdown(drain).await });
    crate::signal::terminated().await;
    tracing::warn!("second signal: exiting without waiting");
}

/// The bridge's fan-out handler: a child per legacy session, the pool for modern
/// requests.
struct Bridge {
    spec: CommandSpec,
    pool: PoolClient,
}

impl Handler for Bridge {
    fn session(&self, session: Session) -> impl Future<Output = ()> + Send + 'static {
        session::serve(self.spec.clone(), session)
    }

    fn request(&self, request: Request) -> impl Future<Output = ()> + Send + 'static {
        pool::serve(self.pool.clone(), request)
    }

    fn busy_text(&self, busy: Busy) -> String {
        match busy {
            Busy::Sessions(n) => {
                format!("asyncmcp serve: all {n} sessions are in use (--max-sessions); try again later")
            }
            Busy::Requests(n) => format!("asyncmcp serve: {n} requests are running (--max-in-flight); try again later"),
            other => format!("asyncmcp serve: {other}"),
        }
    }
}

/// Sends `message` on `route`, logging a refusal.
pub(crate) async fn submit(handle: &ServerHandle, route: Route, message: JsonRpcMessage) {
    let id = message.id().cloned();
    let kind = message.kind();
    match handle.submit(route.clone(), message).await {
        Ok(()) => counters::sent(kind),
        Err(e) => tracing::warn!(%route, id = ?id, "could not send to the client: {e}"),
    }
}

/// The allow-list: the given prefixes, or the request queue's account (its queues,
/// and its topics in `region`).
///
/// # Errors
/// A prefix that does not name a whole account, or a request queue URL that does not
/// parse when no prefix is given.
fn allow_list(prefixes: &[String], queue_url: &str, region: &str) -> CliResult<AllowList> {
    if prefixes.is_empty() {
        return AllowList::same_account_in(queue_url, region).map_err(|e| {
            CliError::new(format!("--queue-url {queue_url}: {e} (or give --allow-reply to say where replies may go)"))
        });
    }
    prefixes.iter().try_fold(AllowList::new(), |allow, prefix| {
        allow.try_prefix(prefix).map_err(|e| {
            CliError::new(format!(
                "--allow-reply {prefix}: {e}: give a queue URL or topic ARN cut after the account or inside \
                 the name, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/ or \
                 arn:aws:sns:eu-west-1:123456789012:replies-"
            ))
        })
    })
}

/// Refuses a `--queue-url` that is not a queue URL (a bare queue name, a topic ARN).
fn check_queue_url(queue_url: &str) -> CliResult<()> {
    match QueueUrl::parse(queue_url) {
        Ok(_) => Ok(()),
        Err(e) => {
            let why = if queue_url.starts_with("arn:") {
                "a topic ARN is where clients publish; serve receives from the queue it feeds".to_owned()
            } else {
                e.to_string()
            };
            Err(CliError::new(format!(
                "--queue-url {queue_url} is not a queue URL ({why}): give the full URL `asyncmcp infra up` printed, \
                 such as https://sqs.eu-west-1.amazonaws.com/123456789012/weather-requests"
            )))
        }
    }
}

/// Fails early, with a clear message, when CMD cannot be found.
fn check_program(program: &str) -> CliResult<()> {
    let path = std::path::Path::new(program);
    let found = if program.contains(std::path::MAIN_SEPARATOR) {
        path.is_file()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    if found {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "cannot find the MCP server program `{program}`: check the command after `--` and your PATH"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncmcp_tokio::proto::Address;

    #[test]
    fn default_allow_list_is_the_queue_account() {
        let allow =
            allow_list(&[], "https://sqs.eu-west-1.amazonaws.com/123456789012/w-requests", "eu-west-1").unwrap();
        assert!(allow.allows(&Address::parse("https://sqs.eu-west-1.amazonaws.com/123456789012/reply")));
        assert!(allow.allows(&Address::parse("arn:aws:sns:eu-west-1:123456789012:replies")));
        assert!(!allow.allows(&Address::parse("https://sqs.eu-west-1.amazonaws.com/999999999999/reply")));
        assert!(!allow.allows(&Address::parse("arn:aws:sns:eu-west-1:999999999999:replies")));
        assert_eq!(
            allow.to_string(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/*, arn:aws:sns:eu-west-1:123456789012:*"
        );
    }

    #[test]
    fn rejects_are_left_for_a_redrive_policy_unless_told() {
        let policy = Some(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:q-dlq","maxReceiveCount":5}"#);
        assert_eq!(OnReject::resolve(None, policy), OnReject::Leave);
        assert_eq!(OnReject::resolve(None, None), OnReject::Delete);
        assert_eq!(OnReject::resolve(Some(OnReject::Delete), policy), OnReject::Delete);
        assert_eq!(OnReject::resolve(Some(OnReject::Leave), None).disposition(), Disposition::LeaveForRedrive);
    }

    #[test]
    fn given_prefixes_replace_the_default() {
        let allow = allow_list(&["https://q/1/".to_owned()], "https://sqs.x/2/q", "us-east-1").unwrap();
        assert!(allow.allows(&Address::parse("https://q/1/a")));
        assert!(!allow.allows(&Address::parse("https://sqs.x/2/a")));
    }

    #[test]
    fn the_default_allow_list_refuses_a_climb_out_of_the_account() {
        let allow =
            allow_list(&[], "https://sqs.eu-west-1.amazonaws.com/123456789012/w-requests", "eu-west-1").unwrap();

        let climb = "https://sqs.eu-west-1.amazonaws.com/123456789012/x/../../999999999999/reply";
        assert!(!allow.allows(&Address::parse(climb)));
        assert!(!allow.allows(&Address::parse("arn:aws:sns:eu-west-1:123456789012:x:999999999999:y")));
    }

    #[test]
    fn an_allow_reply_that_names_no_account_is_refused_at_start() {
        let err = allow_list(&["https://sqs.eu-west-1.amazonaws.com/".to_owned()], "https://sqs.x/2/q", "us-east-1")
            .unwrap_err();

        assert!(err.to_string().contains("--allow-reply https://sqs.eu-west-1.amazonaws.com/"), "{err}");
    }
}
