//! Scale-out in the simulator (`scripts/bench.sh scaleout`, row 5): modern-era
//! (stateless) `tools/call` requests served by 1, 2, 4 and 8 [`Server`] workers that
//! share one request queue of a [`Broker`], in simulated time.
//!
//! Each worker stands for one process whose application runs at most `CONCURRENCY`
//! requests at once (its `max_in_flight`) and answers each after `SERVICE`; so one
//! worker serves at most `CONCURRENCY / SERVICE` requests per second and `n` workers
//! ideally `n` times that. Sixteen clients keep `DEPTH` requests each in flight (far
//! more than eight workers can hold), each on its own reply queue. The workers
//! receive in a rotating order, as SQS spreads messages among its pollers. Prints,
//! per worker count, the simulated throughput, its ratio to linear scaling from one
//! worker, and how many requests each worker answered:
//! `SCALE workers=N throughput=R ratio=X split=a/b/..`.
//!
//! `cargo run --release -p asyncmcp-proto --features sim --example scale_out`
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use asyncmcp_proto::sim::{Broker, QueueOptions, SimConfig, echo_responder};
use asyncmcp_proto::{
    Address, AllowList, Client, ClientConfig, ClientEvent, Era, JsonRpcMessage, MessageKind, RequestId, Route, Server,
    ServerConfig, ServerEvent,
};

const REQUESTS: usize = 4_000;
const CLIENTS: usize = 16;
const DEPTH: usize = 8;
const CONCURRENCY: usize = 4;
const SERVICE: Duration = Duration::from_millis(20);

struct Run {
    throughput: f64,
    split: Vec<usize>,
    answered: usize,
}

fn run(workers: usize, start: Instant) -> Run {
    let sim = SimConfig::default();
    let mut broker = Broker::new(sim.clone(), start, [1; 32]);
    let unix = broker.unix_millis(start);
    let server_queue = broker.create_queue("requests", QueueOptions::default());
    let allow = AllowList::new().prefix(format!("{}/{}/", sim.endpoint, sim.account));
    let mut servers: Vec<Server> = (0..workers)
        .map(|w| {
            let mut config = ServerConfig::new(server_queue.clone(), allow.clone());
            config.max_in_flight = CONCURRENCY;
            config.common.start_unix_millis = unix;
            let mut seed = [2; 32];
            seed[1] = w as u8;
            Server::new(config, start, seed).expect("a valid server config")
        })
        .collect();
    let mut clients: Vec<(Client, String)> = (0..CLIENTS)
        .map(|c| {
            let reply = broker.create_queue(&format!("replies-{c}"), QueueOptions::default());
            let mut config = ClientConfig::new(
                Address::Queue(server_queue.clone()),
                Address::Queue(reply.clone()),
                reply.clone(),
                format!("client-{c}"),
            );
            config.era = Era::Modern;
            config.common.start_unix_millis = unix;
            let mut seed = [3; 32];
            seed[1] = c as u8;
            (Client::new(config, start, seed).expect("a valid client config"), reply)
        })
        .collect();

    let mut now = start;
    let mut next_id = 0i64;
    let mut submitted = 0;
    let mut completed = 0;
    let mut split = vec![0usize; workers];
    let mut submit = |client: &mut Client, now: Instant, submitted: &mut usize| {
        next_id += 1;
        let params = serde_json::json!({"name": "echo", "arguments": {"text": "ping"}});
        let request = JsonRpcMessage::request(RequestId::Number(next_id), "tools/call", Some(params));
        client.submit(request, now).expect("the client takes a request");
        *submitted += 1;
    };
    for (client, _) in &mut clients {
        for _ in 0..DEPTH {
            submit(client, now, &mut submitted);
        }
    }
    // (due, sequence) -> (worker, route, answer)
    let mut answers: BTreeMap<(Instant, u64), (usize, Route, JsonRpcMessage)> = BTreeMap::new();
    let mut answer_seq = 0u64;
    let mut turn = 0usize;
    while completed < REQUESTS {
        let mut moved = false;
        for (client, _) in &mut clients {
            while let Some(op) = client.poll_op() {
                let result = broker.handle_op(&op, now);
                client.handle_op_result(op.id, result, now);
                moved = true;
            }
        }
        for server in &mut servers {
            while let Some(op) = server.poll_op() {
                let result = broker.handle_op(&op, now);
                server.handle_op_result(op.id, result, now);
                moved = true;
            }
        }
        for (w, server) in servers.iter_mut().enumerate() {
            while let Some(event) = server.poll_event() {
                moved = true;
                if let ServerEvent::Message { route, message } = &event
                    && message.kind() == MessageKind::Request
                    && let Some(answer) = echo_responder(route, message)
                {
                    answers.insert((now + SERVICE, answer_seq), (w, route.clone(), answer));
                    answer_seq += 1;
                    split[w] += 1;
                }
            }
        }
        while let Some(entry) = answers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (w, route, answer) = entry.remove();
            servers[w].submit(&route, answer, now).expect("the route is open");
            moved = true;
        }
        for (client, _) in &mut clients {
            while let Some(event) = client.poll_event() {
                moved = true;
                if let ClientEvent::Message(m) = &event
                    && m.kind().is_reply()
                {
                    completed += 1;
                    if submitted < REQUESTS {
                        submit(client, now, &mut submitted);
                    }
                }
            }
        }
        // SQS spreads messages among its pollers: each pump starts with the next worker.
        turn = (turn + 1) % workers;
        for i in 0..workers {
            let server = &mut servers[(turn + i) % workers];
            let visibility = server.config().receive_visibility();
            for message in broker.receive_for(&server_queue, server.receive_credit(), visibility, now) {
                server.handle_inbound(message, now);
                moved = true;
            }
        }
        for (client, reply) in &mut clients {
            let visibility = client.config().common.receive_visibility;
            for message in broker.receive_for(reply, client.receive_credit(), visibility, now) {
                client.handle_inbound(message, now);
                moved = true;
            }
        }
        if moved {
            continue;
        }
        let next = servers
            .iter()
            .map(Server::poll_timeout)
            .chain(clients.iter().map(|(c, _)| c.poll_timeout()))
            .chain([broker.poll_timeout(), answers.keys().next().map(|(t, _)| *t)])
            .flatten()
            .min()
            .expect("something is left to happen");
        now = now.max(next);
        for server in &mut servers {
            server.handle_timeout(now);
        }
        for (client, _) in &mut clients {
            client.handle_timeout(now);
        }
        broker.handle_timeout(now);
    }
    let elapsed = now.saturating_duration_since(start).as_secs_f64();
    Run { throughput: completed as f64 / elapsed, split, answered: answer_seq as usize }
}

fn main() {
    // The machines read no clock; this is only the simulation's origin.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let ideal = CONCURRENCY as f64 / SERVICE.as_secs_f64();
    println!(
        "{REQUESTS} modern tools/call requests, {CLIENTS} clients x {DEPTH} in flight; each worker runs {CONCURRENCY} at once, {} ms each (ideal {ideal:.0}/s per worker)",
        SERVICE.as_millis()
    );
    let mut one = 0.0;
    for workers in [1, 2, 4, 8] {
        #[allow(clippy::disallowed_methods)]
        let cpu = Instant::now();
        let r = run(workers, start);
        if workers == 1 {
            one = r.throughput;
        }
        let ratio = r.throughput / (one * workers as f64);
        let split: Vec<String> = r.split.iter().map(usize::to_string).collect();
        println!(
            "SCALE workers={workers} throughput={:.1} ratio={ratio:.3} split={} answered={} wall_ms={}",
            r.throughput,
            split.join("/"),
            r.answered,
            cpu.elapsed().as_millis()
        );
    }
}
