//! Integration tests of rask-local: one binary.

mod callbacks;
mod equivalence;
mod failures;
mod memory;
mod pool;
