//! A TCP relay between an SDK client and moto that a test can cut and restore: the
//! network outage of the fault tier.
//!
//! [`Relay::start`] listens on a free loopback port and forwards every connection to
//! the upstream address (moto's port). Point one side's `SdkConfig` at
//! [`Relay::endpoint`] and the other side at moto directly, and only the first
//! side's link goes down.
//!
//! [`Relay::cut`] is what an outage looks like to an HTTP client: every live
//! connection is reset (`SO_LINGER` 0, so the peer reads `ECONNRESET`, not a clean
//! end of stream) and the listening socket is closed, so new connections are refused
//! at once (`ECONNREFUSED`) and the SDK fails fast and retries, as it does when a
//! route is down. [`Relay::restore`] binds the same port again. Both return once the
//! change has taken effect, so a test can rely on it.
//!
//! The relay runs on a thread of its own with a one-thread tokio runtime, so it works
//! the same from synchronous tests, `#[tokio::test]`s and examples. Dropping the
//! [`Relay`] resets its connections and stops the thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// A cuttable TCP relay on `127.0.0.1`.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    counters: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a relay has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Connections accepted and forwarded.
    pub accepted: u64,
    /// Live connections reset by a cut.
    pub reset: u64,
    /// Cuts so far.
    pub cuts: u64,
}

impl Relay {
    /// Starts a relay to `upstream` on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound or the thread cannot start.
    pub fn start(upstream: SocketAddr) -> Relay {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("no tokio runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("cannot bind a loopback port: {e}")));
                            return;
                        }
                    };
                    let addr = listener.local_addr();
                    let _ = ready_tx.send(addr.map_err(|e| e.to_string()));
                    run(listener, upstream, receiver, shared).await;
                });
            })
            .unwrap_or_else(|e| panic!("cannot start the relay thread: {e}"));
        let addr = match ready_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("relay: {e}"),
            Err(_) => panic!("the relay thread ended before it listened"),
        };
        Relay { addr, commands, counters, thread: Some(thread) }
    }

    /// The address the relay listens on (it keeps it across cuts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resets every live connection and refuses new ones until [`restore`](Self::restore).
    /// Cutting a cut relay changes nothing. Blocks the calling thread for the few
    /// milliseconds this takes (also inside an async runtime: the relay runs on its
    /// own thread).
    ///
    /// # Panics
    /// When the relay thread has ended.
    pub fn cut(&self) {
        self.command(Command::Cut);
    }

    /// Listens again on the same port and forwards new connections.
    ///
    /// # Panics
    /// When the port cannot be bound again within 5 s, or the relay thread has ended.
    pub fn restore(&self) {
        self.command(Command::Restore);
    }

    /// What the relay has done so far.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            accepted: self.counters.accepted.load(Ordering::SeqCst),
            reset: self.counters.reset.load(Ordering::SeqCst),
            cuts: self.counters.cuts.load(Ordering::SeqCst),
        }
    }

    fn command(&self, make: fn(Ack) -> Command) {
        let (done, wait) = std::sync::mpsc::channel();
        assert!(self.commands.send(make(done)).is_ok(), "the relay thread has ended");
        match wait.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("relay: {e}"),
            Err(_) => panic!("the relay thread ended mid-command"),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let (done, _) = std::sync::mpsc::channel();
        let _ = self.commands.send(Command::Stop(done));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the relay thread says a command took effect (a std channel: the caller may
/// be inside another runtime, where an async wait could not block).
type Ack = std::sync::mpsc::Sender<Result<(), String>>;

enum Command {
    Cut(Ack),
    Restore(Ack),
    Stop(Ack),
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    reset: AtomicU64,
    cuts: AtomicU64,
}

/// The relay's loop: accepts while a listener is open, obeys commands, reaps
/// finished connections.
async fn run(
    listener: TcpListener,
    upstream: SocketAddr,
    mut commands: mpsc::UnboundedReceiver<Command>,
    counters: Arc<Counters>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    // Every connection task ends (resetting both of its sockets) when this changes.
    let (cut_tx, _) = watch::channel(0u64);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Command::Cut(done) => {
                        listener = None;
                        cut_tx.send_modify(|n| *n += 1);
                        while connections.join_next().await.is_some() {}
                        counters.cuts.fetch_add(1, Ordering::SeqCst);
                        let _ = done.send(Ok(()));
                    }
                    Command::Restore(done) => {
                        let result = match (&listener, addr) {
                            (Some(_), _) => Ok(()),
                            (None, Some(addr)) => rebind(addr).await.map(|l| listener = Some(l)),
                            (None, None) => Err("the relay lost its address".to_owned()),
                        };
                        let _ = done.send(result);
                    }
                    Command::Stop(done) => {
                        let _ = done.send(Ok(()));
                        break;
                    }
                }
            }
            accepted = accept(listener.as_ref()) => {
                if let Ok((client, _)) = accepted {
                    counters.accepted.fetch_add(1, Ordering::SeqCst);
                    // `subscribe` marks past cuts as seen: only a cut to come ends this one.
                    connections.spawn(pipe(client, upstream, cut_tx.subscribe(), Arc::clone(&counters)));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    cut_tx.send_modify(|n| *n += 1);
    while connections.join_next().await.is_some() {}
}

/// Accepts on `listener`, or waits forever while there is none (the relay is cut).
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Binds `addr` again (tokio sets `SO_REUSEADDR`, so connections of the last
/// listener that linger in `TIME_WAIT` do not block it).
async fn rebind(addr: SocketAddr) -> Result<TcpListener, String> {
    let mut last = String::new();
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("cannot listen on {addr} again: {last}"))
}

/// Forwards one connection both ways until either side closes or the relay is cut;
/// a cut resets both sockets.
async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<u64>, counters: Arc<Counters>) {
    let mut server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(_) => {
            reset(&client);
            return;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {
            reset(&client);
            reset(&server);
            counters.reset.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Makes the coming drop send a TCP reset instead of a clean end of stream.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener as StdListener, TcpStream as StdStream};

    use super::*;

    /// An upstream that echoes every byte back, on a thread per connection.
    fn echo_server() -> SocketAddr {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut StdStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text)?;
        let mut back = vec![0u8; text.len()];
        stream.read_exact(&mut back)?;
        Ok(back)
    }

    fn connect(relay: &Relay) -> std::io::Result<StdStream> {
        let stream = StdStream::connect_timeout(&relay.addr(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(stream)
    }

    #[test]
    fn forwards_then_cut_resets_and_refuses_then_restore_forwards_again() {
        let relay = Relay::start(echo_server());
        let mut live = connect(&relay).expect("connect through the relay");
        assert_eq!(round_trip(&mut live, b"hello").expect("echo"), b"hello");

        relay.cut();

        let broken = round_trip(&mut live, b"again").expect_err("a cut connection is dead");
        assert!(
            matches!(broken.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof),
            "the live connection was reset: {broken:?}"
        );
        let refused = connect(&relay).expect_err("a cut relay refuses connections");
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused:?}");

        relay.restore();

        let mut fresh = connect(&relay).expect("connect after the restore, same port");
        assert_eq!(round_trip(&mut fresh, b"back").expect("echo"), b"back");
        assert_eq!(relay.stats(), RelayStats { accepted: 2, reset: 1, cuts: 1 });
    }

    #[test]
    fn cutting_twice_and_restoring_twice_is_harmless() {
        let relay = Relay::start(echo_server());
        relay.cut();
        relay.cut();
        relay.restore();
        relay.restore();
        let mut stream = connect(&relay).expect("connect");
        assert_eq!(round_trip(&mut stream, b"x").expect("echo"), b"x");
    }
}
