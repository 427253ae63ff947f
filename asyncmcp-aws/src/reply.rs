//! [`ReplyQueue`]: a private reply queue for one client process, created with a
//! unique name and deleted when the client is done.

use asyncmcp_proto::{Address, OpFailure};

use crate::admin::{AwsAdmin, QueueSpec};

/// The tag every [`ReplyQueue`] carries: its value is the queue's creation time in
/// seconds since the Unix epoch. `asyncmcp infra gc` deletes the queues that carry
/// it and are older than a threshold (the reply queues of clients that died without
/// [`ReplyQueue::shutdown`]); queues without it are never touched.
pub const REPLY_QUEUE_TAG: &str = "asyncmcp:reply-queue";

/// How replies reach a [`ReplyQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplyVia {
    /// Servers send replies to the queue itself (the `sqs` transport).
    #[default]
    Queue,
    /// Servers publish replies to a private topic subscribed to the queue (the
    /// `sns-sqs` transport, envelope delivery).
    Topic,
}

/// A private reply queue (and, with [`ReplyVia::Topic`], a topic feeding it) that
/// exists for one client process.
///
/// [`create`](Self::create) names it `{prefix}-{16 random hex digits}` (with `.fifo`
/// for a FIFO server), so restarts and second copies never share one, and tags it
/// [`REPLY_QUEUE_TAG`] so that `asyncmcp infra gc` can find it if the process dies
/// before deleting it (a topic, if any, has the queue's name).
/// [`shutdown`](Self::shutdown) deletes what was created; dropping it without
/// shutdown deletes it best effort: with the `rt-tokio` feature and inside a tokio
/// runtime, on a spawned task; otherwise it is left and a warning names it.
///
/// ```no_run
/// # async fn example(admin: asyncmcp_aws::AwsAdmin) -> Result<(), asyncmcp_aws::OpFailure> {
/// use asyncmcp_aws::{ReplyQueue, ReplyVia};
///
/// let replies = ReplyQueue::create(&admin, "my-client", ReplyVia::Queue, false).await?;
/// // ClientConfig::new(server, replies.reply_to(), replies.queue_url(), ..)
/// replies.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ReplyQueue {
    admin: AwsAdmin,
    queue_url: String,
    topic_arn: Option<String>,
    /// Set once `shutdown` took the resources over: nothing is left for `drop`.
    done: bool,
}

impl ReplyQueue {
    /// Creates the queue (30 s visibility timeout, FIFO when `fifo`) and, for
    /// [`ReplyVia::Topic`], a topic of the same name subscribed to it.
    ///
    /// # Errors
    /// The [`OpFailure`] of the first call that failed (access denied, throttled...);
    /// whatever was created before it is deleted again.
    pub async fn create(admin: &AwsAdmin, prefix: &str, via: ReplyVia, fifo: bool) -> Result<Self, OpFailure> {
        let name = format!("{}{}", asyncmcp_driver::unique_client_id(prefix), if fifo { ".fifo" } else { "" });
        let spec = QueueSpec { fifo, visibility_timeout_secs: Some(30), dead_letter: None };
        let queue = admin.create_queue(&name, &spec).await?;
        let mut reply = Self { admin: admin.clone(), queue_url: queue.url.clone(), topic_arn: None, done: false };
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
        if let Err(e) = admin.tag_queue(&queue.url, REPLY_QUEUE_TAG, &created).await {
            // The queue works untagged; only the clean-up after a crash is lost.
            tracing::warn!(queue = %queue.url, "could not tag the private reply queue ({}): `asyncmcp infra gc` will not find it", e.detail);
        }
        if via == ReplyVia::Topic {
            let made = async {
                let arn = admin.create_topic(&name).await?;
                reply.topic_arn = Some(arn.clone());
                admin.subscribe_queue(&arn, &queue.arn, &queue.url, false).await
            }
            .await;
            if let Err(e) = made {
                // Best effort: the creation failure is the error worth reporting.
                let _ = reply.delete().await;
                return Err(e);
            }
        }
        tracing::debug!(queue = %reply.queue_url, topic = ?reply.topic_arn, "created a private reply queue");
        Ok(reply)
    }

    /// The queue to receive replies on.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The private topic feeding the queue ([`ReplyVia::Topic`]).
    pub fn topic_arn(&self) -> Option<&str> {
        self.topic_arn.as_deref()
    }

    /// Where servers send replies: the topic when there is one, otherwise the queue.
    pub fn reply_to(&self) -> Address {
        match &self.topic_arn {
            Some(arn) => Address::Topic(arn.clone()),
            None => Address::Queue(self.queue_url.clone()),
        }
    }

    /// Deletes the topic (if any) and the queue.
    ///
    /// # Errors
    /// The first [`OpFailure`] met; the queue is still tried when the topic fails.
    pub async fn shutdown(mut self) -> Result<(), OpFailure> {
        self.done = true;
        self.delete().await
    }

    async fn delete(&self) -> Result<(), OpFailure> {
        delete(&self.admin, &self.queue_url, self.topic_arn.as_deref()).await
    }
}

async fn delete(admin: &AwsAdmin, queue_url: &str, topic_arn: Option<&str>) -> Result<(), OpFailure> {
    let topic = match topic_arn {
        Some(arn) => admin.delete_topic(arn).await,
        None => Ok(()),
    };
    let queue = admin.delete_queue(queue_url).await;
    tracing::debug!(queue = %queue_url, ok = topic.is_ok() && queue.is_ok(), "deleted the private reply queue");
    topic.and(queue)
}

impl Drop for ReplyQueue {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        #[cfg(feature = "rt-tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (admin, queue_url, topic_arn) = (self.admin.clone(), self.queue_url.clone(), self.topic_arn.take());
            drop(runtime.spawn(async move {
                if let Err(e) = delete(&admin, &queue_url, topic_arn.as_deref()).await {
                    tracing::warn!("could not delete the private reply queue {queue_url}: {}", e.detail);
                }
            }));
            return;
        }
        tracing::warn!(
            "private reply queue {} (topic {:?}) dropped without ReplyQueue::shutdown and left in place: delete it by hand",
            self.queue_url,
            self.topic_arn
        );
    }
}
