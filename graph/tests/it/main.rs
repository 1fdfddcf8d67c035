//! Integration tests of rask-graph: one binary, one module per topic.

mod common;
mod config;
mod errors;
mod exec;
mod graph;
mod kit;
mod named;
mod order;
mod wire;
