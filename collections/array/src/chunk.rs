//! A block of an array: an `ndarray::ArrayD`, as a task's value.

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use rask_graph::{Datum, TaskError, Value};

use crate::element::Element;
use crate::elementwise::Dims;

/// One block of an array, the value its tasks produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T: Element>(pub ArrayD<T>);

impl<T: Element> Chunk<T> {
    /// The block's array, taken out of it (a `Chunk` gives its memory back to the block
    /// pool when it is dropped, so its array cannot be moved out by destructuring).
    pub fn into_inner(mut self) -> ArrayD<T> {
        std::mem::replace(
            &mut self.0,
            ArrayD::from_shape_vec(IxDyn(&[0]), Vec::new()).unwrap_or_default(),
        )
    }
}

impl<T: Element> Drop for Chunk<T> {
    fn drop(&mut self) {
        if self.0.len() * size_of::<T>() >= crate::pool::MIN_BYTES {
            let a = std::mem::replace(
                &mut self.0,
                ArrayD::from_shape_vec(IxDyn(&[0]), Vec::new()).unwrap_or_default(),
            );
            crate::pool::give(a.into_raw_vec_and_offset().0);
        }
    }
}

impl<T: Element> Datum for Chunk<T> {
    fn nbytes(&self) -> usize {
        self.0.len() * size_of::<T>()
    }
}

/// A block holding one value everywhere, which costs no memory but its shape: what `full`,
/// `ones` and `zeros` make (Dask's broadcast trick), and what slicing such a block gives.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstChunk<T: Element> {
    /// Inline up to 4 dimensions: a constant block is one allocation (its value's), however
    /// many of them a graph makes.
    shape: Dims,
    one: T,
}

impl<T: Element> ConstChunk<T> {
    /// A block of `shape` (a `Vec<usize>` or a `&[usize]`) holding `value`.
    ///
    /// ```
    /// use rask_array::ConstChunk;
    /// let c = ConstChunk::new(&[2, 3][..], 7i64);
    /// assert_eq!((c.shape(), c.value()), (&[2, 3][..], 7));
    /// assert_eq!(c, ConstChunk::new(vec![2, 3], 7));
    /// ```
    pub fn new(shape: impl Into<Dims>, value: T) -> Self {
        Self {
            shape: shape.into(),
            one: value,
        }
    }

    /// The value.
    pub fn value(&self) -> T {
        self.one
    }

    /// The block's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The block as a read-only view (every element is the one value).
    pub fn view(&self) -> ArrayViewD<'_, T> {
        // The one value at every index: all strides 0 (a read-only view may alias).
        let zeros = Dims::from_elem(0, self.shape.len());
        ArrayViewD::from_shape(
            IxDyn(&self.shape).strides(IxDyn(&zeros)),
            std::slice::from_ref(&self.one),
        )
        .unwrap_or_else(|e| unreachable!("zero strides index one value: {e}"))
    }

    /// The block in memory (an error if that memory cannot be had).
    pub fn to_array(&self) -> Result<ArrayD<T>, TaskError> {
        filled(&self.shape, self.value())
    }
}

impl<T: Element> Datum for ConstChunk<T> {
    fn nbytes(&self) -> usize {
        size_of::<T>() + self.shape.len() * size_of::<usize>()
    }
}

/// A block as a view, whatever form it has (a [`Chunk`] or a [`ConstChunk`]): what an op of
/// another crate that reads blocks needs.
///
/// ```
/// use rask_array::{Chunk, ConstChunk, block_view};
/// use rask_graph::Value;
/// let c = Value::new(ConstChunk::new(vec![2, 2], 1.5f64));
/// assert_eq!(block_view::<f64>(&c)?.sum(), 6.0);
/// let d = Value::new(Chunk(ndarray::arr1(&[1.0f64, 2.0]).into_dyn()));
/// assert_eq!(block_view::<f64>(&d)?.len(), 2);
/// assert!(block_view::<i64>(&d).is_err());
/// # Ok::<(), rask_graph::TaskError>(())
/// ```
pub fn block_view<T: Element>(v: &Value) -> Result<ArrayViewD<'_, T>, TaskError> {
    if let Some(c) = v.downcast_ref::<Chunk<T>>() {
        return Ok(c.0.view());
    }
    if let Some(c) = v.downcast_ref::<ConstChunk<T>>() {
        return Ok(c.view());
    }
    Err(TaskError::new(format!(
        "expected a block of {}, found {}",
        T::DTYPE,
        v.type_name()
    )))
}

/// A block in memory to own: taken without a copy when this is its only reference, copied when
/// shared, filled in when constant.
pub(crate) fn take_array<T: Element>(v: Value) -> Result<ArrayD<T>, TaskError> {
    match v.try_take::<Chunk<T>>() {
        Ok(Ok(c)) => Ok(c.into_inner()),
        Ok(Err(shared)) => Ok(shared.0.clone()),
        Err(v) => match v.downcast_ref::<ConstChunk<T>>() {
            Some(c) => c.to_array(),
            None => Ok(block_view::<T>(&v)?.to_owned()),
        },
    }
}

fn encode_const<T: Element>(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let any: &dyn std::any::Any = datum;
    let c = any
        .downcast_ref::<ConstChunk<T>>()
        .ok_or_else(|| "value type does not match its registration".to_string())?;
    let mut out = vec![c.shape.len() as u8];
    for d in &c.shape {
        out.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    c.value().put(&mut out);
    Ok(out)
}

fn decode_const<T: Element>(bytes: &[u8]) -> Result<Value, String> {
    let (&ndim, rest) = bytes.split_first().ok_or("empty encoding")?;
    let ndim = ndim as usize;
    let size = T::DTYPE.itemsize();
    if rest.len() != 8 * ndim + size {
        return Err(format!(
            "a constant block of rank {ndim} needs {} bytes, got {}",
            8 * ndim + size,
            rest.len()
        ));
    }
    let (dims, value) = rest.split_at(8 * ndim);
    let shape: Dims = dims
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as usize)
        .collect();
    Ok(Value::new(ConstChunk::new(shape, T::get(value))))
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
        $(
            rask_graph::register_value!(Chunk<$t>, $name, encode::<$t>, decode::<$t>);
            rask_graph::register_value!(
                ConstChunk<$t>,
                concat!($name, "-const"),
                encode_const::<$t>,
                decode_const::<$t>
            );
        )*
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

/// An empty vector with room for `n` elements — a dropped block's buffer if the
/// [pool](crate::pool) has one — or an error if that memory cannot be had (a
/// block of a terabyte is an error naming its size, not an aborted process). Big ones (4 MiB
/// and more) ask the kernel for transparent huge pages, as NumPy does for its large arrays:
/// far fewer page faults, and faster zeroing of fresh memory, for the blocks that dominate a
/// computation's traffic.
pub(crate) fn big_vec<T: Send + 'static>(n: usize) -> Result<Vec<T>, TaskError> {
    if let Some(v) = crate::pool::take(n) {
        return Ok(v);
    }
    let mut v: Vec<T> = Vec::new();
    let bytes = (n as u128) * (size_of::<T>() as u128);
    v.try_reserve_exact(n).map_err(|_| {
        TaskError::new(format!(
            "cannot allocate a block of {n} elements ({bytes} bytes): not enough memory"
        ))
    })?;
    let bytes = n.saturating_mul(size_of::<T>());
    if bytes >= 4 << 20 {
        let page = 4096usize;
        let start = v.as_ptr() as usize;
        let aligned = start.next_multiple_of(page);
        let end = start + bytes;
        if end > aligned {
            // SAFETY: madvise only advises the kernel about a range of pages inside the
            // allocation this vector owns; it changes no contents and its failure is harmless.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    Ok(v)
}

/// An array of `shape` filled with `value`, or an error if its memory cannot be had.
pub(crate) fn filled<T: Element>(shape: &[usize], value: T) -> Result<ArrayD<T>, TaskError> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| TaskError::new(format!("a block of shape {shape:?} overflows")))?;
    let mut data = big_vec(n)?;
    data.resize(n, value);
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| TaskError::new(e.to_string()))
}
