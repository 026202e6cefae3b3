//! Small helpers shared by several suites (waiting on observable effects, reading logs).
