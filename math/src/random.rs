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

use crate::kernels::{exp, log};
use crate::{Level, MathError, level, tier};
use std::mem::MaybeUninit;
use std::sync::OnceLock;

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
    /// Normal with mean `loc` and standard deviation `scale`, by Marsaglia and Tsang's
    /// ziggurat with 256 layers (NumPy's `Generator.standard_normal` method): one 64-bit value
    /// per sample, of which 8 bits pick a layer, 1 the sign and 52 the magnitude; 99% of
    /// samples are one multiply and one comparison, and the rest (the wedges and the tail
    /// past 3.654, which has no end) draw again from a stream of their own.
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

/// `2^52` as a float: `bits` below it, or'd into its mantissa, give `2^52 + bits` exactly.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The ziggurat's 256 layers, made as Marsaglia and Tsang's `zigset` makes them for 52-bit
/// magnitudes, with this crate's own scalar kernels and no fused multiply-add: the same
/// tables, so the same samples, on every machine.
struct Ziggurat {
    /// A magnitude below `k[i]` lies in layer `i`'s rectangle: taken at once.
    k: [u64; 256],
    /// The magnitude's scale in layer `i`: `x = magnitude · w[i]`.
    w: [f64; 256],
    /// The density `e^(-x²/2)` at layer `i`'s edge.
    f: [f64; 256],
}

/// Where the tail begins: the bottom layer's right edge (Marsaglia and Tsang's `r` for 256
/// layers).
const ZIG_R: f64 = 3.654_152_885_361_009;
/// The area of each layer.
const ZIG_V: f64 = 4.928_673_233_99e-3;
/// What seeds a sample's stream of fresh draws from its first 64 bits (any constant would do:
/// the stream must differ from the bits' own).
const REDRAW_KEY: u64 = 0x5851_f42d_4c95_7f2d;

impl Ziggurat {
    fn get() -> &'static Ziggurat {
        static TABLES: OnceLock<Ziggurat> = OnceLock::new();
        TABLES.get_or_init(|| {
            let m = TWO_52;
            let density = |x: f64| exp::<false>(-0.5 * x * x);
            let mut z = Ziggurat {
                k: [0; 256],
                w: [0.0; 256],
                f: [0.0; 256],
            };
            let (mut x, mut outer) = (ZIG_R, ZIG_R);
            // The bottom layer is a rectangle to R and the tail beyond, of width q.
            let q = ZIG_V / density(x);
            z.k[0] = (x / q * m) as u64;
            z.w[0] = q / m;
            z.w[255] = x / m;
            z.f[0] = 1.0;
            z.f[255] = density(x);
            for i in (1..255).rev() {
                x = (-2.0 * log::<false>(ZIG_V / x + density(x))).sqrt();
                z.k[i + 1] = (x / outer * m) as u64;
                outer = x;
                z.f[i] = density(x);
                z.w[i] = x / m;
            }
            z
        })
    }

    /// A sample's value from its 64 bits, and whether it stands (most do; the rest are
    /// [`redrawn`](Ziggurat::redraw)).
    #[inline(always)]
    fn sample(&self, bits: u64) -> (f64, bool) {
        let layer = (bits & 0xff) as usize;
        let sign = (bits >> 8) & 1;
        let magnitude = (bits >> 9) & ((1 << 52) - 1);
        // The magnitude as a float without a conversion instruction (AVX2 has none for u64).
        let m = f64::from_bits(TWO_52.to_bits() | magnitude) - TWO_52;
        let x = f64::from_bits((m * self.w[layer]).to_bits() | (sign << 63));
        (x, magnitude < self.k[layer])
    }

    /// The first step of [`redraw`](Ziggurat::redraw), without branches (so that a list of
    /// samples is tested at the CPU's vector width): the value of bits whose first draw did
    /// not stand, and whether the wedge test keeps it. Those it does not keep (1 sample in
    /// 150, and the tail's) are left to `redraw`, which starts over and decides the same.
    #[inline(always)]
    fn wedge(&self, bits: u64) -> (f64, bool) {
        let layer = (bits & 0xff) as usize;
        let (x, _) = self.sample(bits);
        // The first draw of `redraw`'s stream.
        let u = unit(mix64(mix64(bits ^ REDRAW_KEY).wrapping_add(GOLDEN_GAMMA)));
        // Not for the bottom layer, whose tail this does not draw.
        let keep = (layer != 0) & self.under_density(layer, x, u);
        (x, keep)
    }

    /// The wedge test of `x` in layer `layer` (≥ 1; the bottom layer is read as if the top
    /// one were above it, without branches) with a uniform `u`: whether it lies under the
    /// density.
    #[inline(always)]
    fn under_density(&self, layer: usize, x: f64, u: f64) -> bool {
        let (f0, f1) = (self.f[layer.wrapping_sub(1) & 0xff], self.f[layer]);
        f1 + u * (f0 - f1) < exp::<false>(-0.5 * x * x)
    }

    /// The value of a sample whose first draw `bits` did not stand: the wedge test, the tail,
    /// and fresh draws from a stream seeded by `bits` until one stands (about 1% of samples).
    #[cold]
    fn redraw(&self, bits: u64) -> f64 {
        let mut state = mix64(bits ^ REDRAW_KEY);
        let mut next = || {
            state = state.wrapping_add(GOLDEN_GAMMA);
            mix64(state)
        };
        let mut bits = bits;
        loop {
            let (x, stands) = self.sample(bits);
            if stands {
                return x;
            }
            let layer = (bits & 0xff) as usize;
            if layer == 0 {
                // The tail past R (Marsaglia's method): exponentials, kept with the
                // probability that makes them normal.
                loop {
                    let t = -log::<false>(1.0 - unit(next())) / ZIG_R;
                    let y = -log::<false>(1.0 - unit(next()));
                    if y + y > t * t {
                        return (ZIG_R + t).copysign(x);
                    }
                }
            }
            // The wedge: under the density, or drawn again.
            if self.under_density(layer, x, unit(next())) {
                return x;
            }
            bits = next();
        }
    }
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
            Draw::Uniform { low, high } => singles(
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
            Draw::Normal { loc, scale } => singles(
                stream,
                start,
                out,
                Normal {
                    loc,
                    scale,
                    tables: Ziggurat::get(),
                },
            ),
        }
    }
}

/// A value from 64 random bits. (A trait with `#[inline(always)]` methods, not a closure: a
/// closure is a function of its own, which LLVM may leave uninlined — and then unvectorized —
/// in the level's loop.)
trait Single: Copy {
    /// The value, and whether it stands: most do, and the rest are [`redraw`](Single::redraw)n.
    fn value(self, bits: u64) -> (f64, bool);
    /// The values of bits whose first values did not stand.
    fn redraw(self, bits: &[u64], out: &mut [f64]);
}

#[derive(Clone, Copy)]
struct Uniform {
    low: f64,
    width: f64,
    high: f64,
    below: f64,
}

impl Single for Uniform {
    #[inline(always)]
    fn value(self, bits: u64) -> (f64, bool) {
        let v = self.low + self.width * unit(bits);
        // Rounding may reach `high`, which is excluded.
        (if v < self.high { v } else { self.below }, true)
    }

    fn redraw(self, bits: &[u64], out: &mut [f64]) {
        for (o, b) in out.iter_mut().zip(bits) {
            *o = self.value(*b).0;
        }
    }
}

#[derive(Clone, Copy)]
struct Normal {
    loc: f64,
    scale: f64,
    tables: &'static Ziggurat,
}

impl Single for Normal {
    #[inline(always)]
    fn value(self, bits: u64) -> (f64, bool) {
        let (z, stands) = self.tables.sample(bits);
        (self.loc + self.scale * z, stands)
    }

    #[inline(always)]
    fn redraw(self, bits: &[u64], out: &mut [f64]) {
        // The wedge tests side by side, then the rest one at a time.
        let mut kept = [0u8; AGAIN];
        for ((o, k), b) in out.iter_mut().zip(&mut kept).zip(bits) {
            let (x, keep) = self.tables.wedge(*b);
            *o = x;
            *k = u8::from(keep);
        }
        for ((o, k), b) in out.iter_mut().zip(&kept).zip(bits) {
            let z = if *k == 1 { *o } else { self.tables.redraw(*b) };
            *o = self.loc + self.scale * z;
        }
    }
}

/// Counters per batch of the vector loop.
const BATCH: usize = 64;

/// Values drawn again together, at most.
const AGAIN: usize = 128;

/// Which of 64 flags (each 0 or 1) are set, as the bits of a word: eight at a time, each
/// eight bytes' low bits gathered into one byte by a multiply.
#[inline(always)]
fn flag_bits(flags: &[u8; BATCH]) -> u64 {
    let mut mask = 0;
    for (g, eight) in flags.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(eight.try_into().unwrap_or([0; 8]));
        mask |= (word.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * g);
    }
    mask
}

/// The values to draw again, and where they go: drawn together, [`AGAIN`] at most at a time.
struct Again {
    at: [usize; AGAIN],
    bits: [u64; AGAIN],
    n: usize,
}

impl Again {
    /// Value `bits` to draw again into `out[at]` (the list drawn first when it is full).
    #[inline(always)]
    fn push<D: Single>(&mut self, at: usize, bits: u64, out: &mut [MaybeUninit<f64>], d: D) {
        if self.n == AGAIN {
            self.flush(out, d);
        }
        (self.at[self.n], self.bits[self.n]) = (at, bits);
        self.n += 1;
    }

    /// Draws the listed values again, into their places.
    fn flush<D: Single>(&mut self, out: &mut [MaybeUninit<f64>], d: D) {
        let mut values = [0.0; AGAIN];
        let values = &mut values[..self.n];
        d.redraw(&self.bits[..self.n], values);
        for (a, v) in self.at[..self.n].iter().zip(values.iter()) {
            out[*a].write(*v);
        }
        self.n = 0;
    }
}

/// Values `start..` into `out`, value `i` from the stream's value `i`: a batch at a time, in
/// a loop without branches (which vectorizes); the few values that did not stand are drawn
/// again together.
#[inline(always)]
fn singles<D: Single>(stream: SplitMix, start: u64, out: &mut [MaybeUninit<f64>], d: D) {
    let mut again = Again {
        at: [0; AGAIN],
        bits: [0; AGAIN],
        n: 0,
    };
    let mut i = start;
    let batches = out.len() / BATCH;
    for b in 0..batches {
        let first = b * BATCH;
        let mut bits = [0u64; BATCH];
        for (k, b) in bits.iter_mut().enumerate() {
            *b = stream.bits(i.wrapping_add(k as u64));
        }
        let (mut values, mut redo) = ([0.0; BATCH], [0u8; BATCH]);
        for ((v, r), b) in values.iter_mut().zip(&mut redo).zip(&bits) {
            let (value, stands) = d.value(*b);
            *v = value;
            *r = u8::from(!stands);
        }
        for (o, v) in out[first..first + BATCH].iter_mut().zip(&values) {
            o.write(*v);
        }
        let mut mask = flag_bits(&redo);
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            again.push(first + k, bits[k], out, d);
        }
        i = i.wrapping_add(BATCH as u64);
    }
    for a in batches * BATCH..out.len() {
        let b = stream.bits(i);
        let (v, stands) = d.value(b);
        out[a].write(v);
        if !stands {
            again.push(a, b, out, d);
        }
        i = i.wrapping_add(1);
    }
    if again.n > 0 {
        again.flush(out, d);
    }
}
