//! `asyncmcp infra up|down`: the queues, topic and subscription a server needs.
//!
//! Names derive from `--name PREFIX`: the request queue `PREFIX-requests`, its
//! dead-letter queue `PREFIX-requests-dlq`, and for sns-sqs the topic
//! `PREFIX-requests` subscribed by the request queue (FIFO names end in `.fifo`).

use std::process::ExitCode;

use asyncmcp_aws::{AwsAdmin, DynamoTaskStore, QueueSpec};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::aws::AwsArgs;
use crate::error::{CliError, CliResult};
use crate::offload;

/// How clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    /// Clients send to the server's SQS queue.
    Sqs,
    /// Clients publish to the server's SNS topic, which feeds its SQS queue.
    SnsSqs,
}

impl Transport {
    /// The name as written on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Sqs => "sqs",
            Transport::SnsSqs => "sns-sqs",
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Lines for people.
    Text,
    /// One JSON object, for scripts.
    Json,
}

const UP_HELP: &str = "\
Examples:
  asyncmcp infra up --name weather
  asyncmcp infra up --name weather --transport sns-sqs --raw-delivery --output json
  asyncmcp infra up --name weather --endpoint-url http://127.0.0.1:5000   # moto

Creates PREFIX-requests (the server's request queue), PREFIX-requests-dlq (its dead-letter
queue; a message received --max-receives times moves there) and, for sns-sqs, the topic
PREFIX-requests with a subscription and the queue policy that lets SNS deliver. With
--s3-bucket it also creates that bucket for large messages (kept as is when it exists);
with --tasks, the DynamoDB table PREFIX-tasks for MCP tasks. Running it again is
harmless: existing resources are kept and their settings converged.";

const DOWN_HELP: &str = "\
Examples:
  asyncmcp infra down --name weather
  asyncmcp infra down --name weather --transport sns-sqs

Deletes what `infra up` created: the queues and, whatever --transport is given, a topic
PREFIX-requests with its subscriptions; what is already gone is skipped. An --s3-bucket is
deleted, with its objects, only if `infra up --name PREFIX` created it, or with --delete-bucket.";

/// `infra up`, `infra down` or `infra gc`.
#[derive(Debug, Subcommand)]
pub(crate) enum InfraCommand {
    /// Create (or converge) the request queue, its dead-letter queue and, for sns-sqs, the topic.
    #[command(after_help = UP_HELP)]
    Up(InfraArgs),
    /// Delete what `infra up` created.
    #[command(after_help = DOWN_HELP)]
    Down(InfraArgs),
    /// Delete the private reply queues (and topics) that crashed `call` and `proxy` clients left.
    Gc(crate::gc::GcArgs),
}

/// The options of `infra up` and `infra down`.
#[derive(Debug, Args)]
pub(crate) struct InfraArgs {
    /// Prefix of every resource name (letters, digits, `-` and `_`).
    #[arg(long, value_name = "PREFIX")]
    name: String,
    /// sqs: clients send to the queue; sns-sqs: clients publish to a topic feeding it.
    #[arg(long, value_enum, default_value = "sqs")]
    transport: Transport,
    /// FIFO queue and topic (names end in `.fifo`): ordered per session, deduplicated.
    #[arg(long)]
    fifo: bool,
    /// SNS raw message delivery (no SNS envelope around each message; sns-sqs only).
    #[arg(long)]
    raw_delivery: bool,
    /// Visibility timeout of the request queue, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    visibility_timeout: u32,
    /// Receives after which a message moves to the dead-letter queue.
    #[arg(long, default_value_t = 5, value_name = "N")]
    max_receives: u32,
    /// An S3 bucket for large messages (`serve --s3-bucket`): `up` creates it unless it
    /// exists; `down` deletes it, with its objects, only if `up` created it for this
    /// --name (it tags what it creates), or with --delete-bucket.
    #[arg(long, value_name = "BUCKET")]
    s3_bucket: Option<String>,
    /// `infra down`: delete the --s3-bucket and every object in it even if `infra up`
    /// did not create it.
    #[arg(long, requires = "s3_bucket")]
    delete_bucket: bool,
    /// Print the addresses as text or as one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Also the DynamoDB table PREFIX-tasks that servers serving MCP tasks share
    /// (on-demand, TTL on `expiresAt`): created by `up`, deleted by `down`.
    #[arg(long)]
    tasks: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The resource names of a deployment.
struct Names {
    queue: String,
    dlq: String,
    topic: String,
    tasks: String,
}

impl InfraArgs {
    fn names(&self) -> CliResult<Names> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(CliError::new(format!(
                "--name {:?}: use letters, digits, `-` and `_` only (it prefixes queue and topic names)",
                self.name
            )));
        }
        let suffix = if self.fifo { ".fifo" } else { "" };
        Ok(Names {
            queue: format!("{}-requests{suffix}", self.name),
            dlq: format!("{}-requests-dlq{suffix}", self.name),
            topic: format!("{}-requests{suffix}", self.name),
            tasks: format!("{}-tasks", self.name),
        })
    }
}

/// Runs `infra up` or `infra down`.
pub(crate) async fn run(command: InfraCommand) -> CliResult<ExitCode> {
    match command {
        InfraCommand::Up(args) => up(&args).await,
        InfraCommand::Down(args) => down(&args).await,
        InfraCommand::Gc(args) => crate::gc::run(&args).await,
    }
}

fn progress(step: &str) {
    eprintln!("  {step}");
}

async fn up(args: &InfraArgs) -> CliResult<ExitCode> {
    let names = args.names()?;
    if args.raw_delivery && args.transport == Transport::Sqs {
        return Err(CliError::new("--raw-delivery applies to --transport sns-sqs only"));
    }
    if args.delete_bucket {
        return Err(CliError::new("--delete-bucket applies to `infra down` only"));
    }
    let sdk = args.aws.sdk_config().await?;
    let admin = AwsAdmin::new(&sdk);
    eprintln!("asyncmcp infra up: {} ({})", args.name, args.transport.as_str());

    progress(&format!("dead-letter queue {} ...", names.dlq));
    let dlq_spec = QueueSpec { fifo: args.fifo, visibility_timeout_secs: None, dead_letter: None };
    let dlq = admin.create_queue(&names.dlq, &dlq_spec).await?;

    progress(&format!(
        "request queue {} (redrive to the dead-letter queue after {} receives) ...",
        names.queue, args.max_receives
    ));
    let spec = QueueSpec {
        fifo: args.fifo,
        visibility_timeout_secs: Some(args.visibility_timeout),
        dead_letter: Some((dlq.arn.clone(), args.max_receives)),
    };
    let queue = admin.create_queue(&names.queue, &spec).await?;

    let mut topic = None;
    let mut subscription = None;
    if args.transport == Transport::SnsSqs {
        progress(&format!("topic {} ...", names.topic));
        let arn = admin.create_topic(&names.topic).await?;
        progress(&format!(
            "subscription of the request queue to the topic ({} delivery) and the queue policy letting SNS send ...",
            if args.raw_delivery { "raw" } else { "enveloped" }
        ));
        subscription = Some(admin.subscribe_queue(&arn, &queue.arn, &queue.url, args.raw_delivery).await?);
        topic = Some(arn);
    }
    let mut bucket_created = false;
    if let Some(bucket) = &args.s3_bucket {
        bucket_created = up_bucket(&sdk, bucket, &args.name).await?;
    }
    let mut tasks = None;
    if args.tasks {
        progress(&format!("task table {} (DynamoDB, on-demand, TTL on expiresAt) ...", names.tasks));
        DynamoTaskStore::new(&sdk, &names.tasks).create_table().await?;
        tasks = Some(names.tasks.clone());
    }
    eprintln!("  done");

    match args.output {
        Output::Json => {
            let value = json!({
                "transport": args.transport.as_str(),
                "fifo": args.fifo,
                "raw_delivery": args.raw_delivery,
                "request_queue_url": queue.url,
                "request_queue_arn": queue.arn,
                "dead_letter_queue_url": dlq.url,
                "dead_letter_queue_arn": dlq.arn,
                "topic_arn": topic,
                "subscription_arn": subscription,
                "s3_bucket": args.s3_bucket,
                "s3_bucket_created": bucket_created,
                "tasks_table": tasks,
            });
            println!("{value}");
        }
        Output::Text => {
            println!("request queue      {}", queue.url);
            println!("dead-letter queue  {}", dlq.url);
            if let (Some(topic), Some(subscription)) = (&topic, &subscription) {
                println!("request topic      {topic}");
                println!("subscription       {subscription}");
            }
            if let Some(bucket) = &args.s3_bucket {
                println!("s3 bucket          {bucket}");
            }
            if let Some(tasks) = &tasks {
                println!("task table         {tasks}");
            }
            let transport = args.transport.as_str();
            let endpoint = args.aws.endpoint_url.as_deref().map(|e| format!(" --endpoint-url {e}")).unwrap_or_default();
            let target = match &topic {
                Some(topic) => format!("--server-topic-arn {topic}"),
                None => format!("--server-queue-url {}", queue.url),
            };
            println!();
            println!("next:");
            let s3 = args.s3_bucket.as_deref().map(|b| format!(" --s3-bucket {b}")).unwrap_or_default();
            println!(
                "  asyncmcp serve{endpoint} --transport {transport} --queue-url {}{s3} -- YOUR-MCP-SERVER ARGS",
                queue.url
            );
            println!("  asyncmcp call{endpoint} --transport {transport} {target} TOOL key=value ...");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn down(args: &InfraArgs) -> CliResult<ExitCode> {
    let names = args.names()?;
    let sdk = args.aws.sdk_config().await?;
    let admin = AwsAdmin::new(&sdk);
    eprintln!("asyncmcp infra down: {} ({})", args.name, args.transport.as_str());

    // Queue URLs and ARNs are looked up; a missing queue is already gone.
    let queue_url = lookup(&admin, &names.queue).await;
    let dlq_url = lookup(&admin, &names.dlq).await;

    let mut deleted = Vec::new();
    // The topic is looked for whatever --transport says now: a deployment made with
    // sns-sqs and taken down without it must not leave its topic behind.
    match admin.find_topic(&names.topic).await {
        Ok(Some(topic_arn)) => {
            progress(&format!("topic {topic_arn} and its subscriptions ..."));
            admin.delete_topic(&topic_arn).await?;
            deleted.push(json!({"kind": "topic", "address": topic_arn}));
        }
        Ok(None) if args.transport == Transport::SnsSqs => {
            progress(&format!("topic {}: not found, nothing to delete", names.topic));
        }
        Ok(None) => {}
        Err(e) if args.transport == Transport::SnsSqs => return Err(e.into()),
        // An sqs deployment may have no SNS access at all.
        Err(e) => tracing::info!("could not look for a topic {}: {}", names.topic, e.detail),
    }
    for (kind, name, url) in [("request queue", &names.queue, queue_url), ("dead-letter queue", &names.dlq, dlq_url)] {
        match url {
            Some(url) => {
                progress(&format!("{kind} {url} ..."));
                admin.delete_queue(&url).await?;
                deleted.push(json!({"kind": kind, "address": url}));
            }
            None => progress(&format!("{kind} {name}: not found, nothing to delete")),
        }
    }
    if let Some(bucket) = &args.s3_bucket
        && down_bucket(&sdk, bucket, &args.name, args.delete_bucket).await?
    {
        deleted.push(json!({"kind": "s3 bucket", "address": bucket}));
    }
    if args.tasks {
        progress(&format!("task table {} ...", names.tasks));
        match DynamoTaskStore::new(&sdk, &names.tasks).delete_table().await {
            Ok(()) => deleted.push(json!({"kind": "task table", "address": names.tasks})),
            // Already gone (or not ours to delete): said, not fatal, as for queues.
            Err(e) => progress(&format!("task table {}: not deleted: {}", names.tasks, e.detail)),
        }
    }
    eprintln!("  done");
    match args.output {
        Output::Json => println!("{}", json!({ "deleted": deleted })),
        Output::Text => {
            for d in &deleted {
                println!("deleted {:<18} {}", d["kind"].as_str().unwrap_or(""), d["address"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `bucket` unless it exists (tagged as made for `name`); whether it did.
async fn up_bucket(sdk: &aws_config::SdkConfig, bucket: &str, name: &str) -> CliResult<bool> {
    let s3 = offload::s3_client(sdk);
    if offload::bucket_state(&s3, bucket).await? {
        progress(&format!("S3 bucket {bucket}: exists, kept as it is"));
        return Ok(false);
    }
    progress(&format!("S3 bucket {bucket} ..."));
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    offload::create_bucket(&s3, bucket, region, name).await?;
    Ok(true)
}

/// Deletes `bucket` and its objects when `infra up` made it for `name`, or when
/// `force`; whether it did.
async fn down_bucket(sdk: &aws_config::SdkConfig, bucket: &str, name: &str, force: bool) -> CliResult<bool> {
    let s3 = offload::s3_client(sdk);
    if !offload::bucket_state(&s3, bucket).await? {
        progress(&format!("S3 bucket {bucket}: not found, nothing to delete"));
        return Ok(false);
    }
    let ours = offload::created_for(&s3, bucket).await.as_deref() == Some(name);
    if !ours && !force {
        progress(&format!(
            "S3 bucket {bucket}: kept (`infra up --name {name}` did not create it); pass --delete-bucket to delete it \
             and every object in it"
        ));
        return Ok(false);
    }
    progress(&format!("S3 bucket {bucket} and its objects ..."));
    let objects = offload::delete_bucket(&s3, bucket).await?;
    tracing::info!("deleted {objects} objects of the S3 bucket {bucket}");
    Ok(true)
}

/// The URL of queue `name`, or `None` when it does not exist (or cannot be read: the
/// delete that follows would report access problems anyway).
async fn lookup(admin: &AwsAdmin, name: &str) -> Option<String> {
    match admin.queue_url(name).await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::info!(queue = name, "{}", e.detail);
            None
        }
    }
}
