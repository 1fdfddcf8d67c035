//! Zarr (v3) stores through `zarrs`: read in any chunks, written one block per zarr chunk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::tokenize::{Tokenizer, unique_token};
use rask_graph::{Args, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;

use super::{Stored, partial_beside};

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

fn zarr_error(path: &Path, e: impl std::fmt::Display) -> ArrayError {
    ArrayError::Zarr {
        path: path.to_path_buf(),
        message: e.to_string(),
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

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
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
        // The partial store itself, not its parents: the directory holding the target must
        // exist (checked when the write was built; gone since, it is an error).
        std::fs::create_dir(&self.path)
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
    /// std::fs::create_dir_all(&dir).unwrap(); // the directory holding a store must exist
    /// let x = Array::from_array(&ndarray::Array2::from_shape_fn((5, 4), |(i, j)| (i * 4 + j) as i32).into_dyn(), 2usize).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// x.to_zarr(dir.join("x.zarr")).unwrap().compute_on(&s, &[]).unwrap();
    /// let y = Array::<i32>::from_zarr(dir.join("x.zarr"), None).unwrap();
    /// assert_eq!(y.chunks(), x.chunks());
    /// assert_eq!(y.compute_on(&s, &[]).unwrap(), x.compute_on(&s, &[]).unwrap());
    /// assert!(Array::<f64>::from_zarr(dir.join("x.zarr"), None).is_err());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn from_zarr(
        path: impl AsRef<Path>,
        chunks: Option<ChunkSpec>,
    ) -> Result<Array<T>, ArrayError> {
        let path = path.as_ref().to_path_buf();
        if !path.join("zarr.json").exists() {
            return Err(ArrayError::format(&path, "not a zarr array (no zarr.json)"));
        }
        let store = open_store(&path).map_err(|e| zarr_error(&path, e))?;
        let array = zarrs::array::Array::open(store, "/").map_err(|e| zarr_error(&path, e))?;
        if array.data_type() != &T::zarr_type() {
            return Err(ArrayError::format(
                &path,
                format!("holds {}, not {}", array.data_type(), T::DTYPE),
            ));
        }
        let shape: Vec<usize> = array.shape().iter().map(|d| *d as usize).collect();
        let spec = match chunks {
            Some(c) => c,
            None => {
                let zero = vec![0u64; shape.len()];
                let c = array.chunk_shape(&zero).map_err(|e| zarr_error(&path, e))?;
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
            return Err(ArrayError::format(&path, "already exists"));
        }
        if !self.chunks().is_regular() {
            return Err(ArrayError::format(
                &path,
                format!(
                    "zarr needs regular chunks (equal but the last on each axis), got {:?}: rechunk first",
                    self.chunks().axes()
                ),
            ));
        }
        let partial = partial_beside(&path)?;
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
