//! What `queue_server` and `queue_client` share: arguments, AWS clients on
//! async-io, and the queues and topics (created idempotently by name).
#![allow(dead_code)]

use asyncmcp_async_std::proto::Address;
use asyncmcp_async_std::{AwsAdmin, AwsQueueClient, QueueSpec};

/// Command-line options of the pair.
pub(crate) struct Options {
    /// `sqs` or `sns-sqs`.
    pub(crate) sns: bool,
    /// A local endpoint (moto: `http://127.0.0.1:5000`); AWS from the environment otherwise.
    pub(crate) endpoint_url: Option<String>,
    pub(crate) region: String,
}

pub(crate) const USAGE: &str = "[--transport sqs|sns-sqs] [--endpoint-url URL] [--region REGION]";

impl Options {
    pub(crate) fn parse() -> Result<Self, String> {
        let mut options = Options { sns: false, endpoint_url: None, region: "us-east-1".into() };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value; usage: {USAGE}"));
            match arg.as_str() {
                "--transport" => match value()?.as_str() {
                    "sqs" => options.sns = false,
                    "sns-sqs" => options.sns = true,
                    other => return Err(format!("unknown transport {other}: sqs or sns-sqs")),
                },
                "--endpoint-url" => options.endpoint_url = Some(value()?),
                "--region" => options.region = value()?,
                other => return Err(format!("unknown argument {other}; usage: {USAGE}")),
            }
        }
        Ok(options)
    }

    /// The SDK clients, on async-io: test credentials for a local endpoint,
    /// `AWS_*` variables for AWS.
    pub(crate) fn clients(&self) -> Result<(AwsQueueClient, AwsAdmin), String> {
        let config = match &self.endpoint_url {
            Some(url) => asyncmcp_async_std::local_config(url, &self.region).build(),
            None => asyncmcp_async_std::sdk_config_from_env().map_err(|e| e.to_string())?,
        };
        Ok((asyncmcp_async_std::aws_queue_client(&config), asyncmcp_async_std::aws_admin(&config)))
    }
}

/// The request queue URL, where clients send, where the server replies, and the
/// reply queue URL.
pub(crate) struct Wiring {
    pub(crate) requests: String,
    pub(crate) server_address: Address,
    pub(crate) client_address: Address,
    pub(crate) replies: String,
}

/// Creates (or finds) the demo's queues, and for sns-sqs its topics and subscriptions.
pub(crate) async fn wiring(admin: &AwsAdmin, sns: bool) -> Result<Wiring, String> {
    let spec = QueueSpec::default();
    let requests = admin.create_queue("asyncmcp-demo-requests", &spec).await.map_err(|e| e.to_string())?;
    let replies = admin.create_queue("asyncmcp-demo-replies", &spec).await.map_err(|e| e.to_string())?;
    if !sns {
        return Ok(Wiring {
            server_address: Address::Queue(requests.url.clone()),
            client_address: Address::Queue(replies.url.clone()),
            requests: requests.url,
            replies: replies.url,
        });
    }
    let server_topic = admin.create_topic("asyncmcp-demo-server").await.map_err(|e| e.to_string())?;
    let client_topic = admin.create_topic("asyncmcp-demo-client").await.map_err(|e| e.to_string())?;
    admin.subscribe_queue(&server_topic, &requests.arn, &requests.url, false).await.map_err(|e| e.to_string())?;
    admin.subscribe_queue(&client_topic, &replies.arn, &replies.url, false).await.map_err(|e| e.to_string())?;
    Ok(Wiring {
        server_address: Address::Topic(server_topic),
        client_address: Address::Topic(client_topic),
        requests: requests.url,
        replies: replies.url,
    })
}
