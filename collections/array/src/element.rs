//! The element types an array may hold.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The element type of an array, as Dask's `dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DType {
    /// `f64`.
    F64,
    /// `f32`.
    F32,
    /// `i64`.
    I64,
    /// `i32`.
    I32,
    /// `u64`.
    U64,
    /// `u32`.
    U32,
    /// `u8`.
    U8,
    /// `bool`.
    Bool,
}

impl DType {
    /// The Rust name: `f64`, `bool`, ….
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U64 => "u64",
            DType::U32 => "u32",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::U8 | DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type an [`Array`](crate::Array) can hold: f64, f32, i64, i32, u64, u32, u8 and bool.
pub trait Element:
    Copy + Default + PartialOrd + fmt::Debug + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// Its dtype.
    const DTYPE: DType;
    /// What sums and products of it are kept in, as NumPy does: floats stay, signed integers
    /// and bools become `i64`, unsigned integers `u64`.
    type Acc: Element + Arith;
    /// Into the accumulator type.
    fn acc(self) -> Self::Acc;
    /// Zero (false).
    fn zero() -> Self;
    /// One (true).
    fn one() -> Self;
    /// As an `f64` (bools are 0 and 1).
    fn to_f64(self) -> f64;
    /// From an `f64`, as Rust's `as` does (bools: non-zero is true).
    fn from_f64(v: f64) -> Self;
    /// Its little-endian bytes appended to `out`.
    fn put(self, out: &mut Vec<u8>);
    /// The little-endian bytes of `values` as they lie in memory, when that is what they are
    /// (numbers on a little-endian machine; not bools).
    fn le_bytes(values: &[Self]) -> Option<&[u8]> {
        let _ = values;
        None
    }
    /// The little-endian bytes of `values` written into `out` (exactly as long: `itemsize`
    /// bytes per value). One copy on a little-endian machine.
    fn put_slice(values: &[Self], out: &mut [u8]) {
        let size = Self::DTYPE.itemsize();
        let mut one = Vec::with_capacity(size);
        for (v, o) in values.iter().zip(out.chunks_exact_mut(size)) {
            one.clear();
            v.put(&mut one);
            o.copy_from_slice(&one);
        }
    }
    /// From little-endian bytes of length `DTYPE.itemsize()`.
    fn get(bytes: &[u8]) -> Self;
    /// As a wide integer, when it is one (`None` for floats).
    fn as_int(self) -> Option<i128>;
    /// From another element, as Rust's `as` converts (integers to integers exactly or
    /// wrapping, through `f64` otherwise).
    fn cast_from<S: Element>(s: S) -> Self;
}

/// Arithmetic on accumulators (wrapping for integers, as NumPy does).
pub trait Arith: Copy {
    /// `a + b`.
    fn add(self, b: Self) -> Self;
    /// `a * b`.
    fn mul(self, b: Self) -> Self;
}

macro_rules! arith_int {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn add(self, b: Self) -> Self { self.wrapping_add(b) }
            fn mul(self, b: Self) -> Self { self.wrapping_mul(b) }
        }
    )*};
}
arith_int!(i64, i32, u64, u32, u8);

macro_rules! arith_float {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn add(self, b: Self) -> Self { self + b }
            fn mul(self, b: Self) -> Self { self * b }
        }
    )*};
}
arith_float!(f64, f32);

impl Arith for bool {
    fn add(self, b: Self) -> Self {
        self | b
    }
    fn mul(self, b: Self) -> Self {
        self & b
    }
}

macro_rules! number {
    ($t:ty, $d:ident, $acc:ty) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            type Acc = $acc;
            fn acc(self) -> $acc {
                self as $acc
            }
            fn zero() -> Self {
                0 as $t
            }
            fn one() -> Self {
                1 as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn le_bytes(values: &[Self]) -> Option<&[u8]> {
                cfg!(target_endian = "little").then(|| bytemuck::cast_slice(values))
            }
            fn put_slice(values: &[Self], out: &mut [u8]) {
                if cfg!(target_endian = "little") {
                    out.copy_from_slice(bytemuck::cast_slice(values));
                } else {
                    for (v, o) in values.iter().zip(out.chunks_exact_mut(size_of::<$t>())) {
                        o.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; size_of::<$t>()];
                b.copy_from_slice(&bytes[..size_of::<$t>()]);
                <$t>::from_le_bytes(b)
            }
            #[allow(clippy::float_cmp, clippy::unnecessary_cast)]
            fn as_int(self) -> Option<i128> {
                let is_int = (0 as $t).to_f64() == 0.0 && (1.5f64 as $t).to_f64() != 1.5;
                is_int.then(|| self as i128)
            }
            fn cast_from<S: Element>(s: S) -> Self {
                match s.as_int() {
                    Some(i) if (0.5f64 as $t).to_f64() == 0.0 => i as $t,
                    _ => s.to_f64() as $t,
                }
            }
        }
    };
}
number!(f64, F64, f64);
number!(f32, F32, f32);
number!(i64, I64, i64);
number!(i32, I32, i64);
number!(u64, U64, u64);
number!(u32, U32, u64);
number!(u8, U8, u64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    type Acc = i64;
    fn acc(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
    fn to_f64(self) -> f64 {
        if self { 1.0 } else { 0.0 }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn get(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    fn as_int(self) -> Option<i128> {
        Some(self as i128)
    }
    fn cast_from<S: Element>(s: S) -> Self {
        s.to_f64() != 0.0
    }
}
