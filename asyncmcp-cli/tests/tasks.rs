//! `asyncmcp call --task` and `asyncmcp task get|wait|cancel` on moto, against a
//! task-serving rmcp server (the demo tools, `countdown` as a task) in this test
//! process: every command is its own process, so the task outlives the client that
//! created it. Both eras.

mod common;

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::tasks::TaskSupport;
use asyncmcp_tokio::proto::{AllowList, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::tasks::TaskOptions;
use asyncmcp_tokio::{AwsQueueClient, DriverConfig};
use common::{Moto, asyncmcp, infra_up, run, unique_name};

/// A task server on `queue`, on its own runtime (dropped with the returned value).
fn task_server(moto: &Moto, queue: &str) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let account = &queue[..=queue.rfind('/').expect("a queue URL")];
    let config = ServerConfig::new(queue, AllowList::new().try_prefix(account).expect("prefix"));
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let options = TaskOptions::in_memory().tool("countdown", TaskSupport::Optional);
    let sqs = Arc::new(AwsQueueClient::new(&moto.sdk_config()));
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    runtime.block_on(async {
        let server =
            QueueServer::start_with(move || tools.clone(), config, sqs, driver).expect("server").with_tasks(options);
        tokio::spawn(server.run());
    });
    runtime
}

fn detached(modern: bool) {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("tasks"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let _server = task_server(moto, &queue);
    let limit = Duration::from_secs(60);
    let era: &[&str] = if modern { &["--modern"] } else { &[] };
    let target = ["--server-queue-url", queue.as_str()];

    // call --task prints the id and exits while the task runs.
    let created =
        run(asyncmcp(moto).args(["call", "--task"]).args(target).args(era).args(["countdown", "from=20"]), limit).ok();
    let id = created.stdout.trim().to_owned();
    assert!(id.contains('.'), "a task id: {created:?}");
    let got = run(asyncmcp(moto).args(["task", "get", &id]).args(target).args(era), limit).ok();
    assert_eq!(got.stdout.trim(), "working", "{got:?}");

    // wait, from another process, prints the outcome.
    let waited = run(asyncmcp(moto).args(["task", "wait", &id]).args(target).args(era), limit).ok();
    assert_eq!(waited.stdout.trim(), "liftoff", "{waited:?}");
    assert!(waited.stderr.contains("task completed"), "{waited:?}");

    // cancel a long one; waiting for it then fails.
    let long =
        run(asyncmcp(moto).args(["call", "--task"]).args(target).args(era).args(["countdown", "from=600"]), limit).ok();
    let long = long.stdout.trim().to_owned();
    run(asyncmcp(moto).args(["task", "cancel", &long]).args(target).args(era), limit).ok();
    let cancelled = run(asyncmcp(moto).args(["task", "wait", &long]).args(target).args(era), limit);
    assert!(!cancelled.status.success(), "{cancelled:?}");
    assert!(cancelled.stderr.contains("cancelled"), "{cancelled:?}");

    // An unknown id is an error that says so.
    let unknown = "nope.0123456789abcdef0123456789abcdef";
    let missing = run(asyncmcp(moto).args(["task", "get", unknown]).args(target).args(era), limit);
    assert!(!missing.status.success());
    assert!(missing.stderr.contains("task not found or expired"), "{missing:?}");
}

#[test]
fn modern_call_task_then_task_get_wait_cancel_from_other_processes() {
    detached(true);
}

#[test]
fn legacy_call_task_then_task_get_wait_cancel_from_other_processes() {
    detached(false);
}

#[test]
fn infra_up_tasks_creates_the_task_table_and_down_tasks_deletes_it() {
    let moto = Moto::shared();
    let name = unique_name("tasks-infra");

    let infra = infra_up(moto, &name, &["--tasks"]);
    let table = infra["tasks_table"].as_str().expect("the task table's name").to_owned();
    let store = asyncmcp_aws::DynamoTaskStore::new(&moto.sdk_config(), &table);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ttl = runtime.block_on(store.ttl_attribute()).expect("the table exists");
    let down = run(
        asyncmcp(moto).args(["infra", "down", "--tasks", "--output", "json", "--name", &name]),
        Duration::from_secs(60),
    )
    .ok();
    let gone = runtime.block_on(store.ttl_attribute());

    assert_eq!(table, format!("{name}-tasks"));
    assert_eq!(ttl.as_deref(), Some(asyncmcp_aws::TTL_ATTRIBUTE));
    assert!(down.stdout.contains("task table"), "{down:?}");
    assert!(gone.is_err(), "the table must be gone: {gone:?}");
}

/// `asyncmcp serve --task-tool sleep --task-table T`: the bridge offers tasks for a
/// stdio server's tool, both eras; the serve process is then killed (SIGKILL)
/// mid-task and a second serve on the same queue and table finishes the task.
#[test]
fn serve_offers_tasks_for_a_stdio_tool_and_a_second_serve_takes_over_a_killed_ones_task() {
    let moto = Moto::shared();
    let name = unique_name("tasks-serve");
    let infra = infra_up(moto, &name, &["--tasks", "--visibility-timeout", "4"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let table = infra["tasks_table"].as_str().expect("table").to_owned();
    let serve_args =
        ["--queue-url", queue.as_str(), "--visibility-timeout", "4", "--task-tool", "sleep", "--task-table"];
    let fixture = common::fixture("sleepy_server.py");
    let cmd = ["python3", fixture.as_str()];
    let first = common::Serve::start(moto, &[&serve_args[..], &[table.as_str()]].concat(), &cmd);
    let limit = Duration::from_secs(60);
    let target = ["--server-queue-url", queue.as_str()];

    // Both eras: a task id at once, the outcome later from another process.
    for era in [&["--modern"][..], &[][..]] {
        let created =
            run(asyncmcp(moto).args(["call", "--task"]).args(target).args(era).args(["sleep", "seconds=1"]), limit)
                .ok();
        let id = created.stdout.trim().to_owned();
        assert!(id.contains('.'), "a task id: {created:?}");
        let waited = run(asyncmcp(moto).args(["task", "wait", &id]).args(target).args(era), limit).ok();
        assert_eq!(waited.stdout.trim(), "slept", "{waited:?}");
    }
    // A tool without --task-tool runs plain even when asked for a task (2026-07-28).
    let plain =
        run(asyncmcp(moto).args(["call", "--task", "--modern"]).args(target).args(["echo", "text=hi"]), limit).ok();
    assert_eq!(plain.stdout.trim(), "sleepy echo: hi", "{plain:?}");

    // Killed mid-task: the second serve finishes it.
    let created =
        run(asyncmcp(moto).args(["call", "--task", "--modern"]).args(target).args(["sleep", "seconds=3"]), limit).ok();
    let id = created.stdout.trim().to_owned();
    // Its third `sleep` has started in a pool process.
    let deadline = std::time::Instant::now() + limit;
    while common::text(&first.log).matches("sleepy: server pid").count() < 3 {
        assert!(std::time::Instant::now() < deadline, "the third sleep never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(first);
    let _second = common::Serve::start(moto, &[&serve_args[..], &[table.as_str()]].concat(), &cmd);
    let waited = run(asyncmcp(moto).args(["task", "wait", &id, "--modern"]).args(target), limit).ok();
    assert_eq!(waited.stdout.trim(), "slept", "{waited:?}");
}

/// `asyncmcp serve --task-tool sleep`: a legacy session's `initialize` and
/// `tools/list` come from the session's own CMD process, and still announce the
/// tasks the bridge offers (`capabilities.tasks`, the tool's `execution.taskSupport`).
#[test]
fn serve_task_tool_announces_tasks_to_a_legacy_session() {
    use asyncmcp_tokio::proto::{Address, ClientConfig, Era};
    use serde_json::json;

    // Arrange
    let moto = Moto::shared();
    let name = unique_name("tasks-legacy");
    let infra = infra_up(moto, &name, &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let fixture = common::fixture("sleepy_server.py");
    let _serve = common::Serve::start(moto, &["--queue-url", &queue, "--task-tool", "sleep"], &["python3", &fixture]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Act: a legacy client opens a session and lists the tools.
    let (init, tools) = runtime.block_on(async {
        let sdk = moto.sdk_config();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let created = sqs.create_queue().queue_name(format!("{name}-replies")).send().await.expect("reply queue");
        let replies = created.queue_url().expect("reply queue URL").to_owned();
        let mut config = ClientConfig::new(Address::Queue(queue), Address::Queue(replies.clone()), replies, "legacy");
        config.era = Era::Legacy;
        let mut driver = DriverConfig::default();
        driver.long_poll = Duration::from_secs(1);
        let (client, mut events) =
            asyncmcp_tokio::spawn_client_with(config, Arc::new(AwsQueueClient::new(&sdk)), driver).expect("client");
        tokio::spawn(async move { while events.next().await.is_some() {} });
        let params = json!({"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}});
        let init = client.call("initialize", Some(params)).await.expect("initialize").to_value();
        client.notify("notifications/initialized", None).await.expect("initialized");
        let tools = client.call("tools/list", Some(json!({}))).await.expect("tools/list").to_value();
        client.shutdown(Duration::from_secs(1)).await;
        (init, tools)
    });

    // Assert
    assert!(init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(), "{init}");
    let listed = tools["result"]["tools"].as_array().unwrap_or_else(|| panic!("{tools}"));
    let sleep = listed.iter().find(|t| t["name"] == "sleep").expect("the sleep tool");
    assert_eq!(sleep["execution"]["taskSupport"], "optional", "{sleep}");
    let echo = listed.iter().find(|t| t["name"] == "echo").expect("the echo tool");
    assert!(echo.get("execution").is_none(), "{echo}");
}
