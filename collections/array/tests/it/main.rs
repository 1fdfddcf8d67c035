//! Integration tests of rask-array: every result checked against plain ndarray.

mod chunks;
mod creation;
mod cumulative;
mod elementwise;
mod kernels;
mod linalg;
mod random;
mod rechunk;
mod reductions;
mod reshape;
mod shape;
mod slicing;
mod steps;
mod storage;
mod unknown_sizes;
