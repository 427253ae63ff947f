//! Chaos on moto: a few thousand `tools/call`s while the server's link to SQS is cut
//! and restored, the server is killed with SIGKILL and restarted, and some requests
//! reach the server as several copies. Prints
//! `sent N / answered N / errors N / run twice N / wrong answers N`, the same per era,
//! the errors by kind, and the faults.
//!
//! `scripts/chaos.sh` starts moto and runs it; by hand:
//! `cargo run -p asyncmcp-tests --example chaos -- run --endpoint http://127.0.0.1:PORT`
//! with options `--requests N` (3000), `--seconds N` (300, at most 600: the run stops
//! by itself), `--concurrency N` (32 workers), `--legacy N` (4 of them legacy),
//! `--seed N`.
//!
//! The parent process is the clients (rmcp clients talking to moto directly) and the
//! chaos monkey. Modern-era workers share one client; each legacy worker has a
//! session and a reply queue of its own, and opens a new session after a failed call
//! (a killed server's sessions are gone: "session not found" is the expected error).
//! The server is this same program run as `chaos serve ...`, a child process whose AWS
//! client reaches moto through a [`Relay`]: its `work` tool appends each key to a run
//! file as it starts, so runs are counted across kills. The clients send to a queue of
//! their own, and a [`Tap`] forwards each message to the server's queue, one copy or
//! (for about one `tools/call` in ten) 2 to 5 copies in one batch, as at-least-once
//! delivery would. Each request's key is unique, so a key that ran twice is a request
//! run twice; the tool's answer is a function of the key, so a wrong answer is caught.
//! Each server process writes its own run file, so "run twice" is split into runs
//! twice in one process (never allowed) and runs again in a process started after a
//! kill.
//!
//! Exit status 0 when no call was lost (timed out) or wrongly answered, every modern
//! call was answered, and nothing ran twice in one server process.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncmcp_tests::fault_rig::{RunLog, Tap, WorkTools, answer};
use asyncmcp_tests::moto::sdk_config_for;
use asyncmcp_tests::relay::Relay;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, DriverConfig, QueueSpec};
use aws_config::SdkConfig;
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, Peer, RunningService};

/// The request queue's visibility timeout (the server is told the same).
const VISIBILITY_SECS: u32 = 10;
/// A call with no answer after this long ends as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The hard limit on a run.
const MAX_SECONDS: u64 = 600;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(&Options::parse(&args[1..]))),
        Some("run") => {
            let options = Options::parse(&args[1..]);
            let code = runtime.block_on(run(options));
            runtime.shutdown_timeout(Duration::from_secs(2));
            std::process::exit(code);
        }
        _ => {
            eprintln!("usage: chaos run --endpoint URL [--requests N] [--seconds N] [--concurrency N] [--seed N]");
            std::process::exit(2);
        }
    }
}

/// Command-line options of both modes.
#[derive(Debug, Clone)]
struct Options {
    endpoint: String,
    requests: usize,
    seconds: u64,
    concurrency: usize,
    seed: u64,
    // `serve` only: the request queue, the reply address to allow, the run file.
    legacy: usize,
    queue: String,
    allow: Vec<String>,
    runs: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut o = Options {
            endpoint: String::new(),
            requests: 3000,
            seconds: 300,
            concurrency: 32,
            seed: 1,
            legacy: 4,
            queue: String::new(),
            allow: Vec::new(),
            runs: PathBuf::new(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value")).clone();
            let number = || value.parse::<u64>().unwrap_or_else(|_| panic!("{flag}: not a number: {value}"));
            match flag.as_str() {
                "--endpoint" => o.endpoint = value.clone(),
                "--requests" => o.requests = usize::try_from(number()).unwrap_or(usize::MAX),
                "--seconds" => o.seconds = number().clamp(10, MAX_SECONDS),
                "--concurrency" => o.concurrency = usize::try_from(number()).unwrap_or(1).max(1),
                "--seed" => o.seed = number(),
                "--queue" => o.queue = value.clone(),
                "--allow" => o.allow.push(value.clone()),
                "--legacy" => o.legacy = usize::try_from(number()).unwrap_or(0),
                "--runs" => o.runs = PathBuf::from(&value),
                _ => panic!("unknown option {flag}"),
            }
        }
        assert!(!o.endpoint.is_empty(), "--endpoint URL (moto's) is required");
        o
    }
}

fn driver() -> DriverConfig {
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    driver
}

// ---------------------------------------------------------------- the server child

/// Serves the `work` tool on `--queue` through `--endpoint` until killed, or until
/// its stdin closes (the parent ended).
async fn serve(o: &Options) {
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let runs = RunLog::to_file(&o.runs).expect("run file");
    let tools = WorkTools { runs };
    let allow = o.allow.iter().fold(AllowList::new(), |list, address| list.exact(address));
    let mut config = ServerConfig::new(o.queue.clone(), allow);
    config.visibility_timeout = Duration::from_secs(u64::from(VISIBILITY_SECS));
    let queue = Arc::new(AwsQueueClient::new(&sdk_config_for(&o.endpoint)));
    let server = QueueServer::start_with(move || tools.clone(), config, queue, driver()).expect("server");
    server.run().await.expect("the queue failed at start");
}

/// The server child process: started, killed with SIGKILL, started again.
/// Each start writes its runs to a file of its own (`runs.N`), so a key that ran
/// twice in one process is told apart from one that ran again after a kill.
struct ServerProcess {
    args: Vec<String>,
    dir: PathBuf,
    starts: usize,
    child: Option<Child>,
}

impl ServerProcess {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log"));
        let log = log.expect("server log");
        let runs = self.dir.join(format!("runs.{}", self.starts));
        self.starts += 1;
        let child = Command::new(std::env::current_exe().expect("own path"))
            .arg("serve")
            .args(&self.args)
            .arg("--runs")
            .arg(runs)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the server child");
        self.child = Some(child);
    }

    /// SIGKILL (our own child, by its PID).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- the run

/// A small deterministic generator (splitmix64), so a seed replays the same plan.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    wrong: AtomicU64,
    errors: AtomicU64,
    /// Errors that are a timeout: no answer came.
    lost: AtomicU64,
    sessions: AtomicU64,
    sessions_failed: AtomicU64,
    error_kinds: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Tally {
    fn error(&self, kind: String) {
        self.errors.fetch_add(1, Ordering::SeqCst);
        if kind.contains("timed out") {
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
        let mut kinds = self.error_kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *kinds.entry(kind).or_default() += 1;
    }
}

/// Runs the chaos; returns the exit code: 0 when every request was answered with its
/// own answer and none ran twice in one server process.
async fn run(o: Options) -> i32 {
    let started = Instant::now();
    let hard_deadline = started + Duration::from_secs(o.seconds);
    // Stop sending early enough for every call to end (answer or timeout) in time.
    let send_until = hard_deadline.checked_sub(REQUEST_TIMEOUT + Duration::from_secs(15)).unwrap_or(started);
    let work_dir = std::env::temp_dir().join(format!("asyncmcp-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).expect("work directory");
    let upstream = o.endpoint.trim_start_matches("http://").parse().expect("--endpoint http://127.0.0.1:PORT");
    let relay = Relay::start(upstream);

    let direct = sdk_config_for(&o.endpoint);
    let admin = AwsAdmin::new(&direct);
    let tag = format!("chaos-{}", std::process::id());
    let spec = QueueSpec { visibility_timeout_secs: Some(VISIBILITY_SECS), ..QueueSpec::default() };
    let requests = admin.create_queue(&format!("{tag}-rq"), &spec).await.expect("request queue").url;
    let tap_queue = admin.create_queue(&format!("{tag}-tap"), &QueueSpec::default()).await.expect("tap queue").url;
    let replies = admin.create_queue(&format!("{tag}-rp"), &QueueSpec::default()).await.expect("reply queue").url;
    let mut legacy_queues = Vec::new();
    for w in 0..o.legacy.min(o.concurrency) {
        let queue = admin.create_queue(&format!("{tag}-rp-legacy-{w}"), &QueueSpec::default()).await;
        legacy_queues.push(queue.expect("legacy reply queue").url);
    }

    let mut server = ServerProcess {
        args: vec![
            "--endpoint".into(),
            relay.endpoint(),
            "--queue".into(),
            requests.clone(),
            "--allow".into(),
            replies.clone(),
        ]
        .into_iter()
        .chain(legacy_queues.iter().flat_map(|q| ["--allow".to_owned(), q.clone()]))
        .collect(),
        dir: work_dir.clone(),
        starts: 0,
        child: None,
    };
    server.start();

    let duplicated = Arc::new(AtomicU64::new(0));
    let dup_count = Arc::clone(&duplicated);
    let dup_rng = std::sync::Mutex::new(Rng(o.seed ^ 0xd0d0));
    let tap = Tap::start(aws_sdk_sqs::Client::new(&direct), tap_queue.clone(), requests.clone(), move |body| {
        if !body.contains("\"tools/call\"") {
            return 1;
        }
        let mut rng = dup_rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if rng.below(10) == 0 {
            dup_count.fetch_add(1, Ordering::SeqCst);
            2 + usize::try_from(rng.below(4)).unwrap_or(0)
        } else {
            1
        }
    });

    // The chaos monkey: outages of the server's link and kills of the server.
    let (cuts, kills) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let relay = Arc::new(relay);
    let monkey = {
        let (cuts, kills, relay) = (Arc::clone(&cuts), Arc::clone(&kills), Arc::clone(&relay));
        let mut rng = Rng(o.seed ^ 0xc4a05);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            for n in 0.. {
                if Instant::now() >= send_until {
                    break;
                }
                // The third fault is always an outage longer than the retry budget.
                let pick = if n == 2 { 0 } else { rng.below(10) };
                match pick {
                    0..=3 => {
                        let outage =
                            if n == 2 { 25 } else { [2, 4, 6, 10, 25][usize::try_from(rng.below(5)).unwrap_or(0)] };
                        eprintln!("chaos: +{:?} cut the server's link for {outage} s", started.elapsed());
                        relay.cut();
                        cuts.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(outage)).await;
                        relay.restore();
                    }
                    4..=7 => {
                        let down = rng.below(3000);
                        eprintln!("chaos: +{:?} kill -9 the server, restart after {down} ms", started.elapsed());
                        server.kill();
                        kills.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(down)).await;
                        server.start();
                    }
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(3000 + rng.below(5000))).await;
            }
            server
        })
    };

    // The calls: `concurrency` workers, each making one call at a time with a unique
    // key: modern ones share one client; each legacy one has a session (and a reply
    // queue) of its own and opens a new session when a call fails.
    let tallies = Arc::new([Tally::default(), Tally::default()]);
    let next = Arc::new(AtomicUsize::new(0));
    let work = Work {
        requests: o.requests,
        send_until,
        next: Arc::clone(&next),
        tallies: Arc::clone(&tallies),
        tag: tag.clone(),
    };
    let mut modern_config = ClientConfig::new(
        Address::Queue(tap_queue.clone()),
        Address::Queue(replies.clone()),
        replies.clone(),
        tag.clone(),
    );
    modern_config.era = Era::Modern;
    modern_config.request_timeout = REQUEST_TIMEOUT;
    let modern = connect(modern_config, &direct).await.expect("connect the modern client");
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..o.concurrency.saturating_sub(legacy_queues.len()).max(1) {
        let (work, peer) = (work.clone(), modern.peer().clone());
        let mut rng = Rng(o.seed ^ (w as u64) << 8);
        workers.spawn(async move {
            while let Some(i) = work.take()
                && work.call(&peer, MODERN, i, &mut rng).await
            {}
        });
    }
    for (w, reply_queue) in legacy_queues.iter().enumerate() {
        let (work, direct, tap_queue, reply_queue) =
            (work.clone(), direct.clone(), tap_queue.clone(), reply_queue.clone());
        let mut rng = Rng(o.seed ^ (w as u64) << 16);
        workers.spawn(async move {
            for session in 0.. {
                if Instant::now() >= work.send_until || work.next.load(Ordering::SeqCst) >= work.requests {
                    break;
                }
                let id = format!("{}-legacy-{w}-{session}", work.tag);
                let mut config = ClientConfig::new(
                    Address::Queue(tap_queue.clone()),
                    Address::Queue(reply_queue.clone()),
                    reply_queue.clone(),
                    id,
                );
                config.request_timeout = REQUEST_TIMEOUT;
                let client = match connect(config, &direct).await {
                    Ok(client) => client,
                    Err(e) => {
                        work.tallies[LEGACY].sessions_failed.fetch_add(1, Ordering::SeqCst);
                        eprintln!("chaos: a legacy session could not open: {}", short(&e));
                        continue;
                    }
                };
                work.tallies[LEGACY].sessions.fetch_add(1, Ordering::SeqCst);
                let peer = client.peer().clone();
                while let Some(i) = work.take()
                    && work.call(&peer, LEGACY, i, &mut rng).await
                {}
                let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
            }
        });
    }
    let progress = {
        let (next, tallies) = (Arc::clone(&next), Arc::clone(&tallies));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let answered: u64 = tallies.iter().map(|t| t.answered.load(Ordering::SeqCst)).sum();
                eprintln!("chaos: +{:?} {} taken, {answered} answered", started.elapsed(), next.load(Ordering::SeqCst));
            }
        })
    };
    let left = hard_deadline.saturating_duration_since(Instant::now());
    let all_ended = tokio::time::timeout(left, async { while workers.join_next().await.is_some() {} }).await.is_ok();
    workers.abort_all();
    progress.abort();
    let mut server = monkey.await.expect("monkey");
    relay.restore();
    // Let the last redeliveries run (or not) before counting runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.kill();
    tap.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), modern.cancel()).await;

    // Runs per key in each server process, then in all of them.
    let per_process: Vec<_> =
        (0..server.starts).map(|n| RunLog::read_file(&work_dir.join(format!("runs.{n}")))).collect();
    let mut runs = std::collections::BTreeMap::<&str, usize>::new();
    for process in &per_process {
        for (key, n) in process {
            *runs.entry(key).or_default() += n;
        }
    }
    let twice = runs.values().filter(|n| **n > 1).count();
    let twice_in_one_process = per_process.iter().flat_map(|p| p.values()).filter(|n| **n > 1).count();
    let total = |f: fn(&Tally) -> &AtomicU64| tallies.iter().map(|t| f(t).load(Ordering::SeqCst)).sum::<u64>();
    let (sent, answered, wrong, errors) =
        (total(|t| &t.sent), total(|t| &t.answered), total(|t| &t.wrong), total(|t| &t.errors));
    let lost = total(|t| &t.lost);
    let unfinished = sent - answered - wrong - errors;
    println!("sent {sent} / answered {answered} / errors {errors} / run twice {twice} / wrong answers {wrong}");
    for (era, tally) in ["modern", "legacy"].iter().zip(tallies.iter()) {
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        println!(
            "  {era}: sent {} / answered {} / errors {} (of which no answer in time: {}) / wrong answers {}{}",
            n(&tally.sent),
            n(&tally.answered),
            n(&tally.errors),
            n(&tally.lost),
            n(&tally.wrong),
            if *era == "legacy" {
                format!("; {} sessions opened, {} failed to open", n(&tally.sessions), n(&tally.sessions_failed))
            } else {
                String::new()
            }
        );
        let kinds = tally.error_kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for (kind, n) in &kinds {
            println!("    error x{n}: {kind}");
        }
    }
    println!(
        "  run twice: {twice_in_one_process} in one server process (never allowed), {} again in a server process \
         started after a kill -9 (a response cache in memory dies with its process)",
        twice - twice_in_one_process
    );
    println!(
        "  faults: {} outages of the server's link, {} kill -9 of the server, {} requests sent as 2-5 copies; \
         {unfinished} calls unfinished at the deadline; {:.0} s",
        cuts.load(Ordering::SeqCst),
        kills.load(Ordering::SeqCst),
        duplicated.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    let mut queues = vec![requests.as_str(), replies.as_str(), tap_queue.as_str()];
    queues.extend(legacy_queues.iter().map(String::as_str));
    cleanup(&admin, &queues).await;
    let _ = std::fs::remove_dir_all(&work_dir);
    let modern_errors = tallies[MODERN].errors.load(Ordering::SeqCst);
    i32::from(
        !(all_ended && unfinished == 0 && lost == 0 && wrong == 0 && twice_in_one_process == 0 && modern_errors == 0),
    )
}

/// Index of the modern era's [`Tally`].
const MODERN: usize = 0;
/// Index of the legacy era's [`Tally`].
const LEGACY: usize = 1;

/// What every worker shares: the next request index, the deadline, the tallies.
#[derive(Clone)]
struct Work {
    requests: usize,
    send_until: Instant,
    next: Arc<AtomicUsize>,
    tallies: Arc<[Tally; 2]>,
    tag: String,
}

impl Work {
    /// The next request's index, until `requests` are taken or sending time is over.
    fn take(&self) -> Option<usize> {
        if Instant::now() >= self.send_until {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        (i < self.requests).then_some(i)
    }

    /// Calls `work` for request `i` and records the outcome; false when it failed.
    async fn call(&self, peer: &Peer<RoleClient>, era: usize, i: usize, rng: &mut Rng) -> bool {
        let tally = &self.tallies[era];
        let key = format!("{}-{}-{i}", self.tag, ["m", "l"][era]);
        let args = serde_json::json!({"key": key, "ms": rng.below(200)});
        let serde_json::Value::Object(args) = args else { return false };
        tally.sent.fetch_add(1, Ordering::SeqCst);
        match peer.call_tool(CallToolRequestParams::new("work").with_arguments(args)).await {
            Ok(result) => {
                let text: String = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect();
                if text == answer(&key) {
                    tally.answered.fetch_add(1, Ordering::SeqCst);
                    true
                } else {
                    tally.wrong.fetch_add(1, Ordering::SeqCst);
                    eprintln!("chaos: wrong answer for {key}: {text}");
                    false
                }
            }
            Err(e) => {
                tally.error(kind(&e.to_string()));
                false
            }
        }
    }
}

/// An rmcp client of `config`'s era on moto (directly, never through the relay).
async fn connect(config: ClientConfig, direct: &SdkConfig) -> Result<RunningService<RoleClient, ()>, String> {
    let lifecycle = match config.era {
        Era::Modern => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        _ => ClientLifecycleMode::Initialize,
    };
    let queue = Arc::new(AwsQueueClient::new(direct));
    let transport = QueueClientTransport::spawn_with(config, queue, driver()).map_err(|e| e.to_string())?;
    ().serve_with_lifecycle(transport, lifecycle).await.map_err(|e| e.to_string())
}

/// The kind of a call's error, to group them: the known ones by name, others by
/// their text without request-specific numbers.
fn kind(message: &str) -> String {
    for known in ["session not found", "timed out", "could not be sent"] {
        if message.contains(known) {
            return known.to_owned();
        }
    }
    short(message)
}

/// A message, at most 160 characters, with every run of digits as `N`.
fn short(message: &str) -> String {
    let mut out = String::new();
    for c in message.chars().take(160) {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

async fn cleanup(admin: &AwsAdmin, queues: &[&str]) {
    for queue in queues {
        let _ = admin.delete_queue(queue).await;
    }
}
