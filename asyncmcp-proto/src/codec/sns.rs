/// Facts from an SNS envelope (stub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsNotification {
    /// The SNS MessageId.
    pub message_id: String,
    /// The topic.
    pub topic_arn: String,
}
