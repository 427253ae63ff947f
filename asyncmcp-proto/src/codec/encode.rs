use super::{Encoded, SizeLimits, WireMeta};
use crate::attributes::Attributes;
use crate::{ApiError, JsonRpcMessage};

/// Attributes for `meta` (stub).
pub fn encode_attributes(_meta: &WireMeta) -> Attributes {
    Attributes::new()
}

/// Encodes a message (stub).
///
/// # Errors
/// Never, for now.
pub fn encode(
    message: &JsonRpcMessage,
    meta: &WireMeta,
    _limits: &SizeLimits,
    _fragment_group: Option<&str>,
) -> Result<Vec<Encoded>, ApiError> {
    Ok(vec![Encoded { body: message.body().clone(), attributes: encode_attributes(meta) }])
}
