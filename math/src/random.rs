//! Counter-based random numbers: SplitMix64 (Steele, Lea and Flood, "Fast splittable
//! pseudorandom number generators", the generator of Java's `SplittableRandom` and the seeder
//! of the xoshiro family), whose value `i` is `mix64(seed + (i + 1)·γ)`.
//!
//! Value `i` of a stream is a pure function of the stream's seed and `i`: any run of a stream
//! can be made on its own, in any order, on any thread — a block of a random array is the
//! same whichever worker draws it and whichever part of it is asked for. Each stream has its
//! own odd increment γ, made from its seed as `SplittableRandom.split` makes one, so two
//! blocks' streams are different progressions, not shifted copies of one sequence.
//!
//! Why not Philox4x32-10 (cuRAND's, JAX's): measured here it drew uniform values at 1.35 ns
//! each with AVX-512, slower than rand's scalar xoshiro256++ (1.1 ns); SplitMix64's two
//! multiplies per value vectorize to 0.5 ns (`cargo bench -p rask-math -- uniform`).
//!
//! The vector loops are compiled for each level, as [`map`](crate::map) is, but use no fused
//! multiply-add on any of them: every level gives the same numbers, bit for bit.
//!
//! ```
//! use rask_math::random::{Draw, SplitMix};
//!
//! let p = SplitMix::new(42);
//! let mut all = vec![0.0; 10];
//! p.fill(Draw::Normal { loc: 0.0, scale: 1.0 }, 0, &mut all);
//! let mut tail = vec![0.0; 3];
//! p.fill(Draw::Normal { loc: 0.0, scale: 1.0 }, 7, &mut tail);
//! assert_eq!(&all[7..], &tail[..]); // value i is value i, wherever a run starts
//! ```

use crate::kernels::{SHIFTER, kernel_cos, kernel_sin, log, negate_if};
use crate::{Level, MathError, level, tier};
use std::mem::MaybeUninit;

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    /// Uniform on `[low, high)` (52 random bits: multiples of 2^-52 of the width).
    Uniform {
        /// The lower bound.
        low: f64,
        /// The upper bound (excluded).
        high: f64,
    },
    /// Normal with mean `loc` and standard deviation `scale`, by the Box–Muller transform
    /// (whose tails end at 8.5 standard deviations, a probability of 2·10^-17 cut off).
    Normal {
        /// The mean.
        loc: f64,
        /// The standard deviation.
        scale: f64,
    },
}

/// One stream: a starting state and an odd increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SplitMix {
    state: u64,
    gamma: u64,
}

/// The golden-ratio increment, SplitMix64's default γ.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Stafford's variant 13 of MurmurHash3's finalizer).
///
/// ```
/// // The first output of SplitMix64 seeded with 0: mix64(0 + γ).
/// assert_eq!(rask_math::random::mix64(0x9e37_79b9_7f4a_7c15), 0xe220_a839_7b1d_cdaf);
/// ```
#[inline(always)]
pub fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64 random bits to a float on `[0, 1)`: the top 52 as a mantissa.
#[inline(always)]
fn unit(bits: u64) -> f64 {
    f64::from_bits(0x3ff0_0000_0000_0000 | (bits >> 12)) - 1.0
}

/// Two standard normals from 128 random bits (Box–Muller). `2π·u` is reduced by quarter
/// turns exactly (`u - n/4` is exact for `u` a multiple of 2^-52), so sin and cos need only
/// fdlibm's kernels.
#[inline(always)]
fn box_muller(a: u64, b: u64) -> (f64, f64) {
    // (0, 1]: the log is finite, and its argument a normal number.
    let u1 = 1.0 - unit(a);
    let r = (-2.0 * log::<false>(u1)).sqrt();
    let u2 = unit(b);
    let t = u2 * 4.0 + SHIFTER;
    let q = t.to_bits() & 3;
    let y = (u2 - (t - SHIFTER) * 0.25) * std::f64::consts::TAU;
    let (s, c) = (kernel_sin::<false>(y, 0.0), kernel_cos::<false>(y, 0.0));
    let cos = negate_if(if q & 1 == 1 { s } else { c }, (q + 1) & 2 == 2);
    let sin = negate_if(if q & 1 == 1 { c } else { s }, q & 2 == 2);
    (r * cos, r * sin)
}

impl SplitMix {
    /// The stream of `seed`: SplitMix64 started at `seed` (its first value is
    /// `mix64(seed + γ)`), with γ the golden-ratio increment for seed 0's stream and, for
    /// every other seed, an increment of its own made as `SplittableRandom` makes one (Stafford's
    /// variant 4 mix of the seed, odd, with at least 24 bit transitions).
    ///
    /// ```
    /// let a = rask_math::random::SplitMix::new(1);
    /// assert_ne!(a, rask_math::random::SplitMix::new(2));
    /// ```
    pub fn new(seed: u64) -> Self {
        let gamma = if seed == 0 {
            GOLDEN_GAMMA
        } else {
            let z = seed.wrapping_add(GOLDEN_GAMMA);
            let z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
            let z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            let z = (z ^ (z >> 33)) | 1;
            if (z ^ (z >> 1)).count_ones() < 24 {
                z ^ 0xaaaa_aaaa_aaaa_aaaa
            } else {
                z
            }
        };
        Self { state: seed, gamma }
    }

    /// The published SplitMix64 sequence from `seed`, with the golden-ratio increment (what
    /// `new` gives seed 0 alone).
    ///
    /// ```
    /// // The reference outputs for seed 1234567.
    /// let mut v = [0u64; 2];
    /// rask_math::random::SplitMix::golden(1234567).fill_u64(0, &mut v);
    /// assert_eq!(v, [6457827717110365317, 3203168211198807973]);
    /// ```
    pub const fn golden(seed: u64) -> Self {
        Self {
            state: seed,
            gamma: GOLDEN_GAMMA,
        }
    }

    /// Values `start..start + out.len()` of this stream as raw 64-bit words.
    ///
    /// ```
    /// let s = rask_math::random::SplitMix::new(9);
    /// let (mut a, mut b) = ([0u64; 4], [0u64; 2]);
    /// s.fill_u64(0, &mut a);
    /// s.fill_u64(2, &mut b);
    /// assert_eq!(a[2..], b);
    /// ```
    pub fn fill_u64(&self, start: u64, out: &mut [u64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.bits(start.wrapping_add(i as u64));
        }
    }

    /// Value `i`'s 64 bits.
    #[inline(always)]
    fn bits(&self, i: u64) -> u64 {
        mix64(
            self.state
                .wrapping_add(i.wrapping_add(1).wrapping_mul(self.gamma)),
        )
    }

    /// Values `start..start + out.len()` of this stream, drawn as `draw` says, on the
    /// [`level`](crate::level) this process uses (every level gives the same numbers).
    ///
    /// ```
    /// use rask_math::random::{Draw, SplitMix};
    /// let mut u = [0.0; 1000];
    /// SplitMix::new(7).fill(Draw::Uniform { low: 2.0, high: 3.0 }, 0, &mut u);
    /// assert!(u.iter().all(|v| (2.0..3.0).contains(v)));
    /// ```
    pub fn fill(&self, draw: Draw, start: u64, out: &mut [f64]) {
        self.fill_at(level(), draw, start, out)
            .unwrap_or_else(|_| unreachable!("level() is supported"))
    }

    /// [`fill`](SplitMix::fill) into memory not yet written (a vector's spare capacity, say,
    /// which then need not be zeroed first): every value is written, and the values are
    /// returned.
    ///
    /// ```
    /// use rask_math::random::{Draw, SplitMix};
    /// let mut v: Vec<f64> = Vec::with_capacity(100);
    /// let d = Draw::Uniform { low: 0.0, high: 1.0 };
    /// let n = SplitMix::new(5).fill_uninit(d, 0, &mut v.spare_capacity_mut()[..100]).len();
    /// // SAFETY: fill_uninit wrote all 100.
    /// unsafe { v.set_len(n) };
    /// let mut w = vec![0.0; 100];
    /// SplitMix::new(5).fill(d, 0, &mut w);
    /// assert_eq!(v, w);
    /// ```
    pub fn fill_uninit<'a>(
        &self,
        draw: Draw,
        start: u64,
        out: &'a mut [MaybeUninit<f64>],
    ) -> &'a mut [f64] {
        // SAFETY: level() is a level this CPU supports.
        unsafe { self.fill_slots(level(), draw, start, out) };
        // SAFETY: every slot was written just above; MaybeUninit<f64> has f64's layout.
        unsafe { &mut *(out as *mut [MaybeUninit<f64>] as *mut [f64]) }
    }

    /// Writes values `start..` into every slot of `out`.
    ///
    /// # Safety
    /// The CPU must support `level`.
    unsafe fn fill_slots(
        &self,
        level: Level,
        draw: Draw,
        start: u64,
        out: &mut [MaybeUninit<f64>],
    ) {
        let job = Fill {
            stream: *self,
            draw,
            start,
            out,
        };
        // SAFETY: the caller's promise.
        unsafe { tier::run(level, job) }
    }

    /// [`fill`](SplitMix::fill) on a chosen level (an error if this CPU cannot run it).
    ///
    /// ```
    /// use rask_math::{Level, random::{Draw, SplitMix}};
    /// let d = Draw::Normal { loc: 1.0, scale: 2.0 };
    /// let mut a = [0.0; 33];
    /// let mut b = [0.0; 33];
    /// SplitMix::new(3).fill_at(Level::Baseline, d, 5, &mut a).unwrap();
    /// SplitMix::new(3).fill_at(*Level::supported().last().unwrap(), d, 5, &mut b).unwrap();
    /// assert_eq!(a, b);
    /// ```
    pub fn fill_at(
        &self,
        level: Level,
        draw: Draw,
        start: u64,
        out: &mut [f64],
    ) -> Result<(), MathError> {
        if !level.is_supported() {
            return Err(MathError::Unsupported(level));
        }
        // SAFETY: only initialized values are written through the view, so `out` stays
        // initialized; MaybeUninit<f64> has f64's layout.
        let slots = unsafe { &mut *(out as *mut [f64] as *mut [MaybeUninit<f64>]) };
        // SAFETY: the level's instructions are on this CPU (checked above).
        unsafe { self.fill_slots(level, draw, start, slots) };
        Ok(())
    }
}

/// A run of a stream, as a [`tier::Job`].
struct Fill<'a> {
    stream: SplitMix,
    draw: Draw,
    start: u64,
    out: &'a mut [MaybeUninit<f64>],
}

impl tier::Job for Fill<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const F: bool>(self) {
        let Fill {
            stream,
            draw,
            start,
            out,
        } = self;
        match draw {
            Draw::Uniform { low, high } => pairs(
                stream,
                start,
                out,
                Uniform {
                    low,
                    width: high - low,
                    high,
                    below: high.next_down(),
                },
            ),
            Draw::Normal { loc, scale } => pairs(stream, start, out, Normal { loc, scale }),
        }
    }
}

/// Two values from 128 random bits. (A trait with an `#[inline(always)]` method, not a
/// closure: a closure is a function of its own, which LLVM may leave uninlined — and then
/// unvectorized — in the level's loop.)
trait Pair: Copy {
    fn pair(self, a: u64, b: u64) -> (f64, f64);
}

#[derive(Clone, Copy)]
struct Uniform {
    low: f64,
    width: f64,
    high: f64,
    below: f64,
}

impl Pair for Uniform {
    #[inline(always)]
    fn pair(self, a: u64, b: u64) -> (f64, f64) {
        (self.value(a), self.value(b))
    }
}

impl Uniform {
    #[inline(always)]
    fn value(self, bits: u64) -> f64 {
        let v = self.low + self.width * unit(bits);
        // Rounding may reach `high`, which is excluded.
        if v < self.high { v } else { self.below }
    }
}

#[derive(Clone, Copy)]
struct Normal {
    loc: f64,
    scale: f64,
}

impl Pair for Normal {
    #[inline(always)]
    fn pair(self, a: u64, b: u64) -> (f64, f64) {
        let (z0, z1) = box_muller(a, b);
        (self.loc + self.scale * z0, self.loc + self.scale * z1)
    }
}

/// Counters per batch of the vector loop.
const BATCH: usize = 64;

/// Values `start..` into `out`, made in pairs (values `2c` and `2c + 1`, which Box–Muller
/// makes together): a loop over whole pairs, a batch at a time (which vectorizes), and the
/// half pairs at either end.
#[inline(always)]
fn pairs<D: Pair>(stream: SplitMix, start: u64, out: &mut [MaybeUninit<f64>], d: D) {
    let pair = |c: u64| d.pair(stream.bits(2 * c), stream.bits(2 * c + 1));
    let mut out = out;
    let mut c = start / 2;
    if start % 2 == 1 {
        let Some((first, rest)) = out.split_first_mut() else {
            return;
        };
        first.write(pair(c).1);
        out = rest;
        c += 1;
    }
    let mut whole = out.chunks_exact_mut(2 * BATCH);
    for o in &mut whole {
        // A batch of pairs into two arrays (contiguous stores: the loop vectorizes), then
        // interleaved.
        let (mut xs, mut ys) = ([0.0; BATCH], [0.0; BATCH]);
        for (k, (x, y)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
            let c = 2 * (c + k as u64);
            (*x, *y) = d.pair(stream.bits(c), stream.bits(c + 1));
        }
        for (o, (x, y)) in o.chunks_exact_mut(2).zip(xs.iter().zip(&ys)) {
            o[0].write(*x);
            o[1].write(*y);
        }
        c += BATCH as u64;
    }
    let mut whole = whole.into_remainder().chunks_exact_mut(2);
    for o in &mut whole {
        let (x, y) = pair(c);
        o[0].write(x);
        o[1].write(y);
        c += 1;
    }
    if let Some(last) = whole.into_remainder().first_mut() {
        last.write(pair(c).0);
    }
}
