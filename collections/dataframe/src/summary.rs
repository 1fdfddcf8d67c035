//! Summaries of columns: approximate quantiles from merged weighted samples (Dask's way),
//! approximate distinct counts from HyperLogLog sketches (the bag's), and `describe`.

use polars::prelude::{
    Column, DataFrame as PlFrame, DataType, NamedFrom, PlSeedableRandomStateQuality, PolarsResult,
    SeedableFromU64SeedExt, Series,
};
use rask_bag::hll::{Sketch, mix};
use rask_graph::{Args, Arity, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::agg::Level;
use crate::frame::Frame;

/// How many points a partial summary keeps of each column. A summary of more values stands
/// for them with this many, each weighing an equal share: a quantile's rank is off by at most
/// about one share (1/1024 of the values summarized) per level of the tree, and exact while no
/// summary holds more values than this.
pub(crate) const POINTS: usize = 1024;

const COLUMN: &str = "column";
const VALUE: &str = "value";
const WEIGHT: &str = "weight";

/// A column's values, sorted, each with how many values it stands for.
#[derive(Clone, Default)]
struct Weighted {
    values: Vec<f64>,
    weights: Vec<f64>,
}

impl Weighted {
    /// Sorted by value (stable: ties keep their order).
    fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_by(|&a, &b| self.values[a].total_cmp(&self.values[b]));
        self.values = order.iter().map(|&i| self.values[i]).collect();
        self.weights = order.iter().map(|&i| self.weights[i]).collect();
    }

    fn total(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// At most `POINTS` points: the values at evenly spaced shares of the total weight, each
    /// weighing one share.
    fn shrink(self) -> Weighted {
        if self.values.len() <= POINTS {
            return self;
        }
        let total = self.total();
        let share = total / POINTS as f64;
        let mut out = Weighted::default();
        let (mut i, mut below) = (0, 0.0);
        for j in 0..POINTS {
            // The value at the middle of share j.
            let target = (j as f64 + 0.5) * share;
            while i + 1 < self.values.len() && below + self.weights[i] <= target {
                below += self.weights[i];
                i += 1;
            }
            out.values.push(self.values[i]);
            out.weights.push(share);
        }
        out
    }

    /// The value of rank `round((n - 1) q)` among the `n` values summarized (Polars'
    /// `Nearest`), or `None` when there are none.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if self.values.is_empty() || total <= 0.0 {
            return None;
        }
        let rank = ((total - 1.0) * q).round();
        let mut below = 0.0;
        for (v, w) in self.values.iter().zip(&self.weights) {
            if below + w > rank {
                return Some(*v);
            }
            below += w;
        }
        self.values.last().copied()
    }
}

/// A level of the quantile tree. The first level reads the columns (cast to `f64`) and
/// summarizes each one's values (not null, not NaN); later levels read the summaries of
/// `n_columns` columns as long frames (`column`, `value`, `weight`) and merge them; the last
/// gives the quantiles `qs` of each column: a `quantile` column and one `f64` column each
/// (`names`).
pub(crate) fn quantiles(
    df: &PlFrame,
    names: &[String],
    qs: &[f64],
    level: Level,
) -> PolarsResult<PlFrame> {
    let mut columns: Vec<Weighted> = vec![Weighted::default(); names.len()];
    match level {
        Level::First | Level::Whole => {
            for (c, w) in df.columns().iter().zip(&mut columns) {
                let ca = c.as_materialized_series().f64()?;
                w.values = ca.iter().flatten().filter(|x| !x.is_nan()).collect();
                w.values.sort_unstable_by(f64::total_cmp);
                w.weights = vec![1.0; w.values.len()];
            }
        }
        Level::Combine | Level::Last => {
            let column = df.column(COLUMN)?.u32()?;
            let value = df.column(VALUE)?.f64()?;
            let weight = df.column(WEIGHT)?.f64()?;
            for ((c, v), w) in column.iter().zip(value.iter()).zip(weight.iter()) {
                if let (Some(c), Some(v), Some(w)) = (c, v, w)
                    && let Some(col) = columns.get_mut(c as usize)
                {
                    col.values.push(v);
                    col.weights.push(w);
                }
            }
            for c in &mut columns {
                c.sort();
            }
        }
    }
    match level {
        Level::First | Level::Combine => {
            let (mut column, mut value, mut weight) = (Vec::new(), Vec::new(), Vec::new());
            for (i, c) in columns.into_iter().enumerate() {
                let c = c.shrink();
                column.extend(std::iter::repeat_n(i as u32, c.values.len()));
                value.extend(c.values);
                weight.extend(c.weights);
            }
            PlFrame::new_infer_height(vec![
                Column::new(COLUMN.into(), column),
                Column::new(VALUE.into(), value),
                Column::new(WEIGHT.into(), weight),
            ])
        }
        Level::Last | Level::Whole => {
            let mut out = vec![Column::new(crate::dataframe::QUANTILE.into(), qs)];
            for (name, c) in names.iter().zip(&columns) {
                let values: Vec<Option<f64>> = qs.iter().map(|q| c.quantile(*q)).collect();
                out.push(Column::new(name.as_str().into(), values));
            }
            PlFrame::new_infer_height(out)
        }
    }
}

/// The seed of the rows' hashes in a sketch: fixed, so that every process hashes a value
/// alike.
const SEED: u64 = 0x7261_736b_5f68_6c6c;

/// The registers of a sketch as a column.
const REGISTERS: &str = "registers";

/// A level of the distinct-count tree over one column: the first level sketches the
/// column's values (not null); later ones merge sketches; the last gives the estimate as one
/// row, column `name`, `u64`.
pub(crate) fn sketch(df: &PlFrame, name: &str, level: Level) -> PolarsResult<PlFrame> {
    let mut sketch = Sketch::default();
    match level {
        Level::First | Level::Whole => {
            let mut values = df.clone();
            let hashes =
                values.hash_rows(Some(PlSeedableRandomStateQuality::seed_from_u64(SEED)))?;
            for h in hashes.into_no_null_iter() {
                sketch.add_hash(mix(h));
            }
        }
        Level::Combine | Level::Last => {
            let registers = df.column(REGISTERS)?.u32()?;
            let mut merged = vec![0u8; sketch.registers().len()];
            for (i, r) in registers.into_no_null_iter().enumerate() {
                let slot = &mut merged[i % sketch.registers().len()];
                *slot = (*slot).max(u8::try_from(r).unwrap_or(u8::MAX));
            }
            sketch = Sketch::from_registers(merged).ok_or_else(|| {
                polars::prelude::PolarsError::ComputeError("a sketch of the wrong size".into())
            })?;
        }
    }
    match level {
        Level::First | Level::Combine => {
            let registers: Vec<u32> = sketch.registers().iter().map(|r| u32::from(*r)).collect();
            PlFrame::new_infer_height(vec![Column::new(REGISTERS.into(), registers)])
        }
        Level::Last | Level::Whole => {
            PlFrame::new_infer_height(vec![Column::new(name.into(), [sketch.estimate()])])
        }
    }
}

/// The statistics `describe` gives, in order, after the count, mean, std, min and the
/// quantiles: their row labels.
pub(crate) const QUANTILES: [f64; 3] = [0.25, 0.5, 0.75];

/// The name of column `column`'s statistic `stat` in the one-row frame of statistics.
pub(crate) fn stat_name(column: &str, stat: &str) -> String {
    format!("{column}\u{1f}{stat}")
}

/// `describe`'s last task: a row per statistic (`count`, `mean`, `std`, `min`, `25%`,
/// `50%`, `75%`, `max`) and a `f64` column per numeric column, from the one-row frame of
/// statistics and the frame of quantiles.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Describe {
    pub(crate) columns: Vec<String>,
}

impl Op for Describe {
    fn name(&self) -> &str {
        "describe"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let [stats, quantiles] = &args[..] else {
            return Err(TaskError::new(
                "describe takes the statistics and the quantiles",
            ));
        };
        let (stats, quantiles) = (&stats.get::<Frame>()?.0, &quantiles.get::<Frame>()?.0);
        let failed = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
        let labels: Vec<String> = ["count", "mean", "std", "min"]
            .into_iter()
            .map(String::from)
            .chain(QUANTILES.iter().map(|q| format!("{}%", q * 100.0)))
            .chain(["max".to_string()])
            .collect();
        let mut out = vec![Column::new("statistic".into(), &labels)];
        for c in &self.columns {
            let stat = |s: &str| -> Result<Option<f64>, TaskError> {
                let col = stats.column(&stat_name(c, s)).map_err(failed)?;
                let col = col.cast(&DataType::Float64).map_err(failed)?;
                Ok(col.f64().map_err(failed)?.get(0))
            };
            let mut values = vec![stat("count")?, stat("mean")?, stat("std")?, stat("min")?];
            let q = quantiles.column(c).map_err(failed)?.f64().map_err(failed)?;
            values.extend(q.iter());
            values.push(stat("max")?);
            out.push(Series::new(c.as_str().into(), values).into());
        }
        PlFrame::new_infer_height(out)
            .map(|df| Value::new(Frame(df)))
            .map_err(failed)
    }

    fn arity(&self) -> Arity {
        Arity::Exact(2)
    }
}

rask_graph::register_op!(Describe, "rask-dataframe.describe");
