//! Task ids: `ORIGIN.SECRET`, where ORIGIN names the request the task came from (the
//! store's key, so a redelivered request finds its task) and SECRET is 128 random bits
//! (the bearer part: a task id is the only credential `tasks/get` needs).

use std::fmt;

use crate::rng::Rng;

/// The longest origin a task id takes, in bytes (DynamoDB keys take 2,048).
const MAX_ORIGIN_BYTES: usize = 512;
/// Hex digits of the secret part.
const SECRET_HEX: usize = 32;

/// A task id: `ORIGIN.SECRET`.
///
/// ORIGIN is what the server chose to identify the request across redeliveries (the
/// store's key: creating a task for a request that already has one finds it);
/// SECRET is 32 lowercase hex digits of randomness. A store looks a task up by its
/// origin and answers it only when the whole id matches, so knowing a request's
/// origin does not give its task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId {
    text: String,
    /// Where the secret starts (after the last `.`).
    split: usize,
}

/// Why a text is not a [`TaskId`], or an origin cannot make one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskIdError {
    /// The origin is empty, longer than 512 bytes, or holds a control character.
    #[error("a task origin must be 1 to 512 bytes of printable text")]
    BadOrigin,
    /// The text is not `ORIGIN.SECRET` with a 32-hex-digit secret.
    #[error("not a task id: expected ORIGIN.SECRET with 32 lowercase hex digits after the last dot")]
    Malformed,
}

impl TaskId {
    /// A task id for `origin` with the secret `secret` (16 random bytes: in production
    /// fresh from the operating system's secure source for every task, see
    /// [`TaskIds`]).
    ///
    /// # Errors
    /// [`TaskIdError::BadOrigin`] when `origin` is empty, longer than 512 bytes or
    /// holds a control character.
    pub fn new(origin: &str, secret: [u8; 16]) -> Result<Self, TaskIdError> {
        if origin.is_empty() || origin.len() > MAX_ORIGIN_BYTES || origin.chars().any(char::is_control) {
            return Err(TaskIdError::BadOrigin);
        }
        let text = format!("{origin}.{:032x}", u128::from_be_bytes(secret));
        Ok(Self { split: origin.len() + 1, text })
    }

    /// Parses a task id a peer sent.
    ///
    /// # Errors
    /// [`TaskIdError::Malformed`] when it is not `ORIGIN.SECRET` as [`new`](Self::new)
    /// makes them.
    pub fn parse(text: &str) -> Result<Self, TaskIdError> {
        let (origin, secret) = text.rsplit_once('.').ok_or(TaskIdError::Malformed)?;
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if secret.len() != SECRET_HEX || !secret.bytes().all(hex) {
            return Err(TaskIdError::Malformed);
        }
        if origin.is_empty() || origin.len() > MAX_ORIGIN_BYTES || origin.chars().any(char::is_control) {
            return Err(TaskIdError::Malformed);
        }
        Ok(Self { split: origin.len() + 1, text: text.to_owned() })
    }

    /// The whole id, as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The origin: the store's key for this task.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.text.get(..self.split.saturating_sub(1)).unwrap_or("")
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for TaskId {
    type Error = TaskIdError;
    fn try_from(text: String) -> Result<Self, TaskIdError> {
        Self::parse(&text)
    }
}

impl From<TaskId> for String {
    fn from(id: TaskId) -> String {
        id.text
    }
}

/// Task ids from a seeded generator: deterministic for simulations and tests.
///
/// The generator is not cryptographic, and a peer that sees a few of its ids can
/// predict the next ones. A server facing untrusted clients must draw each secret
/// fresh from the operating system ([`TaskId::new`] with 16 bytes of it;
/// `asyncmcp-driver` does).
#[derive(Debug, Clone)]
pub struct TaskIds {
    rng: Rng,
}

impl TaskIds {
    /// A generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: [u8; 32]) -> Self {
        Self { rng: Rng::from_seed(seed) }
    }

    /// The next id for `origin`. An origin [`TaskId::new`] refuses is replaced by
    /// `task-` and the secret, so the id is still unique (but a redelivery of that
    /// request will not find it).
    pub fn next_id(&mut self, origin: &str) -> TaskId {
        let secret = self.rng.next_u128().to_be_bytes();
        TaskId::new(origin, secret).unwrap_or_else(|_| {
            let hex = format!("{:032x}", u128::from_be_bytes(secret));
            TaskId { split: "task-".len() + hex.len() + 1, text: format!("task-{hex}.{hex}") }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_parses_back_and_keeps_its_origin() {
        let id = TaskIds::new([1; 32]).next_id("client-1/req.7");
        let back = TaskId::parse(id.as_str()).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.origin(), "client-1/req.7");
        assert_eq!(id.as_str().len(), "client-1/req.7".len() + 1 + 32);
    }

    #[test]
    fn garbage_is_refused() {
        for text in ["", "abc", ".0123456789abcdef0123456789abcdef", "x.0123", "x.0123456789ABCDEF0123456789abcdef"] {
            assert_eq!(TaskId::parse(text), Err(TaskIdError::Malformed), "{text:?}");
        }
        assert_eq!(TaskId::new("", [0; 16]), Err(TaskIdError::BadOrigin));
        assert_eq!(TaskId::new("a\nb", [0; 16]), Err(TaskIdError::BadOrigin));
    }

    #[test]
    fn a_bad_origin_still_gives_a_unique_id() {
        let mut ids = TaskIds::new([2; 32]);
        let a = ids.next_id("");
        let b = ids.next_id("");
        assert_ne!(a, b);
        assert_ne!(a.origin(), b.origin());
        assert_eq!(TaskId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn serde_goes_through_parse() {
        let id = TaskIds::new([3; 32]).next_id("m");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TaskId>("\"nope\"").is_err());
    }
}
