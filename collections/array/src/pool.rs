//! Block buffers kept for reuse. A fresh 8 MB block costs the kernel 2048 page faults and
//! 8 MB of zeroing before a single value is written (a sixth of the fancy calculation on
//! random data); a buffer given back by a dropped block and handed to the next block of the
//! same size costs neither.
//!
//! Blocks of at least [`MIN_BYTES`] give their buffer back when their [`Chunk`] is dropped;
//! [`big_vec`] takes one of the same capacity if there is one. The pool holds at most
//! [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] bytes (the most recently given first out, while
//! it is still in cache), so what it keeps beyond a computation's own memory is bounded; and it
//! gives everything back when a scheduler short of memory calls
//! `rask_graph::registry::release_caches` (a distributed worker does, before it spills).
//!
//! [`Chunk`]: crate::chunk::Chunk
//! [`big_vec`]: crate::chunk::big_vec

use std::any::{Any, TypeId};
use std::sync::Mutex;

/// Buffers smaller than this are left to the allocator (which reuses them without faults).
pub(crate) const MIN_BYTES: usize = 1 << 20;
/// The most buffers kept.
pub(crate) const MAX_BUFFERS: usize = 16;
/// The most bytes kept.
pub(crate) const MAX_BYTES: usize = 256 << 20;

/// One kept buffer: its element type, its capacity in bytes, and the `Vec` itself.
struct Kept {
    ty: TypeId,
    bytes: usize,
    buffer: Box<dyn Any + Send>,
}

static POOL: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// Keeps `v`'s memory for a later block of the same type and capacity, if there is room.
pub(crate) fn give<T: Send + 'static>(mut v: Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
        return;
    }
    v.clear();
    let Ok(mut pool) = POOL.lock() else {
        return;
    };
    // Room is made by dropping the oldest buffers.
    let mut held: usize = pool.iter().map(|k| k.bytes).sum();
    while !pool.is_empty() && (pool.len() >= MAX_BUFFERS || held + bytes > MAX_BYTES) {
        held -= pool.remove(0).bytes;
    }
    pool.push(Kept {
        ty: TypeId::of::<T>(),
        bytes,
        buffer: Box::new(v),
    });
}

/// An empty buffer of exactly `capacity` elements of `T` that a dropped block gave back, if
/// there is one.
pub(crate) fn take<T: Send + 'static>(capacity: usize) -> Option<Vec<T>> {
    let bytes = capacity.checked_mul(size_of::<T>())?;
    if bytes < MIN_BYTES {
        return None;
    }
    let mut pool = POOL.lock().ok()?;
    let i = pool
        .iter()
        .rposition(|k| k.ty == TypeId::of::<T>() && k.bytes == bytes)?;
    let kept = pool.remove(i);
    drop(pool);
    kept.buffer.downcast::<Vec<T>>().ok().map(|b| *b)
}

/// Gives back every buffer the pool keeps (and, with glibc, the freed memory to the system),
/// returning their bytes: registered with rask-graph, which a distributed worker short of
/// memory calls before it spills.
fn release() -> usize {
    let kept: Vec<Kept> = POOL
        .lock()
        .map(|mut p| p.drain(..).collect())
        .unwrap_or_default();
    let bytes = kept.iter().map(|k| k.bytes).sum();
    drop(kept);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if bytes > 0 {
        // SAFETY: malloc_trim only returns free heap memory to the system.
        unsafe { libc::malloc_trim(0) };
    }
    bytes
}

rask_graph::register_cache!(release);

/// The buffers and bytes the pool holds now.
#[cfg(test)]
pub(crate) fn held() -> (usize, usize) {
    POOL.lock()
        .map(|p| (p.len(), p.iter().map(|k| k.bytes).sum()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{Chunk, big_vec};
    use ndarray::{ArrayD, IxDyn};

    /// Serializes the tests that look at the process-wide pool.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn a_dropped_blocks_buffer_is_the_next_blocks() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let n = 1 << 18; // 2 MiB of f64
        let mut v: Vec<f64> = big_vec(n).unwrap();
        v.resize(n, 1.5);
        let ptr = v.as_ptr();
        drop(Chunk(ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap()));
        // Another type or another size does not take it.
        assert!(take::<f32>(2 * n).is_none());
        assert!(take::<f64>(n + 1).is_none());
        let again: Vec<f64> = big_vec(n).unwrap();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty() && again.capacity() == n);
        // Small blocks are the allocator's.
        drop(Chunk(ArrayD::from_elem(IxDyn(&[1000]), 0.0f64)));
        assert!(take::<f64>(1000).is_none());
    }

    #[test]
    fn the_pool_is_bounded() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..(MAX_BUFFERS + 5) {
            give(Vec::<u8>::with_capacity(MIN_BYTES));
        }
        let (buffers, bytes) = held();
        assert!(
            buffers <= MAX_BUFFERS && bytes <= MAX_BYTES,
            "{buffers} buffers, {bytes} bytes"
        );
        // Too big to keep at all.
        give(Vec::<u8>::with_capacity(MAX_BYTES + 1));
        assert!(held().1 <= MAX_BYTES);
        // A scheduler short of memory empties it.
        let had = held().1;
        assert!(had > 0);
        assert!(rask_graph::registry::release_caches() >= had);
        assert_eq!(held(), (0, 0));
    }
}
