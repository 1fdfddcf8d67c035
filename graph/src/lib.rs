//! # rask-graph — the small core of rask
//!
//! rask is Dask's model in Rust: lazy collections build **one task graph**, and swappable
//! schedulers execute it. This crate is the graph and the traits everything meets at; it never
//! spawns a thread or touches the network.
//!
//! - [`Key`]: a tokenized name plus a block index, displayed like Dask's `('sum-3f9a…', 0)`.
//! - [`Task`]: an [`Op`] applied to [`Arg`]s (dependency keys or literal [`Value`]s).
//! - [`Value`]: an `Arc` of a type-erased [`Datum`] that knows its `nbytes()`.
//! - [`registry`]: ops and values serialize by stable registered names, gathered by the linker
//!   ([`register_op!`], [`register_value!`]), so **the graph is data**: it round-trips through
//!   postcard ([`Graph::to_bytes`]) and computes the same result on the other side.
//! - [`Graph`]: built layer by layer ([`Layer`]), merged, [culled](Graph::cull),
//!   [fused](Graph::fuse_linear), and [lowered](Plan::lower) to a [`Plan`] on dense `u32` ids in
//!   priority order.
//! - The traits: [`Collection`] (with `compute()` and `persist()` on the default scheduler),
//!   [`Scheduler`] (one required method, `get`), [`Callback`].
//! - [`config`]: the default scheduler and callbacks — scoped, held by a scheduler object for
//!   its lifetime, process-wide, or a fallback a linked crate registers.
//! - [`layers`] and [`optimize`]: the collection author's kit: one task per partition or block,
//!   `split_every` reduction trees, and a runner for registered optimization passes
//!   ([`register_pass!`]).
//! - [`named`]: plain functions registered by path (the `#[named]` attribute), so tasks
//!   calling them cross process boundaries.
//! - [`item`]: the items calling convention: named functions called on single records of
//!   types checked when they run, for collections that stream records.
//! - [`exec`]: the scheduler author's kit: the guarded task run (arity checked, errors and
//!   panics caught and named), a whole plan run in order, callback events.
//! - [`delayed`]: lazy calls over closures and values.
//! - [`dot::to_dot`]: the graph as a DOT picture.
//!
//! ```
//! use rask_graph::{ops::{AddConst, Sum}, Arg, Graph, Key, Layer, Plan, Task, Value};
//!
//! // x_i = i + 1 for i in 0..4, then their sum: two layers, five tasks.
//! let mut g = Graph::new();
//! let mut x = Layer::new("x");
//! for i in 0..4u32 {
//!     x.insert([i], Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))]));
//! }
//! g.add_layer(x);
//! let mut total = Layer::new("total");
//! total.insert([], Task::new(Sum, (0..4).map(|i| Arg::Key(Key::new("x", [i])))));
//! g.add_layer(total);
//!
//! // The graph is data: it survives a trip through bytes.
//! let g = Graph::from_bytes(&g.to_bytes().unwrap()).unwrap();
//! let plan = Plan::lower(&g, &[Key::new("total", [])]).unwrap();
//! assert_eq!(plan.len(), 5);
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod callback;
pub mod config;
pub mod delayed;
pub mod dot;
mod error;
pub mod exec;
pub mod files;
mod fuse;
mod graph;
mod indices;
pub mod item;
mod key;
pub mod layers;
pub mod named;
mod op;
pub mod optimize;
mod plan;
pub mod registry;
mod scheduler;
mod task;
mod together;
pub mod tokenize;
mod value;
mod wire;

pub use callback::{
    Callback, Callbacks, ComputeFinish, ComputeStart, Event, ResultReleased, TaskFinish, TaskStart,
    WorkerId,
};
pub use delayed::Delayed;
pub use error::{ComputeError, GraphError, SharedError, TaskError, panic_message};
pub use fuse::{ChainArg, Fused, OpBox, ValueBox};
pub use graph::{Graph, KeyMap, KeySet, Layer, ReaderCounts, Rewrite};
pub use key::{Key, KeyIndex};
pub use op::{Args, Arity, Op, downcast_op};
pub use plan::{Plan, PlanArg};
pub use scheduler::{Collection, Scheduler, graph_of_tasks, graph_of_values};
pub use task::{Arg, Task};
pub use together::{Together, compute_all, compute_all_with};
pub use value::{Datum, Value};
pub use wire::WIRE_VERSION;

/// The built-in ops: small, registered, useful in tests, benchmarks and `delayed` graphs.
pub mod ops {
    pub use crate::op::{AddConst, Held, Identity, Sum};
}

#[doc(hidden)]
pub mod __private {
    pub use linkme;
}
