//! Queue URLs and ARNs taken apart into typed parts, refusing every form whose
//! meaning depends on how a later parser normalizes it.
//!
//! The grammar is the one AWS hands out, and nothing looser:
//!
//! - queue URL: `http[s]://HOST[:PORT]/ACCOUNT/NAME`: no user name, no query or
//!   fragment, no percent escapes, exactly two path segments;
//! - ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:NAME`: exactly six fields.
//!
//! `ACCOUNT` is 1 to 64 of `A-Z a-z 0-9 - _` (AWS uses 12 digits; emulators other
//! ids); `NAME` is 1 to 80 (queues) or 256 (topics) of `A-Z a-z 0-9 - _`, optionally
//! ending in `.fifo`, as SQS and SNS require. A dot segment, an empty segment or an
//! encoded separator therefore never parses.

use std::fmt;

use thiserror::Error;

/// Why a queue URL, an ARN or an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The URL does not start with `http://` or `https://`.
    #[error("the scheme is not http:// or https://")]
    Scheme,
    /// The URL names a user (`user@host`).
    #[error("a user name before the host (`@`) is not allowed")]
    Userinfo,
    /// The URL has a query (`?`) or a fragment (`#`).
    #[error("a query (`?`) or fragment (`#`) is not allowed")]
    QueryOrFragment,
    /// The text holds a percent escape, which could hide a separator.
    #[error("percent escapes (`%`) are not allowed")]
    PercentEncoded,
    /// The host is empty or holds characters a host name cannot.
    #[error("the host is not a plain host name or IP address")]
    Host,
    /// The port is empty, not a number, or out of range.
    #[error("the port is not a number from 1 to 65535")]
    Port,
    /// A path segment or ARN field is `.` or `..`.
    #[error("dot segments (`.`, `..`) are not allowed")]
    DotSegment,
    /// A path segment or ARN field is empty (`//`, `::`, a trailing `/`).
    #[error("empty segments are not allowed")]
    EmptySegment,
    /// There is more after the name.
    #[error("there is more after the name (expected ACCOUNT/NAME or ...:ACCOUNT:NAME)")]
    ExtraSegment,
    /// A part is missing.
    #[error("the {0} is missing")]
    Missing(&'static str),
    /// A part holds characters it cannot.
    #[error("the {0} is not valid")]
    Invalid(&'static str),
    /// The text is not an ARN (`arn:...`).
    #[error("not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:NAME)")]
    NotArn,
    /// The ARN is not an SNS topic's.
    #[error("not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)")]
    NotTopic,
}

/// The scheme of a queue URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `http://` (emulators such as moto).
    Http,
    /// `https://` (AWS).
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An SQS queue URL taken apart: `SCHEME://HOST[:PORT]/ACCOUNT/NAME`.
///
/// ```
/// use asyncmcp_proto::QueueUrl;
/// let url = QueueUrl::parse("https://sqs.us-east-1.amazonaws.com/123456789012/jobs").unwrap();
/// assert_eq!((url.host(), url.account(), url.name()), ("sqs.us-east-1.amazonaws.com", "123456789012", "jobs"));
/// assert!(QueueUrl::parse("https://sqs.us-east-1.amazonaws.com/123456789012/jobs/../x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueUrl {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    account: String,
    name: String,
}

impl QueueUrl {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`AddressError`] saying which rule `text` breaks.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let (origin, mut segments) = split_url(text)?;
        let account = segments.next().ok_or(AddressError::Missing("account"))?;
        let name = segments.next().ok_or(AddressError::Missing("queue name"))?;
        if segments.next().is_some() {
            return Err(AddressError::ExtraSegment);
        }
        check_account(account)?;
        check_name(name, MAX_QUEUE_NAME, "queue name")?;
        Ok(Self {
            scheme: origin.scheme,
            host: origin.host,
            port: origin.port,
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, in lower case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when the URL names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The account id (the first path segment).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The queue name (the second path segment).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn origin(&self) -> (Scheme, &str, Option<u16>) {
        (self.scheme, &self.host, self.port)
    }
}

impl fmt::Display for QueueUrl {
    /// The URL in canonical form (host in lower case).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "/{}/{}", self.account, self.name)
    }
}

/// An ARN taken apart: `arn:PARTITION:SERVICE:REGION:ACCOUNT:NAME`, the NAME being a
/// queue or topic name (no `/` or `:` resource paths).
///
/// ```
/// use asyncmcp_proto::Arn;
/// let arn = Arn::parse("arn:aws:sns:eu-west-1:123456789012:replies").unwrap();
/// assert_eq!((arn.service(), arn.region(), arn.account(), arn.name()), ("sns", "eu-west-1", "123456789012", "replies"));
/// assert!(Arn::parse("arn:aws:sns:eu-west-1:123456789012:replies:999999999999:x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arn {
    partition: String,
    service: String,
    region: String,
    account: String,
    name: String,
}

impl Arn {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`AddressError`] saying which rule `text` breaks.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let mut fields = split_arn(text)?;
        let head = arn_head(&mut fields)?;
        let name = fields.next().ok_or(AddressError::Missing("name"))?;
        if fields.next().is_some() {
            return Err(AddressError::ExtraSegment);
        }
        check_name(name, MAX_TOPIC_NAME, "name")?;
        Ok(Self {
            partition: head.partition.to_owned(),
            service: head.service.to_owned(),
            region: head.region.to_owned(),
            account: head.account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// `sns`, `sqs`, ...
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The region, for example `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account, self.name)
    }
}

const MAX_QUEUE_NAME: usize = 80;
const MAX_TOPIC_NAME: usize = 256;
const MAX_ACCOUNT: usize = 64;
const FIFO: &str = ".fifo";

/// Scheme, host and port of a queue URL.
pub(super) struct Origin {
    pub(super) scheme: Scheme,
    pub(super) host: String,
    pub(super) port: Option<u16>,
}

/// Splits a queue URL (or a queue prefix entry) into its origin and its path
/// segments. Refuses what is never part of a queue URL anywhere in the text.
pub(super) fn split_url(text: &str) -> Result<(Origin, std::str::Split<'_, char>), AddressError> {
    if text.contains('%') {
        return Err(AddressError::PercentEncoded);
    }
    if text.contains(['?', '#']) {
        return Err(AddressError::QueryOrFragment);
    }
    if text.contains('@') {
        return Err(AddressError::Userinfo);
    }
    let (scheme, rest) = text.split_once("://").ok_or(AddressError::Scheme)?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return Err(AddressError::Scheme);
    };
    let (authority, path) = rest.split_once('/').ok_or(AddressError::Missing("account"))?;
    let (host, port) = split_authority(authority)?;
    Ok((Origin { scheme, host, port }, path.split('/')))
}

fn split_authority(authority: &str) -> Result<(String, Option<u16>), AddressError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        // An IPv6 literal: `[hex:hex::hex]`, then maybe `:PORT`.
        let (inside, after) = v6.split_once(']').ok_or(AddressError::Host)?;
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(AddressError::Host);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(AddressError::Port)?),
        };
        (format!("[{inside}]"), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let label_ok = |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !host.split('.').all(label_ok) {
            return Err(AddressError::Host);
        }
        (host.to_owned(), port)
    };
    let port = match port {
        None => None,
        Some(p) if p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()) => {
            return Err(AddressError::Port);
        }
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(AddressError::Port),
            Ok(n) => Some(n),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// The fields of an ARN before its name.
pub(super) struct ArnHead<'a> {
    pub(super) partition: &'a str,
    pub(super) service: &'a str,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
}

pub(super) fn split_arn(text: &str) -> Result<std::str::Split<'_, char>, AddressError> {
    if text.contains('%') {
        return Err(AddressError::PercentEncoded);
    }
    let mut fields = text.split(':');
    if fields.next() != Some("arn") {
        return Err(AddressError::NotArn);
    }
    Ok(fields)
}

pub(super) fn arn_head<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Result<ArnHead<'a>, AddressError> {
    let mut next = |what: &'static str| -> Result<&'a str, AddressError> {
        let field = fields.next().ok_or(AddressError::Missing(what))?;
        if field.is_empty() {
            return Err(AddressError::EmptySegment);
        }
        if field == "." || field == ".." {
            return Err(AddressError::DotSegment);
        }
        Ok(field)
    };
    let partition = next("partition")?;
    let service = next("service")?;
    let region = next("region")?;
    let account = next("account")?;
    for (field, what) in [(partition, "partition"), (service, "service"), (region, "region")] {
        if !field.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(AddressError::Invalid(what));
        }
    }
    check_account(account)?;
    Ok(ArnHead { partition, service, region, account })
}

pub(super) fn check_account(account: &str) -> Result<(), AddressError> {
    check_segment(account)?;
    if account.len() > MAX_ACCOUNT || !account.chars().all(is_name_char) {
        return Err(AddressError::Invalid("account"));
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), AddressError> {
    match segment {
        "" => Err(AddressError::EmptySegment),
        "." | ".." => Err(AddressError::DotSegment),
        _ => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A queue or topic name: `[A-Za-z0-9_-]+` with an optional `.fifo` suffix.
fn check_name(name: &str, max: usize, what: &'static str) -> Result<(), AddressError> {
    check_segment(name)?;
    let base = name.strip_suffix(FIFO).unwrap_or(name);
    if base.is_empty() || name.len() > max || !base.chars().all(is_name_char) {
        return Err(AddressError::Invalid(what));
    }
    Ok(())
}

/// The start of some valid name: name characters, then at most a start of `.fifo`.
pub(super) fn check_name_prefix(prefix: &str, max: usize) -> Result<(), AddressError> {
    if prefix == "." || prefix == ".." {
        return Err(AddressError::DotSegment);
    }
    let (base, tail) = prefix.find('.').map_or((prefix, ""), |i| prefix.split_at(i));
    let tail_ok = tail.is_empty() || (!base.is_empty() && FIFO.starts_with(tail));
    if prefix.len() > max || !base.chars().all(is_name_char) || !tail_ok {
        return Err(AddressError::Invalid("name prefix"));
    }
    Ok(())
}

pub(super) fn max_name(topic: bool) -> usize {
    if topic { MAX_TOPIC_NAME } else { MAX_QUEUE_NAME }
}
