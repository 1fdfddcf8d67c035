//! One step of a random elementwise chain, applied to a rask array and to an ndarray alike:
//! what the fused-expression proptests (reduced, in `reductions.rs`; made into arrays, in
//! `elementwise.rs`) build their expressions from, each with its own mix of steps.

use ndarray::ArrayD;
use rask_array::Array;

/// One step: `y` becomes `y + y`, `y * y`, `y * x`, `x / y`, a function of `y`, `y + k` or
/// `y * k`, where `x` is the chain's input.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Double,
    Square,
    TimesX,
    XOver,
    Abs,
    Sin,
    Cos,
    Shift(i8),
    Scale(i8),
}

impl Step {
    /// The step taken by the rask array `y` (input `x`) and the ndarray `want` (input `a`).
    pub fn apply(
        self,
        (y, want): (Array<f64>, ArrayD<f64>),
        x: &Array<f64>,
        a: &ArrayD<f64>,
    ) -> (Array<f64>, ArrayD<f64>) {
        match self {
            Step::Double => (&y + &y, &want + &want),
            Step::Square => (&y * &y, &want * &want),
            Step::TimesX => (&y * x, &want * a),
            Step::XOver => (x / &y, a / &want),
            Step::Abs => (y.abs(), want.mapv(f64::abs)),
            Step::Sin => (y.sin(), want.mapv(f64::sin)),
            Step::Cos => (y.cos(), want.mapv(f64::cos)),
            Step::Shift(k) => (&y + k as f64, &want + k as f64),
            Step::Scale(k) => (&y * k as f64, &want * k as f64),
        }
    }
}

/// Whether a fused chain's value `g` agrees with ndarray's `w`: equal, both NaN, or within
/// 1e-9 relative (steps fused lane by lane may round differently).
pub fn agree(g: f64, w: f64) -> bool {
    g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0)
}
