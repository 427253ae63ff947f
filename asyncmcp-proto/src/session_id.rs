//! Legacy-era session ids.

use std::fmt;

use crate::error::DecodeError;

/// A legacy-era session id: 32 lowercase hex characters (128 bits), minted by the
/// server from its seeded random source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Validates `text`.
    ///
    /// # Errors
    /// [`DecodeError::BadAttribute`] unless `text` is 32 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(text.to_owned()))
        } else {
            Err(DecodeError::BadAttribute {
                name: crate::attributes::names::SESSION_ID.to_owned(),
                detail: format!("{text:?} is not 32 lowercase hex characters"),
            })
        }
    }

    /// From 128 random bits.
    pub(crate) fn from_bits(bits: u128) -> Self {
        Self(format!("{bits:032x}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
