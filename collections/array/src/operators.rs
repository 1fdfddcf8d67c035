//! `+ - * / %` and unary `-` on arrays and scalars, by value and by reference.
//!
//! Operators cannot return `Result`: when one cannot build its result (shapes that do not
//! broadcast) it returns an array carrying the error, which every later operation passes on
//! and `compute` returns. [`Array::binary`] is the fallible twin.

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

use crate::array::Array;
use crate::elementwise::{BinOp, Numeric};

macro_rules! binop {
    ($tr:ident, $method:ident, $op:expr) => {
        impl<T: Numeric> $tr<&Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                self.binary($op, rhs).unwrap_or_else(Array::from_error)
            }
        }
        impl<T: Numeric> $tr<Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                (&self).$method(&rhs)
            }
        }
        impl<T: Numeric> $tr<&Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                (&self).$method(rhs)
            }
        }
        impl<T: Numeric> $tr<Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                self.$method(&rhs)
            }
        }
        impl<T: Numeric> $tr<T> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.scalar($op, rhs)
            }
        }
        impl<T: Numeric> $tr<T> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.scalar($op, rhs)
            }
        }
    };
}
binop!(Add, add, BinOp::Add);
binop!(Sub, sub, BinOp::Sub);
binop!(Mul, mul, BinOp::Mul);
binop!(Div, div, BinOp::Div);
binop!(Rem, rem, BinOp::Rem);

impl<T: Numeric> Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        Array::neg(self)
    }
}

impl<T: Numeric> Neg for Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        Array::neg(&self)
    }
}

/// `scalar op array` for the element types (Rust's orphan rules allow it only per type).
macro_rules! scalar_lhs {
    ($($t:ty),*) => {$(
        impl Add<&Array<$t>> for $t { type Output = Array<$t>; fn add(self, r: &Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Add, self) } }
        impl Sub<&Array<$t>> for $t { type Output = Array<$t>; fn sub(self, r: &Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Sub, self) } }
        impl Mul<&Array<$t>> for $t { type Output = Array<$t>; fn mul(self, r: &Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Mul, self) } }
        impl Div<&Array<$t>> for $t { type Output = Array<$t>; fn div(self, r: &Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Div, self) } }
        impl Add<Array<$t>> for $t { type Output = Array<$t>; fn add(self, r: Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Add, self) } }
        impl Sub<Array<$t>> for $t { type Output = Array<$t>; fn sub(self, r: Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Sub, self) } }
        impl Mul<Array<$t>> for $t { type Output = Array<$t>; fn mul(self, r: Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Mul, self) } }
        impl Div<Array<$t>> for $t { type Output = Array<$t>; fn div(self, r: Array<$t>) -> Array<$t> { r.scalar_first(BinOp::Div, self) } }
    )*};
}
scalar_lhs!(f64, f32, i64, i32, u64, u32, u8);
