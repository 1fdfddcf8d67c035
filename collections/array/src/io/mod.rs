//! Arrays on disk and elsewhere: `.npy` files (NumPy's format, [`npy`]) read lazily
//! through a memory map and written block by block in place, zarr stores ([`zarr`], feature
//! `zarr`), and [`Array::store`] into any [`Sink`].
//!
//! Writing is a lazy [`Stored`] collection: computing it writes. A file or store is written
//! to a partial one beside the target — its own, with a unique name, so that writers of one
//! target at once do not mix — and moved over the target in one atomic step only when every
//! block is written (the last writer wins, whole). A computation that fails leaves the target
//! as it was and removes its partial output. The directory that holds the target must exist
//! (as NumPy's and Dask's writers ask; nothing is created above the target).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rask_graph::tokenize::{Tokenizer, key_name, unique_token};
use rask_graph::{
    Arg, Args, Collection, ComputeError, Graph, Key, Layer, Op, Task, TaskError, Value,
};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::block_view;
use crate::element::Element;
use crate::error::{ArrayError, KernelError};

pub mod npy;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use npy::{NpyHeader, read_npy_header};
#[cfg(feature = "zarr")]
pub use zarr::ZarrElement;

/// Moves the finished partial file or store over the target, once every block is written
/// (its arguments: the create task and every write).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveIntoPlace {
    label: String,
    partial: PathBuf,
    path: PathBuf,
}

impl Op for MoveIntoPlace {
    fn name(&self) -> &str {
        &self.label
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        move_into_place(&self.partial, &self.path).map_err(|e| {
            TaskError::new(format!(
                "cannot move {} to {}: {e}",
                self.partial.display(),
                self.path.display()
            ))
        })?;
        Ok(Value::new(args.len().saturating_sub(1) as u64))
    }
}

/// Moves `partial` over `path` in one atomic step: a rename for a file (or a directory where
/// there is none yet); for a directory that is there already (another writer's, finished
/// meanwhile), an atomic exchange, then the old one is removed.
fn move_into_place(partial: &Path, path: &Path) -> std::io::Result<()> {
    match std::fs::rename(partial, path) {
        Ok(()) => Ok(()),
        Err(e) if partial.is_dir() && path.is_dir() => {
            exchange(partial, path).map_err(|_| e)?;
            // `partial` now names the old store.
            std::fs::remove_dir_all(partial)
        }
        Err(e) => Err(e),
    }
}

/// Swaps two paths atomically (Linux's `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call; the call takes
    // no other pointers.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Without an atomic exchange: the old one is moved aside first.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let aside = a.with_extension("rask-old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// A partial file or directory of its own beside `path`, for one write to go into first; an
/// error if `path` names no file or the directory that would hold it does not exist.
fn partial_beside(path: &Path) -> Result<PathBuf, ArrayError> {
    let name = path
        .file_name()
        .ok_or_else(|| ArrayError::format(path, "names no file or directory"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(ArrayError::io(
            "write into the directory of",
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not a directory", parent.display()),
            ),
        ));
    }
    Ok(path.with_file_name(format!(
        ".{}.{}.rask-partial",
        name.to_string_lossy(),
        unique_token()
    )))
}

rask_graph::register_op!(MoveIntoPlace, "rask.array.move-into-place");

/// A write of an array, not yet done: computing it writes every block and returns how many.
#[derive(Clone)]
#[must_use = "a store is lazy: nothing is written until it is computed"]
pub struct Stored {
    graph: Graph,
    key: Key,
    /// The partial file or directory, removed if the computation fails (none for a sink).
    partial: Option<PathBuf>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stored({})", self.key)
    }
}

impl Collection for Stored {
    type Output = u64;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }

    fn finalize(&self, values: Vec<Value>) -> Result<u64, ComputeError> {
        let v = values.into_iter().next().ok_or(ComputeError::ResultCount {
            expected: 1,
            found: 0,
        })?;
        v.get::<u64>()
            .copied()
            .map_err(|_| ComputeError::ResultType {
                key: self.key.clone(),
                expected: "u64",
                found: v.type_name(),
            })
    }

    /// The array passes, as for the array written: an elementwise expression that is stored
    /// is fused and made tile by tile like one that is returned.
    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        Ok(rask_graph::optimize::optimize(
            "array",
            &self.graph,
            &self.output_keys(),
        )?)
    }

    /// The partial output of a write that did not finish is removed (the target is left as
    /// it was).
    fn on_failure(&self, _error: &ComputeError) {
        if let Some(p) = &self.partial {
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
        }
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Self {
            graph,
            key: self.key.clone(),
            partial: self.partial.clone(),
        }
    }
}

/// Where [`Array::store`] puts blocks: called once per block, from the scheduler's workers,
/// with the block's index, where it sits, and its elements.
pub trait Sink<T>: Send + Sync {
    /// Takes one block. An error (any: `?` converts it into a [`KernelError`]) fails the
    /// computation, naming the block.
    fn put(
        &self,
        index: &[u32],
        location: &[std::ops::Range<usize>],
        block: ndarray::ArrayViewD<'_, T>,
    ) -> Result<(), KernelError>;
}

impl<T: Element> Array<T> {
    /// A write that goes into `partial` first: `create` makes it, `write(ranges)` is the op
    /// putting the block at `ranges` (it also waits for `create`), and once every block is in,
    /// the partial is moved over `path`. Layers are named `{label}-create`, `to-{label}` and
    /// `{label}-finish`.
    fn write_via_partial(
        &self,
        label: &str,
        path: PathBuf,
        partial: PathBuf,
        create: Task,
        write: impl Fn(&[std::ops::Range<usize>]) -> Arc<dyn Op>,
    ) -> Stored {
        let token = Tokenizer::new()
            .write_str(self.name())
            .write_str(&path.display().to_string())
            .finish();
        let mut create_layer = Layer::new(key_name(&format!("{label}-create"), &token));
        create_layer.insert([], create);
        let create_key = create_layer.key([]);
        let mut writes =
            Layer::with_capacity(key_name(&format!("to-{label}"), &token), self.npartitions());
        for index in self.chunks().blocks() {
            let op = write(&self.chunks().block_ranges(&index));
            writes.insert(
                index.clone(),
                Task::from_arc(
                    op,
                    [Arg::Key(self.key(&index)), Arg::Key(create_key.clone())],
                ),
            );
        }
        let mut finish = Layer::new(key_name(&format!("{label}-finish"), &token));
        let args: Vec<Arg> = std::iter::once(Arg::Key(create_key))
            .chain(writes.iter().map(|(k, _)| Arg::Key(k)))
            .collect();
        let done = MoveIntoPlace {
            label: format!("{label}-finish"),
            partial: partial.clone(),
            path,
        };
        finish.insert([], Task::new(done, args));
        let key = finish.key([]);
        let mut graph = self.graph().clone();
        graph.add_layer(create_layer);
        graph.add_layer(writes);
        graph.add_layer(finish);
        Stored {
            graph,
            key,
            partial: Some(partial),
        }
    }

    /// A write of every block into `sink`, done when computed (Dask's `store`): blocks are
    /// handed over as they are made and dropped after, so memory stays bounded.
    pub fn store(&self, sink: Arc<dyn Sink<T>>) -> Result<Stored, ArrayError> {
        self.check()?;
        let token = unique_token();
        let mut writes = Layer::with_capacity(key_name("store", &token), self.npartitions());
        for index in self.chunks().blocks() {
            let location = self.chunks().block_ranges(&index);
            let (sink, at) = (Arc::clone(&sink), index.clone());
            let op = rask_graph::delayed::ClosureOp::new("store", move |args| {
                let block = block_view::<T>(&args[0])?;
                sink.put(&at, &location, block)
                    .map_err(|e| TaskError::new(e.to_string()))?;
                Ok(Value::new(1u64))
            });
            writes.insert(index.clone(), Task::new(op, [Arg::Key(self.key(&index))]));
        }
        let mut done = Layer::new(key_name("store-done", &token));
        let n = self.npartitions() as u64;
        let count = rask_graph::delayed::ClosureOp::new("store-done", move |_| Ok(Value::new(n)));
        done.insert(
            [],
            Task::new(
                count,
                writes.iter().map(|(k, _)| Arg::Key(k)).collect::<Vec<_>>(),
            ),
        );
        let key = done.key([]);
        let mut graph = self.graph().clone();
        graph.add_layer(writes);
        graph.add_layer(done);
        Ok(Stored {
            graph,
            key,
            partial: None,
        })
    }
}
