//! Integration tests of rask-graph: one binary, one module per topic.

mod common;
mod errors;
mod graph;
mod order;
mod wire;
