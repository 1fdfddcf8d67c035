//! # rask-distributed — a scheduler, workers and clients over TCP
//!
//! rask's fourth scheduler, after sync, threaded and processes: Dask's `distributed`.
//!
//! - **The scheduler** ([`SchedulerHandle`], `rask scheduler`) keeps the graph and decides
//!   what runs where with [`rask_scheduling::SchedulerState`] — the state machine the
//!   process pool uses too. It keeps ops as opaque encoded bytes with their registered
//!   names: it never runs one, so one stock binary schedules for any program.
//! - **Workers** ([`run_worker`], `rask worker ADDRESS`) run tasks on a pool of compute
//!   threads, highest priority first, keep the results, and serve them to other workers and
//!   to clients on a data port of their own: values travel worker to worker, never through
//!   the scheduler. A worker advertises the ops it has; the scheduler sends it only tasks it
//!   can run, and a task no connected worker can run is an error naming its op.
//! - **Clients** ([`Client`]) send graphs and gather results; a client is the default
//!   scheduler of its process while it lives.
//! - [`LocalCluster`] starts a scheduler in this process and workers as child processes of
//!   the current executable.
//!
//! Resilience: workers send heartbeats, and one that dies or stays silent past the TTL is
//! removed — what only it held is recomputed, and a task blamed for three deaths fails; a
//! client that disconnects lets go of what it wanted, and work no one else needs is released.
//! The scheduler itself is a single process: if it dies, its workers exit (they lose their
//! connection) and clients see `Disconnected`; restarting it with its state is out of scope.
//!
//! Every connection opens with a handshake — protocol version and shared token — and a peer
//! that fails it is refused before anything else is read. Frames are length-prefixed
//! postcard; values follow their header frame as raw bytes.
//!
//! ```no_run
//! use rask_distributed::{Client, LocalCluster};
//! let cluster = LocalCluster::builder().n_workers(2).threads_per_worker(1).build()?;
//! let client = Client::new(&cluster)?;
//! println!("{cluster}\n{client}");
//! # Ok::<(), rask_distributed::DistributedError>(())
//! ```
//!
//! Unix only. This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]
#![cfg(unix)]

pub mod cli;
mod client;
mod cluster;
mod error;
mod futures;
mod memory;
mod protocol;
mod server;
mod status;
mod tls;
mod worker;

pub use client::{Client, WorkerSummary};
pub use cluster::{LocalCluster, LocalClusterBuilder};
pub use error::DistributedError;
pub use futures::{AsCompleted, Future, FutureStatus, as_completed};
pub use memory::MemoryThresholds;
pub use protocol::PROTOCOL;
pub use server::{SchedulerHandle, SchedulerOptions};
pub use status::{ClusterStatus, TaskCounts, WorkerStatus};
pub use tls::TlsConfig;
pub use worker::{FAKE_OP_VERSION_ENV, WORKER_ENV, WorkerOptions, run_worker};
