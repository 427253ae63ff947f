//! The reply allow-list matches parsed addresses, not text: each hostile form a peer
//! could name in `ReplyTo` (or an `initialize` reply field) is refused.

use asyncmcp_proto::{Address, AllowList};

const HOST: &str = "https://sqs.us-east-1.amazonaws.com";

fn queue(path: &str) -> Address {
    Address::Queue(format!("{HOST}{path}"))
}

fn jobs_prefix() -> AllowList {
    AllowList::new().prefix(format!("{HOST}/123456789012/allowed-"))
}

#[test]
fn a_name_prefix_allows_the_queues_it_names() {
    let allow = jobs_prefix();

    assert!(allow.allows(&queue("/123456789012/allowed-1")));
    assert!(allow.allows(&queue("/123456789012/allowed-jobs.fifo")));
    assert!(!allow.allows(&queue("/123456789012/other")));
}

#[test]
fn dot_segments_do_not_climb_out_of_the_account() {
    let allow = jobs_prefix();

    assert!(!allow.allows(&queue("/123456789012/allowed-prefix/../../999999999999/x")));
    assert!(!allow.allows(&queue("/123456789012/allowed-x/./y")));
    assert!(!allow.allows(&queue("/123456789012/allowed-..")));
}

#[test]
fn percent_encoded_separators_are_refused() {
    let allow = jobs_prefix();

    assert!(!allow.allows(&queue("/123456789012/allowed-x%2F..%2F..%2F999999999999%2Fx")));
    assert!(!allow.allows(&queue("/123456789012/allowed-x%2f999999999999")));
    assert!(!allow.allows(&queue("/123456789012/allowed-%41")));
}

#[test]
fn userinfo_and_other_hosts_are_refused() {
    // The old simulator entry: a bare endpoint, no account.
    let bare_host = AllowList::new().prefix("http://sim.local");

    assert!(!bare_host.allows(&Address::Queue("http://sim.local@evil.example/123456789012/q".into())));
    assert!(!bare_host.allows(&Address::Queue("http://sim.local.evil.example/123456789012/q".into())));
    assert!(!AllowList::any().allows(&Address::Queue("https://user:pw@sqs.us-east-1.amazonaws.com/1/q".into())));
    assert!(!jobs_prefix().allows(&Address::Queue(
        "https://sqs.us-east-1.amazonaws.com/123456789012/allowed-x@evil.example/123456789012/q".into()
    )));
}

#[test]
fn double_slashes_and_extra_segments_are_refused() {
    let allow = jobs_prefix();

    assert!(!allow.allows(&queue("/123456789012/allowed-a//b")));
    assert!(!allow.allows(&queue("/123456789012/allowed-a/999999999999/b")));
    assert!(!allow.allows(&queue("/123456789012/allowed-a/")));
    assert!(!allow.allows(&queue("/123456789012/allowed-a?Action=SendMessage")));
    assert!(!allow.allows(&queue("/123456789012/allowed-a#x")));
}

#[test]
fn an_account_entry_allows_that_account_only() {
    // Written without the trailing slash, the entry still names one whole account.
    let allow = AllowList::new().prefix(format!("{HOST}/12345678901"));

    assert!(allow.allows(&queue("/12345678901/q")));
    assert!(!allow.allows(&queue("/123456789012/q")));
    assert!(!allow.allows(&queue("/12345678901x/q")));
}

#[test]
fn other_regions_and_accounts_of_topics_are_refused() {
    let account = AllowList::new().prefix("arn:aws:sns:us-east-1:123456789012:");
    let too_wide = AllowList::new().prefix("arn:aws:sns:us-east-1");

    assert!(account.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:replies".into())));
    assert!(!account.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:x:999999999999:y".into())));
    assert!(!account.allows(&Address::Topic("arn:aws:sns:us-east-1:123456789012:a/../b".into())));
    assert!(!too_wide.allows(&Address::Topic("arn:aws:sns:us-east-1-evil:999999999999:x".into())));
    assert!(!too_wide.allows(&Address::Topic("arn:aws:sns:us-east-1:999999999999:x".into())));
}

#[test]
fn a_name_prefix_that_is_a_real_prefix_differs_from_another_queue() {
    let exact = AllowList::new().exact(format!("{HOST}/123456789012/jobs"));

    assert!(exact.allows(&queue("/123456789012/jobs")));
    assert!(!exact.allows(&queue("/123456789012/jobs-2")));
    // A queue name that merely starts with the entry's text but leaves the name.
    let prefix = AllowList::new().prefix(format!("{HOST}/123456789012/jobs"));
    assert!(prefix.allows(&queue("/123456789012/jobs-2")));
    assert!(!prefix.allows(&queue("/123456789012/jobs/../../999999999999/jobs")));
}

#[test]
fn entries_that_name_no_account_are_refused_up_front() {
    assert!(AllowList::new().try_prefix("http://sim.local").is_err());
    assert!(AllowList::new().try_prefix("arn:aws:sns:").is_err());
    assert!(AllowList::new().try_prefix("https://sqs.us-east-1.amazonaws.com/1/../2/").is_err());
    assert!(AllowList::new().try_exact("https://sqs.us-east-1.amazonaws.com/1/q/").is_err());
    assert!(AllowList::new().try_prefix("https://sqs.us-east-1.amazonaws.com/123456789012/").is_ok());
}

#[test]
#[allow(clippy::disallowed_methods)] // the refusal happens before any time is read; any instant does
fn a_server_refuses_an_allow_list_with_an_entry_that_names_no_account() {
    use asyncmcp_proto::{ConfigError, Server, ServerConfig};
    let config = ServerConfig::new("http://sim.local/123456789012/server", AllowList::new().prefix("arn:aws:sns:"));

    let result = Server::new(config, std::time::Instant::now(), [0; 32]);

    assert!(matches!(result, Err(ConfigError::Invalid { field: "allow_reply", .. })), "{result:?}");
}

// ---------------------------------------------------------------- same_account

#[test]
fn same_account_allows_the_queues_and_topics_of_the_queue_s_account() {
    let allow = AllowList::same_account("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/requests").unwrap();

    assert!(allow.allows(&Address::Queue("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/r".into())));
    assert!(allow.allows(&Address::Topic("arn:aws-cn:sns:cn-north-1:123456789012:r".into())));
    assert!(!allow.allows(&Address::Topic("arn:aws:sns:cn-north-1:123456789012:r".into())));
    assert!(!allow.allows(&Address::Queue("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/x/../../9/r".into())));
}

#[test]
fn same_account_reads_the_region_of_the_legacy_queue_host() {
    let allow = AllowList::same_account("https://eu-west-1.queue.amazonaws.com/123456789012/requests").unwrap();

    assert!(allow.allows(&Address::Topic("arn:aws:sns:eu-west-1:123456789012:r".into())));
    assert_eq!(
        allow.to_string(),
        "https://eu-west-1.queue.amazonaws.com/123456789012/*, arn:aws:sns:eu-west-1:123456789012:*"
    );
}

#[test]
fn same_account_of_a_local_endpoint_allows_its_queues_only() {
    let allow = AllowList::same_account("http://localhost:4566/000000000000/requests").unwrap();

    assert!(allow.allows(&Address::Queue("http://localhost:4566/000000000000/replies".into())));
    assert!(!allow.allows(&Address::Topic("arn:aws:sns:us-east-1:000000000000:replies".into())));
    assert_eq!(allow.to_string(), "http://localhost:4566/000000000000/*");
}

#[test]
fn same_account_refuses_what_is_not_a_queue_url() {
    assert!(AllowList::same_account("arn:aws:sqs:us-east-1:123456789012:requests").is_err());
    assert!(AllowList::same_account_in("http://localhost:4566/000000000000/requests", "").is_err());
}
