//! Statistics built from the basic reductions: variance and standard deviation (two passes,
//! as stable as NumPy's), `any`/`all`, and the NaN-skipping `nansum`/`nanmean`.

use crate::array::Array;
use crate::compare::CmpOp;
use crate::element::Element;
use crate::elementwise::{BinOp, Numeric, UnaryOp};
use crate::error::ArrayError;
use crate::reduce::Reduction;

impl<T: Numeric> Array<T> {
    /// The variance with `ddof` delta degrees of freedom (NumPy's `var`), as `f64`: the mean of
    /// squared deviations from the mean, computed in two passes.
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar, Reduction};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, 2.0, 3.0, 4.0]).into_dyn(), 3usize).unwrap();
    /// let v = x.var(Reduction::all(), 1).unwrap();
    /// assert!((v.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap() - 5.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn var(&self, how: Reduction, ddof: usize) -> Result<Array<f64>, ArrayError> {
        self.check()?;
        let x = self.astype::<f64>();
        let axes = how.resolved_axes(self.ndim())?;
        let n: usize = axes.iter().map(|a| self.shape()[*a]).product();
        let mean = x.mean(how.clone().keepdims(true))?;
        let dev = x.binary(BinOp::Sub, &mean)?.powi(2);
        let sum = dev.sum(how)?;
        // NumPy gives inf or NaN when ddof ≥ n; so does this division.
        Ok(sum.scalar(BinOp::Div, n.saturating_sub(ddof) as f64))
    }

    /// The standard deviation: the square root of [`var`](Array::var).
    pub fn std(&self, how: Reduction, ddof: usize) -> Result<Array<f64>, ArrayError> {
        Ok(self.var(how, ddof)?.sqrt())
    }

    /// The sum, NaN counted as 0.
    pub fn nansum(&self, how: Reduction) -> Result<Array<T::Acc>, ArrayError> {
        self.unary(UnaryOp::NanToZero).sum(how)
    }

    /// The mean of the elements that are not NaN (NaN where there are none).
    pub fn nanmean(&self, how: Reduction) -> Result<Array<f64>, ArrayError> {
        let x = self.astype::<f64>();
        let sum = x.unary(UnaryOp::NanToZero).sum(how.clone())?;
        // x == x is false exactly for NaN.
        let count = x.compare(CmpOp::Eq, &x)?.astype::<f64>().sum(how)?;
        sum.binary(BinOp::Div, &count)
    }
}

impl<T: Element> Array<T> {
    /// Whether any element is non-zero (true).
    pub fn any(&self, how: Reduction) -> Result<Array<bool>, ArrayError> {
        self.astype::<bool>().max(how)
    }

    /// Whether every element is non-zero (true).
    pub fn all(&self, how: Reduction) -> Result<Array<bool>, ArrayError> {
        self.astype::<bool>().min(how)
    }
}
