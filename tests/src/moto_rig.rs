//! The driver on moto, generic over the runtime: queues (and topics) created through
//! the real SDK, an echo server and clients. The async-std moto tier and the runtime
//! benchmark (`examples/bench_runtimes.rs`) share it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_aws::{AwsAdmin, QueueSpec};
use asyncmcp_driver::{ClientEvents, ClientHandle, Runtime, ServerHandle};
use asyncmcp_proto::OpFailure;
use asyncmcp_proto::sim::echo_responder;
use asyncmcp_proto::{Address, AllowList, ClientConfig, Era, MessageKind, ServerConfig, ServerEvent};

use crate::adapter::{Seen, Transport, fast_driver};
use crate::moto::unique_name;

/// A request queue and a reply queue on moto, with topics in front for sns-sqs.
#[derive(Debug, Clone)]
pub struct MotoRig {
    /// The server's queue URL.
    pub requests: String,
    /// The client's queue URL.
    pub replies: String,
    /// Where clients send (the request queue, or the server topic).
    pub server_address: Address,
    /// Where the server replies (the reply queue, or the client topic).
    pub client_address: Address,
    /// The request queue's visibility timeout.
    pub visibility: Duration,
}

impl MotoRig {
    /// Creates uniquely named queues (and topics) with `visibility` as the request
    /// queue's visibility timeout.
    ///
    /// # Errors
    /// What the SDK reported.
    pub async fn create(admin: &AwsAdmin, transport: Transport, visibility: Duration) -> Result<Self, OpFailure> {
        let secs = u32::try_from(visibility.as_secs()).unwrap_or(u32::MAX);
        let spec = QueueSpec { visibility_timeout_secs: Some(secs), ..QueueSpec::default() };
        let requests = admin.create_queue(&unique_name("rig-requests"), &spec).await?;
        let replies = admin.create_queue(&unique_name("rig-replies"), &QueueSpec::default()).await?;
        let (server_address, client_address) = match transport {
            Transport::Sqs => (Address::Queue(requests.url.clone()), Address::Queue(replies.url.clone())),
            Transport::SnsSqs(raw) => {
                let server_topic = admin.create_topic(&unique_name("rig-server")).await?;
                let client_topic = admin.create_topic(&unique_name("rig-client")).await?;
                admin.subscribe_queue(&server_topic, &requests.arn, &requests.url, raw).await?;
                admin.subscribe_queue(&client_topic, &replies.arn, &replies.url, raw).await?;
                (Address::Topic(server_topic), Address::Topic(client_topic))
            }
        };
        Ok(Self { requests: requests.url, replies: replies.url, server_address, client_address, visibility })
    }

    /// A client of the modern era on `queue`.
    ///
    /// # Panics
    /// If the driver refuses the configuration.
    pub fn client<R: Runtime, Q: asyncmcp_driver::QueueClient>(
        &self,
        runtime: R,
        queue: Arc<Q>,
    ) -> (ClientHandle, ClientEvents) {
        self.client_with(runtime, queue, |_| {})
    }

    /// A client of the modern era on `queue`, its configuration adjusted by `configure`.
    ///
    /// # Panics
    /// If the driver refuses the configuration.
    pub fn client_with<R: Runtime, Q: asyncmcp_driver::QueueClient>(
        &self,
        runtime: R,
        queue: Arc<Q>,
        configure: impl FnOnce(&mut ClientConfig),
    ) -> (ClientHandle, ClientEvents) {
        let mut config =
            ClientConfig::new(self.server_address.clone(), self.client_address.clone(), self.replies.clone(), "moto");
        config.era = Era::Modern;
        configure(&mut config);
        asyncmcp_driver::spawn_client(config, runtime, queue, fast_driver()).expect("client configuration")
    }

    /// A server whose application answers like [`echo_responder`] after `delay`;
    /// returns its handle and what it saw.
    ///
    /// # Panics
    /// If the driver refuses the configuration.
    pub fn echo_server<R: Runtime + Clone, Q: asyncmcp_driver::QueueClient>(
        &self,
        runtime: R,
        queue: Arc<Q>,
        delay: Duration,
    ) -> (ServerHandle, Arc<Mutex<Seen>>) {
        self.echo_server_with(runtime, queue, delay, |_| {})
    }

    /// [`echo_server`](Self::echo_server) with its configuration adjusted by `configure`.
    ///
    /// # Panics
    /// If the driver refuses the configuration.
    pub fn echo_server_with<R: Runtime + Clone, Q: asyncmcp_driver::QueueClient>(
        &self,
        runtime: R,
        queue: Arc<Q>,
        delay: Duration,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> (ServerHandle, Arc<Mutex<Seen>>) {
        let mut config = ServerConfig::new(self.requests.clone(), AllowList::new().exact(self.client_address.as_str()));
        config.visibility_timeout = self.visibility;
        configure(&mut config);
        let (handle, mut events) =
            asyncmcp_driver::spawn_server(config, runtime.clone(), queue, fast_driver()).expect("server configuration");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (h, s, rt) = (handle.clone(), Arc::clone(&seen), runtime);
        rt.clone().spawn(Box::pin(async move {
            while let Some(event) = events.next().await {
                if let ServerEvent::Message { route, message } = &event
                    && message.kind() == MessageKind::Request
                    && let Some(answer) = echo_responder(route, message)
                {
                    let (h, rt2, route) = (h.clone(), rt.clone(), route.clone());
                    rt.spawn(Box::pin(async move {
                        if !delay.is_zero() {
                            rt2.sleep_until(rt2.now() + delay).await;
                        }
                        let _ = h.submit(route, answer).await;
                    }));
                }
                s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).events.push(event);
            }
        }));
        (handle, seen)
    }
}
