//! Where messages go: an SQS queue URL or an SNS topic ARN, and which of them a
//! server may reply to.

mod allow;
mod parse;

use std::fmt;

pub use allow::AllowList;
pub use parse::{AddressError, Arn, QueueUrl, Scheme};

/// A destination for outbound messages.
///
/// In the `sqs` topology every peer owns a queue and messages are sent with
/// `SendMessage`; in the `sns-sqs` topology every peer owns a topic (with its queue
/// subscribed) and messages are sent with `Publish`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An SQS queue URL, for example `https://sqs.us-east-1.amazonaws.com/123456789012/q`.
    Queue(String),
    /// An SNS topic ARN, for example `arn:aws:sns:us-east-1:123456789012:t`.
    Topic(String),
}

impl Address {
    /// Classifies `text`: an ARN of the `sns` service is a topic, anything else a queue URL.
    ///
    /// ```
    /// use asyncmcp_proto::Address;
    /// assert!(matches!(Address::parse("arn:aws:sns:us-east-1:1:t"), Address::Topic(_)));
    /// assert!(matches!(Address::parse("http://127.0.0.1:5000/1/q"), Address::Queue(_)));
    /// ```
    pub fn parse(text: &str) -> Self {
        if is_sns_arn(text) { Address::Topic(text.to_owned()) } else { Address::Queue(text.to_owned()) }
    }

    /// The queue URL or topic ARN as text.
    pub fn as_str(&self) -> &str {
        match self {
            Address::Queue(s) | Address::Topic(s) => s,
        }
    }

    /// True for FIFO queues and topics (names ending in `.fifo`), which need
    /// `MessageGroupId` and `MessageDeduplicationId` on every message.
    pub fn is_fifo(&self) -> bool {
        self.as_str().ends_with(".fifo")
    }

    /// True for an SNS topic.
    pub fn is_topic(&self) -> bool {
        matches!(self, Address::Topic(_))
    }
}

fn is_sns_arn(text: &str) -> bool {
    // arn:PARTITION:sns:REGION:ACCOUNT:NAME
    let mut parts = text.splitn(4, ':');
    parts.next() == Some("arn") && parts.next().is_some() && parts.next() == Some("sns")
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
