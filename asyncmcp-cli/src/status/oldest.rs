//! The age of a queue's oldest message. The SQS API does not report it; SQS
//! publishes it to CloudWatch every minute as `AWS/SQS` `ApproximateAgeOfOldestMessage`
//! (seconds, by `QueueName`). Reading CloudWatch hides nothing from the server, where
//! receiving a message to look at it would.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

/// How far back a data point may be: SQS publishes every minute, and a queue that
/// has been empty and idle for hours stops being published.
const LOOK_BACK: Duration = Duration::from_secs(15 * 60);

/// CloudWatch, for the one metric `status` reads.
pub(crate) struct OldestAge {
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl OldestAge {
    pub(crate) fn new(sdk: &SdkConfig) -> Self {
        Self { cloudwatch: aws_sdk_cloudwatch::Client::new(sdk) }
    }

    /// The `oldest` line's text for the queue named `queue_name`: the newest data
    /// point's maximum, or why there is none. Never an error: `status` still shows
    /// the rest when CloudWatch cannot be read (no `cloudwatch:GetMetricStatistics`
    /// permission, say).
    pub(crate) async fn describe(&self, queue_name: &str) -> String {
        let now = SystemTime::now();
        let start = now.checked_sub(LOOK_BACK).unwrap_or(SystemTime::UNIX_EPOCH);
        // A minute ahead: the request carries whole seconds, so an end of `now` would
        // leave out a data point from earlier in this very second.
        let end = now + Duration::from_secs(60);
        let asked = self
            .cloudwatch
            .get_metric_statistics()
            .namespace("AWS/SQS")
            .metric_name("ApproximateAgeOfOldestMessage")
            .dimensions(Dimension::builder().name("QueueName").value(queue_name).build())
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(end))
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await;
        let out = match asked {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!("CloudWatch GetMetricStatistics: {e:?}");
                return format!("unknown: CloudWatch could not be read ({})", reason(&e));
            }
        };
        let newest = out
            .datapoints()
            .iter()
            .filter_map(|p| Some((p.timestamp()?.secs(), p.maximum()?)))
            .max_by_key(|(at, _)| *at);
        match newest {
            Some((_, age)) => format!("{} (CloudWatch ApproximateAgeOfOldestMessage)", age_text(age)),
            None => "no CloudWatch data in the last 15 minutes (ApproximateAgeOfOldestMessage; an idle queue has none)"
                .to_owned(),
        }
    }
}

/// One line of why a CloudWatch call failed: the service's code and message, or what
/// kind of failure it was (the whole error goes to the debug log).
fn reason<E: ProvideErrorMetadata, R: std::fmt::Debug>(e: &SdkError<E, R>) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => match e {
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            SdkError::DispatchFailure(_) => "the endpoint could not be reached".to_owned(),
            SdkError::ConstructionFailure(_) => "the request could not be built (credentials, region?)".to_owned(),
            SdkError::ResponseError(_) => "the response could not be read".to_owned(),
            _ => "the service refused it".to_owned(),
        },
    }
}

/// Seconds as `42s`, `7m 5s` or `3h 2m`.
fn age_text(secs: f64) -> String {
    // Ages are whole seconds; a negative or absurd value is shown as 0.
    let secs = if secs.is_finite() && secs > 0.0 { secs.round() as u64 } else { 0 };
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::age_text;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age_text(0.0), "0s");
        assert_eq!(age_text(42.4), "42s");
        assert_eq!(age_text(425.0), "7m 5s");
        assert_eq!(age_text(10_920.0), "3h 2m");
        assert_eq!(age_text(f64::NAN), "0s");
        assert_eq!(age_text(-5.0), "0s");
    }
}
