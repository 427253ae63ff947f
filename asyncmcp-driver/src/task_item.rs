//! How big a stored task is: every store measures a record as the DynamoDB item
//! that holds it, so the in-memory store refuses exactly what DynamoDB would, and
//! a test on one sees what production sees.

use asyncmcp_proto::tasks::TaskRecord;

/// DynamoDB's item limit: 400 KB (409,600 bytes), attribute names and values
/// together. The default record limit of [`MemoryTaskStore`](crate::MemoryTaskStore)
/// and the limit of `asyncmcp_aws::DynamoTaskStore`.
pub const MAX_ITEM_BYTES: usize = 409_600;

/// The size of the item that stores `record` at `version`, as DynamoDB counts it:
/// the UTF-8 bytes of each attribute's name and string value, and for a number one
/// byte per two significant digits plus one. The item is the one
/// `asyncmcp_aws::DynamoTaskStore` writes: `origin`, `taskId`, `version`,
/// `taskStatus`, `expiresAtMs`, `expiresAt` and `record` (the record as JSON, which
/// holds the request and the result: nearly all of the size).
#[must_use]
pub fn task_item_bytes(record: &TaskRecord, version: u64) -> usize {
    let expires_ms = record.expires_ms();
    let strings = [
        ("origin", record.id.origin().len()),
        ("taskId", record.id.as_str().len()),
        ("taskStatus", record.status.as_str().len()),
        ("record", json_bytes(record)),
    ];
    let numbers = [("version", version), ("expiresAtMs", expires_ms), ("expiresAt", expires_ms.div_ceil(1000))];
    strings.iter().map(|(name, len)| name.len() + len).sum::<usize>()
        + numbers.iter().map(|(name, n)| name.len() + number_bytes(*n)).sum::<usize>()
}

/// The length of `record` as JSON, counted without building the text.
fn json_bytes(record: &TaskRecord) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing a record cannot fail (string keys, no I/O error from `Count`).
    let _ = serde_json::to_writer(&mut count, record);
    count.0
}

/// DynamoDB's size of a number: 1 byte per two significant digits (leading and
/// trailing zeros trimmed), plus 1.
fn number_bytes(n: u64) -> usize {
    let digits = n.to_string();
    let significant = digits.trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_their_significant_digits() {
        assert_eq!(number_bytes(0), 2);
        assert_eq!(number_bytes(7), 2);
        assert_eq!(number_bytes(12), 2);
        assert_eq!(number_bytes(123), 3);
        assert_eq!(number_bytes(1_764_560_000_000), 4);
    }
}
