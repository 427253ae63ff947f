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
                detail: format!("{} is not 32 lowercase hex characters", crate::peer_text::clip_debug(&text)),
            })
        }
    }

    /// From 128 random bits.
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bits_round_trips_through_parse() {
        let id = SessionId::from_bits(0x0123_4567_89ab_cdef_0000_0000_0000_00ff);
        assert_eq!(id.as_str(), "0123456789abcdef00000000000000ff");
        assert_eq!(SessionId::parse(id.as_str()), Ok(id));
        assert_eq!(SessionId::from_bits(0).as_str().len(), 32);
        assert!(SessionId::parse("0123456789ABCDEF00000000000000ff").is_err());
    }
}
