//! A block of an array: an `ndarray::ArrayD`, as a task's value.

use ndarray::{ArrayD, IxDyn};
use rask_graph::{Datum, Value};

use crate::element::Element;

/// One block of an array, the value its tasks produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T: Element>(pub ArrayD<T>);

impl<T: Element> Datum for Chunk<T> {
    fn nbytes(&self) -> usize {
        self.0.len() * size_of::<T>()
    }
}

/// Encodes a chunk: its rank, its shape (u64 each), then its elements, little-endian, in
/// C order.
pub(crate) fn encode<T: Element>(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let any: &dyn std::any::Any = datum;
    let c = any
        .downcast_ref::<Chunk<T>>()
        .ok_or_else(|| "value type does not match its registration".to_string())?;
    let a = &c.0;
    let mut out = Vec::with_capacity(1 + 8 * a.ndim() + a.len() * T::DTYPE.itemsize());
    out.push(a.ndim() as u8);
    for d in a.shape() {
        out.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    for x in a.iter() {
        x.put(&mut out);
    }
    Ok(out)
}

/// Decodes what [`encode`] wrote; any input gives a chunk or an error.
pub(crate) fn decode<T: Element>(bytes: &[u8]) -> Result<Value, String> {
    let (&ndim, rest) = bytes.split_first().ok_or("empty chunk encoding")?;
    let ndim = ndim as usize;
    if rest.len() < 8 * ndim {
        return Err("chunk shape cut short".into());
    }
    let (dims, data) = rest.split_at(8 * ndim);
    let shape: Vec<usize> = dims
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as usize)
        .collect();
    let size = T::DTYPE.itemsize();
    let len = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or("chunk shape overflows")?;
    if len.checked_mul(size) != Some(data.len()) {
        return Err(format!(
            "a chunk of shape {shape:?} needs {} bytes, got {}",
            len.saturating_mul(size),
            data.len()
        ));
    }
    let v: Vec<T> = data.chunks_exact(size).map(T::get).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), v)
        .map(|a| Value::new(Chunk(a)))
        .map_err(|e| e.to_string())
}

macro_rules! register_chunks {
    ($($t:ty => $name:literal),*) => {
        $(rask_graph::register_value!(Chunk<$t>, $name, encode::<$t>, decode::<$t>);)*
    };
}
register_chunks!(
    f64 => "rask.array.chunk<f64>",
    f32 => "rask.array.chunk<f32>",
    i64 => "rask.array.chunk<i64>",
    i32 => "rask.array.chunk<i32>",
    u64 => "rask.array.chunk<u64>",
    u32 => "rask.array.chunk<u32>",
    u8 => "rask.array.chunk<u8>",
    bool => "rask.array.chunk<bool>"
);
