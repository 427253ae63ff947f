//! Legacy-era `initialize`: where the reply address travels.

use crate::address::Address;
use crate::config::HandshakeFields;
use crate::jsonrpc::JsonRpcMessage;

/// `params` field Python asyncmcp 0.2.1 reads for an sqs reply queue.
pub const PARAMS_QUEUE: &str = "response_queue_url";
/// `params` field Python asyncmcp 0.2.1 reads for an sns-sqs reply topic.
pub const PARAMS_TOPIC: &str = "client_topic_arn";
/// `params._meta` field Python asyncmcp's main branch reads for a reply queue.
pub const META_QUEUE: &str = "responseQueueUrl";
/// `params._meta` field Python asyncmcp's main branch reads for a reply topic.
pub const META_TOPIC: &str = "clientTopicArn";

/// The method that opens a legacy session.
pub const INITIALIZE: &str = "initialize";

/// The notification a client sends to end its legacy session (asyncmcp extension;
/// Python asyncmcp ignores it).
pub const CLOSE_NOTIFICATION: &str = "notifications/asyncmcp/close";

/// Writes `reply_to` into an `initialize` request per `fields`.
pub(crate) fn inject_reply_address(
    message: &JsonRpcMessage,
    reply_to: &Address,
    fields: HandshakeFields,
) -> JsonRpcMessage {
    let mut value = message.to_value();
    let (params_key, meta_key) = match reply_to {
        Address::Topic(_) => (PARAMS_TOPIC, META_TOPIC),
        Address::Queue(_) => (PARAMS_QUEUE, META_QUEUE),
    };
    if let Some(obj) = value.as_object_mut() {
        let params = obj.entry("params").or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(params) = params.as_object_mut() {
            if fields.params_field {
                params.insert(params_key.into(), reply_to.as_str().into());
            }
            if fields.meta_field {
                let meta = params.entry("_meta").or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(meta_key.into(), reply_to.as_str().into());
                }
            }
        }
    }
    JsonRpcMessage::from_value(&value).unwrap_or_else(|_| message.clone())
}

/// Reads the reply address of an `initialize` request: the 0.2.1 params fields
/// first, then the `_meta` fields.
pub(crate) fn reply_address(message: &JsonRpcMessage) -> Option<Address> {
    #[derive(serde::Deserialize)]
    struct Init<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        response_queue_url: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        client_topic_arn: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "responseQueueUrl")]
        queue: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "clientTopicArn")]
        topic: Option<std::borrow::Cow<'a, str>>,
    }
    let init: Init<'_> = serde_json::from_slice(message.body()).ok()?;
    let params = init.params?;
    if let Some(q) = params.response_queue_url.filter(|s| !s.is_empty()) {
        return Some(Address::Queue(q.into_owned()));
    }
    if let Some(t) = params.client_topic_arn.filter(|s| !s.is_empty()) {
        return Some(Address::Topic(t.into_owned()));
    }
    let meta = params.meta?;
    if let Some(q) = meta.queue.filter(|s| !s.is_empty()) {
        return Some(Address::Queue(q.into_owned()));
    }
    meta.topic.filter(|s| !s.is_empty()).map(|t| Address::Topic(t.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_then_read_both_shapes() {
        let init = JsonRpcMessage::parse(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#,
        )
        .unwrap();
        let q = Address::Queue("http://h/1/q".into());
        let both = inject_reply_address(&init, &q, HandshakeFields::default());
        let v = both.to_value();
        assert_eq!(v["params"]["response_queue_url"], "http://h/1/q");
        assert_eq!(v["params"]["_meta"]["responseQueueUrl"], "http://h/1/q");
        assert_eq!(reply_address(&both), Some(q.clone()));
        let meta_only = inject_reply_address(&init, &q, HandshakeFields { params_field: false, meta_field: true });
        assert!(meta_only.to_value()["params"].get("response_queue_url").is_none());
        assert_eq!(reply_address(&meta_only), Some(q));
        let t = Address::Topic("arn:aws:sns:us-east-1:1:t".into());
        let topic = inject_reply_address(&init, &t, HandshakeFields::default());
        assert_eq!(topic.to_value()["params"]["client_topic_arn"], "arn:aws:sns:us-east-1:1:t");
        assert_eq!(reply_address(&topic), Some(t));
        assert_eq!(reply_address(&init), None);
    }
}
