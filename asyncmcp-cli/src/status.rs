//! `asyncmcp status`: a server's queue at a glance: approximate depth, in flight,
//! delayed; its dead-letter queue and that queue's depth; the topics that feed it;
//! or for a topic, its subscriptions and the queues they feed. `--watch` refreshes.
//!
//! Everything is read with `sqs:GetQueueAttributes` and `sns:List*`: nothing is
//! received, so looking never hides a message from the server.

mod oldest;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use asyncmcp_aws::{AwsAdmin, QueueCounts};
use clap::Args;
use serde_json::Value;

use crate::aws::AwsArgs;
use crate::error::CliResult;
use oldest::OldestAge;

const AFTER_HELP: &str = "\
Examples:
  asyncmcp status --queue-url $QUEUE
  asyncmcp status --topic-arn $TOPIC --watch 5

Counts are SQS's approximate ones: waiting (ApproximateNumberOfMessages), in flight
(received, not yet deleted: ApproximateNumberOfMessagesNotVisible) and delayed. The
age of the oldest message comes from CloudWatch (AWS/SQS ApproximateAgeOfOldestMessage,
published every minute; needs cloudwatch:GetMetricStatistics): the SQS API does not
report it, and `status` never receives messages to find out, as that would hide them
from the server.";

/// The options of `asyncmcp status`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
#[group(id = "target", required = true, multiple = true, args = ["queue_url", "topic_arn"])]
pub(crate) struct StatusArgs {
    /// The server's request queue (printed by `asyncmcp infra up`).
    #[arg(long, value_name = "URL")]
    queue_url: Option<String>,
    /// The server's request topic: its subscriptions and the queues they feed.
    #[arg(long, value_name = "ARN")]
    topic_arn: Option<String>,
    /// Refresh every SECS seconds (2 when not given) until Ctrl-C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    watch: Option<u64>,
    /// Also the S3 bucket of large messages (`serve --s3-bucket`): its objects and
    /// whether `infra up` made it.
    #[arg(long, value_name = "BUCKET")]
    s3_bucket: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Prints the status once, or every `--watch` seconds.
pub(crate) async fn run(args: StatusArgs) -> CliResult<ExitCode> {
    let sdk = args.aws.sdk_config().await?;
    let admin = AwsAdmin::new(&sdk);
    let oldest = OldestAge::new(&sdk);
    let s3 = args.s3_bucket.as_ref().map(|_| crate::offload::s3_client(&sdk));
    let sources = Sources { admin: &admin, oldest: &oldest, s3: s3.as_ref() };
    let Some(every) = args.watch else {
        crate::generate::write_stdout(report(&sources, &args).await?.as_bytes(), "the status")?;
        return Ok(ExitCode::SUCCESS);
    };
    let every = Duration::from_secs(every.max(1));
    let clear = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut stop = crate::signal::Stop::install();
    loop {
        let text = report(&sources, &args).await?;
        let home = if clear { "\x1b[2J\x1b[H" } else { "" };
        let gap = if clear { "" } else { "\n" };
        let screen = format!("{home}{}\n{text}{gap}", unix_time_label());
        if !crate::generate::write_stdout(screen.as_bytes(), "the status")? {
            // The reader has gone (`| head`): nobody to refresh for.
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.recv() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// The time of a `--watch` refresh, as `at HH:MM:SS UTC`.
fn unix_time_label() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let day = secs % 86_400;
    format!("at {:02}:{:02}:{:02} UTC", day / 3600, day % 3600 / 60, day % 60)
}

/// Where the report's figures come from.
struct Sources<'a> {
    admin: &'a AwsAdmin,
    oldest: &'a OldestAge,
    s3: Option<&'a aws_sdk_s3::Client>,
}

/// The whole report, as text.
async fn report(sources: &Sources<'_>, args: &StatusArgs) -> CliResult<String> {
    let admin = sources.admin;
    let mut out = String::new();
    if let Some(arn) = &args.topic_arn {
        let subscriptions = admin.subscriptions(Some(arn)).await?;
        let _ = writeln!(out, "topic {arn}");
        if subscriptions.is_empty() {
            let _ = writeln!(out, "  no subscriptions: messages published to it reach no queue");
        }
        for sub in &subscriptions {
            let _ = writeln!(out, "  subscription {} -> {} {}", sub.arn, sub.protocol, sub.endpoint);
        }
        // The queues it feeds, unless given with --queue-url (reported below).
        for sub in subscriptions.iter().filter(|s| s.protocol == "sqs") {
            let url = admin.queue_url(queue_name(&sub.endpoint)).await;
            match url {
                Ok(url) if Some(&url) != args.queue_url.as_ref() => out.push_str(&queue_report(sources, &url).await?),
                Ok(_) => {}
                Err(e) => {
                    let _ = writeln!(out, "queue {}: cannot be read: {}", sub.endpoint, e.detail);
                }
            }
        }
    }
    if let Some(url) = &args.queue_url {
        out.push_str(&queue_report(sources, url).await?);
    }
    if let (Some(s3), Some(bucket)) = (sources.s3, &args.s3_bucket) {
        out.push_str(&crate::offload::bucket_report(s3, bucket).await);
    }
    Ok(out)
}

/// One queue: counts, dead-letter queue and its counts, the topics feeding it.
async fn queue_report(sources: &Sources<'_>, url: &str) -> CliResult<String> {
    let admin = sources.admin;
    let mut out = String::new();
    let counts = admin.queue_counts(url).await?;
    let _ = writeln!(out, "queue {url}");
    let _ = writeln!(out, "  messages      {}", counts_line(counts));
    let name = url.rsplit('/').next().unwrap_or(url);
    let _ = writeln!(out, "  oldest        {}", sources.oldest.describe(name).await);
    match admin.redrive_policy(url).await? {
        None => {
            let _ = writeln!(out, "  dead-letter   none (a message that keeps failing is retried forever)");
        }
        Some(policy) => {
            let policy: Value = serde_json::from_str(&policy).unwrap_or(Value::Null);
            let arn = policy["deadLetterTargetArn"].as_str().unwrap_or("?");
            let max = match &policy["maxReceiveCount"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => "?".to_owned(),
            };
            let _ = writeln!(out, "  dead-letter   {arn} (after {max} receives)");
            match admin.queue_url(queue_name(arn)).await {
                Ok(dlq) => {
                    let dead = admin.queue_counts(&dlq).await?;
                    let warn =
                        if dead.visible + dead.in_flight + dead.delayed > 0 { "   <- messages failed" } else { "" };
                    let _ = writeln!(out, "  dead-letter   {}{warn}", counts_line(dead));
                }
                Err(e) => {
                    let _ = writeln!(out, "  dead-letter   cannot be read: {}", e.detail);
                }
            }
        }
    }
    // The topics that feed this queue (sns-sqs); listing may be denied where SQS is not.
    match admin.queue_arn(url).await {
        Ok(arn) => match admin.subscriptions(None).await {
            Ok(subs) => {
                let feeding: Vec<_> = subs.iter().filter(|s| s.protocol == "sqs" && s.endpoint == arn).collect();
                if feeding.is_empty() {
                    let _ = writeln!(out, "  subscribed to no topic (sqs transport)");
                }
                for sub in feeding {
                    let _ = writeln!(out, "  subscribed to {} ({})", sub.topic_arn, sub.arn);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  subscriptions cannot be listed: {}", e.detail);
            }
        },
        Err(e) => {
            let _ = writeln!(out, "  subscriptions unknown (no queue ARN): {}", e.detail);
        }
    }
    Ok(out)
}

fn counts_line(counts: QueueCounts) -> String {
    format!("{} waiting, {} in flight, {} delayed", counts.visible, counts.in_flight, counts.delayed)
}

/// The queue name at the end of a queue ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn queue_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_name_is_the_last_field_of_the_arn() {
        assert_eq!(queue_name("arn:aws:sqs:us-east-1:123456789012:weather-dlq"), "weather-dlq");
        assert_eq!(queue_name("plain"), "plain");
    }
}
