use super::Decoded;
use crate::{DecodeError, InboundMessage};

/// Decodes one received message (stub: the codec issue replaces this).
///
/// # Errors
/// Always, for now.
pub fn decode(_msg: &InboundMessage) -> Result<Decoded, DecodeError> {
    Err(DecodeError::Json { detail: "codec not written yet".into() })
}
