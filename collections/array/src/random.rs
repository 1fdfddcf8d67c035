//! Random arrays: a seeded generator whose every block draws from its own stream, so the same
//! seed and chunks give the same numbers on every scheduler and every run. Uniform and normal
//! blocks draw from rask-math's vectorized SplitMix64 streams (a ziggurat for normals), which
//! give the same numbers on every CPU; integer blocks from rand's `SmallRng`.

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Uniform};
use rask_graph::tokenize::Tokenizer;
use rask_graph::{Args, Op, Task, TaskError, Value};
use rask_math::random::{Draw as MathDraw, SplitMix};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::Chunk;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;

/// What a random block draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Draw {
    /// Normal with this mean and standard deviation.
    Normal {
        /// Mean.
        loc: f64,
        /// Standard deviation.
        scale: f64,
    },
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (excluded).
        high: f64,
    },
    /// Integers on `[low, high)`.
    Integers {
        /// Lower bound.
        low: i64,
        /// Upper bound (excluded).
        high: i64,
    },
}

/// One random block: its shape, its own seed, and what it draws.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomBlock {
    shape: Vec<usize>,
    seed: u64,
    draw: Draw,
}

/// How many values a streamed draw hands over at a time: small enough to stay in L1.
const BATCH: usize = 1024;

/// A random block drawn where it is read: an input of a fused expression that draws each
/// tile's or lane's values as it needs them (the streams are counter-based: value `i` of a
/// block is the same whoever draws it), so the block itself is never made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrawnBlock(pub(crate) RandomBlock);

impl rask_graph::Datum for DrawnBlock {}

rask_graph::register_value!(DrawnBlock, "rask.array.drawn-block");

impl RandomBlock {
    /// The block's shape.
    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Values `start..start + out.len()` of the block (in C order), as `T`.
    pub(crate) fn draw_into<T: Element>(
        &self,
        start: usize,
        out: &mut [T],
    ) -> Result<(), TaskError> {
        let (stream, draw) = self.f64_draw()?;
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>() {
            // SAFETY: T is f64 (checked just above): the same slice, by its own type.
            let out = unsafe {
                std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), out.len())
            };
            stream.fill(draw, start as u64, out);
            return Ok(());
        }
        let mut buf = [0.0f64; BATCH];
        for (i, chunk) in out.chunks_mut(BATCH).enumerate() {
            let b = &mut buf[..chunk.len()];
            stream.fill(draw, (start + i * BATCH) as u64, b);
            chunk
                .iter_mut()
                .zip(b.iter())
                .for_each(|(o, v)| *o = T::from_f64(*v));
        }
        Ok(())
    }

    /// The whole block, as the task makes it (an error unless `T` is the block's element
    /// type).
    pub(crate) fn to_array<T: Element>(&self) -> Result<ArrayD<T>, TaskError> {
        crate::chunk::take_array::<T>(self.run(Args::new())?)
    }

    /// Whether the block holds `f64` values (normal or uniform draws).
    pub(crate) fn draws_f64(&self) -> bool {
        !matches!(self.draw, Draw::Integers { .. })
    }

    /// The block's stream and what it draws from it (errors for integer draws).
    fn f64_draw(&self) -> Result<(SplitMix, MathDraw), TaskError> {
        let draw = match self.draw {
            Draw::Normal { loc, scale } => MathDraw::Normal { loc, scale },
            Draw::Uniform { low, high } => MathDraw::Uniform { low, high },
            Draw::Integers { .. } => return Err(TaskError::new("integer draws are not f64")),
        };
        Ok((SplitMix::new(self.seed), draw))
    }

    /// Hands this block's values to `f` in order, a batch at a time, without making the
    /// block: the same values, in the same order, as the block holds. Errors for integer draws.
    pub(crate) fn stream_f64(&self, f: &mut dyn FnMut(&[f64])) -> Result<(), TaskError> {
        let (stream, draw) = self.f64_draw()?;
        let n: usize = self.shape.iter().product();
        let mut buf = [0.0f64; BATCH];
        for start in (0..n).step_by(BATCH) {
            let k = BATCH.min(n - start);
            stream.fill(draw, start as u64, &mut buf[..k]);
            f(&buf[..k]);
        }
        Ok(())
    }
}

impl Op for RandomBlock {
    fn name(&self) -> &str {
        match self.draw {
            Draw::Normal { .. } => "normal",
            Draw::Uniform { .. } => "uniform",
            Draw::Integers { .. } => "integers",
        }
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let n: usize = self.shape.iter().product();
        let bad = |e: &dyn std::fmt::Display| TaskError::new(e.to_string());
        Ok(match self.draw {
            Draw::Normal { .. } | Draw::Uniform { .. } => {
                let (stream, draw) = self.f64_draw()?;
                let mut v: Vec<f64> = crate::chunk::big_vec(n)?;
                // Written straight into the new memory, not zeroed first.
                let written = stream
                    .fill_uninit(draw, 0, &mut v.spare_capacity_mut()[..n])
                    .len();
                // SAFETY: fill_uninit wrote the first n values.
                unsafe { v.set_len(written) };
                Value::new(Chunk(
                    ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(|e| bad(&e))?,
                ))
            }
            Draw::Integers { low, high } => {
                let d = Uniform::new(low, high).map_err(|e| bad(&e))?;
                let mut v: Vec<i64> = crate::chunk::big_vec(n)?;
                v.extend((0..n).map(|_| d.sample(&mut rng)));
                Value::new(Chunk(
                    ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(|e| bad(&e))?,
                ))
            }
        })
    }
}

rask_graph::register_op!(RandomBlock, "rask.array.random-block");

/// A seeded source of random arrays (NumPy's `default_rng(seed)`, Dask's
/// `da.random.default_rng(seed)`).
///
/// ```
/// use rask_array::random::Generator;
/// use rask_graph::Collection;
///
/// let g = Generator::new(42);
/// let x = g.normal(0.0, 1.0, &[1000], 100usize).unwrap();
/// let a = x.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
/// let b = g.normal(0.0, 1.0, &[1000], 100usize).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
/// assert_eq!(a, b); // same seed, same chunks, same numbers
/// assert!(a.mean().unwrap().abs() < 0.2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generator {
    seed: u64,
}

impl Generator {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn array<T: Element>(
        &self,
        draw: Draw,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<T>, ArrayError> {
        let chunks = Chunks::normalize(chunks, shape, T::DTYPE)?;
        let token = Tokenizer::new()
            .write(&(self.seed, format!("{draw:?}")))
            .write(&chunks)
            .finish();
        let label = match draw {
            Draw::Normal { .. } => "normal",
            Draw::Uniform { .. } => "uniform",
            Draw::Integers { .. } => "integers",
        };
        Ok(Array::from_tasks(label, &token, chunks, |index, ranges| {
            // Each block's stream: the generator's seed and the block's place.
            let token = Tokenizer::new().write(&(self.seed, index)).finish();
            let seed = u64::from_str_radix(&token[..16], 16).unwrap_or(self.seed);
            let shape = ranges.iter().map(|r| r.len()).collect();
            Task::new(RandomBlock { shape, seed, draw }, [])
        }))
    }

    /// Normal samples with mean `loc` and standard deviation `scale` (≥ 0).
    pub fn normal(
        &self,
        loc: f64,
        scale: f64,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<f64>, ArrayError> {
        if !(scale >= 0.0 && scale.is_finite()) {
            return Err(ArrayError::Shape {
                what: "normal".into(),
                message: format!("scale must be finite and at least 0, got {scale}"),
            });
        }
        self.array(Draw::Normal { loc, scale }, shape, chunks)
    }

    /// Standard normal samples.
    pub fn standard_normal(
        &self,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<f64>, ArrayError> {
        self.normal(0.0, 1.0, shape, chunks)
    }

    /// Uniform samples on `[low, high)`.
    pub fn uniform(
        &self,
        low: f64,
        high: f64,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<f64>, ArrayError> {
        if !(low < high && low.is_finite() && high.is_finite()) {
            return Err(ArrayError::Shape {
                what: "uniform".into(),
                message: format!("needs finite low < high, got [{low}, {high})"),
            });
        }
        self.array(Draw::Uniform { low, high }, shape, chunks)
    }

    /// Integers on `[low, high)`.
    pub fn integers(
        &self,
        low: i64,
        high: i64,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Array<i64>, ArrayError> {
        if low >= high {
            return Err(ArrayError::Shape {
                what: "integers".into(),
                message: format!("needs low < high, got [{low}, {high})"),
            });
        }
        self.array(Draw::Integers { low, high }, shape, chunks)
    }
}
