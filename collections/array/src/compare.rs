//! Comparisons (to `Array<bool>`), `clip`, and `astype`.

use std::sync::Arc;

use ndarray::IxDyn;
use rask_graph::tokenize::Tokenizer;
use rask_graph::{Arg, Args, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::element::Element;
use crate::elementwise::broadcast_shapes;
use crate::error::ArrayError;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
}

impl CmpOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
        }
    }

    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// Compares two blocks (broadcast), or a block with a scalar.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct Compare<T: Element> {
    cmp: CmpOp,
    scalar: Option<T>,
    /// Two blocks must have one shape (blocks of arrays of unknown length).
    #[serde(default)]
    exact: bool,
}

impl<T: Element> Compare<T> {
    /// `a cmp b` on two blocks of one shape.
    pub(crate) fn exact(cmp: CmpOp) -> Self {
        Self {
            cmp,
            scalar: None,
            exact: true,
        }
    }
}

impl<T: Element> Op for Compare<T> {
    fn name(&self) -> &str {
        self.cmp.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = block_view::<T>(&args[0])?;
        let cmp = self.cmp;
        let out = match (self.scalar, args.get(1)) {
            (Some(s), _) => a.mapv(|x| cmp.test(x, s)),
            (None, Some(b)) => {
                let b = block_view::<T>(b)?;
                if self.exact {
                    crate::elementwise::check_exact(a.shape(), b.shape())?;
                }
                let shape = broadcast_shapes(a.shape(), b.shape())
                    .map_err(|e| TaskError::new(e.to_string()))?;
                let (av, bv) = (
                    a.broadcast(IxDyn(&shape))
                        .ok_or_else(|| TaskError::new("blocks do not broadcast"))?,
                    b.broadcast(IxDyn(&shape))
                        .ok_or_else(|| TaskError::new("blocks do not broadcast"))?,
                );
                ndarray::Zip::from(&av)
                    .and(&bv)
                    .map_collect(|x, y| cmp.test(*x, *y))
            }
            (None, None) => return Err(TaskError::new("a comparison needs two operands")),
        };
        Ok(Value::new(Chunk(out)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// Converts a block's elements to another type, as NumPy's `astype` (`as` casts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cast<T, U> {
    _t: std::marker::PhantomData<fn() -> (T, U)>,
}

impl<T: Element, U: Element> Op for Cast<T, U> {
    fn name(&self) -> &str {
        "astype"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        // A constant block stays constant (and costs nothing).
        if let Some(c) = args[0].downcast_ref::<crate::chunk::ConstChunk<T>>() {
            return Ok(Value::new(crate::chunk::ConstChunk::new(
                c.shape().to_vec(),
                U::cast_from(c.value()),
            )));
        }
        let a = block_view::<T>(&args[0])?;
        Ok(Value::new(Chunk(a.mapv(|x| U::cast_from(x)))))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// Clips a block's elements to `[lo, hi]` (NaN stays NaN).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct Clip<T: Element> {
    lo: T,
    hi: T,
}

impl<T: Element> Op for Clip<T> {
    fn name(&self) -> &str {
        "clip"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = block_view::<T>(&args[0])?;
        let (lo, hi) = (self.lo, self.hi);
        Ok(Value::new(Chunk(a.mapv(|x| {
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        }))))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

macro_rules! register_compare {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(Compare<$t>, concat!("rask.array.compare<", stringify!($t), ">"));
        rask_graph::register_op!(Clip<$t>, concat!("rask.array.clip<", stringify!($t), ">"));
        register_casts!($t; f64, f32, i64, i32, u64, u32, u8, bool);
    )*};
}
macro_rules! register_casts {
    ($t:ty; $($u:ty),*) => {$(
        rask_graph::register_op!(Cast<$t, $u>, concat!("rask.array.cast<", stringify!($t), ",", stringify!($u), ">"));
    )*};
}
register_compare!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// `self cmp other`, elementwise with broadcasting.
    ///
    /// ```
    /// use rask_array::{Array, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, 5.0, 3.0]).into_dyn(), 2usize).unwrap();
    /// let m = x.compare_scalar(CmpOp::Gt, 2.0).compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(m.as_slice().unwrap(), &[false, true, true]);
    /// ```
    pub fn compare(&self, cmp: CmpOp, other: &Array<T>) -> Result<Array<bool>, ArrayError> {
        let op: Arc<dyn Op> = Arc::new(Compare::<T> {
            cmp,
            scalar: None,
            exact: false,
        });
        self.zip_blocks(other, cmp.name(), op)
    }

    /// `self cmp s`, elementwise.
    pub fn compare_scalar(&self, cmp: CmpOp, s: T) -> Array<bool> {
        self.map_blocks_to(
            cmp.name(),
            Compare::<T> {
                cmp,
                scalar: Some(s),
                exact: false,
            },
            &(format!("{cmp:?}"), s),
        )
    }

    /// The elements as `U` (Rust's `as` casts; bools as 0 and 1).
    pub fn astype<U: Element>(&self) -> Array<U> {
        self.map_blocks_to(
            "astype",
            Cast::<T, U> {
                _t: std::marker::PhantomData,
            },
            U::DTYPE.name(),
        )
    }

    /// The elements clipped to `[lo, hi]`.
    pub fn clip(&self, lo: T, hi: T) -> Array<T> {
        self.map_blocks_to("clip", Clip::<T> { lo, hi }, &(lo, hi))
    }

    /// One task per block applying `op`, which makes a block of `U`.
    pub(crate) fn map_blocks_to<U: Element, P: Serialize + ?Sized>(
        &self,
        label: &str,
        op: impl Op,
        params: &P,
    ) -> Array<U> {
        if let Some(e) = self.error() {
            return Array::from_error(e.clone());
        }
        let token = Tokenizer::new()
            .write_str(label)
            .write(params)
            .write_str(self.name())
            .finish();
        let op: Arc<dyn Op> = Arc::new(op);
        self.per_block(label, &token, self.chunks().clone(), |index| {
            Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(index))])
        })
    }
}

/// Picks `x` where the first block is non-zero, else `y` (all three broadcast together).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Select<T> {
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for Select<T> {
    fn name(&self) -> &str {
        "where"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        if args.len() != 3 {
            return Err(TaskError::new("where takes a condition and two blocks"));
        }
        let views = [
            block_view::<T>(&args[0])?,
            block_view::<T>(&args[1])?,
            block_view::<T>(&args[2])?,
        ];
        let mut shape: Vec<usize> = Vec::new();
        for v in &views {
            shape =
                broadcast_shapes(&shape, v.shape()).map_err(|e| TaskError::new(e.to_string()))?;
        }
        let dim = IxDyn(&shape);
        let none = || TaskError::new("blocks do not broadcast");
        let c = views[0].broadcast(dim.clone()).ok_or_else(none)?;
        let x = views[1].broadcast(dim.clone()).ok_or_else(none)?;
        let y = views[2].broadcast(dim).ok_or_else(none)?;
        let zero = T::zero();
        let out = ndarray::Zip::from(&c)
            .and(&x)
            .and(&y)
            .map_collect(|c, x, y| if *c != zero { *x } else { *y });
        Ok(Value::new(Chunk(out)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(3)
    }
}

macro_rules! register_select {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(Select<$t>, concat!("rask.array.select<", stringify!($t), ">"));
    )*};
}
register_select!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// `x` where `cond` holds, else `y`, all three broadcast together (NumPy's `where`).
    ///
    /// ```
    /// use rask_array::{Array, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[-1.0, 2.0, -3.0]).into_dyn(), 2usize).unwrap();
    /// let zero = Array::<f64>::zeros(&[1], 1usize).unwrap();
    /// let relu = Array::where_(&x.compare_scalar(CmpOp::Gt, 0.0), &x, &zero).unwrap();
    /// assert_eq!(relu.compute_on(&rask_local::SyncScheduler, &[]).unwrap().as_slice().unwrap(), &[0.0, 2.0, 0.0]);
    /// ```
    pub fn where_(cond: &Array<bool>, x: &Array<T>, y: &Array<T>) -> Result<Array<T>, ArrayError> {
        cond.check()?;
        let c = cond.astype::<T>();
        let op: Arc<dyn Op> = Arc::new(Select::<T> {
            _t: std::marker::PhantomData,
        });
        Array::zip_n(&[&c, x, y], "where", op)
    }
}
