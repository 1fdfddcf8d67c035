//! What every bench binary reads and makes: peak resident memory from `/proc`, and a seeded
//! stream of numbers so both sides of a comparison read the same data on every machine.

/// The peak resident set (`VmHWM`) of process `pid` (a number, or `self`), in bytes; 0 where
/// `/proc` does not tell.
///
/// ```
/// assert!(rask_testing::bench::peak_rss_of("self") > 0);
/// ```
pub fn peak_rss_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// The peaks of process `pid` and of every live descendant (worker processes), added: a
/// bound on the peak of the whole process tree, in bytes.
///
/// ```
/// let me = rask_testing::bench::peak_rss_of("self");
/// assert!(rask_testing::bench::tree_peak_rss_of("self") >= me);
/// ```
pub fn tree_peak_rss_of(pid: &str) -> u64 {
    let mut total = peak_rss_of(pid);
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            total += tree_peak_rss_of(child);
        }
    }
    total
}

/// splitmix64: a seeded stream of numbers, the same on every machine and in every language
/// that implements it (the Dask scripts read files it wrote, not a copy of it).
///
/// ```
/// use rask_testing::bench::Rng;
/// let mut r = Rng(42);
/// let x = r.below(10);
/// assert!(x < 10);
/// assert_eq!(Rng(42).below(10), x);
/// assert!((0.0..1.0).contains(&r.unit()));
/// ```
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A bench binary's command line, `WORKLOAD DATA_DIR [--flags]` (cargo's own `--bench`
/// dropped): the workload, the data folder and the flags. Exits with `usage` on anything
/// else.
///
/// ```no_run
/// let (workload, dir, flags) = rask_testing::bench::args("usage: mybench generate|run DIR");
/// let small = flags.iter().any(|f| f == "--small");
/// ```
pub fn args(usage: &str) -> (String, std::path::PathBuf, Vec<String>) {
    let (flags, rest): (Vec<String>, Vec<String>) = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .partition(|a| a.starts_with("--"));
    match <[String; 2]>::try_from(rest) {
        Ok([workload, dir]) => (workload, dir.into(), flags),
        Err(_) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
