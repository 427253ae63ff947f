//! Legacy-era session ids.

use std::fmt;

use crate::error::DecodeError;

/// A legacy-era session id: 32 lowercase hex characters (128 bits), minted by the
/// server from its seeded random source.
///
/// Held inline, as the 128 bits and their text: no heap allocation per copy, and
/// comparing two ids (the server's session, in-flight and cache maps are keyed by
/// them) compares two integers. Fixed-width lowercase hex sorts as its number, so the
/// order is the text's order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId {
    bits: u128,
    text: [u8; 32],
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionId").field(&self.as_str()).finish()
    }
}

impl SessionId {
    /// Validates `text`.
    ///
    /// # Errors
    /// [`DecodeError::BadAttribute`] unless `text` is 32 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        let lower_hex = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match u128::from_str_radix(text, 16) {
            Ok(bits) if lower_hex => Ok(Self::from_bits(bits)),
            _ => Err(DecodeError::BadAttribute {
                name: crate::attributes::names::SESSION_ID.to_owned(),
                detail: format!("{} is not 32 lowercase hex characters", crate::peer_text::clip_debug(&text)),
            }),
        }
    }

    /// From 128 random bits.
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn from_bits(bits: u128) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'0'; 32];
        for (i, c) in text.iter_mut().enumerate() {
            let nibble = (bits >> (4 * (31 - i))) & 0xf;
            *c = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        }
        Self { bits, text }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always 32 ASCII hex digits: never the empty fallback.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        assert!(SessionId::parse("+123456789abcdef00000000000000ff").is_err());
        assert_eq!(SessionId::from_bits(u128::MAX).as_str(), "ffffffffffffffffffffffffffffffff");
        assert_eq!(format!("{:?}", SessionId::from_bits(1)), "SessionId(\"00000000000000000000000000000001\")");
    }

    #[test]
    fn order_is_the_order_of_the_text() {
        let ids = [0u128, 1, 0xf, 0x10, 0xff << 120, u128::MAX - 1, u128::MAX];
        for a in ids {
            for b in ids {
                let (a, b) = (SessionId::from_bits(a), SessionId::from_bits(b));
                assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()), "{a} {b}");
            }
        }
    }
}
