//! Elementwise operations on arrays of unknown length ([`Unsized`]), as Dask allows on NaN
//! chunks: with scalars and 0-d arrays (`y - y.mean()`), unary functions, comparisons, casts,
//! and with another unknown-length array of as many blocks, paired block by block (whose
//! blocks must then match in length, which is checked as they are computed).

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};
use std::sync::Arc;

use rask_graph::Op;

use super::Unsized;
use crate::array::Array;
use crate::compare::{CmpOp, Compare};
use crate::element::Element;
use crate::elementwise::{BinOp, Binary, Numeric, UnaryOp};
use crate::error::ArrayError;

impl<T: Element> Unsized<T> {
    /// Two unknown-length arrays paired block by block: they must have as many blocks.
    fn pair<U: Element>(
        &self,
        other: &Unsized<T>,
        label: &str,
        op: Arc<dyn Op>,
    ) -> Result<Unsized<U>, ArrayError> {
        if self.npartitions() != other.npartitions() {
            return Err(ArrayError::Shape {
                what: label.into(),
                message: format!(
                    "arrays of unknown length are combined block by block, and these have {} \
                     and {} blocks; call compute_chunk_sizes_on first to align them",
                    self.npartitions(),
                    other.npartitions()
                ),
            });
        }
        let a = self
            .as_blocks()
            .zip_blocks::<U>(&other.as_blocks(), label, op)?;
        Ok(self.same_blocks(&a))
    }

    /// `self cmp s`, elementwise.
    ///
    /// ```
    /// use rask_array::{Array, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1, -2, 3, -4, 5]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0)).unwrap();
    /// let big = pos.compare_scalar(CmpOp::Ge, 3);
    /// let got = big.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(got.as_slice().unwrap(), &[false, true, true]);
    /// ```
    pub fn compare_scalar(&self, cmp: CmpOp, s: T) -> Unsized<bool> {
        self.same_blocks(&self.as_blocks().compare_scalar(cmp, s))
    }

    /// `self cmp other`, block by block; the blocks must match in length (checked when
    /// computed), and the arrays in block count.
    pub fn compare(&self, cmp: CmpOp, other: &Unsized<T>) -> Result<Unsized<bool>, ArrayError> {
        self.pair(other, cmp.name(), Arc::new(Compare::<T>::exact(cmp)))
    }

    /// The elements as `U` (Rust's `as` casts; bools as 0 and 1).
    pub fn astype<U: Element>(&self) -> Unsized<U> {
        self.same_blocks(&self.as_blocks().astype::<U>())
    }

    /// The elements clipped to `[lo, hi]`.
    pub fn clip(&self, lo: T, hi: T) -> Unsized<T> {
        self.same_blocks(&self.as_blocks().clip(lo, hi))
    }

    /// The elements where `cond` is true: `cond` comes from the same blocks (a comparison of
    /// this array, say), so they are paired block by block.
    ///
    /// ```
    /// use rask_array::{Array, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1, -2, 3, -4, 5]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0)).unwrap();
    /// let odd_big = pos.mask(&pos.compare_scalar(CmpOp::Gt, 1)).unwrap();
    /// let got = odd_big.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(got.as_slice().unwrap(), &[3, 5]);
    /// ```
    pub fn mask(&self, cond: &Unsized<bool>) -> Result<Unsized<T>, ArrayError> {
        if self.npartitions() != cond.npartitions() {
            return Err(ArrayError::Shape {
                what: "mask".into(),
                message: format!(
                    "a mask of unknown length is applied block by block, and it has {} blocks \
                     for an array of {}",
                    cond.npartitions(),
                    self.npartitions()
                ),
            });
        }
        self.as_blocks().mask(&cond.as_blocks())
    }
}

impl<T: Numeric> Unsized<T> {
    /// `self op other`, block by block (the `+ - * / %` operators' fallible twin): the arrays
    /// must have as many blocks, and their blocks the same lengths, which is checked when
    /// they are computed. Arrays from one mask, or from elementwise operations on one, match.
    ///
    /// ```
    /// use rask_array::{Array, BinOp, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, -2.0, 3.0, -4.0]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    /// let sq = pos.binary(BinOp::Mul, &pos).unwrap();
    /// let got = sq.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(got.as_slice().unwrap(), &[1.0, 9.0]);
    /// ```
    pub fn binary(&self, op: BinOp, other: &Unsized<T>) -> Result<Unsized<T>, ArrayError> {
        self.pair(other, op.name(), Arc::new(Binary::<T>::exact(op)))
    }

    /// `self op a` with a 0-d array `a` (a reduction's result, say), broadcast to every
    /// element: Dask's `y - y.mean()`. An array with axes has known lengths and cannot line
    /// up with unknown ones: that is an error (compute the chunk sizes first).
    ///
    /// ```
    /// use rask_array::{Array, BinOp, CmpOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, -2.0, 3.0, -4.0, 5.0]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    /// let centred = pos.binary_0d(BinOp::Sub, &pos.mean().unwrap()).unwrap();
    /// let got = centred.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(got.as_slice().unwrap(), &[-2.0, 0.0, 2.0]);
    /// ```
    pub fn binary_0d(&self, op: BinOp, a: &Array<T>) -> Result<Unsized<T>, ArrayError> {
        a.check()?;
        if a.ndim() != 0 {
            return Err(ArrayError::Shape {
                what: op.name().into(),
                message: format!(
                    "an array of unknown length combines with scalars and 0-d arrays, not with \
                     an array of shape {:?}; call compute_chunk_sizes_on first",
                    a.shape()
                ),
            });
        }
        let blocks = self.as_blocks().binary(op, a)?;
        Ok(self.same_blocks(&blocks))
    }

    /// `self op s`.
    pub fn scalar(&self, op: BinOp, s: T) -> Unsized<T> {
        self.same_blocks(&self.as_blocks().scalar(op, s))
    }

    /// `s op self`.
    pub fn scalar_first(&self, op: BinOp, s: T) -> Unsized<T> {
        self.same_blocks(&self.as_blocks().scalar_first(op, s))
    }

    /// `op(self)` elementwise.
    ///
    /// ```
    /// use rask_array::{Array, CmpOp, UnaryOp};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[4.0, -2.0, 9.0]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    /// let got = pos.unary(UnaryOp::Sqrt).compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(got.as_slice().unwrap(), &[2.0, 3.0]);
    /// ```
    pub fn unary(&self, op: UnaryOp) -> Unsized<T> {
        self.same_blocks(&self.as_blocks().unary(op))
    }

    crate::elementwise::named_unary_methods!(Unsized);
}

/// `y op s` with a scalar: never fails, so these are operators. (Two unknown-length arrays,
/// or one and a 0-d array, can fail to line up: [`Unsized::binary`], [`Unsized::binary_0d`].)
macro_rules! scalar_ops {
    ($($tr:ident, $method:ident, $op:expr);*) => {$(
        impl<T: Numeric> $tr<T> for &Unsized<T> {
            type Output = Unsized<T>;
            fn $method(self, s: T) -> Unsized<T> {
                self.scalar($op, s)
            }
        }
        impl<T: Numeric> $tr<T> for Unsized<T> {
            type Output = Unsized<T>;
            fn $method(self, s: T) -> Unsized<T> {
                self.scalar($op, s)
            }
        }
    )*};
}
scalar_ops!(Add, add, BinOp::Add; Sub, sub, BinOp::Sub; Mul, mul, BinOp::Mul; Div, div, BinOp::Div; Rem, rem, BinOp::Rem);

impl<T: Numeric> Neg for &Unsized<T> {
    type Output = Unsized<T>;
    fn neg(self) -> Unsized<T> {
        Unsized::neg(self)
    }
}

impl<T: Numeric> Neg for Unsized<T> {
    type Output = Unsized<T>;
    fn neg(self) -> Unsized<T> {
        Unsized::neg(&self)
    }
}
