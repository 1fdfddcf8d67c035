//! Integration tests of rask-distributed: a real scheduler, real worker processes (this
//! binary started again), real TCP.

mod cluster;
mod futures;
mod security;

pub use rask_testing::ops::{Crash, Fail, Slow};
