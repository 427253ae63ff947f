//! What SQS and SNS refuse, checked before anything is stored.

use crate::attributes::{Attributes, MAX_SQS_ATTRIBUTES};
use crate::error::{FailureKind, OpFailure};

/// SNS refuses a publish larger than this (body plus attributes).
pub(crate) const MAX_PUBLISH_BYTES: usize = 262_144;

/// SQS refuses a visibility timeout longer than 12 hours.
pub(crate) const MAX_VISIBILITY_SECS: u32 = 43_200;

/// Size as SQS and SNS count it: the body plus, per attribute, its name, data type
/// and value.
pub(crate) fn message_size(body: &[u8], attributes: &Attributes) -> usize {
    attributes
        .iter()
        .map(|(name, v)| name.len() + v.data_type.len() + v.value.len())
        .fold(body.len(), usize::saturating_add)
}

/// The checks SendMessage and Publish share: a non-empty body, at most 10 attributes,
/// each with a name, a known data type and a value, and the size limit.
pub(crate) fn check_message(
    body: &[u8],
    attributes: &Attributes,
    limit: usize,
    destination: &str,
) -> Result<(), OpFailure> {
    if body.is_empty() {
        return Err(OpFailure::new(
            FailureKind::Invalid,
            format!(
                "InvalidParameterValue: empty message body for {destination}; SQS and SNS need at least one character"
            ),
        ));
    }
    if attributes.len() > MAX_SQS_ATTRIBUTES {
        return Err(OpFailure::new(
            FailureKind::Invalid,
            format!(
                "InvalidParameterValue: {} message attributes for {destination}; at most {MAX_SQS_ATTRIBUTES} are allowed",
                attributes.len()
            ),
        ));
    }
    for (name, value) in attributes {
        let base_type = value.data_type.split('.').next().unwrap_or_default();
        if name.is_empty() || value.value.is_empty() || !matches!(base_type, "String" | "Number" | "Binary") {
            return Err(OpFailure::new(
                FailureKind::Invalid,
                format!(
                    "InvalidParameterValue: message attribute {name:?} for {destination} needs a name, \
                 a data type of String, Number or Binary (got {:?}) and a non-empty value",
                    value.data_type
                ),
            ));
        }
    }
    let size = message_size(body, attributes);
    if size > limit {
        return Err(OpFailure::new(
            FailureKind::TooLarge,
            format!(
                "InvalidParameterValue: message of {size} bytes (body and attributes) exceeds the limit of \
             {limit} bytes of {destination}"
            ),
        ));
    }
    Ok(())
}

/// SQS accepts only UTF-8 text of XML-legal characters in a body.
pub(crate) fn check_body_text(body: &[u8], destination: &str) -> Result<(), OpFailure> {
    let text = std::str::from_utf8(body).map_err(|e| {
        OpFailure::new(
            FailureKind::Invalid,
            format!(
                "InvalidMessageContents: message body for {destination} is not UTF-8 (valid up to byte {})",
                e.valid_up_to()
            ),
        )
    })?;
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(OpFailure::new(
            FailureKind::Invalid,
            format!(
                "InvalidMessageContents: message body for {destination} holds U+{:04X}, which SQS does not allow",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
