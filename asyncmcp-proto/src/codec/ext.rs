/// The `AsyncMcpExt` attribute (stub).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ext {
    /// Per-session sequence number.
    pub seq: Option<u64>,
    /// Fragment header.
    pub fragment: Option<FragmentHeader>,
    /// The sender takes fragments.
    pub takes_fragments: bool,
}

/// Which fragment of which message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FragmentHeader {
    /// Identifies the fragmented message (32 hex characters).
    pub group: String,
    /// 0-based index.
    pub index: u32,
    /// How many fragments.
    pub count: u32,
}
