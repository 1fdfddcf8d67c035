//! The SplitMix64 streams: the reference outputs, the same numbers on every level and from
//! every starting point, and the distributions they draw (moments and Kolmogorov–Smirnov).

use rask_math::Level;
use rask_math::random::{Draw, SplitMix};

#[test]
fn splitmix_gives_the_reference_outputs() {
    // The published SplitMix64 sequence for seed 1234567 (splitmix64.c; Rosetta Code).
    let mut v = [0u64; 5];
    SplitMix::golden(1234567).fill_u64(0, &mut v);
    assert_eq!(
        v,
        [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821
        ]
    );
    // Seed 0 is that sequence from 0; any other seed has an increment of its own.
    let mut z = [0u64; 1];
    SplitMix::new(0).fill_u64(0, &mut z);
    assert_eq!(z, [0xe220_a839_7b1d_cdaf]);
    assert_ne!(SplitMix::new(1234567), SplitMix::golden(1234567));
    // Neighbouring seeds are not shifted copies of one stream: no run of one appears in the
    // other.
    let (mut a, mut b) = (vec![0u64; 10_000], vec![0u64; 10_000]);
    SplitMix::new(100).fill_u64(0, &mut a);
    SplitMix::new(101).fill_u64(0, &mut b);
    let set: std::collections::HashSet<u64> = a.iter().copied().collect();
    assert!(b.iter().all(|v| !set.contains(v)));
}

const DRAWS: [Draw; 3] = [
    Draw::Uniform {
        low: 0.0,
        high: 1.0,
    },
    Draw::Uniform {
        low: -5.0,
        high: 5.0,
    },
    Draw::Normal {
        loc: 0.0,
        scale: 1.0,
    },
];

#[test]
fn every_level_and_every_start_gives_the_same_numbers() {
    let p = SplitMix::new(0x5eed);
    for draw in DRAWS {
        let mut all = vec![0.0; 2000];
        p.fill_at(Level::Baseline, draw, 0, &mut all).unwrap();
        for level in Level::supported() {
            let mut again = vec![0.0; 2000];
            p.fill_at(level, draw, 0, &mut again).unwrap();
            assert!(
                all.iter()
                    .zip(&again)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{draw:?} on {level} differs from the baseline"
            );
            // Runs starting anywhere, of any length (odd and even, empty), are slices of it.
            for start in [0usize, 1, 2, 3, 7, 64, 999] {
                for len in [0usize, 1, 2, 3, 8, 33] {
                    let mut run = vec![f64::NAN; len];
                    p.fill_at(level, draw, start as u64, &mut run).unwrap();
                    assert_eq!(
                        run,
                        all[start..start + len],
                        "{draw:?} {start}+{len} on {level}"
                    );
                }
            }
        }
    }
    // Another seed, another stream.
    let (mut a, mut b) = (vec![0.0; 8], vec![0.0; 8]);
    SplitMix::new(1).fill(DRAWS[0], 0, &mut a);
    SplitMix::new(2).fill(DRAWS[0], 0, &mut b);
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
}

/// The largest distance between the sample's empirical CDF and `cdf`.
fn ks(sample: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    sample.sort_by(f64::total_cmp);
    let n = sample.len() as f64;
    sample
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let c = cdf(*x);
            (c - i as f64 / n).abs().max(((i + 1) as f64 / n - c).abs())
        })
        .fold(0.0, f64::max)
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26: within 1.5e-7, far below what a
/// sample of a million can see).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * (1.0 + erf.copysign(x))
}

/// The first `n` values of seed `seed`'s stream, drawn as `draw` says.
fn drawn(seed: u64, draw: Draw, n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n];
    SplitMix::new(seed).fill(draw, 0, &mut v);
    v
}

#[test]
fn uniform_and_normal_draws_have_their_distributions() {
    let n = 1_000_000;
    // The critical value of the KS statistic at the 0.1% level is 1.95 / √n.
    let critical = 1.95 / (n as f64).sqrt();
    let mut u = drawn(
        11,
        Draw::Uniform {
            low: -5.0,
            high: 5.0,
        },
        n,
    );
    assert!(u.iter().all(|v| (-5.0..5.0).contains(v)));
    let mean = u.iter().sum::<f64>() / n as f64;
    let var = u.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 0.02, "uniform mean {mean}");
    assert!((var - 100.0 / 12.0).abs() < 0.05, "uniform variance {var}");
    let d = ks(&mut u, |x| ((x + 5.0) / 10.0).clamp(0.0, 1.0));
    assert!(d < critical, "uniform KS {d} ≥ {critical}");

    let mut z = drawn(
        12,
        Draw::Normal {
            loc: 3.0,
            scale: 2.0,
        },
        n,
    );
    let mean = z.iter().sum::<f64>() / n as f64;
    let m = |k: i32| z.iter().map(|v| ((v - mean) / 2.0).powi(k)).sum::<f64>() / n as f64;
    assert!((mean - 3.0).abs() < 0.01, "normal mean {mean}");
    assert!((m(2) - 1.0).abs() < 0.01, "normal variance {}", m(2));
    assert!(m(3).abs() < 0.02, "normal skew {}", m(3));
    assert!((m(4) - 3.0).abs() < 0.05, "normal kurtosis {}", m(4));
    let d = ks(&mut z, |x| normal_cdf((x - 3.0) / 2.0));
    assert!(d < critical, "normal KS {d} ≥ {critical}");
}

/// The ziggurat's slow paths give the right shape too: 102 bins over the whole line (the two
/// beyond ±4 among them) checked by χ² at n = 4·10^6, and the tail past its last layer
/// (3.654, where samples come from the tail's own method) at its expected frequency.
#[test]
fn normal_draws_fill_every_bin_and_the_tails_as_the_density_says() {
    let n = 4_000_000;
    let z = drawn(
        14,
        Draw::Normal {
            loc: 0.0,
            scale: 1.0,
        },
        n,
    );
    let edges: Vec<f64> = (0..=100).map(|i| -4.0 + 0.08 * i as f64).collect();
    let mut counts = vec![0u64; 102];
    for v in &z {
        let bin = edges.partition_point(|e| e <= v);
        counts[bin] += 1;
    }
    let cdf_at = |bin: usize| match bin {
        0 => 0.0,
        b if b > 101 => 1.0,
        b => normal_cdf(edges[b - 1]),
    };
    let chi2: f64 = (0..102)
        .map(|b| {
            let expected = n as f64 * (cdf_at(b + 1) - cdf_at(b));
            (counts[b] as f64 - expected).powi(2) / expected
        })
        .sum();
    // χ² with 101 degrees of freedom: 149.4 at the 0.1% level.
    assert!(chi2 < 149.4, "χ² {chi2} over 102 bins");
    let r = 3.654_152_885_361_009;
    for cut in [r, 4.5] {
        let seen = z.iter().filter(|v| v.abs() > cut).count() as f64;
        let expected = n as f64 * 2.0 * (1.0 - normal_cdf(cut));
        // Poisson: within 5 standard deviations.
        assert!(
            (seen - expected).abs() < 5.0 * expected.sqrt(),
            "{seen} beyond ±{cut}, {expected:.0} expected"
        );
    }
}
