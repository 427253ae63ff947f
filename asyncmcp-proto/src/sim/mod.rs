//! Deterministic in-memory SQS/SNS broker (stub: the simulator replaces this).
