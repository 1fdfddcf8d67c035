//! The synchronization primitives of the threaded scheduler, in one place so that a model
//! checker (loom) can be swapped in for them.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
