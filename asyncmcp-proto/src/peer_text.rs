//! Peer text in errors and log lines, kept short.

use std::borrow::Cow;

/// At most this many characters of text a peer sent are copied into an error
/// message, a [`RejectReason`](crate::RejectReason)'s display or a log line.
pub const PEER_TEXT_MAX_CHARS: usize = 200;

/// `text` as it may appear in an error or a log line: unchanged when it has at most
/// [`PEER_TEXT_MAX_CHARS`] characters, else its first `PEER_TEXT_MAX_CHARS`
/// characters, an ellipsis and how many bytes it had.
///
/// A peer controls ids, attribute values and addresses; copied whole, a 10 KB
/// session id becomes a 10 KB error in every log line that mentions it.
///
/// ```
/// use asyncmcp_proto::{PEER_TEXT_MAX_CHARS, clip_peer_text};
/// assert_eq!(clip_peer_text("short"), "short");
/// let long = "x".repeat(10_000);
/// let clipped = clip_peer_text(&long);
/// assert!(clipped.starts_with(&"x".repeat(PEER_TEXT_MAX_CHARS)));
/// assert!(clipped.ends_with("…(10000 bytes)"));
/// ```
pub fn clip_peer_text(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(PEER_TEXT_MAX_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…({} bytes)", text.get(..cut).unwrap_or_default(), text.len())),
    }
}

/// [`clip_peer_text`] of a value's `Debug` form (quoted and escaped, as errors show
/// peer strings).
pub(crate) fn clip_debug(value: &impl std::fmt::Debug) -> String {
    clip_peer_text(&format!("{value:?}")).into_owned()
}

/// [`clip_peer_text`] of a value's `Display` form.
pub(crate) fn clip_display(value: &impl std::fmt::Display) -> String {
    clip_peer_text(&value.to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_on_character_boundaries() {
        let exact = "é".repeat(PEER_TEXT_MAX_CHARS);
        assert_eq!(clip_peer_text(&exact), exact.as_str());
        let over = "é".repeat(PEER_TEXT_MAX_CHARS + 1);
        let clipped = clip_peer_text(&over);
        assert_eq!(clipped, format!("{exact}…({} bytes)", over.len()));
        assert_eq!(clip_debug(&"a".repeat(1000)), format!("\"{}…(1002 bytes)", "a".repeat(PEER_TEXT_MAX_CHARS - 1)));
    }
}
