//! The adapter scenarios on tokio, in paused (virtual) time.

use asyncmcp_tokio::TokioRuntime;

asyncmcp_tests::adapter_scenarios!(
    #[tokio::test(start_paused = true)]
    TokioRuntime::current()
);
