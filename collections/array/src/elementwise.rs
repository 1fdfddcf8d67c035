//! Elementwise operations with NumPy broadcasting; arrays with different chunkings are first
//! cut to common blocks, as Dask's `unify_chunks` does.

use std::sync::Arc;

use ndarray::{IxDyn, Slice};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Graph, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, ConstChunk, block_view, take_array};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;

/// The named unary methods (`neg`, `abs`, `powi`, `sqrt`, …), each `self.unary(UnaryOp::…)`,
/// for [`Array`] and [`Unsized`](crate::Unsized) alike.
macro_rules! named_unary_methods {
    ($out:ident) => {
        /// `-x`.
        pub fn neg(&self) -> $out<T> {
            self.unary(UnaryOp::Neg)
        }
        /// `|x|`.
        pub fn abs(&self) -> $out<T> {
            self.unary(UnaryOp::Abs)
        }
        /// `x^n`.
        pub fn powi(&self, n: i32) -> $out<T> {
            self.unary(UnaryOp::PowI(n))
        }
        /// `x^p` (computed in f64).
        pub fn powf(&self, p: f64) -> $out<T> {
            self.unary(UnaryOp::PowF(p))
        }
        /// `sqrt(x)` (computed in f64).
        pub fn sqrt(&self) -> $out<T> {
            self.unary(UnaryOp::Sqrt)
        }
        /// `exp(x)`.
        pub fn exp(&self) -> $out<T> {
            self.unary(UnaryOp::Exp)
        }
        /// `ln(x)`.
        pub fn log(&self) -> $out<T> {
            self.unary(UnaryOp::Log)
        }
        /// `sin(x)`.
        pub fn sin(&self) -> $out<T> {
            self.unary(UnaryOp::Sin)
        }
        /// `cos(x)`.
        pub fn cos(&self) -> $out<T> {
            self.unary(UnaryOp::Cos)
        }
        /// `tan(x)`.
        pub fn tan(&self) -> $out<T> {
            self.unary(UnaryOp::Tan)
        }
        /// `tanh(x)`.
        pub fn tanh(&self) -> $out<T> {
            self.unary(UnaryOp::Tanh)
        }
    };
}
pub(crate) use named_unary_methods;

/// `$body` with `$f` bound to `|a, b| a op b` for the one op `$op` is: the match on the op
/// is made once, outside the loops `$body` runs, so that each loop is compiled — and
/// vectorized — for one operation (a match inside a loop is a jump per element).
macro_rules! with_binop {
    ($T:ty, $op:expr, |$f:ident| $body:expr) => {
        $crate::elementwise::with_binop!(@ $T, $op, $f, $body, Add Sub Mul Div Rem FloorDiv)
    };
    (@ $T:ty, $op:expr, $f:ident, $body:expr, $($name:ident)*) => {{
        use $crate::elementwise::{BinOp, Numeric};
        match $op {
            $(BinOp::$name => {
                let $f = |a: $T, b: $T| <$T as Numeric>::binary(BinOp::$name, a, b);
                $body
            })*
        }
    }};
}
pub(crate) use with_binop;

/// A binary elementwise operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`. For floats, IEEE division. For integers, division truncating toward zero, as
    /// Rust's `/` does — not NumPy's `/`, which is true division to float64 (for that, convert
    /// first: `x.astype::<f64>()`); NumPy's `//` is [`FloorDiv`](BinOp::FloorDiv). As NumPy
    /// does, an integer division by zero gives 0 and `MIN / -1` wraps to `MIN`.
    Div,
    /// `a % b` with NumPy's sign rule: the result takes the sign of the divisor (`-7 % 2` is
    /// 1, `7 % -2` is -1), for integers and floats alike. By zero: 0 for integers, NaN for
    /// floats.
    Rem,
    /// NumPy's `floor_divide` (`a // b`): the quotient rounded toward negative infinity
    /// (`-7 // 2` is -4), so that `a == (a // b) * b + a % b`. An integer division by zero
    /// gives 0.
    FloorDiv,
}

impl BinOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "truediv",
            BinOp::Rem => "mod",
            BinOp::FloorDiv => "floordiv",
        }
    }
}

/// A unary elementwise operation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `x.powi(n)`.
    PowI(i32),
    /// `x.powf(p)` (computed in f64).
    PowF(f64),
    /// `sqrt(x)` (computed in f64).
    Sqrt,
    /// `exp(x)`.
    Exp,
    /// `ln(x)`.
    Log,
    /// `sin(x)`.
    Sin,
    /// `cos(x)`.
    Cos,
    /// `tan(x)`.
    Tan,
    /// NaN becomes 0 (what `nansum` sums).
    NanToZero,
    /// `tanh(x)`.
    Tanh,
}

impl UnaryOp {
    fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "absolute",
            UnaryOp::PowI(_) | UnaryOp::PowF(_) => "pow",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::NanToZero => "nan-to-zero",
            UnaryOp::Tanh => "tanh",
        }
    }

    /// The vectorized function that computes this op on floats (rask-math's), if there is
    /// one.
    fn math(self) -> Option<rask_math::Func> {
        Some(match self {
            UnaryOp::Sqrt => rask_math::Func::Sqrt,
            UnaryOp::Exp => rask_math::Func::Exp,
            UnaryOp::Log => rask_math::Func::Log,
            UnaryOp::Sin => rask_math::Func::Sin,
            UnaryOp::Cos => rask_math::Func::Cos,
            UnaryOp::Tan => rask_math::Func::Tan,
            UnaryOp::Tanh => rask_math::Func::Tanh,
            _ => return None,
        })
    }
}

/// Arithmetic on elements, with NumPy's answers where Rust would panic.
pub trait Numeric: Element {
    /// `a op b`.
    fn binary(op: BinOp, a: Self, b: Self) -> Self;
    /// `op(x)`.
    fn unary(op: UnaryOp, x: Self) -> Self;
    /// `op` on each value of a run, in place. Floats take rask-math's vectorized kernels for
    /// the transcendental ops (within a few ulps of [`unary`](Numeric::unary)'s libm; see
    /// [`rask_math::Func::max_ulp`]); every type gets a loop with the match on `op` outside it.
    fn unary_in_place(op: UnaryOp, values: &mut [Self]) {
        each_in_place(op, values)
    }
    /// `dst[i] = op(src[i])`, as [`unary_in_place`](Numeric::unary_in_place) computes it;
    /// `dst` is as long as `src`.
    fn unary_into(op: UnaryOp, src: &[Self], dst: &mut [Self]) {
        each_into(op, src, dst)
    }
}

/// `op` on each value in place, one value at a time, the match on `op` outside the loop
/// (`x ** 2` a multiply): what every element type does where it has no vectorized kernel.
fn each_in_place<T: Numeric>(op: UnaryOp, values: &mut [T]) {
    match op {
        UnaryOp::PowI(2) => values
            .iter_mut()
            .for_each(|v| *v = T::binary(BinOp::Mul, *v, *v)),
        op => values.iter_mut().for_each(|v| *v = T::unary(op, *v)),
    }
}

/// `dst[i] = op(src[i])`, as [`each_in_place`] computes it.
fn each_into<T: Numeric>(op: UnaryOp, src: &[T], dst: &mut [T]) {
    match op {
        UnaryOp::PowI(2) => dst
            .iter_mut()
            .zip(src)
            .for_each(|(o, v)| *o = T::binary(BinOp::Mul, *v, *v)),
        op => dst
            .iter_mut()
            .zip(src)
            .for_each(|(o, v)| *o = T::unary(op, *v)),
    }
}

macro_rules! numeric_int {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline(always)]
            fn binary(op: BinOp, a: Self, b: Self) -> Self {
                match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul => a.wrapping_mul(b),
                    // NumPy: by zero gives 0, MIN / -1 wraps to MIN.
                    BinOp::Div if b == 0 => 0,
                    BinOp::Div => a.wrapping_div(b),
                    BinOp::Rem | BinOp::FloorDiv if b == 0 => 0,
                    // NumPy's sign rule: the remainder takes the divisor's sign, and the
                    // quotient rounds down.
                    #[allow(unused_comparisons)]
                    BinOp::Rem => {
                        let r = a.wrapping_rem(b);
                        if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
                    }
                    #[allow(unused_comparisons)]
                    BinOp::FloorDiv => {
                        let (q, r) = (a.wrapping_div(b), a.wrapping_rem(b));
                        if r != 0 && ((r < 0) != (b < 0)) { q.wrapping_sub(1) } else { q }
                    }
                }
            }
            #[allow(unused_comparisons)]
            fn unary(op: UnaryOp, x: Self) -> Self {
                match op {
                    UnaryOp::Neg => (0 as $t).wrapping_sub(x),
                    UnaryOp::Abs => if x < (0 as $t) { (0 as $t).wrapping_sub(x) } else { x },
                    UnaryOp::PowI(n) => if n >= 0 { x.wrapping_pow(n as u32) } else { 0 },
                    UnaryOp::NanToZero => x,
                    other => Self::from_f64(f64::unary(other, x as f64)),
                }
            }
        }
    )*};
}
numeric_int!(i64, i32, u64, u32, u8);

macro_rules! numeric_float {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline(always)]
            fn binary(op: BinOp, a: Self, b: Self) -> Self {
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    // NumPy's mod takes the sign of the divisor.
                    BinOp::Rem => {
                        let r = a % b;
                        if r != 0.0 && (r < 0.0) != (b < 0.0) { r + b } else { r }
                    }
                    // NumPy's npy_divmod: the quotient that goes with its `%`, so that
                    // `1.0 // 0.1` is 9 (0.1 is a little more than a tenth), as in NumPy.
                    BinOp::FloorDiv => {
                        if b == 0.0 {
                            return a / b;
                        }
                        let m = a % b;
                        let mut d = (a - m) / b;
                        if m != 0.0 && (b < 0.0) != (m < 0.0) {
                            d -= 1.0;
                        }
                        if d == 0.0 {
                            return (0.0 as $t).copysign(a / b);
                        }
                        let f = d.floor();
                        if d - f > 0.5 { f + 1.0 } else { f }
                    }
                }
            }
            fn unary(op: UnaryOp, x: Self) -> Self {
                match op {
                    UnaryOp::Neg => -x,
                    UnaryOp::Abs => x.abs(),
                    UnaryOp::PowI(n) => x.powi(n),
                    UnaryOp::PowF(p) => x.powf(p as $t),
                    UnaryOp::Sqrt => x.sqrt(),
                    UnaryOp::Exp => x.exp(),
                    UnaryOp::Log => x.ln(),
                    UnaryOp::Sin => x.sin(),
                    UnaryOp::Cos => x.cos(),
                    UnaryOp::Tan => x.tan(),
                    UnaryOp::Tanh => x.tanh(),
                    UnaryOp::NanToZero => {
                        if x.is_nan() {
                            0.0
                        } else {
                            x
                        }
                    }
                }
            }
            fn unary_in_place(op: UnaryOp, values: &mut [Self]) {
                match (op.math(), op) {
                    (Some(f), _) => rask_math::map_in_place(f, values),
                    (None, UnaryOp::PowF(p)) => rask_math::pow_in_place(p, values),
                    _ => each_in_place(op, values),
                }
            }
            fn unary_into(op: UnaryOp, src: &[Self], dst: &mut [Self]) {
                let vectorized = match (op.math(), op) {
                    (Some(f), _) => rask_math::map(f, src, dst).is_ok(),
                    (None, UnaryOp::PowF(p)) => rask_math::pow(p, src, dst).is_ok(),
                    _ => false,
                };
                if !vectorized {
                    each_into(op, src, dst)
                }
            }
        }
    )*};
}
numeric_float!(f64, f32);

/// `a op b` on two blocks, broadcast as NumPy does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binary<T> {
    op: BinOp,
    /// The blocks must have the same shape (no broadcasting): blocks of arrays of unknown
    /// length, which are paired by position only.
    #[serde(default)]
    exact: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

/// The error for blocks that must match and do not.
pub(crate) fn check_exact(a: &[usize], b: &[usize]) -> Result<(), TaskError> {
    if a == b {
        return Ok(());
    }
    Err(TaskError::new(format!(
        "blocks of shapes {a:?} and {b:?}: arrays of unknown length are combined block by \
         block, so their blocks must have the same length"
    )))
}

fn broadcast_blocks<T: Element>(
    a: &ndarray::ArrayViewD<'_, T>,
    b: &ndarray::ArrayViewD<'_, T>,
) -> Result<Vec<usize>, TaskError> {
    broadcast_shapes(a.shape(), b.shape()).map_err(|e| TaskError::new(e.to_string()))
}

impl<T> Binary<T> {
    /// The block op `a op b`, broadcasting.
    pub(crate) fn new(op: BinOp) -> Self {
        Self {
            op,
            exact: false,
            _t: std::marker::PhantomData,
        }
    }

    /// The block op `a op b` on blocks that must have one shape.
    pub(crate) fn exact(op: BinOp) -> Self {
        Self {
            exact: true,
            ..Self::new(op)
        }
    }

    pub(crate) fn op(&self) -> BinOp {
        self.op
    }

    pub(crate) fn is_exact(&self) -> bool {
        self.exact
    }
}

impl<T: Element> WithScalar<T> {
    pub(crate) fn op(&self) -> BinOp {
        self.op
    }
    pub(crate) fn scalar(&self) -> T {
        self.scalar
    }
    pub(crate) fn scalar_first(&self) -> bool {
        self.scalar_first
    }
}

impl<T> Unary<T> {
    pub(crate) fn op(&self) -> UnaryOp {
        self.op
    }
}

impl<T: Numeric> Op for Binary<T> {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut it = args.into_iter();
        let (Some(a), Some(b)) = (it.next(), it.next()) else {
            return Err(TaskError::new("a binary op needs two blocks"));
        };
        let b_value = b;
        let b = &block_view::<T>(&b_value)?;
        if self.exact {
            check_exact(&crate::rechunk::block_shape::<T>(&a)?, b.shape())?;
        }
        let op = self.op;
        match a.try_take::<Chunk<T>>() {
            // The left block is ours alone and already the result's shape: work in place.
            Ok(Ok(mut left)) if broadcast_blocks(&left.0.view(), b)? == left.0.shape() => {
                let bv = b
                    .broadcast(left.0.raw_dim())
                    .ok_or_else(|| TaskError::new("blocks do not broadcast"))?;
                with_binop!(T, op, |f| left.0.zip_mut_with(&bv, |x, y| *x = f(*x, *y)));
                Ok(Value::new(left))
            }
            other => {
                let held;
                let a = match &other {
                    Ok(Ok(c)) => c.0.view(),
                    Ok(Err(shared)) => shared.0.view(),
                    Err(v) => {
                        held = v;
                        block_view::<T>(held)?
                    }
                };
                let a = &a;
                let shape = broadcast_blocks(a, b)?;
                let av = a
                    .broadcast(IxDyn(&shape))
                    .ok_or_else(|| TaskError::new("blocks do not broadcast"))?;
                let bv = b
                    .broadcast(IxDyn(&shape))
                    .ok_or_else(|| TaskError::new("blocks do not broadcast"))?;
                let out = with_binop!(T, op, |f| ndarray::Zip::from(&av)
                    .and(&bv)
                    .map_collect(|x, y| f(*x, *y)));
                Ok(Value::new(Chunk(out)))
            }
        }
    }
}

/// `x op s` (or `s op x`) with a scalar `s`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct WithScalar<T: Element> {
    op: BinOp,
    scalar: T,
    scalar_first: bool,
}

impl<T: Numeric> Op for WithScalar<T> {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let (op, s, first) = (self.op, self.scalar, self.scalar_first);
        let x = match args.into_iter().next() {
            Some(v) => v,
            None => return Err(TaskError::new("no block")),
        };
        // Reuse the block's buffer when this task holds the only reference to it.
        let mut block = Chunk(take_array::<T>(x)?);
        with_binop!(T, op, |f| if first {
            block.0.mapv_inplace(|v| f(s, v))
        } else {
            block.0.mapv_inplace(|v| f(v, s))
        });
        Ok(Value::new(block))
    }
}

/// `op(x)` on a block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unary<T> {
    op: UnaryOp,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Numeric> Op for Unary<T> {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let op = self.op;
        let x = match args.into_iter().next() {
            Some(v) => v,
            None => return Err(TaskError::new("no block")),
        };
        let mut block = Chunk(take_array::<T>(x)?);
        match block.0.as_slice_memory_order_mut() {
            Some(values) => T::unary_in_place(op, values),
            None => block.0.mapv_inplace(|v| T::unary(op, v)),
        }
        Ok(Value::new(block))
    }
}

/// Cuts a block out of a bigger one: `ranges` within the input block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubBlock<T> {
    ranges: Vec<(usize, usize)>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> SubBlock<T> {
    /// The part `ranges` (one per axis, within the block) of a block.
    pub(crate) fn new(ranges: Vec<(usize, usize)>) -> Self {
        Self {
            ranges,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Element> Op for SubBlock<T> {
    fn name(&self) -> &str {
        "rechunk-split"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = &block_view::<T>(&args[0])?;
        if self.ranges.len() != a.ndim()
            || self.ranges.iter().zip(a.shape()).any(|((_, e), n)| e > n)
        {
            return Err(TaskError::new(format!(
                "ranges {:?} do not fit a block of shape {:?}",
                self.ranges,
                a.shape()
            )));
        }
        if let Some(c) = args[0].downcast_ref::<ConstChunk<T>>() {
            let shape: Dims = self.ranges.iter().map(|(s, e)| e - s).collect();
            return Ok(Value::new(ConstChunk::new(shape, c.value())));
        }
        let out = a
            .slice_each_axis(|ax| {
                let (s, e) = self.ranges[ax.axis.index()];
                Slice::from(s..e)
            })
            .to_owned();
        Ok(Value::new(Chunk(out)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

macro_rules! register_elementwise {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(Binary<$t>, concat!("rask.array.binary<", stringify!($t), ">"));
        rask_graph::register_op!(WithScalar<$t>, concat!("rask.array.with-scalar<", stringify!($t), ">"));
        rask_graph::register_op!(Unary<$t>, concat!("rask.array.unary<", stringify!($t), ">"));
    )*};
}
register_elementwise!(f64, f32, i64, i32, u64, u32, u8);
rask_graph::register_op!(SubBlock<f64>, "rask.array.sub-block<f64>");
rask_graph::register_op!(SubBlock<f32>, "rask.array.sub-block<f32>");
rask_graph::register_op!(SubBlock<i64>, "rask.array.sub-block<i64>");
rask_graph::register_op!(SubBlock<i32>, "rask.array.sub-block<i32>");
rask_graph::register_op!(SubBlock<u64>, "rask.array.sub-block<u64>");
rask_graph::register_op!(SubBlock<u32>, "rask.array.sub-block<u32>");
rask_graph::register_op!(SubBlock<u8>, "rask.array.sub-block<u8>");
rask_graph::register_op!(SubBlock<bool>, "rask.array.sub-block<bool>");

/// NumPy's broadcast of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ArrayError> {
    let mut out = Dims::from_slice(a);
    broadcast_in_place(&mut out, b)?;
    Ok(out.into_vec())
}

/// A shape, inline up to 4 dimensions (no allocation for the shapes of most blocks).
pub(crate) type Dims = smallvec::SmallVec<[usize; 4]>;

/// `a` broadcast with `b` (NumPy's rule), in place; `a` is unchanged on an error.
pub(crate) fn broadcast_in_place(a: &mut Dims, b: &[usize]) -> Result<(), ArrayError> {
    let n = a.len().max(b.len());
    // Dimension `i` of `s` aligned to the right in `n` dimensions (1 where it has none).
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    let fits = (0..n).all(|i| {
        let (x, y) = (at(a, i), at(b, i));
        x == y || x == 1 || y == 1
    });
    if !fits {
        return Err(ArrayError::Broadcast {
            left: a.to_vec(),
            right: b.to_vec(),
        });
    }
    if a.len() < n {
        a.insert_many(0, std::iter::repeat_n(1, n - a.len()));
    }
    for (i, x) in a.iter_mut().enumerate() {
        let y = at(b, i);
        if *x == 1 {
            *x = y;
        }
    }
    Ok(())
}

/// The common refinement of two cuttings of one axis (every boundary of either).
pub(crate) fn refine(a: &[usize], b: &[usize]) -> Vec<usize> {
    let bounds = |v: &[usize]| {
        let mut s = 0;
        v.iter()
            .map(|x| {
                s += x;
                s
            })
            .collect::<Vec<_>>()
    };
    let mut cuts: Vec<usize> = bounds(a);
    cuts.extend(bounds(b));
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len());
    let mut prev = 0;
    for c in cuts {
        if c > prev {
            out.push(c - prev);
            prev = c;
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

impl<T: Element> Array<T> {
    /// One task per block of the broadcast result, applying `op` to the two operands' blocks
    /// (cut to common chunks first).
    pub(crate) fn zip_blocks<U: Element>(
        &self,
        other: &Array<T>,
        label: &str,
        op_arc: Arc<dyn Op>,
    ) -> Result<Array<U>, ArrayError> {
        Array::zip_n(&[self, other], label, op_arc)
    }

    /// One task per block of the broadcast of all `operands`, applying `op` to their blocks in
    /// order; operands are first cut to common chunks on the axes they do not broadcast along
    /// (Dask's `unify_chunks`).
    pub(crate) fn zip_n<U: Element>(
        operands: &[&Array<T>],
        label: &str,
        op_arc: Arc<dyn Op>,
    ) -> Result<Array<U>, ArrayError> {
        let mut shape: Vec<usize> = Vec::new();
        for a in operands {
            a.check()?;
            shape = broadcast_shapes(&shape, &a.shape())?;
        }
        let n = shape.len();
        let shapes: Vec<Vec<usize>> = operands.iter().map(|a| a.shape()).collect();
        // Per output axis: the common cutting of the operands that are not broadcast there.
        let axis_of = |s: &[usize], c: &Chunks, i: usize| -> Option<Vec<usize>> {
            let k = (i + s.len()).checked_sub(n)?;
            (s[k] != 1 || shape[i] == 1).then(|| c.axes()[k].clone())
        };
        let out_axes: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                operands
                    .iter()
                    .zip(&shapes)
                    .filter_map(|(a, s)| axis_of(s, a.chunks(), i))
                    .reduce(|x, y| refine(&x, &y))
                    .unwrap_or_else(|| vec![shape[i]])
            })
            .collect();
        // Cut each operand to the common blocks on its own (non-broadcast) axes.
        let cut: Vec<Array<T>> = operands
            .iter()
            .zip(&shapes)
            .map(|(arr, s)| {
                let axes: Vec<Vec<usize>> = (0..s.len())
                    .map(|k| {
                        let i = k + n - s.len();
                        if s[k] == 1 && shape[i] != 1 {
                            vec![1]
                        } else {
                            out_axes[i].clone()
                        }
                    })
                    .collect();
                arr.split_to(&Chunks::from_axes(axes))
            })
            .collect();
        let out_chunks = Chunks::from_axes(out_axes);
        let mut tok = Tokenizer::new();
        tok.write_str(label);
        for a in &cut {
            tok.write_str(a.name());
        }
        let token = tok.finish();
        let mut layer = Layer::with_capacity(key_name(label, &token), out_chunks.npartitions());
        let block_of = |arr: &Array<T>, s: &[usize], index: &[u32]| -> Key {
            let local: Vec<u32> = (0..s.len())
                .map(|k| {
                    let i = k + n - s.len();
                    if s[k] == 1 && shape[i] != 1 {
                        0
                    } else {
                        index[i]
                    }
                })
                .collect();
            arr.key(&local)
        };
        for index in out_chunks.blocks() {
            let args = cut
                .iter()
                .zip(&shapes)
                .map(|(a, s)| Arg::Key(block_of(a, s, &index)));
            layer.insert(index.clone(), Task::from_arc(Arc::clone(&op_arc), args));
        }
        let name = Arc::clone(layer.name());
        let mut graph = Graph::merged(cut.iter().map(|a| a.graph()));
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, name, out_chunks, label))
    }

    /// The same array cut into `target` blocks, each of which lies within one current block
    /// (a refinement: blocks are only split, never joined).
    pub(crate) fn split_to(&self, target: &Chunks) -> Array<T> {
        if self.chunks() == target {
            return self.clone();
        }
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(target)
            .finish();
        let mut layer =
            Layer::with_capacity(key_name("rechunk-split", &token), target.npartitions());
        let src = self.chunks();
        for index in target.blocks() {
            let ranges = target.block_ranges(&index);
            let mut src_index = Vec::with_capacity(ranges.len());
            let mut local = Vec::with_capacity(ranges.len());
            for (ax, r) in ranges.iter().enumerate() {
                let mut start = 0;
                let mut found = (0u32, 0usize);
                for (i, len) in src.axes()[ax].iter().enumerate() {
                    if r.start >= start && r.start < start + len.max(&1) {
                        found = (i as u32, start);
                        break;
                    }
                    start += len;
                }
                src_index.push(found.0);
                local.push((r.start - found.1, r.end - found.1));
            }
            let op = SubBlock::<T> {
                ranges: local,
                _t: std::marker::PhantomData,
            };
            layer.insert(index, Task::new(op, [Arg::Key(self.key(&src_index))]));
        }
        let name = Arc::clone(layer.name());
        let mut graph = self.graph().clone();
        graph.add_layer(layer);
        Array::from_graph(graph, name, target.clone(), "rechunk-split")
    }
}

impl<T: Numeric> Array<T> {
    /// `self op other`, broadcast as NumPy does; different chunkings are cut to common blocks.
    ///
    /// ```
    /// use rask_array::{Array, BinOp};
    /// let x = Array::<f64>::ones(&[4, 1], [2, 1]).unwrap();
    /// let y = Array::<f64>::ones(&[3], [3]).unwrap();
    /// assert_eq!(x.binary(BinOp::Add, &y).unwrap().shape(), vec![4, 3]);
    /// assert!(x.binary(BinOp::Add, &Array::<f64>::ones(&[3, 2], 1usize).unwrap()).is_err());
    /// ```
    pub fn binary(&self, op: BinOp, other: &Array<T>) -> Result<Array<T>, ArrayError> {
        let op_arc: Arc<dyn Op> = Arc::new(Binary::<T>::new(op));
        self.zip_blocks(other, op.name(), op_arc)
    }

    /// NumPy's `floor_divide` (`self // other`): the quotient rounded toward negative
    /// infinity, broadcast as [`binary`](Array::binary) is.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[-7i64, 7, -7, 7]).into_dyn(), 2usize).unwrap();
    /// let y = Array::from_array(&ndarray::arr1(&[2i64, 2, -2, -2]).into_dyn(), 2usize).unwrap();
    /// let q = x.floor_divide(&y).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(q.as_slice().unwrap(), &[-4, 3, 3, -4]);
    /// let r = (&x % &y).compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(r.as_slice().unwrap(), &[1, 1, -1, -1]); // the divisor's sign, as NumPy
    /// ```
    pub fn floor_divide(&self, other: &Array<T>) -> Result<Array<T>, ArrayError> {
        self.binary(BinOp::FloorDiv, other)
    }

    /// `self op s`.
    pub fn scalar(&self, op: BinOp, s: T) -> Array<T> {
        self.map_blocks_to(
            op.name(),
            WithScalar::<T> {
                op,
                scalar: s,
                scalar_first: false,
            },
            &s,
        )
    }

    /// `s op self`.
    pub fn scalar_first(&self, op: BinOp, s: T) -> Array<T> {
        self.map_blocks_to(
            op.name(),
            WithScalar::<T> {
                op,
                scalar: s,
                scalar_first: true,
            },
            &(s, 1u8),
        )
    }

    /// `op(self)` elementwise.
    pub fn unary(&self, op: UnaryOp) -> Array<T> {
        self.map_blocks_to(
            op.name(),
            Unary::<T> {
                op,
                _t: std::marker::PhantomData,
            },
            &format!("{op:?}"),
        )
    }

    named_unary_methods!(Array);
}
