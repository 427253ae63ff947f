//! Whatever text a peer names, an address a prefix entry allows parses, and lies in
//! the entry's own host, port and account (queues) or partition, region and account
//! (topics).

use asyncmcp_proto::{Address, AllowList, Arn, QueueUrl};
use proptest::prelude::*;

/// Queue prefix entries: (host, account, name prefix).
const QUEUE_ENTRIES: &[(&str, &str, &str)] = &[
    ("sqs.us-east-1.amazonaws.com", "123456789012", ""),
    ("sqs.us-east-1.amazonaws.com", "123456789012", "jobs-"),
    ("localhost:5000", "000000000000", "a"),
];
/// Topic prefix entries: (region, account, name prefix).
const TOPIC_ENTRIES: &[(&str, &str, &str)] = &[("us-east-1", "123456789012", ""), ("eu-west-1", "1", "r")];

fn queue_entry(i: usize) -> (String, &'static (&'static str, &'static str, &'static str)) {
    let e = &QUEUE_ENTRIES[i % QUEUE_ENTRIES.len()];
    (format!("{}://{}/{}/{}", if e.0.starts_with("localhost") { "http" } else { "https" }, e.0, e.1, e.2), e)
}

fn topic_entry(i: usize) -> (String, &'static (&'static str, &'static str, &'static str)) {
    let e = &TOPIC_ENTRIES[i % TOPIC_ENTRIES.len()];
    (format!("arn:aws:sns:{}:{}:{}", e.0, e.1, e.2), e)
}

/// Text a hostile peer might append: separators, escapes, dots, other accounts.
fn tail() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just(":".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just("@".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("999999999999".to_owned()),
        Just(".fifo".to_owned()),
        "[a-zA-Z0-9_-]{1,4}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// An address that starts like `entry` (or like a mangled form of it), then `tail`.
fn mangle(entry: &str, cut: usize, tail: &str) -> String {
    let keep = entry.len().saturating_sub(cut % 6);
    format!("{}{tail}", entry.get(..keep).unwrap_or(entry))
}

proptest! {
    #[test]
    fn an_allowed_queue_lies_in_the_entry_account(i in 0usize..8, cut in 0usize..8, tail in tail()) {
        let (entry, (host, account, name)) = queue_entry(i);
        let allow = AllowList::new().try_prefix(&entry).unwrap();
        let address = mangle(&entry, cut, &tail);

        if allow.allows(&Address::Queue(address.clone())) {
            let url = QueueUrl::parse(&address).unwrap();
            let authority = match url.port() { Some(p) => format!("{}:{p}", url.host()), None => url.host().to_owned() };
            prop_assert_eq!(authority, *host);
            prop_assert_eq!(url.account(), *account);
            prop_assert!(url.name().starts_with(name));
            prop_assert_eq!(url.to_string(), address);
        }
    }

    #[test]
    fn an_allowed_topic_lies_in_the_entry_account(i in 0usize..8, cut in 0usize..8, tail in tail()) {
        let (entry, (region, account, name)) = topic_entry(i);
        let allow = AllowList::new().try_prefix(&entry).unwrap();
        let address = mangle(&entry, cut, &tail);

        if allow.allows(&Address::Topic(address.clone())) {
            let arn = Arn::parse(&address).unwrap();
            prop_assert_eq!((arn.partition(), arn.service(), arn.region()), ("aws", "sns", *region));
            prop_assert_eq!(arn.account(), *account);
            prop_assert!(arn.name().starts_with(name));
            prop_assert_eq!(arn.to_string(), address);
        }
    }

    #[test]
    fn a_well_formed_name_under_the_entry_is_allowed(i in 0usize..8, name in "[a-zA-Z0-9_-]{1,20}", fifo: bool) {
        let (entry, _) = queue_entry(i);
        let allow = AllowList::new().try_prefix(&entry).unwrap();
        let address = format!("{entry}{name}{}", if fifo { ".fifo" } else { "" });

        prop_assert!(allow.allows(&Address::Queue(address)));
    }

    #[test]
    fn parsing_never_panics_and_round_trips(text in "\\PC{0,60}") {
        if let Ok(url) = QueueUrl::parse(&text) {
            prop_assert_eq!(QueueUrl::parse(&url.to_string()).unwrap(), url);
        }
        if let Ok(arn) = Arn::parse(&text) {
            prop_assert_eq!(arn.to_string(), text.clone());
        }
        let _ = AllowList::any().allows(&Address::parse(&text));
    }
}
