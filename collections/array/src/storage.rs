//! Arrays on disk: `.npy` files (NumPy's format) read lazily through a memory map, block by
//! block, and written block by block in place; and [`Array::store`] into any [`Sink`].
//!
//! Writing is a lazy [`Stored`] collection: computing it writes. An `.npy` file is written to
//! a partial file beside the target and renamed over it only when every block is written, so a
//! computation that fails leaves the target as it was.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::tokenize::{Tokenizer, key_name, unique_token};
use rask_graph::{
    Arg, Args, Collection, ComputeError, Graph, Key, Layer, Op, Task, TaskError, Value,
};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::{DType, Element};
use crate::error::ArrayError;

fn storage_error(message: String) -> ArrayError {
    ArrayError::Shape {
        what: "npy".into(),
        message,
    }
}

/// NumPy's type string for a dtype (little-endian).
fn descr(d: DType) -> &'static str {
    match d {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::U64 => "<u8",
        DType::U32 => "<u4",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
    }
}

/// An `.npy` file's header: element type, C order, shape, and where the data starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// NumPy's type string, as `<f8`.
    pub descr: String,
    /// Whether the data is in Fortran order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// The byte offset of the data.
    pub data_offset: usize,
}

/// Reads and checks the header of the `.npy` file at `path`.
pub fn read_npy_header(path: &Path) -> Result<NpyHeader, ArrayError> {
    let file = File::open(path)
        .map_err(|e| storage_error(format!("cannot open {}: {e}", path.display())))?;
    let mut head = [0u8; 12];
    let n = file
        .read_at(&mut head, 0)
        .map_err(|e| storage_error(format!("cannot read {}: {e}", path.display())))?;
    if n < 10 || &head[..6] != b"\x93NUMPY" {
        return Err(storage_error(format!(
            "{} is not an .npy file",
            path.display()
        )));
    }
    let (len, start) = match head[6] {
        1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
            12,
        ),
        v => {
            return Err(storage_error(format!(
                "{}: .npy version {v} is not known",
                path.display()
            )));
        }
    };
    if len > 1 << 20 {
        return Err(storage_error(format!(
            "{}: a header of {len} bytes",
            path.display()
        )));
    }
    let mut text = vec![0u8; len];
    file.read_exact_at(&mut text, start as u64)
        .map_err(|e| storage_error(format!("{}: the header is cut short: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&text);
    let field = |name: &str| -> Option<&str> {
        let at = text.find(&format!("'{name}'"))?;
        let rest = &text[at + name.len() + 2..];
        Some(rest[rest.find(':')? + 1..].trim_start())
    };
    let bad = |what: &str| {
        storage_error(format!(
            "{}: the header's {what} cannot be read: {text}",
            path.display()
        ))
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\'')?.split('\'').next())
        .ok_or_else(|| bad("descr"))?
        .to_string();
    let fortran_order = field("fortran_order")
        .ok_or_else(|| bad("fortran_order"))?
        .starts_with("True");
    let shape_text = field("shape")
        .and_then(|r| r.strip_prefix('(')?.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("shape"))?;
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
        data_offset: start + len,
    })
}

/// The bytes of an `.npy` header for `shape` of `dtype` (version 1.0, padded to 64 bytes).
fn npy_header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        descr(dtype)
    );
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Reads one block of an `.npy` file through a memory map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyBlock<T> {
    path: PathBuf,
    offset: usize,
    shape: Vec<usize>,
    ranges: Vec<(usize, usize)>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for NpyBlock<T> {
    fn name(&self) -> &str {
        "from-npy"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let file = File::open(&self.path)
            .map_err(|e| TaskError::new(format!("cannot open {}: {e}", self.path.display())))?;
        // SAFETY: the map is read-only and dropped before this task returns; a file changed
        // underneath while it is read gives wrong numbers, not memory unsafety for us, as we
        // copy the bytes out and check the length first.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| TaskError::new(format!("cannot map {}: {e}", self.path.display())))?;
        let size = T::DTYPE.itemsize();
        if npy_data_end(&self.shape, size, self.offset).is_none_or(|end| map.len() < end) {
            return Err(TaskError::new(format!(
                "{} holds {} bytes, fewer than its header says",
                self.path.display(),
                map.len()
            )));
        }
        let out_shape: Vec<usize> = self.ranges.iter().map(|(s, e)| e - s).collect();
        let ndim = self.shape.len();
        let total: usize = out_shape.iter().product();
        let mut data: Vec<T> = crate::chunk::big_vec(total);
        if ndim == 0 {
            data.push(T::get(&map[self.offset..self.offset + size]));
        } else if total > 0 {
            // Copy lane by lane along the last axis: each lane is contiguous in the file.
            let start: Vec<usize> = self.ranges.iter().map(|(s, _)| *s).collect();
            let lane = out_shape[ndim - 1] * size;
            for flat in lane_starts(&self.shape, &start, &out_shape) {
                let at = self.offset + flat * size;
                data.extend(map[at..at + lane].chunks_exact(size).map(T::get));
            }
        }
        let a = ArrayD::from_shape_vec(IxDyn(&out_shape), data)
            .map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Chunk(a)))
    }
}

/// Where an `.npy` file's data of `shape` (elements of `itemsize` bytes, from byte `offset`)
/// ends; `None` if that overflows.
fn npy_data_end(shape: &[usize], itemsize: usize, offset: usize) -> Option<usize> {
    shape
        .iter()
        .try_fold(itemsize, |n, d| n.checked_mul(*d))
        .and_then(|n| n.checked_add(offset))
}

/// Where each lane along the last axis of the region of `region` elements starting at `start`
/// begins in an array of `shape` stored in C order: its flat element index, lane by lane in C
/// order. (At least one axis.)
fn lane_starts<'a>(
    shape: &'a [usize],
    start: &'a [usize],
    region: &[usize],
) -> impl Iterator<Item = usize> + 'a {
    let ndim = shape.len();
    let strides: Vec<usize> = (0..ndim).map(|d| shape[d + 1..].iter().product()).collect();
    ndarray::indices(IxDyn(&region[..ndim - 1]))
        .into_iter()
        .map(move |ix| {
            (0..ndim - 1).fold(start[ndim - 1], |flat, d| {
                flat + (start[d] + ix[d]) * strides[d]
            })
        })
}

/// Writes one block into its place in an `.npy` file (created by [`NpyCreate`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyWrite<T> {
    path: PathBuf,
    offset: usize,
    shape: Vec<usize>,
    start: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for NpyWrite<T> {
    fn name(&self) -> &str {
        "to-npy"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| TaskError::new(format!("cannot open {}: {e}", self.path.display())))?;
        let ndim = self.shape.len();
        let size = T::DTYPE.itemsize();
        let mut buf: Vec<u8> = Vec::new();
        let write = |flat: usize, buf: &[u8]| {
            file.write_all_at(buf, (self.offset + flat * size) as u64)
                .map_err(|e| TaskError::new(format!("cannot write {}: {e}", self.path.display())))
        };
        if ndim == 0 {
            block.iter().for_each(|x| x.put(&mut buf));
            return write(0, &buf).map(|()| Value::new(1u64));
        }
        let lanes = block.lanes(ndarray::Axis(ndim - 1));
        for (lane, flat) in
            lanes
                .into_iter()
                .zip(lane_starts(&self.shape, &self.start, block.shape()))
        {
            buf.clear();
            lane.iter().for_each(|x| x.put(&mut buf));
            write(flat, &buf)?;
        }
        Ok(Value::new(1u64))
    }
}

/// Creates the partial `.npy` file (header, full length) that blocks are written into.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyCreate {
    path: PathBuf,
    header: Vec<u8>,
    len: u64,
}

impl Op for NpyCreate {
    fn name(&self) -> &str {
        "npy-create"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let mut f = File::create(&self.path)
            .map_err(|e| TaskError::new(format!("cannot create {}: {e}", self.path.display())))?;
        f.write_all(&self.header)
            .and_then(|()| f.set_len(self.len))
            .map_err(|e| TaskError::new(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(Value::new(0u64))
    }
}

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
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            TaskError::new(format!(
                "cannot move {} to {}: {e}",
                self.partial.display(),
                self.path.display()
            ))
        })?;
        Ok(Value::new(args.len().saturating_sub(1) as u64))
    }
}

/// The partial file or directory beside `path` that a write goes into first.
fn partial_beside(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    Some(path.with_file_name(format!(".{}.rask-partial", name.to_string_lossy())))
}

rask_graph::register_op!(NpyCreate, "rask.array.npy-create");
rask_graph::register_op!(MoveIntoPlace, "rask.array.move-into-place");
macro_rules! register_npy {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(NpyBlock<$t>, concat!("rask.array.npy-block<", stringify!($t), ">"));
        rask_graph::register_op!(NpyWrite<$t>, concat!("rask.array.npy-write<", stringify!($t), ">"));
    )*};
}
register_npy!(f64, f32, i64, i32, u64, u32, u8, bool);

/// A write of an array, not yet done: computing it writes every block and returns how many.
#[derive(Clone)]
pub struct Stored {
    graph: Graph,
    key: Key,
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

    fn rebuild(&self, graph: Graph) -> Self {
        Self {
            graph,
            key: self.key.clone(),
        }
    }
}

/// Where [`Array::store`] puts blocks: called once per block, from the scheduler's workers,
/// with the block's index, where it sits, and its elements.
pub trait Sink<T>: Send + Sync {
    /// Takes one block. An error fails the computation, naming the block.
    fn put(
        &self,
        index: &[u32],
        location: &[std::ops::Range<usize>],
        block: ndarray::ArrayViewD<'_, T>,
    ) -> Result<(), String>;
}

impl<T: Element> Array<T> {
    /// An array read lazily from the `.npy` file at `path`, in `chunks`: each block reads its
    /// part through a memory map when it is computed. The header is checked now: a missing
    /// file, another format, another element type or Fortran order are errors.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let dir = std::env::temp_dir().join(format!("rask-npy-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let x = Array::from_array(&ndarray::Array2::from_shape_fn((5, 4), |(i, j)| (i * 4 + j) as f64).into_dyn(), 2usize).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// assert_eq!(x.to_npy(dir.join("x.npy")).unwrap().compute_on(&s, &[]).unwrap(), 6);
    /// let y = Array::<f64>::from_npy(dir.join("x.npy"), 3usize).unwrap();
    /// assert_eq!(y.compute_on(&s, &[]).unwrap(), x.compute_on(&s, &[]).unwrap());
    /// assert!(Array::<i32>::from_npy(dir.join("x.npy"), 3usize).is_err());
    /// ```
    pub fn from_npy(
        path: impl AsRef<Path>,
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<T>, ArrayError> {
        let path = path.as_ref().to_path_buf();
        let h = read_npy_header(&path)?;
        if h.descr != descr(T::DTYPE) && !(T::DTYPE == DType::U8 && h.descr == "<u1") {
            return Err(storage_error(format!(
                "{} holds {}, not {} ({})",
                path.display(),
                h.descr,
                T::DTYPE,
                descr(T::DTYPE)
            )));
        }
        if h.fortran_order {
            return Err(storage_error(format!(
                "{} is in Fortran order, which is not read",
                path.display()
            )));
        }
        // The shape must fit the file: a corrupt header is an error now, not a failed (or
        // enormous) computation later.
        let file_len = std::fs::metadata(&path)
            .map_err(|e| storage_error(format!("cannot read {}: {e}", path.display())))?
            .len();
        let need = npy_data_end(&h.shape, T::DTYPE.itemsize(), h.data_offset);
        if need.is_none_or(|n| n as u64 > file_len) {
            return Err(storage_error(format!(
                "{} is cut short: its header says shape {:?} of {}, more than its {file_len} bytes hold",
                path.display(),
                h.shape,
                h.descr
            )));
        }
        let chunks = Chunks::normalize(chunks, &h.shape, T::DTYPE)?;
        let token = Tokenizer::new()
            .write_str(&path.display().to_string())
            .write(&h.shape)
            .write(&chunks)
            .write_str(&unique_token())
            .finish();
        Ok(Array::from_tasks(
            "from-npy",
            &token,
            chunks,
            |_, ranges| {
                Task::new(
                    NpyBlock::<T> {
                        path: path.clone(),
                        offset: h.data_offset,
                        shape: h.shape.clone(),
                        ranges: ranges.iter().map(|r| (r.start, r.end)).collect(),
                        _t: std::marker::PhantomData,
                    },
                    [],
                )
            },
        ))
    }

    /// A write of the array to the `.npy` file at `path`, done when computed (it returns the
    /// number of blocks written). Blocks are written in place as they are made, so memory
    /// stays bounded; the file appears only when all are written.
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Result<Stored, ArrayError> {
        self.check()?;
        let path = path.as_ref().to_path_buf();
        let partial = partial_beside(&path)
            .ok_or_else(|| storage_error(format!("{} names no file", path.display())))?;
        let header = npy_header(T::DTYPE, &self.shape());
        let offset = header.len();
        let len = (offset + self.size() * T::DTYPE.itemsize()) as u64;
        let create = Task::new(
            NpyCreate {
                path: partial.clone(),
                header,
                len,
            },
            [],
        );
        let shape = self.shape();
        Ok(
            self.write_via_partial("npy", path, partial.clone(), create, |ranges| {
                Arc::new(NpyWrite::<T> {
                    path: partial.clone(),
                    offset,
                    shape: shape.clone(),
                    start: ranges.iter().map(|r| r.start).collect(),
                    _t: std::marker::PhantomData,
                })
            }),
        )
    }

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
            partial,
            path,
        };
        finish.insert([], Task::new(done, args));
        let key = finish.key([]);
        let mut graph = self.graph().clone();
        graph.add_layer(create_layer);
        graph.add_layer(writes);
        graph.add_layer(finish);
        Stored { graph, key }
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
                sink.put(&at, &location, block).map_err(TaskError::new)?;
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
        Ok(Stored { graph, key })
    }
}

/// Element types that zarr stores: the zarr data type of each.
pub trait ZarrElement: Element + zarrs::array::Element + zarrs::array::ElementOwned {
    /// The zarr data type.
    fn zarr_type() -> zarrs::array::DataType;
    /// The fill value of chunks never written.
    fn zarr_fill() -> zarrs::array::FillValue;
}

macro_rules! zarr_element {
    ($($t:ty => $f:ident, $fill:expr);*) => {$(
        impl ZarrElement for $t {
            fn zarr_type() -> zarrs::array::DataType {
                zarrs::array::data_type::$f()
            }
            fn zarr_fill() -> zarrs::array::FillValue {
                zarrs::array::FillValue::from($fill)
            }
        }
    )*};
}
zarr_element!(f64 => float64, 0.0f64; f32 => float32, 0.0f32; i64 => int64, 0i64; i32 => int32, 0i32;
    u64 => uint64, 0u64; u32 => uint32, 0u32; u8 => uint8, 0u8; bool => bool, false);

fn zarr_error(message: String) -> ArrayError {
    ArrayError::Shape {
        what: "zarr".into(),
        message,
    }
}

fn open_store(path: &Path) -> Result<Arc<zarrs::filesystem::FilesystemStore>, String> {
    zarrs::filesystem::FilesystemStore::new(path)
        .map(Arc::new)
        .map_err(|e| format!("cannot open the zarr store {}: {e}", path.display()))
}

/// A block's region in zarr's coordinates.
fn zarr_ranges(ranges: &[std::ops::Range<usize>]) -> Vec<(u64, u64)> {
    ranges
        .iter()
        .map(|r| (r.start as u64, r.end as u64))
        .collect()
}

/// The zarr array at `path` and the region `ranges` of it: what a block's read or write needs.
fn open_region(
    path: &Path,
    ranges: &[(u64, u64)],
) -> Result<
    (
        zarrs::array::Array<zarrs::filesystem::FilesystemStore>,
        zarrs::array::ArraySubset,
    ),
    TaskError,
> {
    let store = open_store(path).map_err(TaskError::new)?;
    let array = zarrs::array::Array::open(store, "/")
        .map_err(|e| TaskError::new(format!("{}: {e}", path.display())))?;
    let ranges: Vec<std::ops::Range<u64>> = ranges.iter().map(|(s, e)| *s..*e).collect();
    Ok((array, zarrs::array::ArraySubset::new_with_ranges(&ranges)))
}

/// Reads one block of a zarr array (its region, which may span chunks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZarrRead<T> {
    path: PathBuf,
    ranges: Vec<(u64, u64)>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: ZarrElement> Op for ZarrRead<T> {
    fn name(&self) -> &str {
        "from-zarr"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let (array, subset) = open_region(&self.path, &self.ranges)?;
        let data: Vec<T> = array
            .retrieve_array_subset::<Vec<T>>(&subset)
            .map_err(|e| TaskError::new(format!("{}: {e}", self.path.display())))?;
        let shape: Vec<usize> = self.ranges.iter().map(|(s, e)| (e - s) as usize).collect();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), data)
            .map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Chunk(a)))
    }
}

/// Writes one block (one zarr chunk) into a zarr array.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZarrWrite<T> {
    path: PathBuf,
    ranges: Vec<(u64, u64)>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: ZarrElement> Op for ZarrWrite<T> {
    fn name(&self) -> &str {
        "to-zarr"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        let (array, subset) = open_region(&self.path, &self.ranges)?;
        // A block in C order is stored as it lies; any other layout is copied into it first.
        let stored = match block.as_slice() {
            Some(elements) => array.store_array_subset(&subset, elements),
            None => array.store_array_subset(&subset, block.iter().copied().collect::<Vec<T>>()),
        };
        stored.map_err(|e| TaskError::new(format!("{}: {e}", self.path.display())))?;
        Ok(Value::new(1u64))
    }
}

/// Creates the zarr array's metadata in the partial store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZarrCreate<T> {
    path: PathBuf,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: ZarrElement> Op for ZarrCreate<T> {
    fn name(&self) -> &str {
        "zarr-create"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        std::fs::create_dir_all(&self.path)
            .map_err(|e| TaskError::new(format!("cannot create {}: {e}", self.path.display())))?;
        let store = open_store(&self.path).map_err(TaskError::new)?;
        let bad =
            |e: &dyn std::fmt::Display| TaskError::new(format!("{}: {e}", self.path.display()));
        let array = zarrs::array::ArrayBuilder::new(
            self.shape.clone(),
            self.chunk.clone(),
            T::zarr_type(),
            T::zarr_fill(),
        )
        .build(store, "/")
        .map_err(|e| bad(&e))?;
        array.store_metadata().map_err(|e| bad(&e))?;
        Ok(Value::new(0u64))
    }
}

macro_rules! register_zarr {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ZarrRead<$t>, concat!("rask.array.zarr-read<", stringify!($t), ">"));
        rask_graph::register_op!(ZarrWrite<$t>, concat!("rask.array.zarr-write<", stringify!($t), ">"));
        rask_graph::register_op!(ZarrCreate<$t>, concat!("rask.array.zarr-create<", stringify!($t), ">"));
    )*};
}
register_zarr!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: ZarrElement> Array<T> {
    /// An array read lazily from the zarr (v3) array at `path`, one block per zarr chunk,
    /// or in `chunks` if given. Checked now: a missing store, another element type.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let dir = std::env::temp_dir().join(format!("rask-zarr-doc-{}", std::process::id()));
    /// let x = Array::from_array(&ndarray::Array2::from_shape_fn((5, 4), |(i, j)| (i * 4 + j) as i32).into_dyn(), 2usize).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// x.to_zarr(dir.join("x.zarr")).unwrap().compute_on(&s, &[]).unwrap();
    /// let y = Array::<i32>::from_zarr(dir.join("x.zarr"), None).unwrap();
    /// assert_eq!(y.chunks(), x.chunks());
    /// assert_eq!(y.compute_on(&s, &[]).unwrap(), x.compute_on(&s, &[]).unwrap());
    /// assert!(Array::<f64>::from_zarr(dir.join("x.zarr"), None).is_err());
    /// ```
    pub fn from_zarr(
        path: impl AsRef<Path>,
        chunks: Option<ChunkSpec>,
    ) -> Result<Array<T>, ArrayError> {
        let path = path.as_ref().to_path_buf();
        if !path.join("zarr.json").exists() {
            return Err(zarr_error(format!(
                "{} is not a zarr array (no zarr.json)",
                path.display()
            )));
        }
        let store = open_store(&path).map_err(zarr_error)?;
        let array = zarrs::array::Array::open(store, "/")
            .map_err(|e| zarr_error(format!("{}: {e}", path.display())))?;
        if array.data_type() != &T::zarr_type() {
            return Err(zarr_error(format!(
                "{} holds {}, not {}",
                path.display(),
                array.data_type(),
                T::DTYPE
            )));
        }
        let shape: Vec<usize> = array.shape().iter().map(|d| *d as usize).collect();
        let spec = match chunks {
            Some(c) => c,
            None => {
                let zero = vec![0u64; shape.len()];
                let c = array
                    .chunk_shape(&zero)
                    .map_err(|e| zarr_error(format!("{}: {e}", path.display())))?;
                ChunkSpec::from(
                    c.iter()
                        .map(|d| d.get() as usize)
                        .collect::<Vec<_>>()
                        .as_slice(),
                )
            }
        };
        let chunks = Chunks::normalize(spec, &shape, T::DTYPE)?;
        let token = Tokenizer::new()
            .write_str(&path.display().to_string())
            .write(&chunks)
            .write_str(&unique_token())
            .finish();
        Ok(Array::from_tasks(
            "from-zarr",
            &token,
            chunks,
            |_, ranges| {
                Task::new(
                    ZarrRead::<T> {
                        path: path.clone(),
                        ranges: zarr_ranges(ranges),
                        _t: std::marker::PhantomData,
                    },
                    [],
                )
            },
        ))
    }

    /// A write of the array to a new zarr (v3) array at `path`, done when computed. The
    /// blocks become the zarr chunks, so they must be regular (all the same size but the last
    /// on each axis: rechunk first otherwise). The store is written beside the target and moved
    /// there at the end; an existing target is an error.
    pub fn to_zarr(&self, path: impl AsRef<Path>) -> Result<Stored, ArrayError> {
        self.check()?;
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            return Err(zarr_error(format!("{} already exists", path.display())));
        }
        if !self.chunks().is_regular() {
            return Err(zarr_error(format!(
                "zarr needs regular chunks (equal but the last on each axis), got {:?}: rechunk first",
                self.chunks().axes()
            )));
        }
        let partial = partial_beside(&path)
            .ok_or_else(|| zarr_error(format!("{} names no directory", path.display())))?;
        let chunk: Vec<u64> = self
            .chunks()
            .chunksize()
            .iter()
            .map(|c| (*c).max(1) as u64)
            .collect();
        let create = Task::new(
            ZarrCreate::<T> {
                path: partial.clone(),
                shape: self.shape().iter().map(|d| *d as u64).collect(),
                chunk,
                _t: std::marker::PhantomData,
            },
            [],
        );
        Ok(
            self.write_via_partial("zarr", path, partial.clone(), create, |ranges| {
                Arc::new(ZarrWrite::<T> {
                    path: partial.clone(),
                    ranges: zarr_ranges(ranges),
                    _t: std::marker::PhantomData,
                })
            }),
        )
    }
}
