//! Vectorized elementary functions over slices: sin, cos, tan, exp, log, sqrt and tanh, for
//! `f64` and `f32`, picked at run time for the CPU — AVX-512, AVX2 with FMA, or the target's
//! baseline SIMD (SSE2 on x86-64, NEON on AArch64) — the way NumPy's SIMD loops are.
//!
//! ```
//! use rask_math::{Func, map, map_in_place};
//!
//! let x = [0.0f64, 0.5, 1.0, 3.0];
//! let mut y = [0.0; 4];
//! map(Func::Cos, &x, &mut y).unwrap();
//! for (a, b) in x.iter().zip(&y) {
//!     assert!((a.cos() - b).abs() <= 2.0 * f64::EPSILON);
//! }
//! let mut z = vec![1.0f32, 2.0];
//! map_in_place(Func::Log, &mut z);
//! assert_eq!(z[0], 0.0);
//! ```
//!
//! # Accuracy
//! Every result is within [`Func::max_ulp`] units in the last place of the platform libm's
//! (glibc's, itself within one unit of the exact result), on every dispatch level:
//! the `tests/accuracy.rs` sweeps check it over dense ranges, near the multiples of π/2, and at
//! NaN, ±∞, ±0, subnormals and huge arguments, which give libm's answers exactly (NaN for NaN,
//! `sin(-0.0) = -0.0`). `f32` is computed through the `f64` kernels and rounded once, so it is
//! within one `f32` unit.
//!
//! # Why hand-written
//! No maintained crate did this on stable Rust: `simdeez`'s math is 35 ULP with scalar `f64`
//! trigonometry; `wide` has no run-time dispatch and no reduction of large arguments; `sleef`
//! bindings need nightly's `portable_simd`; `pulp` dispatches (and comes with faer) but lacks
//! the rounding, conversion and 64-bit shift operations these kernels need and has no SSE2
//! level. So the kernels are fdlibm's algorithms written without branches
//! (`src/kernels.rs`) and compiled once per level with `#[target_feature]`, where LLVM
//! vectorizes their loops; `std::arch` detects the CPU.
//!
//! # Choosing the level
//! [`level`] is the best level the CPU has, unless `RASK_SIMD` names a lower one:
//! `avx512`, `avx2`, `baseline` (or `sse2`, `neon`), or `libm` (no vector code at all). Tests
//! use [`map_at`] to run each level the machine can.

mod kernels;
pub mod random;

use kernels::Kernel;
use std::sync::atomic::{AtomicU8, Ordering};

/// An elementwise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// sin(x).
    Sin,
    /// cos(x).
    Cos,
    /// tan(x).
    Tan,
    /// e^x.
    Exp,
    /// ln(x).
    Log,
    /// √x (the instruction: correctly rounded).
    Sqrt,
    /// tanh(x).
    Tanh,
}

impl Func {
    /// Every function, in declaration order.
    pub const ALL: [Func; 7] = [
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Exp,
        Func::Log,
        Func::Sqrt,
        Func::Tanh,
    ];

    /// The largest distance, in units in the last place, between an `f64` result and the
    /// platform libm's, on any level (measured by `tests/accuracy.rs`, which holds the code
    /// to it).
    ///
    /// ```
    /// assert!(rask_math::Func::Cos.max_ulp() <= 4);
    /// ```
    pub const fn max_ulp(self) -> u32 {
        match self {
            Func::Sin | Func::Cos => 1,
            Func::Tan => 2,
            Func::Exp => 1,
            Func::Log => 1,
            Func::Sqrt => 0,
            Func::Tanh => 3,
        }
    }

    /// The platform libm's answer for one value: the reference the kernels are tested
    /// against, and what lanes outside their range get.
    ///
    /// ```
    /// assert_eq!(rask_math::Func::Exp.libm(0.0), 1.0);
    /// ```
    pub fn libm(self, x: f64) -> f64 {
        match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Tanh => x.tanh(),
        }
    }
}

/// A level of vector instructions the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// No vector code: the platform libm, one value at a time.
    Libm,
    /// The target's baseline: SSE2 on x86-64, NEON on AArch64 (and plain code elsewhere).
    Baseline,
    /// AVX2 with FMA (x86-64).
    Avx2,
    /// AVX-512 F, DQ and VL, with FMA (x86-64).
    Avx512,
}

impl Level {
    /// Whether this CPU can run the level.
    ///
    /// ```
    /// assert!(rask_math::Level::Baseline.is_supported());
    /// ```
    pub fn is_supported(self) -> bool {
        match self {
            Level::Libm | Level::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                Level::Avx2.is_supported()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx2 | Level::Avx512 => false,
        }
    }

    /// Every level this CPU can run, lowest first.
    ///
    /// ```
    /// let levels = rask_math::Level::supported();
    /// assert_eq!(levels[0], rask_math::Level::Libm);
    /// ```
    pub fn supported() -> Vec<Level> {
        [Level::Libm, Level::Baseline, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|l| l.is_supported())
            .collect()
    }

    /// The level's name as `RASK_SIMD` spells it (`baseline` is `sse2` on x86-64 and `neon`
    /// on AArch64).
    ///
    /// ```
    /// assert_eq!(rask_math::Level::Avx2.name(), "avx2");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Level::Libm => "libm",
            #[cfg(target_arch = "x86_64")]
            Level::Baseline => "sse2",
            #[cfg(target_arch = "aarch64")]
            Level::Baseline => "neon",
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = MathError;

    fn from_str(s: &str) -> Result<Self, MathError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "libm" | "scalar" => Ok(Level::Libm),
            "baseline" | "sse2" | "neon" => Ok(Level::Baseline),
            "avx2" => Ok(Level::Avx2),
            "avx512" => Ok(Level::Avx512),
            _ => Err(MathError::UnknownLevel(s.to_string())),
        }
    }
}

/// What the functions refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The source and destination slices differ in length.
    #[error("the source has {src} values and the destination room for {dst}")]
    Lengths {
        /// The source's length.
        src: usize,
        /// The destination's length.
        dst: usize,
    },
    /// A level this CPU cannot run.
    #[error("this CPU cannot run the {0} level")]
    Unsupported(Level),
    /// A level name that is none of `libm`, `baseline`, `sse2`, `neon`, `avx2`, `avx512`.
    #[error("unknown SIMD level {0:?}: expected libm, baseline (sse2, neon), avx2 or avx512")]
    UnknownLevel(String),
}

const UNSET: u8 = u8::MAX;
static LEVEL: AtomicU8 = AtomicU8::new(UNSET);

/// The level [`map`] and [`map_in_place`] use: the best this CPU has, or the lower one
/// `RASK_SIMD` names (read once; a name it does not know, or a level the CPU lacks, leaves
/// the best).
///
/// ```
/// assert!(rask_math::level().is_supported());
/// ```
pub fn level() -> Level {
    let cached = LEVEL.load(Ordering::Relaxed);
    let levels = [Level::Libm, Level::Baseline, Level::Avx2, Level::Avx512];
    if let Some(l) = levels.get(cached as usize) {
        return *l;
    }
    let best = *Level::supported().last().unwrap_or(&Level::Libm);
    let chosen = std::env::var("RASK_SIMD")
        .ok()
        .and_then(|v| v.parse::<Level>().ok())
        .filter(|l| *l <= best)
        .unwrap_or(best);
    LEVEL.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// The distance between two doubles in units in the last place: how many doubles lie from
/// one to the other (0 for two NaNs, and for +0 and -0, whose signs are told apart by
/// `to_bits`; the most there is for a NaN and a number). What the accuracy bounds
/// ([`Func::max_ulp`], [`POW_MAX_ULP`]) count.
///
/// ```
/// assert_eq!(rask_math::ulp_distance(1.0, 1.0 + f64::EPSILON), 1);
/// assert_eq!(rask_math::ulp_distance(-0.0, 0.0), 0);
/// assert_eq!(rask_math::ulp_distance(-5e-324, 5e-324), 2); // across zero
/// assert_eq!(rask_math::ulp_distance(f64::NAN, 1.0), u64::MAX);
/// ```
pub fn ulp_distance(a: f64, b: f64) -> u64 {
    let place = |x: f64| (x.is_nan(), x.is_sign_negative(), x.abs().to_bits());
    places_apart(place(a), place(b))
}

/// How many floats lie between two, each given as (NaN, sign, the bits of its magnitude):
/// magnitudes on one line through zero, both zeros at 0 (what [`ulp_distance`] and
/// [`ulp_distance_f32`] count).
fn places_apart(a: (bool, bool, u64), b: (bool, bool, u64)) -> u64 {
    match (a.0, b.0) {
        (true, true) => 0,
        (false, false) => {
            let line = |(_, negative, magnitude): (bool, bool, u64)| {
                if negative {
                    -i128::from(magnitude)
                } else {
                    i128::from(magnitude)
                }
            };
            (line(a) - line(b)).unsigned_abs() as u64
        }
        _ => u64::MAX,
    }
}

/// [`ulp_distance`] in units of `f32`.
///
/// ```
/// assert_eq!(rask_math::ulp_distance_f32(1.0, 1.0 + f32::EPSILON), 1);
/// assert_eq!(rask_math::ulp_distance_f32(-1.0, 1.0), 2 * 0x3f80_0000);
/// ```
pub fn ulp_distance_f32(a: f32, b: f32) -> u64 {
    let place = |x: f32| {
        (
            x.is_nan(),
            x.is_sign_negative(),
            u64::from(x.abs().to_bits()),
        )
    };
    places_apart(place(a), place(b))
}

/// An element the functions take: `f64`, or `f32` (computed in `f64` and rounded once).
pub trait Real: Copy + Send + Sync + sealed::Sealed + 'static {
    #[doc(hidden)]
    fn wide(self) -> f64;
    #[doc(hidden)]
    fn narrow(x: f64) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
}

impl Real for f64 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn narrow(x: f64) -> Self {
        x
    }
}

impl Real for f32 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn narrow(x: f64) -> Self {
        x as f32
    }
}

/// `dst[i] = f(src[i])` on the [`level`] this process uses.
///
/// ```
/// let mut out = [0.0f32; 3];
/// rask_math::map(rask_math::Func::Exp, &[0.0f32, 1.0, -1.0], &mut out).unwrap();
/// assert_eq!(out[0], 1.0);
/// assert!(rask_math::map(rask_math::Func::Exp, &[1.0f64], &mut []).is_err());
/// ```
pub fn map<T: Real>(f: Func, src: &[T], dst: &mut [T]) -> Result<(), MathError> {
    map_at(level(), f, src, dst)
}

/// `dst[i] = f(src[i])` on a chosen level (an error if this CPU cannot run it).
///
/// ```
/// use rask_math::{Func, Level, map_at};
/// let x = [0.25f64; 9];
/// for level in Level::supported() {
///     let mut y = [0.0; 9];
///     map_at(level, Func::Tanh, &x, &mut y).unwrap();
///     assert!((y[8] - 0.25f64.tanh()).abs() < 1e-15);
/// }
/// ```
pub fn map_at<T: Real>(level: Level, f: Func, src: &[T], dst: &mut [T]) -> Result<(), MathError> {
    Apply::Func(f).into(level, src, dst)
}

/// `values[i] = f(values[i])` on the [`level`] this process uses.
///
/// ```
/// let mut v = vec![4.0f64, 9.0];
/// rask_math::map_in_place(rask_math::Func::Sqrt, &mut v);
/// assert_eq!(v, [2.0, 3.0]);
/// ```
pub fn map_in_place<T: Real>(f: Func, values: &mut [T]) {
    map_in_place_at(level(), f, values).unwrap_or_else(|_| unreachable!("level() is supported"))
}

/// `values[i] = f(values[i])` on a chosen level (an error if this CPU cannot run it).
///
/// ```
/// let mut v = [0.0f64; 5];
/// rask_math::map_in_place_at(rask_math::Level::Libm, rask_math::Func::Cos, &mut v).unwrap();
/// assert_eq!(v, [1.0; 5]);
/// ```
pub fn map_in_place_at<T: Real>(level: Level, f: Func, values: &mut [T]) -> Result<(), MathError> {
    Apply::Func(f).in_place(level, values)
}

/// The largest distance, in units in the last place, between an `f64` result of [`pow`] and
/// the platform libm's `powf`, on any level (held by `tests/accuracy.rs`).
pub const POW_MAX_ULP: u32 = 3;

/// `dst[i] = src[i]^p` on the [`level`] this process uses: NumPy's `x ** p` for a float `p`.
/// Negative, zero, subnormal, infinite and NaN `x`, and a `p` that is 0 or not finite, get
/// libm's answers exactly; the rest is within [`POW_MAX_ULP`].
///
/// ```
/// let mut out = [0.0f64; 3];
/// rask_math::pow(0.5, &[4.0, 9.0, -1.0], &mut out).unwrap();
/// assert_eq!(out[..2], [2.0, 3.0]);
/// assert!(out[2].is_nan());
/// ```
pub fn pow<T: Real>(p: f64, src: &[T], dst: &mut [T]) -> Result<(), MathError> {
    pow_at(level(), p, src, dst)
}

/// [`pow`] on a chosen level (an error if this CPU cannot run it).
///
/// ```
/// use rask_math::{Level, pow_at};
/// for level in Level::supported() {
///     let mut y = [0.0f64; 2];
///     pow_at(level, 3.0, &[2.0, 10.0], &mut y).unwrap();
///     assert_eq!(y, [8.0, 1000.0]);
/// }
/// ```
pub fn pow_at<T: Real>(level: Level, p: f64, src: &[T], dst: &mut [T]) -> Result<(), MathError> {
    Apply::Pow(p).into(level, src, dst)
}

/// `values[i] = values[i]^p` on the [`level`] this process uses (see [`pow`]).
///
/// ```
/// let mut v = vec![2.0f32, 3.0];
/// rask_math::pow_in_place(2.0, &mut v);
/// assert_eq!(v, [4.0, 9.0]);
/// ```
pub fn pow_in_place<T: Real>(p: f64, values: &mut [T]) {
    Apply::Pow(p)
        .in_place(level(), values)
        .unwrap_or_else(|_| unreachable!("level() is supported"))
}

/// The pow kernel with its exponent (a type with an `#[inline(always)]` call, not a
/// closure, so that it is inlined into each level's loop).
#[derive(Clone, Copy)]
struct PowKernel<const F: bool>(f64);

impl<const F: bool> Lanewise for PowKernel<F> {
    #[inline(always)]
    fn at(self, x: f64) -> f64 {
        kernels::pow::<F>(x, self.0)
    }
}

/// A function of one lane, inlined into the vector loop.
trait Lanewise: Copy {
    fn at(self, x: f64) -> f64;
}

impl<G: Fn(f64) -> f64 + Copy> Lanewise for G {
    #[inline(always)]
    fn at(self, x: f64) -> f64 {
        self(x)
    }
}

/// Values per tile: the vector loop runs over a tile, then the lanes libm must redo.
const TILE: usize = 512;

/// What [`map`] and [`pow`] apply: a function, or a power with its exponent.
#[derive(Clone, Copy)]
enum Apply {
    Func(Func),
    Pow(f64),
}

impl Apply {
    /// The platform libm's answer for one value.
    fn libm(self, x: f64) -> f64 {
        match self {
            Apply::Func(f) => f.libm(x),
            Apply::Pow(p) => x.powf(p),
        }
    }

    /// `dst[i] = self(src[i])` on `level`, checked.
    fn into<T: Real>(self, level: Level, src: &[T], dst: &mut [T]) -> Result<(), MathError> {
        if src.len() != dst.len() {
            return Err(MathError::Lengths {
                src: src.len(),
                dst: dst.len(),
            });
        }
        if !level.is_supported() {
            return Err(MathError::Unsupported(level));
        }
        // SAFETY: the level's instructions are on this CPU (checked just above).
        unsafe { self.dispatch(level, src, dst) };
        Ok(())
    }

    /// `values[i] = self(values[i])` on `level`, checked: a tile at a time through a buffer.
    fn in_place<T: Real>(self, level: Level, values: &mut [T]) -> Result<(), MathError> {
        if !level.is_supported() {
            return Err(MathError::Unsupported(level));
        }
        let mut tmp = [T::narrow(0.0); TILE];
        for tile in values.chunks_mut(TILE) {
            let out = &mut tmp[..tile.len()];
            // SAFETY: the level's instructions are on this CPU (checked above).
            unsafe { self.dispatch(level, tile, out) };
            tile.copy_from_slice(out);
        }
        Ok(())
    }

    /// # Safety
    /// The CPU must support `level`.
    unsafe fn dispatch<T: Real>(self, level: Level, src: &[T], dst: &mut [T]) {
        // libm itself: the level that asks for it, and powers whose exponent is 0 or not
        // finite (IEEE's special cases, all libm's).
        let libm = match self {
            Apply::Func(_) => level == Level::Libm,
            Apply::Pow(p) => level == Level::Libm || p == 0.0 || !p.is_finite(),
        };
        if libm {
            src.iter()
                .zip(dst.iter_mut())
                .for_each(|(x, y)| *y = T::narrow(self.libm(x.wide())));
            return;
        }
        // SAFETY: the caller checked the CPU.
        unsafe {
            tier::run(
                level,
                Map {
                    apply: self,
                    src,
                    dst,
                },
            )
        }
    }
}

/// `dst = apply(src)`, as a [`tier::Job`].
struct Map<'a, T> {
    apply: Apply,
    src: &'a [T],
    dst: &'a mut [T],
}

impl<T: Real> tier::Job for Map<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const F: bool>(self) {
        let Map { apply, src, dst } = self;
        let libm = |x| apply.libm(x);
        match apply {
            Apply::Func(Func::Sin) => tiles(Kernel::Sin, kernels::sin::<F>, libm, src, dst),
            Apply::Func(Func::Cos) => tiles(Kernel::Cos, kernels::cos::<F>, libm, src, dst),
            Apply::Func(Func::Tan) => tiles(Kernel::Tan, kernels::tan::<F>, libm, src, dst),
            Apply::Func(Func::Exp) => tiles(Kernel::Exp, kernels::exp::<F>, libm, src, dst),
            Apply::Func(Func::Log) => tiles(Kernel::Log, kernels::log::<F>, libm, src, dst),
            Apply::Func(Func::Tanh) => tiles(Kernel::Tanh, kernels::tanh::<F>, libm, src, dst),
            Apply::Func(Func::Sqrt) => src
                .iter()
                .zip(dst.iter_mut())
                .for_each(|(x, y)| *y = T::narrow(x.wide().sqrt())),
            // Exponents whose power is one correctly rounded operation: libm's answer exactly
            // (`x ** 0.5` is `sqrt(x)`, as NumPy users expect of a perfect square).
            Apply::Pow(0.5) => tiles(Kernel::Pow, |x: f64| x.sqrt(), libm, src, dst),
            Apply::Pow(1.0) => tiles(Kernel::Pow, |x: f64| x, libm, src, dst),
            Apply::Pow(2.0) => tiles(Kernel::Pow, |x: f64| x * x, libm, src, dst),
            Apply::Pow(-1.0) => tiles(Kernel::Pow, |x: f64| 1.0 / x, libm, src, dst),
            Apply::Pow(p) => tiles(Kernel::Pow, PowKernel::<F>(p), libm, src, dst),
        }
    }
}

/// The vector loop over a tile, then libm for the lanes the kernel flags.
#[inline(always)]
fn tiles<T: Real>(
    k: Kernel,
    f: impl Lanewise,
    libm: impl Fn(f64) -> f64,
    src: &[T],
    dst: &mut [T],
) {
    for (s, d) in src.chunks(TILE).zip(dst.chunks_mut(TILE)) {
        let mut redo = false;
        for (x, y) in s.iter().zip(d.iter_mut()) {
            let x = x.wide();
            *y = T::narrow(f.at(x));
            redo |= k.fallback(x);
        }
        if redo {
            for (x, y) in s.iter().zip(d.iter_mut()) {
                if k.fallback(x.wide()) {
                    *y = T::narrow(libm(x.wide()));
                }
            }
        }
    }
}

/// Work whose loops are compiled once per level, for other crates' kernels: implement it with
/// an `#[inline(always)]` [`run`](Vectorized::run) (so that its body is compiled inside each
/// level's `#[target_feature]` function, where LLVM vectorizes it for that level), and call
/// [`vectorized`]. `FMA` says whether the level has a fused multiply-add (`f64::mul_add` is
/// one instruction then, and a slow library call otherwise).
///
/// ```
/// use rask_math::{Vectorized, vectorized};
///
/// struct Scale<'a>(&'a mut [f64], f64);
///
/// impl Vectorized for Scale<'_> {
///     type Output = ();
///     #[inline(always)]
///     fn run<const FMA: bool>(self) {
///         let Scale(values, k) = self;
///         values.iter_mut().for_each(|v| *v *= k);
///     }
/// }
///
/// let mut v = vec![1.0, 2.0, 3.0];
/// vectorized(Scale(&mut v, 2.0));
/// assert_eq!(v, [2.0, 4.0, 6.0]);
/// ```
pub trait Vectorized {
    /// What the work returns.
    type Output;
    /// Does the work (compiled for one level).
    fn run<const FMA: bool>(self) -> Self::Output;
}

/// Runs `work` compiled for the [`level`] this process uses (the baseline's code when that is
/// [`Level::Libm`]).
pub fn vectorized<V: Vectorized>(work: V) -> V::Output {
    // SAFETY: level() is a level this CPU supports.
    unsafe { tier::run(level(), work) }
}

/// Loops compiled once per level.
mod tier {
    use super::Level;
    pub(crate) use super::Vectorized as Job;

    /// Whether the baseline has a fused multiply-add (AArch64's does; x86-64's SSE2 does not).
    const BASELINE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

    /// Runs `job` compiled for `level` (the baseline for [`Level::Libm`], which is the
    /// caller's to handle when it means something else).
    ///
    /// # Safety
    /// The CPU must support `level`.
    #[inline(always)]
    pub(crate) unsafe fn run<J: Job>(level: Level, job: J) -> J::Output {
        match level {
            Level::Libm | Level::Baseline => job.run::<BASELINE_FMA>(),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked the CPU.
            Level::Avx2 => unsafe { avx2(job) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked the CPU.
            Level::Avx512 => unsafe { avx512(job) },
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx2 | Level::Avx512 => unreachable!("not supported on this architecture"),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<J: Job>(job: J) -> J::Output {
        job.run::<true>()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    unsafe fn avx512<J: Job>(job: J) -> J::Output {
        job.run::<true>()
    }
}
