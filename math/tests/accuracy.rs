//! Every function on every level this CPU runs, against the platform libm: dense sweeps, the
//! neighbourhoods of the multiples of π/2, and the special values, within `Func::max_ulp`.

use rask_math::{Func, Level, POW_MAX_ULP, map_at, map_in_place_at, pow_at};
use rask_math::{ulp_distance as ulps, ulp_distance_f32 as ulps32};

/// A small seeded generator (xorshift64*), so the sweeps are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

const SPECIALS: [f64; 16] = [
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    1e-310,
    f64::MAX,
    f64::MIN,
    1e22,
    -1e300,
    1.0,
    -1.0,
];

/// The inputs a function is checked on.
fn inputs(f: Func) -> Vec<f64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ f as u64);
    let mut v: Vec<f64> = SPECIALS.to_vec();
    let grid = |v: &mut Vec<f64>, lo: f64, hi: f64, n: usize| {
        v.extend((0..=n).map(|i| lo + (hi - lo) * i as f64 / n as f64))
    };
    // Every exponent, both signs: random bit patterns.
    v.extend((0..100_000).map(|_| f64::from_bits(rng.next())));
    match f {
        Func::Sin | Func::Cos | Func::Tan => {
            grid(&mut v, -10.0, 10.0, 400_000);
            v.extend((0..200_000).map(|_| rng.uniform(-2e6, 2e6)));
            v.extend((0..50_000).map(|_| rng.uniform(-1e-6, 1e-6)));
            // The doubles nearest to k·π/2, and their neighbours, where the reduction cancels.
            for _ in 0..50_000 {
                let k = (rng.next() >> 44) as f64; // up to 2^20
                let x = k * std::f64::consts::FRAC_PI_2;
                for d in -3i64..=3 {
                    let y = f64::from_bits((x.to_bits() as i64 + d) as u64);
                    v.extend([y, -y]);
                }
            }
            // Known hard cases for the reduction (fdlibm's tests and ARM's).
            v.extend([
                std::f64::consts::FRAC_PI_2,
                std::f64::consts::PI,
                4.712_388_980_384_69,
                std::f64::consts::TAU,
                355.0,
                103_993.0,
                1_647_099.0,
                1_647_099.000_000_000_2,
                5.319_372_648_326_541e5,
                1.048_575_999_999_999_9e6,
            ]);
        }
        Func::Exp => {
            grid(&mut v, -746.0, 710.0, 400_000);
            grid(&mut v, -1.0, 1.0, 100_000);
            v.extend([
                709.782_712_893_384,
                709.782_712_893_385,
                -745.133_219_101_941_1,
                -708.4,
                -745.2,
            ]);
        }
        Func::Log => {
            grid(&mut v, 0.5, 2.0, 400_000);
            v.extend((0..200_000).map(|_| f64::from_bits(rng.next() >> 1)));
            v.extend((0..50_000).map(|_| 1.0 + rng.uniform(-1e-8, 1e-8)));
        }
        Func::Sqrt => {
            v.extend((0..200_000).map(|_| f64::from_bits(rng.next() >> 1)));
        }
        Func::Tanh => {
            grid(&mut v, -25.0, 25.0, 400_000);
            grid(&mut v, -0.6, 0.6, 100_000);
            v.extend((0..50_000).map(|_| rng.uniform(-1e-9, 1e-9)));
        }
    }
    v
}

#[test]
fn f64_results_are_within_the_documented_ulps_on_every_level() {
    for f in Func::ALL {
        let x = inputs(f);
        let want: Vec<f64> = x.iter().map(|x| f.libm(*x)).collect();
        for level in Level::supported() {
            let mut got = vec![0.0; x.len()];
            map_at(level, f, &x, &mut got).unwrap();
            let mut worst = (0, 0.0);
            for ((x, w), g) in x.iter().zip(&want).zip(&got) {
                let d = ulps(*w, *g);
                if d > worst.0 {
                    worst = (d, *x);
                }
                // Zeros keep libm's sign.
                if *w == 0.0 {
                    assert_eq!(
                        w.to_bits(),
                        g.to_bits(),
                        "{f:?}({x:e}) on {level}: {g:e}, libm {w:e}"
                    );
                }
            }
            let (d, at) = worst;
            eprintln!("{f:?} on {level}: at most {d} ulps");
            assert!(
                d <= f.max_ulp() as u64,
                "{f:?} on {level}: {d} ulps at x = {at:e} ({:e}, libm {:e})",
                got[x
                    .iter()
                    .position(|v| v.to_bits() == at.to_bits())
                    .unwrap_or(0)],
                f.libm(at)
            );
            // In place: the same answers.
            let mut same = x.clone();
            map_in_place_at(level, f, &mut same).unwrap();
            assert!(
                same.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{f:?} on {level}: in place differs"
            );
        }
    }
}

#[test]
fn f32_results_are_within_one_ulp_on_every_level() {
    for f in Func::ALL {
        let x: Vec<f32> = inputs(f).into_iter().map(|x| x as f32).collect();
        for level in Level::supported() {
            let mut got = vec![0.0f32; x.len()];
            map_at(level, f, &x, &mut got).unwrap();
            for (x, g) in x.iter().zip(&got) {
                let w = f.libm(*x as f64) as f32;
                assert!(
                    ulps32(w, *g) <= 1,
                    "{f:?}({x:e}) as f32 on {level}: {g:e}, libm {w:e}"
                );
            }
        }
    }
}

#[test]
fn every_length_and_offset_is_covered() {
    // Remainders of the vector loop and of the tiles: each length from 0 to 40 and around 512.
    let lengths = (0..40).chain(500..530).chain([1023, 1024, 1025]);
    for n in lengths {
        let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - 3.0).collect();
        for level in Level::supported() {
            for f in Func::ALL {
                let mut y = vec![f64::NAN; n];
                map_at(level, f, &x, &mut y).unwrap();
                for (x, y) in x.iter().zip(&y) {
                    assert!(
                        ulps(f.libm(*x), *y) <= f.max_ulp() as u64,
                        "{f:?}({x}) on {level} with n = {n}: {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn mismatched_lengths_and_unknown_levels_are_errors() {
    let e = map_at(Level::Libm, Func::Sin, &[1.0f64, 2.0], &mut [0.0]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the source has 2 values and the destination room for 1"
    );
    let e = "avx1024".parse::<Level>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown SIMD level \"avx1024\": expected libm, baseline (sse2, neon), avx2 or avx512"
    );
    for level in [Level::Libm, Level::Baseline, Level::Avx2, Level::Avx512] {
        assert_eq!(level.name().parse::<Level>().unwrap(), level);
        if !level.is_supported() {
            let e = map_at(level, Func::Sin, &[1.0f64], &mut [0.0]).unwrap_err();
            assert_eq!(e, rask_math::MathError::Unsupported(level));
        }
    }
}

/// `RASK_SIMD` forces a lower level: this test runs itself again in a child process under
/// each level's name and checks the child saw it.
#[test]
fn rask_simd_forces_a_level() {
    if let Ok(want) = std::env::var("RASK_MATH_EXPECT") {
        assert_eq!(rask_math::level().name(), want);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let best = *Level::supported().last().unwrap();
    for level in Level::supported() {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "rask_simd_forces_a_level", "--test-threads=1"])
            .env("RASK_SIMD", level.name())
            .env("RASK_MATH_EXPECT", level.name())
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "RASK_SIMD={level}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A name it does not know leaves the best level.
    let out = std::process::Command::new(&exe)
        .args(["--exact", "rask_simd_forces_a_level"])
        .env("RASK_SIMD", "avx9000")
        .env("RASK_MATH_EXPECT", best.name())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// x^p for exponents of every kind (integers, halves, thirds, tiny and large, negative) over
/// every exponent of x, on every level: within `POW_MAX_ULP` of libm's `powf`, and libm's
/// answers exactly for the special values and exponents.
#[test]
fn pow_is_within_its_ulps_on_every_level() {
    let mut rng = Rng(0x0bad_cafe);
    let mut x: Vec<f64> = SPECIALS.to_vec();
    x.extend((0..100_000).map(|_| f64::from_bits(rng.next() >> 1)));
    x.extend((0..100_000).map(|_| rng.uniform(0.0, 4.0)));
    x.extend((0..20_000).map(|_| 1.0 + rng.uniform(-1e-6, 1e-6)));
    x.extend([
        -2.0,
        -0.5,
        -8.0,
        2.0f64.powi(-1022),
        1.5 * 2.0f64.powi(-1074),
    ]);
    let exponents = [
        0.5,
        -0.5,
        2.0,
        3.0,
        -1.0,
        0.1,
        1.0 / 3.0,
        2.5,
        10.7,
        -7.3,
        100.5,
        1e-5,
        0.999,
        1.0001,
        300.0,
        -300.0,
        1e10,
        -1e10,
        1.0,
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in exponents {
        let want: Vec<f64> = x.iter().map(|v| v.powf(p)).collect();
        for level in Level::supported() {
            let mut got = vec![0.0; x.len()];
            pow_at(level, p, &x, &mut got).unwrap();
            for ((v, w), g) in x.iter().zip(&want).zip(&got) {
                let d = ulps(*w, *g);
                assert!(
                    d <= POW_MAX_ULP as u64 && (*w != 0.0 || w.to_bits() == g.to_bits()),
                    "{v:e}^{p} on {level}: {g:e}, libm {w:e} ({d} ulps)"
                );
            }
            let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
            let mut g32 = vec![0.0f32; x.len()];
            pow_at(level, p, &x32, &mut g32).unwrap();
            for (v, g) in x32.iter().zip(&g32) {
                let w = (*v as f64).powf(p) as f32;
                assert!(
                    ulps32(w, *g) <= 1,
                    "{v:e}^{p} as f32 on {level}: {g:e}, libm {w:e}"
                );
            }
        }
    }
}
