//! `.npy` files: NumPy's format, read lazily (each block with positioned reads, so a file
//! another program shortens gives an error, not a crash) and written in place.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::tokenize::{Tokenizer, unique_token};
use rask_graph::{Args, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::{DType, Element};
use crate::error::ArrayError;

use super::{Stored, partial_beside};

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
    let file = File::open(path).map_err(|e| ArrayError::io("open", path, e))?;
    let mut head = [0u8; 12];
    let n = file
        .read_at(&mut head, 0)
        .map_err(|e| ArrayError::io("read", path, e))?;
    if n < 10 || &head[..6] != b"\x93NUMPY" {
        return Err(ArrayError::format(path, "not an .npy file"));
    }
    let (len, start) = match head[6] {
        1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
            12,
        ),
        v => {
            return Err(ArrayError::format(
                path,
                format!(".npy version {v} is not known"),
            ));
        }
    };
    if len > 1 << 20 {
        return Err(ArrayError::format(path, format!("a header of {len} bytes")));
    }
    let mut text = vec![0u8; len];
    file.read_exact_at(&mut text, start as u64)
        .map_err(|e| ArrayError::format(path, format!("the header is cut short: {e}")))?;
    let text = String::from_utf8_lossy(&text);
    let (descr, fortran_order, shape) = parse_header_dict(&text).map_err(|problem| {
        ArrayError::format(
            path,
            format!("the header {:?} cannot be read: {problem}", text.trim_end()),
        )
    })?;
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
        data_offset: start + len,
    })
}

/// Parses the Python dict literal of an `.npy` header — `{'descr': '<f8', 'fortran_order':
/// False, 'shape': (3, 4), }` — into its three fields (each exactly once, nothing else), as
/// NumPy's `safe_eval` reads it: quoted strings, `True` / `False`, tuples of integers.
fn parse_header_dict(text: &str) -> Result<(String, bool, Vec<usize>), String> {
    /// A value of the dict.
    enum Lit {
        Str(String),
        Bool(bool),
        Tuple(Vec<usize>),
    }
    struct P<'a> {
        s: &'a [u8],
        at: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
                self.at += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.at) == Some(&c) {
                self.at += 1;
                true
            } else {
                false
            }
        }
        fn expect(&mut self, c: u8) -> Result<(), String> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(format!("expected `{}` at byte {}", c as char, self.at))
            }
        }
        fn string(&mut self) -> Result<String, String> {
            self.ws();
            let q = match self.s.get(self.at) {
                Some(q @ (b'\'' | b'"')) => *q,
                _ => return Err(format!("expected a string at byte {}", self.at)),
            };
            let start = self.at + 1;
            let len = self.s[start..]
                .iter()
                .position(|c| *c == q)
                .ok_or("an unterminated string")?;
            self.at = start + len + 1;
            String::from_utf8(self.s[start..start + len].to_vec()).map_err(|e| e.to_string())
        }
        fn word(&mut self) -> &[u8] {
            self.ws();
            let start = self.at;
            while self.at < self.s.len() && self.s[self.at].is_ascii_alphanumeric() {
                self.at += 1;
            }
            &self.s[start..self.at]
        }
        fn value(&mut self) -> Result<Lit, String> {
            self.ws();
            match self.s.get(self.at) {
                Some(b'\'' | b'"') => Ok(Lit::Str(self.string()?)),
                Some(b'(') => {
                    self.at += 1;
                    let mut dims = Vec::new();
                    loop {
                        if self.eat(b')') {
                            return Ok(Lit::Tuple(dims));
                        }
                        let w = self.word();
                        let w = w.strip_suffix(b"L").unwrap_or(w);
                        let d = std::str::from_utf8(w)
                            .ok()
                            .and_then(|w| w.parse::<usize>().ok())
                            .ok_or_else(|| format!("a bad dimension at byte {}", self.at))?;
                        dims.push(d);
                        if !self.eat(b',') {
                            self.expect(b')')?;
                            return Ok(Lit::Tuple(dims));
                        }
                    }
                }
                _ => match self.word() {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    _ => Err(format!("an unknown value at byte {}", self.at)),
                },
            }
        }
    }
    let mut p = P {
        s: text.as_bytes(),
        at: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        let slot_taken = match (key.as_str(), value) {
            ("descr", Lit::Str(v)) => descr.replace(v).is_some(),
            ("fortran_order", Lit::Bool(v)) => fortran.replace(v).is_some(),
            ("shape", Lit::Tuple(v)) => shape.replace(v).is_some(),
            (k, _) => return Err(format!("an unexpected key or value: {k:?}")),
        };
        if slot_taken {
            return Err(format!("{key:?} appears twice"));
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.at != p.s.len() {
        return Err(format!("text after the dict at byte {}", p.at));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err("it needs 'descr', 'fortran_order' and 'shape'".into()),
    }
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

/// Reads one block of an `.npy` file with positioned reads (not a memory map: a file shortened
/// by another program while it is read must give an error, not kill the process with SIGBUS).
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
        let short = |len: u64| {
            TaskError::new(format!(
                "{} holds {len} bytes, fewer than its header says",
                self.path.display()
            ))
        };
        let len = file
            .metadata()
            .map_err(|e| TaskError::new(format!("cannot read {}: {e}", self.path.display())))?
            .len();
        let size = T::DTYPE.itemsize();
        if npy_data_end(&self.shape, size, self.offset).is_none_or(|end| len < end as u64) {
            return Err(short(len));
        }
        let out_shape: Vec<usize> = self.ranges.iter().map(|(s, e)| e - s).collect();
        let ndim = self.shape.len();
        let total: usize = out_shape.iter().product();
        let mut data: Vec<T> = crate::chunk::big_vec(total)?;
        // Reads `bytes` at `at` and decodes them, through a buffer of at most 8 MiB (the file
        // may have shrunk since it was checked).
        const PIECE: usize = 8 << 20;
        let piece = (PIECE / size).max(1) * size;
        let mut buf: Vec<u8> = Vec::new();
        let mut read = |at: usize, bytes: usize, data: &mut Vec<T>| -> Result<(), TaskError> {
            let mut done = 0;
            while done < bytes {
                let n = piece.min(bytes - done);
                buf.resize(n, 0);
                file.read_exact_at(&mut buf, (at + done) as u64)
                    .map_err(|e| {
                        TaskError::new(format!(
                            "cannot read {n} bytes at {} of {}: {e} (was the file changed?)",
                            at + done,
                            self.path.display()
                        ))
                    })?;
                data.extend(buf.chunks_exact(size).map(T::get));
                done += n;
            }
            Ok(())
        };
        if ndim == 0 {
            read(self.offset, size, &mut data)?;
        } else if total > 0 {
            // Lane by lane along the last axis (each lane is contiguous in the file); lanes
            // that follow one another in the file are read together, up to 8 MiB at a time.
            let start: Vec<usize> = self.ranges.iter().map(|(s, _)| *s).collect();
            let lane = out_shape[ndim - 1] * size;
            let mut run: Option<(usize, usize)> = None;
            for flat in lane_starts(&self.shape, &start, &out_shape) {
                let at = self.offset + flat * size;
                run = match run {
                    Some((s, n)) if s + n == at => Some((s, n + lane)),
                    Some((s, n)) => {
                        read(s, n, &mut data)?;
                        Some((at, lane))
                    }
                    None => Some((at, lane)),
                };
            }
            if let Some((s, n)) = run {
                read(s, n, &mut data)?;
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
        let cannot = |e: &dyn std::fmt::Display| {
            TaskError::new(format!("cannot write {}: {e}", self.path.display()))
        };
        let ndim = self.shape.len();
        let size = T::DTYPE.itemsize();
        if block.is_empty() {
            return Ok(Value::new(1u64));
        }
        // The lanes of the block (its runs along the last axis) and where each starts in the
        // file's values; a 0-d block is one lane of one value.
        let starts: Vec<usize> = if ndim == 0 {
            vec![0]
        } else {
            lane_starts(&self.shape, &self.start, block.shape()).collect()
        };
        let lane_len = if ndim == 0 {
            1
        } else {
            block.shape()[ndim - 1]
        };
        // Each lane is written where it goes, in one system call: one copy into the page
        // cache. (A memory map of the block's span was slower here: a page fault per 4 KiB
        // page and the maps' teardown cost more than the file's lock.)
        let mut bytes: Vec<u8> = vec![0; lane_len * size];
        let mut tmp: Vec<T> = Vec::new();
        let lanes: Box<dyn Iterator<Item = ndarray::ArrayView1<'_, T>>> = if ndim == 0 {
            Box::new(std::iter::once(
                block
                    .view()
                    .into_shape_with_order(1)
                    .map_err(|e| cannot(&e))?,
            ))
        } else {
            Box::new(block.lanes(ndarray::Axis(ndim - 1)).into_iter())
        };
        for (lane, flat) in lanes.zip(&starts) {
            let at = (self.offset + flat * size) as u64;
            // Numbers in memory are already the file's bytes: written from where they lie.
            if let Some(b) = lane.as_slice().and_then(T::le_bytes) {
                file.write_all_at(b, at).map_err(|e| cannot(&e))?;
                continue;
            }
            match lane.as_slice() {
                Some(values) => T::put_slice(values, &mut bytes),
                None => {
                    tmp.clear();
                    tmp.extend(lane.iter().copied());
                    T::put_slice(&tmp, &mut bytes);
                }
            }
            file.write_all_at(&bytes, at).map_err(|e| cannot(&e))?;
        }
        Ok(Value::new(1u64))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
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
        // A new file, never one that is there: the same write computed twice at once fails
        // cleanly instead of truncating the other's blocks.
        let mut f = File::create_new(&self.path)
            .map_err(|e| TaskError::new(format!("cannot create {}: {e}", self.path.display())))?;
        f.write_all(&self.header)
            .and_then(|()| f.set_len(self.len))
            .map_err(|e| TaskError::new(format!("cannot write {}: {e}", self.path.display())))?;
        // The file's blocks allocated now, in one extent where the file system can: the
        // writers then fill allocated space instead of allocating as they go. Advice only — a
        // file system without it (or without room: the writes will say so) is left sparse.
        {
            use std::os::fd::AsRawFd;
            // SAFETY: fallocate on a file descriptor this function owns; mode 0 only allocates.
            unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, self.len as libc::off_t) };
        }
        Ok(Value::new(0u64))
    }
}

rask_graph::register_op!(NpyCreate, "rask.array.npy-create");
macro_rules! register_npy {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(NpyBlock<$t>, concat!("rask.array.npy-block<", stringify!($t), ">"));
        rask_graph::register_op!(NpyWrite<$t>, concat!("rask.array.npy-write<", stringify!($t), ">"));
    )*};
}
register_npy!(f64, f32, i64, i32, u64, u32, u8, bool);

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
            return Err(ArrayError::format(
                &path,
                format!("holds {}, not {} ({})", h.descr, T::DTYPE, descr(T::DTYPE)),
            ));
        }
        if h.fortran_order {
            return Err(ArrayError::format(&path, "Fortran order is not read"));
        }
        // The shape must fit the file: a corrupt header is an error now, not a failed (or
        // enormous) computation later.
        let file_len = std::fs::metadata(&path)
            .map_err(|e| ArrayError::io("read", &path, e))?
            .len();
        let need = npy_data_end(&h.shape, T::DTYPE.itemsize(), h.data_offset);
        if need.is_none_or(|n| n as u64 > file_len) {
            return Err(ArrayError::format(
                &path,
                format!(
                    "cut short: its header says shape {:?} of {}, more than its {file_len} bytes hold",
                    h.shape, h.descr
                ),
            ));
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
        let partial = partial_beside(&path)?;
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
}
