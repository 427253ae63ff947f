//! The `AsyncMcpExt` attribute: asyncmcp's own extensions, packed into one attribute
//! so they fit SQS's budget of 10 attributes per message.
//!
//! The value is `;`-separated `key=value` pairs, written in the order `seq`, `frag`,
//! `caps`, `max`, `reasm`:
//! - `seq=<u64>`: per-session sequence number.
//! - `frag=<group>/<index>/<count>`: this body is fragment `index` (0-based) of
//!   `count` (1..=10 000) of the message identified by `group` (1 to 64 characters of
//!   `[0-9a-zA-Z_-]`).
//! - `caps=<cap>,<cap>...`: capabilities of the sender; `frag` means it takes fragments.
//! - `max=<bytes>`: the largest message the sender's reply address accepts (its
//!   queue's, and with SNS its topic's, `MaximumMessageSize`), as decimal digits. A
//!   number outside 1 024..=1 048 576 is clamped into that range.
//! - `reasm=<bytes>`: the most bytes of one peer's fragments the sender holds for
//!   reassembly (its cap; a larger fragmented message would be rejected), as decimal
//!   digits (a number too large for the platform saturates).
//!
//! Unknown keys and unknown capabilities are ignored, so later versions can add them.

use super::size::SQS_MAX_BYTES;
use crate::DecodeError;
use crate::attributes::names;
use crate::peer_text::{clip_debug, clip_peer_text};

/// Largest number of fragments one message may be split into.
pub const MAX_FRAGMENTS: u32 = 10_000;

/// The smallest message budget anyone may set or advertise: 1 KiB (SQS's own
/// minimum `MaximumMessageSize`).
pub const MIN_MESSAGE_BYTES: usize = 1_024;

/// Longest fragment group id.
pub(crate) const MAX_GROUP_LEN: usize = 64;

/// The parsed `AsyncMcpExt` attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ext {
    /// Per-session sequence number.
    pub seq: Option<u64>,
    /// Fragment header.
    pub fragment: Option<FragmentHeader>,
    /// The sender takes fragments.
    pub takes_fragments: bool,
    /// The largest message the sender's reply address accepts (`max=`), in
    /// [`MIN_MESSAGE_BYTES`]`..=`[`SQS_MAX_BYTES`].
    pub max_message_bytes: Option<usize>,
    /// The most bytes of one peer's fragments the sender reassembles (`reasm=`):
    /// payloads plus 64 bytes and the group id per fragment.
    pub reassembles: Option<usize>,
}

/// Which fragment of which message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FragmentHeader {
    /// Identifies the fragmented message: 1 to 64 characters of `[0-9a-zA-Z_-]`
    /// (asyncmcp uses 32 hex characters).
    pub group: String,
    /// 0-based index, below `count`.
    pub index: u32,
    /// How many fragments: 1 to 10 000.
    pub count: u32,
}

impl Ext {
    /// Parses the value of an `AsyncMcpExt` attribute.
    ///
    /// ```
    /// use asyncmcp_proto::codec::Ext;
    /// let ext = Ext::parse("seq=7;frag=ab12/0/3;caps=frag,future;later=1").unwrap();
    /// assert_eq!(ext.seq, Some(7));
    /// assert_eq!(ext.fragment.as_ref().map(|f| (f.index, f.count)), Some((0, 3)));
    /// assert!(ext.takes_fragments);
    /// assert_eq!(ext.to_attribute().as_deref(), Some("seq=7;frag=ab12/0/3;caps=frag"));
    /// ```
    ///
    /// A `max` of any number of digits is clamped into
    /// [`MIN_MESSAGE_BYTES`]`..=`[`SQS_MAX_BYTES`]:
    ///
    /// ```
    /// use asyncmcp_proto::codec::Ext;
    /// assert_eq!(Ext::parse("max=65536").unwrap().max_message_bytes, Some(65_536));
    /// assert_eq!(Ext::parse("max=99999999999999999999999").unwrap().max_message_bytes, Some(1_048_576));
    /// assert_eq!(Ext::parse("max=0").unwrap().max_message_bytes, Some(1_024));
    /// assert!(Ext::parse("max=-1").is_err());
    /// ```
    ///
    /// # Errors
    /// [`DecodeError::BadAttribute`] naming `AsyncMcpExt` when a known key (`seq`,
    /// `frag`, `caps`, `max`, `reasm`) appears twice, lacks a value, or has a malformed value.
    /// Unknown keys and capabilities are ignored.
    pub fn parse(text: &str) -> Result<Ext, DecodeError> {
        let mut ext = Ext::default();
        let (mut seen_seq, mut seen_frag, mut seen_caps, mut seen_max, mut seen_reasm) =
            (false, false, false, false, false);
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            let seen = match key {
                "seq" => &mut seen_seq,
                "frag" => &mut seen_frag,
                "caps" => &mut seen_caps,
                "max" => &mut seen_max,
                "reasm" => &mut seen_reasm,
                _ => continue,
            };
            if std::mem::replace(seen, true) {
                return Err(bad(format!("key {} appears twice", clip_peer_text(key))));
            }
            let value = value.ok_or_else(|| bad(format!("key {} has no value", clip_peer_text(key))))?;
            match key {
                "seq" => {
                    ext.seq =
                        Some(parse_u64(value).ok_or_else(|| bad(format!("seq={} is not a u64", clip_debug(&value))))?)
                }
                "frag" => ext.fragment = Some(FragmentHeader::parse(value)?),
                "max" => {
                    ext.max_message_bytes = Some(
                        parse_budget(value)
                            .ok_or_else(|| bad(format!("max={} is not a decimal number", clip_debug(&value))))?,
                    )
                }
                "reasm" => {
                    ext.reassembles = Some(
                        parse_saturating(value)
                            .ok_or_else(|| bad(format!("reasm={} is not a decimal number", clip_debug(&value))))?,
                    )
                }
                _ => ext.takes_fragments = value.split(',').any(|cap| cap == "frag"),
            }
        }
        Ok(ext)
    }

    /// The attribute value, or `None` when there is nothing to say.
    pub fn to_attribute(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut parts = Vec::with_capacity(5);
        if let Some(seq) = self.seq {
            parts.push(format!("seq={seq}"));
        }
        if let Some(f) = &self.fragment {
            parts.push(format!("frag={}/{}/{}", f.group, f.index, f.count));
        }
        if self.takes_fragments {
            parts.push("caps=frag".to_owned());
        }
        if let Some(max) = self.max_message_bytes {
            parts.push(format!("max={max}"));
        }
        if let Some(reasm) = self.reassembles {
            parts.push(format!("reasm={reasm}"));
        }
        Some(parts.join(";"))
    }

    /// True when no extension is set (the attribute is then not sent).
    pub fn is_empty(&self) -> bool {
        self.seq.is_none()
            && self.fragment.is_none()
            && !self.takes_fragments
            && self.max_message_bytes.is_none()
            && self.reassembles.is_none()
    }
}

impl FragmentHeader {
    /// Parses `<group>/<index>/<count>`.
    ///
    /// # Errors
    /// [`DecodeError::BadAttribute`] naming `AsyncMcpExt` when the group is not 1 to 64
    /// characters of `[0-9a-zA-Z_-]`, `count` is not in 1..=10 000, or `index >= count`.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        let mut parts = text.split('/');
        let (Some(group), Some(index), Some(count), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(format!("frag={} is not <group>/<index>/<count>", clip_debug(&text))));
        };
        if !is_valid_group(group) {
            return Err(bad(format!(
                "fragment group {} is not 1 to 64 characters of [0-9a-zA-Z_-]",
                clip_debug(&group)
            )));
        }
        let number = |s: &str| parse_u64(s).and_then(|n| u32::try_from(n).ok());
        let (Some(index), Some(count)) = (number(index), number(count)) else {
            return Err(bad(format!("frag={}: index and count must be decimal numbers", clip_debug(&text))));
        };
        if count == 0 || count > MAX_FRAGMENTS || index >= count {
            return Err(bad(format!(
                "frag={}: need index < count and 1 <= count <= {MAX_FRAGMENTS}",
                clip_debug(&text)
            )));
        }
        Ok(Self { group: group.to_owned(), index, count })
    }
}

/// Whether `group` can name a fragment group: 1 to 64 characters of `[0-9a-zA-Z_-]`.
pub(crate) fn is_valid_group(group: &str) -> bool {
    (1..=MAX_GROUP_LEN).contains(&group.len())
        && group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Decimal digits only (`u64::from_str` would also take a leading `+`).
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Decimal digits only, clamped into `MIN_MESSAGE_BYTES..=SQS_MAX_BYTES` (a number too
/// long for a `u64` is above the range, not an error).
fn parse_budget(text: &str) -> Option<usize> {
    parse_saturating(text).map(|n| n.clamp(MIN_MESSAGE_BYTES, SQS_MAX_BYTES))
}

/// Decimal digits only; a number too large for a `usize` saturates.
fn parse_saturating(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)))
}

fn bad(detail: String) -> DecodeError {
    DecodeError::BadAttribute { name: names::EXT.to_owned(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(group: &str, index: u32, count: u32) -> FragmentHeader {
        FragmentHeader { group: group.to_owned(), index, count }
    }

    #[test]
    fn empty_ext_says_nothing() {
        assert!(Ext::default().is_empty());
        assert_eq!(Ext::default().to_attribute(), None);
        assert_eq!(Ext::parse(""), Ok(Ext::default()));
        assert_eq!(Ext::parse(";;"), Ok(Ext::default()));
    }

    #[test]
    fn prints_in_fixed_key_order() {
        let ext = Ext {
            seq: Some(u64::MAX),
            fragment: Some(header("g-_9", 2, 3)),
            takes_fragments: true,
            max_message_bytes: None,
            reassembles: None,
        };
        assert_eq!(ext.to_attribute().as_deref(), Some("seq=18446744073709551615;frag=g-_9/2/3;caps=frag"));
        assert_eq!(Ext { takes_fragments: true, ..Ext::default() }.to_attribute().as_deref(), Some("caps=frag"));
    }

    #[test]
    fn round_trips() {
        let cases = [
            Ext {
                seq: Some(0),
                fragment: None,
                takes_fragments: false,
                max_message_bytes: Some(1_024),
                reassembles: Some(0),
            },
            Ext { seq: None, fragment: Some(header(&"a".repeat(64), 9_999, 10_000)), ..Ext::default() },
            Ext {
                seq: Some(42),
                fragment: Some(header("x", 0, 1)),
                takes_fragments: true,
                max_message_bytes: Some(1_048_576),
                reassembles: Some(usize::MAX),
            },
        ];
        for ext in cases {
            let text = ext.to_attribute().unwrap();
            assert_eq!(Ext::parse(&text), Ok(ext));
        }
    }

    #[test]
    fn accepts_any_key_order_and_ignores_unknowns() {
        let ext = Ext::parse("future=1;caps=zip,frag;flag;frag=g/1/2;seq=3;").unwrap();
        assert_eq!(
            ext,
            Ext { seq: Some(3), fragment: Some(header("g", 1, 2)), takes_fragments: true, ..Ext::default() }
        );
        assert!(!Ext::parse("caps=zip,fragments").unwrap().takes_fragments);
        assert!(!Ext::parse("caps=").unwrap().takes_fragments);
    }

    #[test]
    fn max_is_clamped_and_printed_last() {
        let cases = [
            ("max=0", 1_024),
            ("max=1023", 1_024),
            ("max=1024", 1_024),
            ("max=65536", 65_536),
            ("max=1048576", 1_048_576),
            ("max=1048577", 1_048_576),
            ("max=18446744073709551615", 1_048_576),
            ("max=18446744073709551616", 1_048_576),
            ("max=000000000000000000000000000000065536", 65_536),
        ];
        for (input, expected) in cases {
            assert_eq!(Ext::parse(input).unwrap().max_message_bytes, Some(expected), "{input}");
        }
        let long = format!("max={}", "9".repeat(10_000));
        assert_eq!(Ext::parse(&long).unwrap().max_message_bytes, Some(1_048_576));
        let ext = Ext {
            seq: Some(1),
            takes_fragments: true,
            max_message_bytes: Some(65_536),
            reassembles: Some(4_194_304),
            ..Ext::default()
        };
        assert_eq!(ext.to_attribute().as_deref(), Some("seq=1;caps=frag;max=65536;reasm=4194304"));
        assert_eq!(Ext::parse("reasm=99999999999999999999999").unwrap().reassembles, Some(usize::MAX));
        assert_eq!(Ext::parse("reasm=0").unwrap().reassembles, Some(0));
        assert!(!Ext { max_message_bytes: Some(2048), ..Ext::default() }.is_empty());
    }

    #[test]
    fn rejects_malformed_known_keys() {
        let bad_inputs = [
            "seq",
            "seq=",
            "seq=-1",
            "seq=+1",
            "seq=1x",
            "seq=18446744073709551616",
            "seq=1;seq=2",
            "frag",
            "frag=g/0",
            "frag=g/0/1/2",
            "frag=/0/1",
            "frag=g!/0/1",
            "frag=g/1/1",
            "frag=g/0/0",
            "frag=g/0/10001",
            "frag=g/x/1",
            "frag=g/0/4294967296",
            "caps",
            "caps=frag;caps=frag",
            "max",
            "max=",
            "max=-1",
            "max=+1",
            "max=1k",
            "max=1e6",
            "max= 1",
            "max=1;max=1",
            "reasm",
            "reasm=",
            "reasm=4M",
            "reasm=-1",
            "reasm=1;reasm=1",
        ];
        let long_group = format!("frag={}/0/1", "a".repeat(65));
        for input in bad_inputs.iter().copied().chain([long_group.as_str()]) {
            match Ext::parse(input) {
                Err(DecodeError::BadAttribute { name, .. }) => assert_eq!(name, "AsyncMcpExt", "{input}"),
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }
}
