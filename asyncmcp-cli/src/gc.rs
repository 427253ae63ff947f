//! `asyncmcp infra gc`: deletes the private reply queues (and their topics) of
//! clients that died before deleting them.
//!
//! Only queues tagged [`REPLY_QUEUE_TAG`] are candidates, so a server's queues are
//! never touched even when their names share the prefix.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asyncmcp_aws::{AwsAdmin, REPLY_QUEUE_TAG};
use clap::Args;
use serde_json::json;

use crate::aws::AwsArgs;
use crate::error::CliResult;
use crate::infra::Output;

const GC_HELP: &str = "\
Examples:
  asyncmcp infra gc                      # delete reply queues older than an hour
  asyncmcp infra gc --dry-run --older-than 0s
  asyncmcp infra gc --older-than 2d --prefix asyncmcp-proxy-

`asyncmcp call` and `asyncmcp proxy` create a private reply queue (and for sns-sqs a topic
of the same name) and delete it when they end; a client killed with SIGKILL or a crash
leaves it. Such queues are tagged asyncmcp:reply-queue with their creation time; gc deletes
the tagged queues older than --older-than, with their topic. A client still running past
--older-than loses its reply queue: choose a threshold above your longest-running proxy.";

/// The options of `infra gc`.
#[derive(Debug, Args)]
#[command(after_help = GC_HELP)]
pub(crate) struct GcArgs {
    /// Delete reply queues created longer ago than this (`90s`, `15m`, `1h`, `2d`).
    #[arg(long, default_value = "1h", value_name = "AGE", value_parser = parse_age)]
    older_than: Duration,
    /// Look at queues whose names start with this.
    #[arg(long, default_value = "asyncmcp-", value_name = "PREFIX")]
    prefix: String,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the queues as text or as one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Runs `infra gc`.
pub(crate) async fn run(args: &GcArgs) -> CliResult<ExitCode> {
    let admin = AwsAdmin::new(&args.aws.sdk_config().await?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut found = Vec::new();
    let mut kept = 0_usize;
    for url in admin.list_queues(&args.prefix).await? {
        // A queue gone since the listing (another gc, its client ending) is skipped.
        let Ok(Some(tag)) = admin.queue_tag(&url, REPLY_QUEUE_TAG).await else { continue };
        let created = match tag.trim().parse::<u64>() {
            Ok(created) => Some(created),
            Err(_) => admin.queue_created(&url).await.ok().flatten(),
        };
        let Some(created) = created else {
            tracing::warn!(queue = %url, "reply queue with no readable creation time: skipped");
            continue;
        };
        let age = now.saturating_sub(created);
        if age < args.older_than.as_secs() {
            kept += 1;
            continue;
        }
        let name = url.rsplit('/').next().unwrap_or_default().to_owned();
        let topic = admin.find_topic(&name).await?;
        if !args.dry_run {
            if let Some(topic) = &topic {
                admin.delete_topic(topic).await?;
            }
            admin.delete_queue(&url).await?;
        }
        found.push(json!({"queue": url, "topic": topic, "age_secs": age}));
    }
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    match args.output {
        Output::Json => println!("{}", json!({"dry_run": args.dry_run, "orphans": found, "kept": kept})),
        Output::Text => {
            for orphan in &found {
                let topic = orphan["topic"].as_str().map(|t| format!(" and topic {t}")).unwrap_or_default();
                let age = orphan["age_secs"].as_u64().unwrap_or(0);
                println!("{verb} {}{topic} (created {} ago)", orphan["queue"].as_str().unwrap_or(""), show_age(age));
            }
            let done = if args.dry_run { "to delete (dry run)" } else { "deleted" };
            eprintln!(
                "asyncmcp infra gc: {} reply queue(s) {done}, {kept} younger than {} kept",
                found.len(),
                show_age(args.older_than.as_secs())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `15m`, `1h`, `2d` (or plain seconds) as a duration.
fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: write an age as 90s, 15m, 1h or 2d")),
    };
    let number: u64 = digits.parse().map_err(|_| format!("{text:?}: write an age as 90s, 15m, 1h or 2d"))?;
    Ok(Duration::from_secs(number.saturating_mul(scale)))
}

/// `secs` in the largest two units (`1h`, `1h2m`, `3d4h`, `59s`).
fn show_age(secs: u64) -> String {
    let (big, big_unit, small, small_unit) = match secs {
        s if s >= 86_400 => (s / 86_400, "d", s % 86_400 / 3600, "h"),
        s if s >= 3600 => (s / 3600, "h", s % 3600 / 60, "m"),
        s if s >= 60 => (s / 60, "m", s % 60, "s"),
        s => return format!("{s}s"),
    };
    if small == 0 { format!("{big}{big_unit}") } else { format!("{big}{big_unit}{small}{small_unit}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("0s").ok(), Some(Duration::ZERO));
        assert_eq!(parse_age("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_age("15m").ok(), Some(Duration::from_secs(900)));
        assert_eq!(parse_age("1h").ok(), Some(Duration::from_secs(3600)));
        assert_eq!(parse_age("2d").ok(), Some(Duration::from_secs(172_800)));
        assert!(parse_age("1w").is_err());
        assert!(parse_age("h").is_err());
        assert_eq!(show_age(3_725), "1h2m");
        assert_eq!(show_age(3_600), "1h");
        assert_eq!(show_age(7), "7s");
    }
}
