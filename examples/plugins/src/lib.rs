//! # rask-plugins — rask extended from outside
//!
//! Everything here uses rask's public API only (this crate depends on `rask` and nothing of
//! rask's insides), as a third party would:
//! - [`LifoScheduler`]: a scheduler of one's own — it runs, among the ready tasks, the one of
//!   *lowest* priority first, and logs every task — built on the scheduler author's kit
//!   (`rask::graph::exec`) and installed as the default with a guard.
//! - [`Series`]: a collection of one's own — a 1-d series in `Vec<T>` partitions with `map`
//!   by named function and `sum` through the reduction-tree kit (`rask::graph::layers`) — that
//!   computes on every scheduler, the process pool included, and together with an array.
//!
//! ```
//! use rask::prelude::*;
//! use rask_plugins::{LifoScheduler, Series};
//!
//! #[rask::named]
//! fn triple(x: &i64) -> i64 {
//!     3 * x
//! }
//!
//! let s = Series::from_vec("s", (1..=10).collect(), 3);
//! let total = s.map("triple", triple).sum();
//! let lifo = LifoScheduler::default();
//! let _default = rask::config::set_scheduler(lifo.clone());
//! assert_eq!(total.compute()?, 165);
//! assert!(!lifo.log().is_empty());
//! # Ok::<(), rask::ComputeError>(())
//! ```
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod lifo;
mod series;

pub use lifo::LifoScheduler;
pub use series::{Series, SeriesItem, Total};
