//! One element's worth of each function, written without branches so that a loop over a slice
//! of them vectorizes: every choice is a select, every rounding to an integer the
//! `1.5 · 2^52` shifter, every conversion between integers and floats a move of bits.
//!
//! The algorithms and constants are fdlibm's (Sun's freely distributable libm, which FreeBSD
//! and musl keep): its medium-range reduction by π/2 in three 33-bit pieces and its sin and cos
//! kernels with a tail; its log (a series in `s = f / (2 + f)`). exp and expm1 are a reduction
//! by ln 2 and a degree-13 Taylor polynomial. Lanes the vector path cannot take (huge trig
//! arguments, zero or negative or subnormal log arguments, NaN, ±∞) are flagged by
//! [`Kernel::fallback`] and computed again by the platform libm.
//!
//! `F` says whether the target has a fused multiply-add: with it, `fma` is one instruction;
//! without it, a multiply and an add (`f64::mul_add` would call a slow software fma).

/// `a · b + c`, fused when the target has FMA.
#[inline(always)]
fn fma<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// `1.5 · 2^52`: `x + SHIFTER - SHIFTER` rounds `x` to an integer (ties to even) for
/// `|x| < 2^51`, and the low bits of `x + SHIFTER` hold that integer.
pub(crate) const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// `k` as an `f64`, for `|k| < 2^51`, without a conversion instruction (AVX2 has none for
/// 64-bit integers).
#[inline(always)]
fn i2f(k: i64) -> f64 {
    f64::from_bits(SHIFTER.to_bits().wrapping_add(k as u64)) - SHIFTER
}

/// `2^k` for `-1022 ≤ k ≤ 1023`.
#[inline(always)]
fn pow2(k: i64) -> f64 {
    f64::from_bits((k.wrapping_add(1023) as u64) << 52)
}

/// The biased exponent of `x`.
#[inline(always)]
fn exponent(x: f64) -> i64 {
    ((x.to_bits() >> 52) & 0x7ff) as i64
}

// π/2 in three 33-bit pieces and their tails (fdlibm's e_rem_pio2.c); fdlibm's constants are
// written by their bits, as fdlibm gives them.
const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000); // 1.57079632673412561e+00
const PIO2_1T: f64 = f64::from_bits(0x3dd0_b461_1a62_6331); // 6.07710050650619225e-11
const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000); // 6.07710050630396598e-11
const PIO2_2T: f64 = f64::from_bits(0x3ba3_198a_2e03_7073); // 2.02226624879595063e-21
const PIO2_3: f64 = f64::from_bits(0x3ba3_198a_2e00_0000); // 2.02226624871116646e-21
const PIO2_3T: f64 = f64::from_bits(0x397b_839a_2520_49c1); // 8.47842766036889957e-32

/// The largest |x| whose reduction by π/2 is done here: 2^20 · π/2 (fdlibm's medium range),
/// rounded down.
pub(crate) const TRIG_LIMIT: f64 = 1_647_099.0;

/// `x - n·π/2` as a double-double `(y0, y1)`, with `n mod 4`, for `|x| ≤ TRIG_LIMIT`: fdlibm's
/// medium-range reduction, its second and third rounds chosen by select where it branches.
#[inline(always)]
fn reduce_pio2<const F: bool>(x: f64) -> (f64, f64, u64) {
    let t = fma::<F>(x, INV_PIO2, SHIFTER);
    let quadrant = t.to_bits() & 3;
    let n = t - SHIFTER;
    let j = exponent(x);
    // First round, good to 85 bits: n·PIO2_1 is exact and so is the subtraction.
    let r1 = x - n * PIO2_1;
    let w1 = n * PIO2_1T;
    let y1 = r1 - w1;
    let need2 = j - exponent(y1) > 16;
    // Second round, good to 118 bits.
    let w = n * PIO2_2;
    let r2 = r1 - w;
    let w2 = n * PIO2_2T - ((r1 - r2) - w);
    let y2 = r2 - w2;
    let need3 = j - exponent(y2) > 49;
    // Third round, 151 bits.
    let w = n * PIO2_3;
    let r3 = r2 - w;
    let w3 = n * PIO2_3T - ((r2 - r3) - w);
    let y3 = r3 - w3;
    let (r, w, y0) = if need3 {
        (r3, w3, y3)
    } else if need2 {
        (r2, w2, y2)
    } else {
        (r1, w1, y1)
    };
    (y0, (r - y0) - w, quadrant)
}

/// sin(x + y) for |x| ≤ π/4 and |y| ≤ ulp(x)/2 (fdlibm's __kernel_sin).
#[inline(always)]
pub(crate) fn kernel_sin<const F: bool>(x: f64, y: f64) -> f64 {
    const S1: f64 = f64::from_bits(0xbfc5_5555_5555_5549); // -1.66666666666666324e-01
    const S2: f64 = f64::from_bits(0x3f81_1111_1110_f8a6); // 8.33333333332248946e-03
    const S3: f64 = f64::from_bits(0xbf2a_01a0_19c1_61d5); // -1.98412698298579493e-04
    const S4: f64 = f64::from_bits(0x3ec7_1de3_57b1_fe7d); // 2.75573137070700677e-06
    const S5: f64 = f64::from_bits(0xbe5a_e5e6_8a2b_9ceb); // -2.50507602534068634e-08
    const S6: f64 = f64::from_bits(0x3de5_d93a_5acf_d57c); // 1.58969099521155010e-10
    let z = x * x;
    let w = z * z;
    let r = fma::<F>(z, fma::<F>(z, S4, S3), S2) + z * w * fma::<F>(z, S6, S5);
    let v = z * x;
    x - ((z * (0.5 * y - v * r) - y) - v * S1)
}

/// cos(x + y) for |x| ≤ π/4 and |y| ≤ ulp(x)/2 (fdlibm's __kernel_cos).
#[inline(always)]
pub(crate) fn kernel_cos<const F: bool>(x: f64, y: f64) -> f64 {
    const C1: f64 = f64::from_bits(0x3fa5_5555_5555_554c); // 4.16666666666666019e-02
    const C2: f64 = f64::from_bits(0xbf56_c16c_16c1_5177); // -1.38888888888741096e-03
    const C3: f64 = f64::from_bits(0x3efa_01a0_19cb_1590); // 2.48015872894767294e-05
    const C4: f64 = f64::from_bits(0xbe92_7e4f_809c_52ad); // -2.75573143513906633e-07
    const C5: f64 = f64::from_bits(0x3e21_ee9e_bdb4_b1c4); // 2.08757232129817483e-09
    const C6: f64 = f64::from_bits(0xbda8_fae9_be88_38d4); // -1.13596475577881948e-11
    let z = x * x;
    let w = z * z;
    let r = z * fma::<F>(z, fma::<F>(z, C3, C2), C1) + w * w * fma::<F>(z, fma::<F>(z, C6, C5), C4);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - x * y))
}

/// `-v` when `negate`.
#[inline(always)]
pub(crate) fn negate_if(v: f64, negate: bool) -> f64 {
    f64::from_bits(v.to_bits() ^ ((negate as u64) << 63))
}

#[inline(always)]
pub(crate) fn sin<const F: bool>(x: f64) -> f64 {
    let (y0, y1, q) = reduce_pio2::<F>(x);
    let (s, c) = (kernel_sin::<F>(y0, y1), kernel_cos::<F>(y0, y1));
    negate_if(if q & 1 == 1 { c } else { s }, q & 2 == 2)
}

#[inline(always)]
pub(crate) fn cos<const F: bool>(x: f64) -> f64 {
    let (y0, y1, q) = reduce_pio2::<F>(x);
    let (s, c) = (kernel_sin::<F>(y0, y1), kernel_cos::<F>(y0, y1));
    negate_if(if q & 1 == 1 { s } else { c }, (q + 1) & 2 == 2)
}

#[inline(always)]
pub(crate) fn tan<const F: bool>(x: f64) -> f64 {
    let (y0, y1, q) = reduce_pio2::<F>(x);
    let (s, c) = (kernel_sin::<F>(y0, y1), kernel_cos::<F>(y0, y1));
    if q & 1 == 1 { -c / s } else { s / c }
}

const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816e-01
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770e-10
const LOG2E: f64 = std::f64::consts::LOG2_E;

/// `x = n·ln 2 + r` with |r| ≤ ln 2 / 2 (a little more where the rounding of `x·log2 e` ties),
/// for |x| < 2^20: `(r, n)`.
#[inline(always)]
fn reduce_ln2<const F: bool>(x: f64) -> (f64, i64) {
    let t = fma::<F>(x, LOG2E, SHIFTER);
    let n = t - SHIFTER;
    let k = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    // n·LN2_HI is exact (LN2_HI has 32 significant bits), and so is the subtraction.
    (x - n * LN2_HI - n * LN2_LO, k)
}

/// `e^r - 1` for |r| ≤ 0.35: its Taylor series to degree 13 (the next term is below
/// 2^-57 of the result).
#[inline(always)]
fn expm1_poly<const F: bool>(r: f64) -> f64 {
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let mut p = C[11];
    for c in C[..11].iter().rev() {
        p = fma::<F>(p, r, *c);
    }
    fma::<F>(r * r, p, r)
}

#[inline(always)]
pub(crate) fn exp<const F: bool>(x: f64) -> f64 {
    // Past these e^x is ∞ or 0 in f64 whatever x is; NaN passes both comparisons.
    let x = if x > 710.0 { 710.0 } else { x };
    let x = if x < -746.0 { -746.0 } else { x };
    let (r, k) = reduce_ln2::<F>(x);
    let p = 1.0 + expm1_poly::<F>(r);
    // 2^k in two factors, each a normal number for -1076 ≤ k ≤ 1024, so a result near
    // overflow or in the subnormals is rounded once, by the last multiply.
    let k1 = k >> 1;
    p * pow2(k1) * pow2(k - k1)
}

/// `e^x - 1` for -1 ≤ x ≤ 44 (what tanh needs): `2^k·expm1(r) + (2^k - 1)`, both terms
/// exact but the last rounding. The reduction's rounding error `c` is carried
/// (`expm1(r + c) ≈ expm1(r) + c·e^r`): where `2^k - 1` cancels most of the first term, an
/// error of half a unit of `r` would be several units of the result.
#[inline(always)]
fn expm1_small<const F: bool>(x: f64) -> f64 {
    let t = fma::<F>(x, LOG2E, SHIFTER);
    let n = t - SHIFTER;
    let k = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    let hi = x - n * LN2_HI;
    let lo = n * LN2_LO;
    let r = hi - lo;
    let c = (hi - r) - lo;
    let p = expm1_poly::<F>(r);
    let p = p + fma::<F>(c, p, c);
    let scale = pow2(k);
    fma::<F>(scale, p, scale - 1.0)
}

/// musl's three ranges, chosen by select: below ln(5/3)/2, `-t / (t + 2)` with
/// `t = expm1(-2|x|)`; up to ln 3 / 2, `t / (t + 2)` with `t = expm1(2|x|)`; beyond,
/// `1 - 2 / (t + 2)`. Each keeps the cancellation in `expm1` small where it is used.
#[inline(always)]
pub(crate) fn tanh<const F: bool>(x: f64) -> f64 {
    // tanh(22) is 1 in f64; NaN passes the comparison.
    let a = x.abs();
    let a = if a > 22.0 { 22.0 } else { a };
    let small = a <= 0.255_412_811_882_995_3;
    let big = a > 0.549_306_144_334_054_8;
    let t = expm1_small::<F>(if small { -2.0 * a } else { 2.0 * a });
    let num = if big {
        2.0
    } else if small {
        -t
    } else {
        t
    };
    let w = num / (t + 2.0);
    (if big { 1.0 - w } else { w }).copysign(x)
}

#[inline(always)]
pub(crate) fn log<const F: bool>(x: f64) -> f64 {
    const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593); // 6.66666666666673513e-01
    const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04); // 3.99999999994094191e-01
    const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359); // 2.85714287436623915e-01
    const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af); // 2.22221984321497840e-01
    const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de); // 1.81835721616180501e-01
    const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f); // 1.53138376992093733e-01
    const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244); // 1.47981986051165859e-01
    // x = 2^k · m with √2/2 ≤ m < √2 (musl's way: offset the bits by those of √2/2).
    let bits = x.to_bits();
    let tmp = bits.wrapping_sub(0x3fe6_a09e_667f_3bcd);
    let k = (tmp as i64) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(tmp & (0xfff << 52)));
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * fma::<F>(w, fma::<F>(w, LG6, LG4), LG2);
    let t2 = z * fma::<F>(w, fma::<F>(w, fma::<F>(w, LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    let dk = i2f(k);
    dk * LN2_HI - ((hfsq - fma::<F>(s, hfsq + r, dk * LN2_LO)) - f)
}

/// `a + b` exactly, as `(sum, error)` (Knuth's two-sum).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a · b` exactly, as `(product, error)`: one fused multiply-add, or Dekker's split without
/// one (for |a|, |b| < 2^996).
#[inline(always)]
fn two_prod<const F: bool>(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    if F {
        (p, a.mul_add(b, -p))
    } else {
        let split = |v: f64| {
            let c = 134_217_729.0 * v; // 2^27 + 1
            let h = c - (c - v);
            (h, v - h)
        };
        let ((ah, al), (bh, bl)) = (split(a), split(b));
        (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
    }
}

/// ln(x) as a double-double `(hi, lo)`, good to about 2^-62 of the result, for normal
/// positive finite `x`: fdlibm's reduction and series in `s = f / (2 + f)`, with `s` itself
/// carried as a double-double.
#[inline(always)]
fn log_dd<const F: bool>(x: f64) -> (f64, f64) {
    const LG: [f64; 7] = [
        f64::from_bits(0x3fe5_5555_5555_5593),
        f64::from_bits(0x3fd9_9999_9997_fa04),
        f64::from_bits(0x3fd2_4924_9422_9359),
        f64::from_bits(0x3fcc_71c5_1d8e_78af),
        f64::from_bits(0x3fc7_4664_96cb_03de),
        f64::from_bits(0x3fc3_9a09_d078_c69f),
        f64::from_bits(0x3fc2_f112_df3e_5244),
    ];
    let bits = x.to_bits();
    let tmp = bits.wrapping_sub(0x3fe6_a09e_667f_3bcd);
    let k = (tmp as i64) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(tmp & (0xfff << 52)));
    let f = m - 1.0;
    // 2 + f exactly, as d_hi + d_lo; then s = f / (2 + f) as s_hi + s_lo.
    let d_hi = 2.0 + f;
    let d_lo = f - (d_hi - 2.0);
    let s_hi = f / d_hi;
    let (p, pe) = two_prod::<F>(s_hi, d_hi);
    let s_lo = (((f - p) - pe) - s_hi * d_lo) / d_hi;
    // ln(1 + f) = 2·atanh(s) = 2s + s·R(s²), R fdlibm's minimax series. s² and R's first
    // term (two thirds of it) are carried exactly: their roundings alone were 2^-58.5 of the
    // result, which p·ln x makes several units of x^p.
    let (z, z_lo) = two_prod::<F>(s_hi, s_hi);
    let z_lo = fma::<F>(2.0 * s_hi, s_lo, z_lo);
    let mut t = LG[6];
    for c in LG[1..6].iter().rev() {
        t = fma::<F>(t, z, *c);
    }
    let (lead, lead_lo) = two_prod::<F>(LG[0], z);
    let r_lo = fma::<F>(LG[0], z_lo, lead_lo) + z * z * t;
    // s·R = s_hi·lead + (s_hi·r_lo + s_lo·lead), beside 2·s_lo.
    let lo = fma::<F>(
        s_hi,
        lead,
        fma::<F>(s_hi, r_lo, fma::<F>(s_lo, lead, 2.0 * s_lo)),
    );
    // Plus k·ln 2 (k·LN2_HI exact).
    let dk = i2f(k);
    let (h, e) = two_sum(dk * LN2_HI, 2.0 * s_hi);
    let lo = e + fma::<F>(dk, LN2_LO, lo);
    let hi = h + lo;
    (hi, lo - (hi - h))
}

/// x^p for normal positive finite `x` (the caller leaves other lanes to libm): e^(p·ln x)
/// with ln x as a double-double, so that the product's error stays below a unit of the result
/// however large it is.
#[inline(always)]
pub(crate) fn pow<const F: bool>(x: f64, p: f64) -> f64 {
    let (l_hi, l_lo) = log_dd::<F>(x);
    let (y_hi, y_lo) = two_prod::<F>(p, l_hi);
    let y_lo = fma::<F>(p, l_lo, y_lo);
    let e = exp::<F>(y_hi);
    // An infinite result stays so whatever the low part says (∞ · y_lo + ∞ may be NaN), and a
    // low part that is not finite (Dekker's split of a huge p) is no correction.
    if e < f64::INFINITY && y_lo.is_finite() {
        fma::<F>(e, y_lo, e)
    } else {
        e
    }
}

/// The functions' elementwise kernels, and which lanes they leave to libm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Sin,
    Cos,
    Tan,
    Exp,
    Log,
    Tanh,
    Pow,
}

impl Kernel {
    /// Whether lane `x` must be computed again by libm.
    #[inline(always)]
    pub(crate) fn fallback(self, x: f64) -> bool {
        match self {
            // NaN is outside both ranges.
            Kernel::Sin | Kernel::Cos | Kernel::Tan => !(-TRIG_LIMIT..=TRIG_LIMIT).contains(&x),
            Kernel::Log | Kernel::Pow => !(f64::MIN_POSITIVE..f64::INFINITY).contains(&x),
            // ±∞ and NaN come out right from the vector path.
            Kernel::Exp | Kernel::Tanh => false,
        }
    }
}
