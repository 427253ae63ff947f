//! One simulated SNS topic and its SQS subscriptions.

/// A queue subscribed to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) arn: String,
    pub(crate) queue_url: String,
    /// Raw message delivery: the body as published and attributes as SQS attributes,
    /// instead of an SNS envelope.
    pub(crate) raw: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topic {
    pub(crate) fifo: bool,
    /// In subscription order: fan-out follows it, so it is deterministic.
    pub(crate) subscriptions: Vec<Subscription>,
}

impl Topic {
    pub(crate) fn new(fifo: bool) -> Self {
        Self { fifo, subscriptions: Vec::new() }
    }
}
