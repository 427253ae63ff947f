//! The adapter scenarios on async-std, in real time.

use asyncmcp_async_std::AsyncStdRuntime;

asyncmcp_tests::adapter_scenarios!(
    #[async_std::test]
    AsyncStdRuntime
);
