//! The reply allow-list: entries are parsed addresses, matched part by part.

use std::fmt;

use super::Address;
use super::parse::{
    AddressError, Arn, QueueUrl, Scheme, arn_head, check_account, check_name_prefix, max_name, split_arn, split_url,
};

/// An allow-list of reply addresses: the server sends nothing to an address a peer
/// names unless it matches one of these entries.
///
/// Entries and addresses are compared as parsed parts, never as text:
///
/// - a queue entry names a scheme, host, port (or none) and account, which must
///   match exactly; a prefix entry may then give the start of the queue name;
/// - a topic entry names a partition, region and account (service `sns`), which must
///   match exactly; a prefix entry may then give the start of the topic name.
///
/// An address a peer names is allowed only if it parses as a queue URL
/// (`http[s]://HOST[:PORT]/ACCOUNT/NAME`) or an SNS topic ARN
/// (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`), so dot segments, empty segments (`//`),
/// a user name (`user@`), a query or fragment, percent escapes and anything after the
/// name are refused, whatever the entries say (see [`QueueUrl`] and [`Arn`]).
/// Hosts compare case-insensitively, everything else exactly.
///
/// An entry that cannot be parsed allows nothing and makes
/// [`Server::new`](crate::Server::new) refuse the configuration; use
/// [`try_prefix`](Self::try_prefix) and [`try_exact`](Self::try_exact) to be told at once.
///
/// ```
/// use asyncmcp_proto::{Address, AllowList};
///
/// let allow = AllowList::new()
///     .try_prefix("https://sqs.us-east-1.amazonaws.com/123456789012/jobs-")?
///     .try_prefix("arn:aws:sns:us-east-1:123456789012:")?;
/// let queue = |path: &str| Address::Queue(format!("https://sqs.us-east-1.amazonaws.com/{path}"));
///
/// assert!(allow.allows(&queue("123456789012/jobs-7")));
/// assert!(allow.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:replies".into())));
/// // The prefix applies to the name only: no climbing into another account.
/// assert!(!allow.allows(&queue("123456789012/jobs-7/../../999999999999/x")));
/// assert!(!allow.allows(&queue("123456789012/jobs-7%2F..%2F999999999999")));
/// assert!(!allow.allows(&Address::Topic("arn:aws:sns:us-east-1:999999999999:replies".into())));
/// // An entry must name a whole account.
/// assert!(AllowList::new().try_prefix("arn:aws:sns:").is_err());
/// # Ok::<(), asyncmcp_proto::AddressError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    entries: Vec<Entry>,
    invalid: Vec<(String, AddressError)>,
}

impl AllowList {
    /// An allow-list that allows nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// An allow-list that allows every well-formed queue URL and topic ARN. Only for
    /// tests and closed networks: a reply address is attacker-controlled input.
    pub fn any() -> Self {
        Self { any: true, ..Self::default() }
    }

    /// Allows exactly `address`: a queue URL or an SNS topic ARN. An address that
    /// does not parse allows nothing and is reported by [`invalid`](Self::invalid).
    pub fn exact(self, address: impl Into<String>) -> Self {
        let address = address.into();
        self.record(address, Entry::exact)
    }

    /// Allows every address that `prefix` names: the queues or topics of one account
    /// whose name starts with what follows the account. `https://HOST/ACCOUNT`,
    /// `https://HOST/ACCOUNT/` and `arn:PARTITION:sns:REGION:ACCOUNT:` allow the whole
    /// account; `https://HOST/ACCOUNT/jobs-` only its queues named `jobs-...`. A
    /// prefix that names no whole account (`https://HOST/`, `arn:aws:sns:`) allows
    /// nothing and is reported by [`invalid`](Self::invalid).
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.record(prefix, Entry::prefix)
    }

    /// [`exact`](Self::exact), refusing an address that does not parse.
    ///
    /// # Errors
    /// [`AddressError`] when `address` is not a queue URL or SNS topic ARN.
    pub fn try_exact(mut self, address: &str) -> Result<Self, AddressError> {
        self.entries.push(Entry::exact(address)?);
        Ok(self)
    }

    /// [`prefix`](Self::prefix), refusing a prefix that does not name a whole account.
    ///
    /// # Errors
    /// [`AddressError`] when `prefix` is not a queue URL or SNS topic ARN cut after
    /// the account or inside the name.
    pub fn try_prefix(mut self, prefix: &str) -> Result<Self, AddressError> {
        self.entries.push(Entry::prefix(prefix)?);
        Ok(self)
    }

    /// Allows the queues and SNS topics of the account that owns `queue_url` (a
    /// server's own request queue, say): every queue of that account at the same
    /// endpoint (scheme, host and port), and every topic
    /// `arn:PARTITION:sns:REGION:ACCOUNT:...`, the region read from the host
    /// (`sqs.REGION.amazonaws.com`, `REGION.queue.amazonaws.com`, ...) and the
    /// partition from the region (`aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`,
    /// else `aws`). When the host names no region (a local endpoint such as moto or
    /// LocalStack), only the queues are allowed: name the region with
    /// [`same_account_in`](Self::same_account_in).
    ///
    /// ```
    /// use asyncmcp_proto::{Address, AllowList};
    ///
    /// let allow = AllowList::same_account("https://sqs.eu-west-1.amazonaws.com/123456789012/requests")?;
    ///
    /// assert!(allow.allows(&Address::Queue("https://sqs.eu-west-1.amazonaws.com/123456789012/replies".into())));
    /// assert!(allow.allows(&Address::Topic("arn:aws:sns:eu-west-1:123456789012:replies".into())));
    /// assert!(!allow.allows(&Address::Queue("https://sqs.eu-west-1.amazonaws.com/999999999999/replies".into())));
    /// assert!(!allow.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:replies".into())));
    /// # Ok::<(), asyncmcp_proto::AddressError>(())
    /// ```
    ///
    /// # Errors
    /// [`AddressError`] when `queue_url` is not a queue URL.
    pub fn same_account(queue_url: &str) -> Result<Self, AddressError> {
        let url = QueueUrl::parse(queue_url)?;
        Self::account_entries(&url, region_of(url.host()))
    }

    /// As [`same_account`](Self::same_account), with the topics of `region` (the
    /// region the AWS SDK is configured with, for a local endpoint).
    ///
    /// ```
    /// use asyncmcp_proto::{Address, AllowList};
    ///
    /// let allow = AllowList::same_account_in("http://localhost:5000/123456789012/requests", "us-east-1")?;
    ///
    /// assert!(allow.allows(&Address::Queue("http://localhost:5000/123456789012/replies".into())));
    /// assert!(allow.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:replies".into())));
    /// assert!(!allow.allows(&Address::Queue("http://localhost:5001/123456789012/replies".into())));
    /// assert_eq!(allow.to_string(), "http://localhost:5000/123456789012/*, arn:aws:sns:us-east-1:123456789012:*");
    /// # Ok::<(), asyncmcp_proto::AddressError>(())
    /// ```
    ///
    /// # Errors
    /// [`AddressError`] when `queue_url` is not a queue URL or `region` is not a
    /// region name.
    pub fn same_account_in(queue_url: &str, region: &str) -> Result<Self, AddressError> {
        Self::account_entries(&QueueUrl::parse(queue_url)?, Some(region))
    }

    fn account_entries(url: &QueueUrl, region: Option<&str>) -> Result<Self, AddressError> {
        let (scheme, host, port) = url.origin();
        let queues = Scope::Queue { scheme, host: host.to_owned(), port };
        let mut allow = Self::new();
        allow.entries.push(Entry {
            scope: queues,
            account: url.account().to_owned(),
            name: NameMatch::Prefix(String::new()),
        });
        if let Some(region) = region {
            let partition = if region.starts_with("cn-") {
                "aws-cn"
            } else if region.starts_with("us-gov-") {
                "aws-us-gov"
            } else {
                "aws"
            };
            allow = allow.try_prefix(&format!("arn:{partition}:sns:{region}:{}:", url.account()))?;
        }
        Ok(allow)
    }

    /// Whether no address at all is allowed (no entry parsed, and not
    /// [`any`](Self::any)): a server with such a list can answer no one.
    ///
    /// ```
    /// use asyncmcp_proto::AllowList;
    ///
    /// assert!(AllowList::new().admits_nothing());
    /// assert!(AllowList::new().prefix("weather-requests").admits_nothing());
    /// assert!(!AllowList::new().prefix("https://sqs.eu-west-1.amazonaws.com/123456789012/").admits_nothing());
    /// assert!(!AllowList::any().admits_nothing());
    /// ```
    #[must_use]
    pub fn admits_nothing(&self) -> bool {
        !self.any && self.entries.is_empty()
    }

    /// The entries that could not be parsed, with why.
    pub fn invalid(&self) -> &[(String, AddressError)] {
        &self.invalid
    }

    /// Whether `address` may receive replies. An address that does not parse is
    /// never allowed.
    pub fn allows(&self, address: &Address) -> bool {
        let Some(target) = Target::parse(address) else { return false };
        self.any || self.entries.iter().any(|e| e.matches(&target))
    }

    fn record(mut self, text: String, parse: impl FnOnce(&str) -> Result<Entry, AddressError>) -> Self {
        match parse(&text) {
            Ok(entry) => self.entries.push(entry),
            Err(e) => self.invalid.push((text, e)),
        }
        self
    }
}

impl fmt::Display for AllowList {
    /// The entries, comma-separated, a prefix ending in `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any {
            return f.write_str("any queue or topic");
        }
        if self.entries.is_empty() {
            return f.write_str("nothing");
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match &entry.scope {
                Scope::Queue { scheme, host, port } => {
                    write!(f, "{}://{host}", scheme.as_str())?;
                    if let Some(port) = port {
                        write!(f, ":{port}")?;
                    }
                    write!(f, "/{}/", entry.account)?;
                }
                Scope::Topic { partition, region } => write!(f, "arn:{partition}:sns:{region}:{}:", entry.account)?,
            }
            match &entry.name {
                NameMatch::Exact(name) => f.write_str(name)?,
                NameMatch::Prefix(prefix) => write!(f, "{prefix}*")?,
            }
        }
        Ok(())
    }
}

/// The region an SQS endpoint's host names: `sqs.REGION.amazonaws.com[.cn]`,
/// `sqs-fips.REGION.amazonaws.com`, `sqs.REGION.api.aws`, `REGION.queue.amazonaws.com`.
fn region_of(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let region = match labels.as_slice() {
        [sqs, region, "amazonaws", "com", ..] | [sqs, region, "api", "aws"] if sqs.starts_with("sqs") => *region,
        [region, "queue", "amazonaws", "com", ..] => *region,
        _ => return None,
    };
    let plausible =
        region.contains('-') && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then_some(region)
}

/// An address a peer named, parsed.
enum Target {
    Queue(QueueUrl),
    Topic(Arn),
}

impl Target {
    fn parse(address: &Address) -> Option<Self> {
        match address {
            Address::Queue(text) => QueueUrl::parse(text).ok().map(Target::Queue),
            Address::Topic(text) => Arn::parse(text).ok().filter(|a| a.service() == "sns").map(Target::Topic),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scope: Scope,
    account: String,
    name: NameMatch,
}

/// Everything before the account, which must match exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Queue { scheme: Scheme, host: String, port: Option<u16> },
    Topic { partition: String, region: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NameMatch {
    Exact(String),
    Prefix(String),
}

impl Entry {
    fn exact(text: &str) -> Result<Self, AddressError> {
        if text.starts_with("arn:") {
            let arn = Arn::parse(text)?;
            if arn.service() != "sns" {
                return Err(AddressError::NotTopic);
            }
            let scope = Scope::Topic { partition: arn.partition().to_owned(), region: arn.region().to_owned() };
            Ok(Self { scope, account: arn.account().to_owned(), name: NameMatch::Exact(arn.name().to_owned()) })
        } else {
            let url = QueueUrl::parse(text)?;
            let (scheme, host, port) = url.origin();
            let scope = Scope::Queue { scheme, host: host.to_owned(), port };
            Ok(Self { scope, account: url.account().to_owned(), name: NameMatch::Exact(url.name().to_owned()) })
        }
    }

    fn prefix(text: &str) -> Result<Self, AddressError> {
        let (scope, account, name) = if text.starts_with("arn:") {
            let mut fields = split_arn(text)?;
            let head = arn_head(&mut fields)?;
            if head.service != "sns" {
                return Err(AddressError::NotTopic);
            }
            let name = fields.next().unwrap_or("");
            if fields.next().is_some() {
                return Err(AddressError::ExtraSegment);
            }
            let scope = Scope::Topic { partition: head.partition.to_owned(), region: head.region.to_owned() };
            (scope, head.account, name)
        } else {
            let (origin, mut segments) = split_url(text)?;
            let account = segments.next().unwrap_or("");
            check_account(account)?;
            let name = segments.next().unwrap_or("");
            if segments.next().is_some() {
                return Err(AddressError::ExtraSegment);
            }
            (Scope::Queue { scheme: origin.scheme, host: origin.host, port: origin.port }, account, name)
        };
        check_name_prefix(name, max_name(matches!(scope, Scope::Topic { .. })))?;
        Ok(Self { scope, account: account.to_owned(), name: NameMatch::Prefix(name.to_owned()) })
    }

    fn matches(&self, target: &Target) -> bool {
        let (scope_ok, account, name) = match (&self.scope, target) {
            (Scope::Queue { scheme, host, port }, Target::Queue(url)) => {
                (url.origin() == (*scheme, host.as_str(), *port), url.account(), url.name())
            }
            (Scope::Topic { partition, region }, Target::Topic(arn)) => {
                (arn.partition() == partition && arn.region() == region, arn.account(), arn.name())
            }
            _ => return false,
        };
        scope_ok
            && account == self.account
            && match &self.name {
                NameMatch::Exact(n) => name == n,
                NameMatch::Prefix(p) => name.starts_with(p.as_str()),
            }
    }
}
