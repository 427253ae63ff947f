//! The demo tool set: `echo`, `add` and `countdown`, an rmcp `#[tool_router]` server
//! that the `asyncmcp demo` command, the examples and the tests all serve.
//!
//! - `echo {text}` answers `text`.
//! - `add {a, b}` answers `a + b` for 64-bit integers; a sum that does not fit is an
//!   `invalid_params` error that says so, never a wrapped or saturated number.
//! - `countdown {from}` takes `from` steps of [`DemoTools::step`] each, sends a
//!   `notifications/progress` after each one when the caller asked for progress
//!   (`T-2`, `T-1`, `T-0`), and answers `liftoff`. A cancellation
//!   (`notifications/cancelled`) stops it within the step it arrives in: no further
//!   progress goes out, and it answers an error instead.
//!
//! Every clone of a [`DemoTools`] shares one set of counters, so a test can hand
//! the server a factory (`move || tools.clone()`) and still see what the handlers did.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use asyncmcp_tokio::proto::sim::QueueOptions;
//! use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, ServerConfig};
//! use asyncmcp_tokio::rmcp::demo::DemoTools;
//! use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
//! use rmcp::ServiceExt;
//! use rmcp::model::CallToolRequestParams;
//!
//! let queue = Arc::new(asyncmcp_tokio::memory_queue());
//! let requests = queue.create_queue("requests", QueueOptions::default());
//! let replies = queue.create_queue("replies", QueueOptions::default());
//!
//! let tools = DemoTools::new().with_step(Duration::from_millis(10));
//! let config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
//! let server = QueueServer::start(move || tools.clone(), config, queue.clone())?;
//! tokio::spawn(server.run());
//!
//! let config = ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "doc");
//! let client = ().serve(QueueClientTransport::spawn(config, queue)?).await?;
//! let add = CallToolRequestParams::new("add").with_arguments(rmcp::object!({"a": i64::MAX, "b": 1}));
//! let overflow = client.call_tool(add).await;
//! assert!(overflow.is_err(), "i64::MAX + 1 is an error, not a number");
//! client.cancel().await?;
//! # Ok(()) }
//! ```
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

/// The arguments of `echo`.
#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

/// The arguments of `add`.
#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AddArgs {
    /// The first addend.
    pub a: i64,
    /// The second addend.
    pub b: i64,
}

/// The arguments of `countdown`.
#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CountdownArgs {
    /// How many steps to count down from.
    pub from: u32,
}

/// How many countdowns the handlers of one [`DemoTools`] (and its clones) started,
/// finished and stopped on a cancellation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Countdowns {
    /// Countdowns that began.
    pub started: usize,
    /// Countdowns that reached `liftoff`.
    pub finished: usize,
    /// Countdowns that saw their cancellation and stopped.
    pub cancelled: usize,
}

#[derive(Debug, Default)]
struct Counters {
    started: AtomicUsize,
    finished: AtomicUsize,
    cancelled: AtomicUsize,
}

/// The demo's rmcp server: `echo`, `add` and `countdown` (see the [module](self)).
///
/// Clones share their counters ([`DemoTools::countdowns`]) and their step.
#[derive(Debug, Clone)]
pub struct DemoTools {
    step: Duration,
    counters: Arc<Counters>,
}

impl Default for DemoTools {
    fn default() -> Self {
        Self::new()
    }
}

impl DemoTools {
    /// The step of `countdown` unless [`with_step`](Self::with_step) sets another.
    pub const DEFAULT_STEP: Duration = Duration::from_millis(200);

    /// The tools, counting down one step every [`DEFAULT_STEP`](Self::DEFAULT_STEP).
    #[must_use]
    pub fn new() -> Self {
        DemoTools { step: Self::DEFAULT_STEP, counters: Arc::default() }
    }

    /// The same tools with `countdown` taking `step` per step.
    #[must_use]
    pub fn with_step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }

    /// How long one step of `countdown` takes.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.step
    }

    /// What the countdowns of this value and all its clones did so far.
    #[must_use]
    pub fn countdowns(&self) -> Countdowns {
        Countdowns {
            started: self.counters.started.load(Ordering::SeqCst),
            finished: self.counters.finished.load(Ordering::SeqCst),
            cancelled: self.counters.cancelled.load(Ordering::SeqCst),
        }
    }
}

#[tool_router]
impl DemoTools {
    /// `echo`: the text back.
    #[tool(description = "Echo the text back")]
    pub fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    /// `add`: the sum of two 64-bit integers.
    ///
    /// # Errors
    /// `invalid_params` when the sum does not fit in 64 bits.
    #[tool(description = "Add two 64-bit integers (an error if the sum does not fit)")]
    pub fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> Result<String, ErrorData> {
        a.checked_add(b)
            .map(|sum| sum.to_string())
            .ok_or_else(|| ErrorData::invalid_params(format!("{a} + {b} does not fit in a 64-bit integer"), None))
    }

    /// `countdown`: `from` steps, each reported as progress, then `liftoff`.
    ///
    /// # Errors
    /// When the request is cancelled, or a progress notification cannot be sent
    /// (the client is gone).
    #[tool(description = "Count down, reporting each step as progress; honours cancellation")]
    pub async fn countdown(
        &self,
        Parameters(CountdownArgs { from }): Parameters<CountdownArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        self.counters.started.fetch_add(1, Ordering::SeqCst);
        let token = context.meta.get_progress_token();
        for step in 1..=from {
            if context.ct.run_until_cancelled(tokio::time::sleep(self.step)).await.is_none() {
                self.counters.cancelled.fetch_add(1, Ordering::SeqCst);
                return Err(ErrorData::internal_error(format!("countdown cancelled at T-{}", from - step + 1), None));
            }
            if let Some(token) = &token {
                let note = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(from))
                    .with_message(format!("T-{}", from - step));
                context.peer.notify_progress(note).await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        self.counters.finished.fetch_add(1, Ordering::SeqCst);
        Ok("liftoff".to_owned())
    }
}

#[tool_handler]
impl ServerHandler for DemoTools {}
