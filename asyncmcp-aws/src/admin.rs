//! [`AwsAdmin`]: idempotent creation and deletion of queues, topics and
//! subscriptions, for tests and the `asyncmcp infra` command.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_types::SdkConfig;
use serde_json::{Value, json};

use crate::Clients;
use crate::errors::{Call, classify, from_sdk};
use asyncmcp_proto::{FailureKind, OpFailure};

/// How to create a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSpec {
    /// A FIFO queue (its name must end in `.fifo`).
    pub fifo: bool,
    /// The visibility timeout in seconds; `None` keeps the SQS default (30 s).
    pub visibility_timeout_secs: Option<u32>,
    /// A dead-letter queue: its ARN and how many receives move a message there.
    pub dead_letter: Option<(String, u32)>,
}

/// A queue's URL and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueInfo {
    /// The queue URL, for SQS calls.
    pub url: String,
    /// The queue ARN, for subscriptions, policies and dead-letter targets.
    pub arn: String,
}

/// A queue's approximate message counts, as SQS reports them (eventually consistent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Messages waiting to be received (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Messages received and not yet deleted, hidden by their visibility timeout
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Messages sent with a delay that has not yet passed
    /// (`ApproximateNumberOfMessagesDelayed`).
    pub delayed: u64,
}

/// One SNS subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// The subscription ARN (`PendingConfirmation` while unconfirmed).
    pub arn: String,
    /// The topic it subscribes to.
    pub topic_arn: String,
    /// The protocol, such as `sqs`.
    pub protocol: String,
    /// Where it delivers: for `sqs`, the queue ARN.
    pub endpoint: String,
}

/// Creates and deletes queues, topics and subscriptions. Every method is idempotent:
/// creating what exists returns it (converging its settings), deleting what is gone
/// succeeds.
///
/// Errors are [`OpFailure`]s, as for [`AwsQueueClient`](crate::AwsQueueClient).
/// The futures need the runtime of the `SdkConfig`'s HTTP client, as for
/// [`AwsQueueClient`](crate::AwsQueueClient).
#[derive(Debug, Clone)]
pub struct AwsAdmin {
    clients: Clients,
}

impl AwsAdmin {
    /// An admin client configured by `config` (credentials, region, endpoint).
    ///
    /// # Panics
    /// As [`AwsQueueClient::new`](crate::AwsQueueClient::new): when `config` has no
    /// sleep implementation.
    pub fn new(config: &SdkConfig) -> Self {
        Self { clients: Clients::new(config) }
    }

    /// An admin client configured from the environment (standard credential chain,
    /// region, `AWS_ENDPOINT_URL`).
    #[cfg(feature = "rt-tokio")]
    pub async fn from_env() -> Self {
        Self { clients: Clients::from_env().await }
    }

    /// An admin client for a local emulator (moto, LocalStack) at `endpoint_url`, with
    /// fixed `test`/`test` credentials. Not for AWS.
    #[cfg(feature = "rt-tokio")]
    pub fn with_endpoint(endpoint_url: &str, region: &str) -> Self {
        Self { clients: Clients::local(endpoint_url, region) }
    }

    /// Creates the queue `name`, or returns it if it exists; an existing queue gets
    /// `spec`'s visibility timeout and dead-letter settings.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when `spec.fifo` and the name do not agree (FIFO
    /// names end in `.fifo`), when the existing queue's type differs, or when SQS
    /// refuses the call (access denied, invalid name or attribute); a retryable one
    /// for throttling, 5xx and network failures.
    pub async fn create_queue(&self, name: &str, spec: &QueueSpec) -> Result<QueueInfo, OpFailure> {
        if spec.fifo != name.ends_with(".fifo") {
            return Err(OpFailure::new(
                FailureKind::Invalid,
                format!(
                    "queue name {name}: FIFO queue names end in `.fifo` and other names do not (fifo = {})",
                    spec.fifo
                ),
            ));
        }
        let settings = settings(spec);
        let call = Call::queue("sqs:CreateQueue", name);
        let mut create = self.clients.sqs.create_queue().queue_name(name).set_attributes(Some(settings.clone()));
        if spec.fifo {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let url = match create.send().await {
            Ok(out) => out.queue_url().map(str::to_owned),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_name_exists()) => {
                // It exists with other settings: converge them.
                let url = self.queue_url(name).await?;
                self.clients
                    .sqs
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(settings))
                    .send()
                    .await
                    .map_err(|e| from_sdk(&e, Call::queue("sqs:SetQueueAttributes", &url)))?;
                Some(url)
            }
            Err(e) => return Err(from_sdk(&e, call)),
        };
        let url = url
            .ok_or_else(|| OpFailure::new(FailureKind::Other, format!("sqs:CreateQueue for {name} returned no URL")))?;
        let arn = self.queue_arn(&url).await?;
        Ok(QueueInfo { url, arn })
    }

    /// The URL of the queue `name` in this account and region.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn queue_url(&self, name: &str) -> Result<String, OpFailure> {
        let call = Call::queue("sqs:GetQueueUrl", name);
        let out = self.clients.sqs.get_queue_url().queue_name(name).send().await.map_err(|e| from_sdk(&e, call))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| OpFailure::new(FailureKind::Other, format!("no URL returned for queue {name}")))
    }

    /// The ARN of the queue at `url`.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn queue_arn(&self, url: &str) -> Result<String, OpFailure> {
        self.queue_attribute(url, QueueAttributeName::QueueArn)
            .await?
            .ok_or_else(|| OpFailure::new(FailureKind::Other, format!("no ARN returned for queue {url}")))
    }

    /// The queue's redrive policy (its `RedrivePolicy` attribute, JSON naming the
    /// dead-letter queue and `maxReceiveCount`), or `None` when it has none.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn redrive_policy(&self, url: &str) -> Result<Option<String>, OpFailure> {
        let policy = self.queue_attribute(url, QueueAttributeName::RedrivePolicy).await?;
        Ok(policy.filter(|p| !p.trim().is_empty()))
    }

    /// The queue's approximate message counts (`sqs:GetQueueAttributes`). SQS
    /// reports no age for the oldest message (that is the CloudWatch metric
    /// `ApproximateAgeOfOldestMessage`), and receiving to look would hide messages.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn queue_counts(&self, url: &str) -> Result<QueueCounts, OpFailure> {
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let attributes = self.queue_attributes(url, &names).await?;
        let count = |name: &QueueAttributeName| attributes.get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        Ok(QueueCounts { visible: count(&names[0]), in_flight: count(&names[1]), delayed: count(&names[2]) })
    }

    /// The subscriptions of the topic `topic_arn`, or with `None` every subscription
    /// of the account and region (every page of `sns:ListSubscriptionsByTopic` or
    /// `sns:ListSubscriptions`).
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the topic does not exist or access is denied.
    pub async fn subscriptions(&self, topic_arn: Option<&str>) -> Result<Vec<SubscriptionInfo>, OpFailure> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = match topic_arn {
                Some(arn) => {
                    let call = Call::topic("sns:ListSubscriptionsByTopic", arn);
                    let out = self
                        .clients
                        .sns
                        .list_subscriptions_by_topic()
                        .topic_arn(arn)
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(|e| from_sdk(&e, call))?;
                    (out.subscriptions().to_vec(), out.next_token().map(str::to_owned))
                }
                None => {
                    let call = Call::topic("sns:ListSubscriptions", "*");
                    let out = self
                        .clients
                        .sns
                        .list_subscriptions()
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(|e| from_sdk(&e, call))?;
                    (out.subscriptions().to_vec(), out.next_token().map(str::to_owned))
                }
            };
            found.extend(page.iter().map(|s| SubscriptionInfo {
                arn: s.subscription_arn().unwrap_or_default().to_owned(),
                topic_arn: s.topic_arn().unwrap_or_default().to_owned(),
                protocol: s.protocol().unwrap_or_default().to_owned(),
                endpoint: s.endpoint().unwrap_or_default().to_owned(),
            }));
            token = next;
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// One attribute of the queue at `url`, if it has it.
    async fn queue_attribute(&self, url: &str, name: QueueAttributeName) -> Result<Option<String>, OpFailure> {
        Ok(self.queue_attributes(url, std::slice::from_ref(&name)).await?.remove(&name))
    }

    /// The attributes `names` of the queue at `url` (one `sqs:GetQueueAttributes`);
    /// those it does not have are absent.
    async fn queue_attributes(
        &self,
        url: &str,
        names: &[QueueAttributeName],
    ) -> Result<std::collections::HashMap<QueueAttributeName, String>, OpFailure> {
        let call = Call::queue("sqs:GetQueueAttributes", url);
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| from_sdk(&e, call))?;
        Ok(out.attributes.unwrap_or_default())
    }

    /// Deletes the queue at `url`; a queue that does not exist is not an error.
    ///
    /// # Errors
    /// A [`OpFailure`] when SQS refuses (access denied) or fails the call.
    pub async fn delete_queue(&self, url: &str) -> Result<(), OpFailure> {
        match self.clients.sqs.delete_queue().queue_url(url).send().await {
            Ok(_) => Ok(()),
            Err(e) if classify(e.code(), None, "") == FailureKind::NotFound => Ok(()),
            Err(e) => Err(from_sdk(&e, Call::queue("sqs:DeleteQueue", url))),
        }
    }

    /// The URLs of the queues whose names start with `prefix` (every page of
    /// `sqs:ListQueues`).
    ///
    /// # Errors
    /// A [`OpFailure`] when SQS refuses (access denied) or fails the call.
    pub async fn list_queues(&self, prefix: &str) -> Result<Vec<String>, OpFailure> {
        let mut urls = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .clients
                .sqs
                .list_queues()
                .queue_name_prefix(prefix)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(&e, Call::queue("sqs:ListQueues", prefix)))?;
            urls.extend(out.queue_urls().iter().cloned());
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(urls);
            }
        }
    }

    /// Adds the tag `key` = `value` to the queue at `url`.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn tag_queue(&self, url: &str, key: &str, value: &str) -> Result<(), OpFailure> {
        self.clients
            .sqs
            .tag_queue()
            .queue_url(url)
            .tags(key, value)
            .send()
            .await
            .map_err(|e| from_sdk(&e, Call::queue("sqs:TagQueue", url)))?;
        Ok(())
    }

    /// The value of the tag `key` of the queue at `url`, if it has it.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn queue_tag(&self, url: &str, key: &str) -> Result<Option<String>, OpFailure> {
        let out = self
            .clients
            .sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| from_sdk(&e, Call::queue("sqs:ListQueueTags", url)))?;
        Ok(out.tags().and_then(|t| t.get(key)).cloned())
    }

    /// When the queue at `url` was created, in seconds since the Unix epoch (its
    /// `CreatedTimestamp` attribute).
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the queue does not exist or access is denied.
    pub async fn queue_created(&self, url: &str) -> Result<Option<u64>, OpFailure> {
        let created = self.queue_attribute(url, QueueAttributeName::CreatedTimestamp).await?;
        Ok(created.and_then(|t| t.trim().parse().ok()))
    }

    /// The ARN of the topic named `name`, or `None` when there is none (every page
    /// of `sns:ListTopics`).
    ///
    /// # Errors
    /// A [`OpFailure`] when SNS refuses (access denied) or fails the call.
    pub async fn find_topic(&self, name: &str) -> Result<Option<String>, OpFailure> {
        let mut token = None;
        loop {
            let out = self
                .clients
                .sns
                .list_topics()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(&e, Call::topic("sns:ListTopics", name)))?;
            let found =
                out.topics().iter().filter_map(|t| t.topic_arn()).find(|arn| arn.rsplit(':').next() == Some(name));
            if let Some(arn) = found {
                return Ok(Some(arn.to_owned()));
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(None);
            }
        }
    }

    /// Creates the topic `name` (a FIFO topic when it ends in `.fifo`), or returns the
    /// existing one. Returns its ARN.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when SNS refuses (access denied, invalid name, an
    /// existing topic with other attributes); a retryable one for throttling, 5xx and
    /// network failures.
    pub async fn create_topic(&self, name: &str) -> Result<String, OpFailure> {
        let call = Call::topic("sns:CreateTopic", name);
        let mut create = self.clients.sns.create_topic().name(name);
        if name.ends_with(".fifo") {
            create = create.attributes("FifoTopic", "true");
        }
        let out = create.send().await.map_err(|e| from_sdk(&e, call))?;
        out.topic_arn()
            .map(str::to_owned)
            .ok_or_else(|| OpFailure::new(FailureKind::Other, format!("no ARN returned for topic {name}")))
    }

    /// Deletes the topic `arn` (and its subscriptions); a topic that does not exist is
    /// not an error.
    ///
    /// # Errors
    /// A [`OpFailure`] when SNS refuses (access denied) or fails the call.
    pub async fn delete_topic(&self, arn: &str) -> Result<(), OpFailure> {
        match self.clients.sns.delete_topic().topic_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if classify(e.code(), None, "") == FailureKind::NotFound => Ok(()),
            Err(e) => Err(from_sdk(&e, Call::topic("sns:DeleteTopic", arn))),
        }
    }

    /// Subscribes the queue (`queue_arn`, `queue_url`) to the topic `topic_arn`, with
    /// raw delivery or the SNS envelope, and first adds to the queue's policy a
    /// statement that lets SNS send from that topic (keeping the policy's other
    /// statements). Returns the subscription ARN; subscribing again returns the same.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the topic or queue does not exist, access is
    /// denied, the queue's existing policy is not JSON, or the subscription exists
    /// with the other delivery mode; a retryable one for throttling, 5xx and network
    /// failures.
    pub async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_arn: &str,
        queue_url: &str,
        raw_delivery: bool,
    ) -> Result<String, OpFailure> {
        self.allow_topic(topic_arn, queue_arn, queue_url).await?;
        let call = Call::topic("sns:Subscribe", topic_arn);
        let out = self
            .clients
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", if raw_delivery { "true" } else { "false" })
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| from_sdk(&e, call))?;
        out.subscription_arn().map(str::to_owned).ok_or_else(|| {
            OpFailure::new(FailureKind::Other, format!("no subscription ARN returned for {queue_arn} on {topic_arn}"))
        })
    }

    /// Adds the statement letting `topic_arn` send to the queue, unless it is there.
    async fn allow_topic(&self, topic_arn: &str, queue_arn: &str, queue_url: &str) -> Result<(), OpFailure> {
        let existing = self.queue_attribute(queue_url, QueueAttributeName::Policy).await?;
        let Some(policy) = merged_policy(existing.as_deref(), topic_arn, queue_arn).map_err(|detail| {
            OpFailure::new(FailureKind::Invalid, format!("queue {queue_url}: {detail}: fix or remove the queue policy"))
        })?
        else {
            return Ok(());
        };
        self.clients
            .sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(QueueAttributeName::Policy, policy)
            .send()
            .await
            .map_err(|e| from_sdk(&e, Call::queue("sqs:SetQueueAttributes", queue_url)))?;
        Ok(())
    }
}

/// The settable attributes of a queue (everything but `FifoQueue`).
fn settings(spec: &QueueSpec) -> std::collections::HashMap<QueueAttributeName, String> {
    let mut attributes = std::collections::HashMap::new();
    if let Some(secs) = spec.visibility_timeout_secs {
        attributes.insert(QueueAttributeName::VisibilityTimeout, secs.to_string());
    }
    if let Some((arn, max_receive_count)) = &spec.dead_letter {
        let redrive = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count.to_string() });
        attributes.insert(QueueAttributeName::RedrivePolicy, redrive.to_string());
    }
    attributes
}

/// The queue policy with a statement allowing `topic_arn` to `sqs:SendMessage` to
/// `queue_arn`, or `None` when `existing` already has it.
///
/// # Errors
/// A description when `existing` is not a JSON policy object.
fn merged_policy(existing: Option<&str>, topic_arn: &str, queue_arn: &str) -> Result<Option<String>, String> {
    // Statement ids are alphanumeric; one per topic, so subscribing again is a no-op.
    let sid: String =
        format!("asyncmcpSns{}", topic_arn.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    let statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } },
    });
    let mut policy = match existing.filter(|p| !p.trim().is_empty()) {
        None => json!({ "Version": "2012-10-17", "Statement": [] }),
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| format!("its policy is not JSON ({e})"))?,
    };
    let Some(object) = policy.as_object_mut() else {
        return Err("its policy is not a JSON object".to_owned());
    };
    let statements = object.entry("Statement").or_insert_with(|| Value::Array(Vec::new()));
    if !statements.is_array() {
        // A single statement may be written as an object.
        *statements = Value::Array(vec![statements.take()]);
    }
    let Some(list) = statements.as_array_mut() else {
        return Err("its policy's Statement is not a list".to_owned());
    };
    if list.iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(sid.as_str())) {
        return Ok(None);
    }
    list.push(statement);
    Ok(Some(policy.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:requests";
    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:requests";

    #[test]
    fn policy_is_created_then_kept() {
        let first = merged_policy(None, TOPIC, QUEUE).expect("valid").expect("new statement");
        let parsed: Value = serde_json::from_str(&first).expect("JSON");
        assert_eq!(parsed["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"], TOPIC);
        assert_eq!(parsed["Statement"][0]["Resource"], QUEUE);
        assert_eq!(merged_policy(Some(&first), TOPIC, QUEUE), Ok(None));
    }

    #[test]
    fn policy_keeps_other_statements() {
        let other = r#"{"Version":"2012-10-17","Statement":{"Sid":"Other","Effect":"Deny"}}"#;
        let merged = merged_policy(Some(other), TOPIC, QUEUE).expect("valid").expect("new statement");
        let parsed: Value = serde_json::from_str(&merged).expect("JSON");
        assert_eq!(parsed["Statement"].as_array().map(Vec::len), Some(2));
        assert_eq!(parsed["Statement"][0]["Sid"], "Other");
        assert!(merged_policy(Some("not json"), TOPIC, QUEUE).is_err());
    }

    #[test]
    fn settings_carry_visibility_and_redrive() {
        let spec = QueueSpec { fifo: false, visibility_timeout_secs: Some(45), dead_letter: Some((QUEUE.into(), 5)) };
        let s = settings(&spec);
        assert_eq!(s[&QueueAttributeName::VisibilityTimeout], "45");
        let redrive: Value = serde_json::from_str(&s[&QueueAttributeName::RedrivePolicy]).expect("JSON");
        assert_eq!(redrive["deadLetterTargetArn"], QUEUE);
        assert_eq!(redrive["maxReceiveCount"], "5");
    }
}
