use crate::attributes::Attributes;

/// Size budget (stub).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest encoded message, in bytes.
    pub max_bytes: usize,
    /// The message reaches its queue inside an SNS envelope.
    pub envelope: bool,
}

/// Encoded size (stub).
pub fn encoded_size(body: &[u8], _attributes: &Attributes, _envelope: bool) -> usize {
    body.len()
}

/// JSON-escaped length (stub).
pub fn json_escaped_len(s: &str) -> usize {
    s.len()
}
