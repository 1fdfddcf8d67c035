//! `sort_values`: a sort across partitions by range partitioning — a sample of each
//! partition's sort column, boundaries (divisions) from the samples' quantiles, each row sent
//! to the partition of its range, each output partition sorted. For `sort_values` all of it
//! is in the graph (the boundaries are a task); `set_index` computes them first, as Dask
//! does, so that the divisions are known.

use std::sync::Arc;

use polars::prelude::{
    IdxCa, IdxSize, IntoLazy, SearchSortedSide, Series, SortOptions, UnionArgs, col,
};
use rask_graph::tokenize::key_name;
use rask_graph::{Arg, Args, Arity, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::{Finish, Frame, Source};
use crate::shuffle::Pick;

/// How many values of each partition's sort column the boundaries are drawn from.
const SAMPLES: usize = 128;

fn polars(e: polars::prelude::PolarsError) -> TaskError {
    TaskError::new(e.to_string())
}

/// The boundaries of `n` ranges from partitions' samples (each a frame of the sort column).
#[derive(Debug, Serialize, Deserialize)]
struct Divisions {
    by: String,
    n: u32,
}

impl Op for Divisions {
    fn name(&self) -> &str {
        "divisions"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut frames = Vec::with_capacity(args.len());
        for v in &args {
            frames.push(v.get::<Frame>()?.0.clone().lazy());
        }
        let all = match frames.len() {
            0 => return Err(TaskError::new("no samples")),
            _ => polars::prelude::concat(frames, UnionArgs::default())
                .and_then(|lf| {
                    lf.select([col(self.by.as_str())
                        .drop_nulls()
                        .sort(SortOptions::default())])
                        .collect()
                })
                .map_err(polars)?,
        };
        let len = all.height();
        let cuts: Vec<IdxSize> = (1..self.n as usize)
            .filter(|_| len > 0)
            .map(|j| ((j * len) / self.n as usize).min(len - 1) as IdxSize)
            .collect();
        let bounds = all
            .take(&IdxCa::from_vec("".into(), cuts))
            .map_err(polars)?;
        Ok(Value::new(Frame(bounds)))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Divisions, "rask-dataframe.divisions");

/// A partition split into ranges by the boundaries: its rows whose sort value is below the
/// first boundary in bucket 0, and so on; nulls in the last bucket (first, if descending).
#[derive(Debug, Serialize, Deserialize)]
struct RangeSplit {
    by: String,
    descending: bool,
    /// How many buckets (one more than the boundaries, unless the samples had fewer values).
    n: u32,
}

impl Op for RangeSplit {
    fn name(&self) -> &str {
        "range-split"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let [frame, bounds] = args.as_slice() else {
            return Err(TaskError::new("expected a partition and its boundaries"));
        };
        let df = &crate::shuffle::single_chunk(&frame.get::<Frame>()?.0);
        let bounds = bounds.get::<Frame>()?.0.column(&self.by).map_err(polars)?;
        let n = self.n as usize;
        let values = df.column(&self.by).map_err(polars)?;
        // Values by range, reversed when descending; nulls last whatever the order.
        let range = |b: usize| {
            let b = b.min(n - 1);
            (if self.descending { n - 1 - b } else { b }) as u32
        };
        // An integer, float or temporal column: each value's range is the number of
        // boundaries at or below it, in the order keys of `sorted`.
        let mut cuts = Vec::new();
        if order_keys(bounds, |_, k| cuts.extend(k)).map_err(polars)? {
            let mut bucket = vec![(n - 1) as u32; df.height()];
            order_keys(values, |i, k| {
                if let Some(k) = k {
                    bucket[i] = range(cuts.partition_point(|c| *c <= k));
                }
            })
            .map_err(polars)?;
            let frames = crate::shuffle::scatter_rows(df, &bucket, n).map_err(polars)?;
            return crate::spill::hold(frames);
        }
        let bounds: Series = bounds.as_materialized_series().clone();
        let at = polars::prelude::search_sorted(
            &bounds,
            values.as_materialized_series(),
            SearchSortedSide::Right,
            false,
        )
        .map_err(polars)?;
        let nulls = values.is_null();
        let bucket: Vec<u32> = (at.iter().zip(nulls.iter()))
            .map(|(b, null)| match (null, b) {
                (Some(true), _) | (_, None) => (n - 1) as u32,
                (_, Some(b)) => range(b as usize),
            })
            .collect();
        let frames = crate::shuffle::scatter_rows(df, &bucket, n).map_err(polars)?;
        crate::spill::hold(frames)
    }

    fn arity(&self) -> Arity {
        Arity::Exact(2)
    }
}

rask_graph::register_op!(RangeSplit, "rask-dataframe.range-split");

/// `df` sorted by column `by`, stably, nulls last: by [`stable_order`] for an integer, float
/// or temporal column, by Polars' sort otherwise.
pub(crate) fn sorted(
    df: polars::prelude::DataFrame,
    by: &str,
    descending: bool,
) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    let df = crate::shuffle::single_chunk(&df);
    let column = df.column(by)?;
    // Order-preserving maps into u64 (flipped when descending), with the rows.
    let flip = if descending { u64::MAX } else { 0 };
    let (mut present, mut nulls) = (Vec::with_capacity(df.height()), Vec::new());
    let keyed = order_keys(column, |i, k| match k {
        Some(k) => present.push((k ^ flip, i as IdxSize)),
        None => nulls.push(i as IdxSize),
    })?;
    if !keyed {
        return df.sort(
            [by],
            polars::prelude::SortMultipleOptions::default()
                .with_order_descending(descending)
                .with_nulls_last(true)
                .with_maintain_order(true),
        );
    }
    // Values in order, then the nulls in theirs.
    let mut order = stable_order(present, SMALL_SORT);
    order.extend(nulls);
    // (A gather from one chunk: from many, each row looks up its chunk.)
    df.take(&IdxCa::from_vec("".into(), order))
}

/// Each value of an integer, float or temporal `column` as a `u64` in Polars' order of the
/// column (`None` for a null), with its row, handed to `each`; `false` (and nothing handed)
/// for a column of another type. Floats in IEEE order as unsigned integers, as Polars orders
/// them: -0.0 equal to 0.0 and every NaN above +inf.
fn order_keys(
    column: &polars::prelude::Column,
    mut each: impl FnMut(usize, Option<u64>),
) -> polars::prelude::PolarsResult<bool> {
    use polars::prelude::{ChunkedArray, DataType, PolarsNumericType};
    /// `key` of each value of `ca`: a plain loop over the values when there are no nulls.
    fn visit<T: PolarsNumericType>(
        ca: &ChunkedArray<T>,
        key: impl Fn(T::Native) -> u64,
        each: &mut impl FnMut(usize, Option<u64>),
    ) {
        match ca.cont_slice() {
            Ok(values) => (values.iter().enumerate()).for_each(|(i, v)| each(i, Some(key(*v)))),
            Err(_) => (ca.iter().enumerate()).for_each(|(i, v)| each(i, v.map(&key))),
        }
    }
    let signed = |x: i64| (x as u64) ^ (1 << 63);
    match column.dtype() {
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => {
            visit(column.cast(&DataType::Int64)?.i64()?, signed, &mut each);
        }
        DataType::UInt64 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8 => {
            visit(column.cast(&DataType::UInt64)?.u64()?, |x| x, &mut each);
        }
        DataType::Date | DataType::Datetime(..) | DataType::Duration(..) => {
            let c = column.to_physical_repr().cast(&DataType::Int64)?;
            visit(c.i64()?, signed, &mut each);
        }
        DataType::Float64 | DataType::Float32 => {
            let float = |x: f64| {
                let bits = match x {
                    x if x.is_nan() => f64::NAN.to_bits(),
                    0.0 => 0,
                    x => x.to_bits(),
                };
                if bits >> 63 == 1 {
                    !bits
                } else {
                    bits | (1 << 63)
                }
            };
            visit(column.cast(&DataType::Float64)?.f64()?, float, &mut each);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Below this many keys (or within a bucket of [`stable_order`]), a comparison sort.
const SMALL_SORT: usize = 4096;

/// The rows of `keys` (a key and a row each) in the keys' order, ties in their order: one
/// pass scatters them stably into 2048 buckets by the top bits of the key's offset from the
/// smallest, then each bucket (a few thousand rows for evenly spread keys, in cache) is
/// sorted stably on its own — linear work for evenly spread keys, a comparison sort at worst.
fn stable_order(mut keys: Vec<(u64, IdxSize)>, small: usize) -> Vec<IdxSize> {
    const BITS: u32 = 11;
    let (min, max) = keys
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &(k, _)| (lo.min(k), hi.max(k)));
    if keys.len() <= small || min >= max {
        keys.sort_by_key(|&(k, _)| k);
        return keys.into_iter().map(|(_, i)| i).collect();
    }
    let shift = (64 - (max - min).leading_zeros()).saturating_sub(BITS);
    let bucket = |k: u64| ((k - min) >> shift) as usize;
    let mut starts = vec![0usize; (1 << BITS) + 1];
    for &(k, _) in &keys {
        starts[bucket(k) + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    // Each key and row as one number, the row below the key: the rows of a bucket arrive in
    // order, so sorting the numbers unstably orders ties by row, as a stable sort would.
    let mut out = vec![0u128; keys.len()];
    let mut at = starts.clone();
    for &(k, i) in &keys {
        let b = bucket(k);
        out[at[b]] = (u128::from(k) << IdxSize::BITS) | u128::from(i);
        at[b] += 1;
    }
    drop(keys);
    for w in starts.windows(2) {
        out[w[0]..w[1]].sort_unstable();
    }
    out.into_iter().map(|p| p as IdxSize).collect()
}

impl DataFrame {
    /// Sorted by column `by` across partitions (Dask's `sort_values`), nulls last, ties in
    /// their partitions' order: into as many partitions as there are now, each a range of
    /// `by` — the boundaries drawn from a sample of each partition (a task, not computed
    /// now) — so partition `j`'s rows all come before partition `j + 1`'s.
    pub fn sort_values(&self, by: &str, descending: bool) -> Result<DataFrame, FrameError> {
        self.column(by)?;
        let token = token_of(&[&self.token, "sort_values", by, &descending.to_string()]);
        let (mut graph, divisions) = self.cuts(by, &token);
        graph.merge(&self.graph);
        let cuts = (Arg::Key(divisions), self.npartitions());
        let sorted = self.range_partition(graph, by, descending, cuts, &token);
        sorted.then(
            crate::frame::Step::Sort {
                by: by.to_string(),
                descending,
            },
            "sort_values",
        )
    }

    /// The graph of the boundaries of `npartitions` ranges of column `by`, drawn from a
    /// sample of each partition (a frame of column `by`, one value fewer than the
    /// partitions), and its key.
    fn cuts(&self, by: &str, token: &str) -> (rask_graph::Graph, Key) {
        let n = self.npartitions();
        let mut graph = self.base.clone();
        // A sample per partition: the column's values at evenly spaced ranks.
        let sample: Arc<str> = key_name("sort-sample", token).into();
        graph.add_layer(self.layer(
            &sample,
            Finish::Sample {
                by: by.to_string(),
                n: SAMPLES as u64,
            },
            "sort-sample",
        ));
        let divisions: Arc<str> = key_name("sort-divisions", token).into();
        let mut layer = Layer::new(Arc::clone(&divisions));
        layer.insert(
            [],
            Task::new(
                Divisions {
                    by: by.to_string(),
                    n: n as u32,
                },
                (0..n as u32).map(|i| Arg::Key(Key::with_name(&sample, [i]))),
            ),
        );
        graph.add_layer(layer);
        (graph, Key::with_name(&divisions, []))
    }

    /// The rows in as many partitions as there are now, partition `j` the rows whose `by`
    /// lies in range `j` of the boundaries `cuts` (a frame of column `by`; a key or a value),
    /// in their partitions' order: not sorted within a partition. `graph` holds this
    /// frame's partitions and whatever `cuts` reads.
    fn range_partition(
        &self,
        mut graph: rask_graph::Graph,
        by: &str,
        descending: bool,
        (cuts, n_out): (Arg, usize),
        token: &str,
    ) -> DataFrame {
        let n = self.npartitions();
        let split: Arc<str> = key_name("sort-split", token).into();
        let mut layer = Layer::with_capacity(Arc::clone(&split), n);
        for i in 0..n as u32 {
            layer.insert(
                [i],
                Task::new(
                    RangeSplit {
                        by: by.to_string(),
                        descending,
                        n: n_out as u32,
                    },
                    [Arg::Key(Key::with_name(&self.name, [i])), cuts.clone()],
                ),
            );
        }
        graph.add_layer(layer);
        let bucket: Arc<str> = key_name("sort-bucket", token).into();
        let mut picks = Layer::with_capacity(Arc::clone(&bucket), n * n_out);
        for i in 0..n as u32 {
            for j in 0..n_out as u32 {
                picks.insert(
                    [i, j],
                    Task::new(Pick { index: j }, [Arg::Key(Key::with_name(&split, [i]))]),
                );
            }
        }
        graph.add_layer(picks);
        let sources = (0..n_out as u32)
            .map(|j| {
                let args = (0..n as u32)
                    .map(|i| Arg::Key(Key::with_name(&bucket, [i, j])))
                    .collect();
                (Source::Frame, args)
            })
            .collect();
        DataFrame::from_sources(graph, sources, Arc::clone(&self.schema), token.to_string())
    }

    /// The rows in partitions by the ranges of column `by` that the inner boundaries `cuts`
    /// make (one more partition than cuts), in their order: how a side of a merge is made
    /// to line up with a side whose divisions are known.
    pub(crate) fn range_by(&self, by: &str, cuts: &Series, token: &str) -> DataFrame {
        let frame =
            polars::prelude::DataFrame::new_infer_height(vec![polars::prelude::Column::from(
                cuts.clone().with_name(by.into()),
            )])
            .unwrap_or_default();
        let mut graph = self.graph.clone();
        graph.merge(&self.base);
        let cuts = (Arg::Value(Value::new(Frame(frame))), cuts.len() + 1);
        self.range_partition(graph, by, false, cuts, token)
    }

    /// The same rows in partitions by new `divisions` of the index (Dask's
    /// `repartition(divisions=…)`): partition `j` the rows whose index lies in
    /// `[divisions[j], divisions[j + 1])`, the last range closed, each sorted. The new
    /// divisions must be sorted and cover the old ones' range.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("t" => (0..100i64).collect::<Vec<_>>())?, 4).set_index("t")?;
    /// let three = ddf.repartition_divisions(&Series::new("t".into(), [0i64, 10, 50, 99]))?;
    /// assert_eq!(three.npartitions(), 3);
    /// assert_eq!(three.loc(0i64..10)?.npartitions(), 1);
    /// assert_eq!(three.compute()?.height(), 100);
    /// assert!(ddf.repartition_divisions(&Series::new("t".into(), [5i64, 99])).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn repartition_divisions(&self, divisions: &Series) -> Result<DataFrame, FrameError> {
        let failed = |message: String| FrameError::Plan {
            step: "repartition_divisions".into(),
            message,
        };
        let Some(index) = &self.index else {
            return Err(failed("there is no index: set_index(column) first".into()));
        };
        let divisions = (divisions.cast(index.divisions.dtype()))
            .map_err(|e| failed(e.to_string()))?
            .with_name(index.column.as_str().into());
        let n = divisions.len();
        let sorted = n >= 2
            && divisions.null_count() == 0
            && (divisions.sort(Default::default())).is_ok_and(|s| s.equals(&divisions));
        if !sorted {
            return Err(failed(format!(
                "divisions must be at least two sorted values, not null: {divisions}"
            )));
        }
        let old = &index.divisions;
        let at = |s: &Series, i: usize| s.get(i).map(|v| v.into_static());
        let covers = (|| -> Result<bool, polars::prelude::PolarsError> {
            let (lo, hi) = (at(&divisions, 0)?, at(&divisions, n - 1)?);
            let (old_lo, old_hi) = (at(old, 0)?, at(old, old.len() - 1)?);
            Ok(lo <= old_lo && old_hi <= hi)
        })()
        .map_err(|e| failed(e.to_string()))?;
        if !covers {
            return Err(failed(format!(
                "the divisions {divisions} do not cover the index's range {old}"
            )));
        }
        let token = token_of(&[
            &self.token,
            "repartition_divisions",
            &format!("{divisions:?}"),
        ]);
        let split = self.range_by(&index.column, &divisions.slice(1, n - 2), &token);
        let mut sorted = split.then(
            crate::frame::Step::Sort {
                by: index.column.clone(),
                descending: false,
            },
            "repartition_divisions",
        )?;
        sorted.index = Some(Arc::new(crate::dataframe::Index {
            column: index.column.clone(),
            divisions,
        }));
        Ok(sorted)
    }

    /// Sorted by column `column`, which becomes the index (Dask's `set_index`): the rows in
    /// as many partitions as there are now, partition `j` those whose `column` lies in
    /// `[divisions[j], divisions[j + 1])` (the last one's range closed), each partition
    /// sorted; nulls in the last partition. The divisions are **computed now**, as Dask's
    /// are — a sample of each partition's column, its minimum and its maximum, in this
    /// process — so [`loc`](Self::loc) reads only the partitions a range needs.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let pl = df!("t" => (0..100i64).rev().collect::<Vec<_>>(), "x" => vec![1.0; 100])?;
    /// let ddf = DataFrame::from_polars(pl, 4).set_index("t")?;
    /// assert_eq!(ddf.index(), Some("t"));
    /// let divisions = ddf.divisions().unwrap();
    /// assert_eq!((divisions.len(), divisions.get(0)?, divisions.get(4)?), (5, AnyValue::Int64(0), AnyValue::Int64(99)));
    /// let some = ddf.loc(10i64..20)?;
    /// assert!(some.npartitions() < 4);
    /// assert_eq!(some.compute()?.column("t")?.i64()?.into_no_null_iter().collect::<Vec<_>>(), (10..20).collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_index(&self, column: &str) -> Result<DataFrame, FrameError> {
        self.column(column)?;
        let token = token_of(&[&self.token, "set_index", column]);
        let values = self.select([col(column)])?;
        let (mut graph, cuts) = values.cuts(column, &token);
        let (min, max) = (values.min()?, values.max()?);
        graph.merge(&min.graph);
        graph.merge(&max.graph);
        let keys = [cuts, min.key.clone(), max.key.clone()];
        let failed = |message: String| FrameError::Plan {
            step: "set_index".into(),
            message,
        };
        let found = rask_graph::exec::run_in_order(&graph, &keys, &[])
            .map_err(|e| failed(format!("computing the divisions: {e}")))?;
        let frame = |v: &Value| -> Result<Series, FrameError> {
            let f = v.get::<Frame>().map_err(|e| failed(e.to_string()))?;
            let c = f.0.column(column).map_err(|e| failed(e.to_string()))?;
            Ok(c.as_materialized_series().clone())
        };
        let (cuts, min, max) = (frame(&found[0])?, frame(&found[1])?, frame(&found[2])?);
        let mut graph = self.graph.clone();
        graph.merge(&self.base);
        let split = self.range_partition(
            graph,
            column,
            false,
            (
                Arg::Value(Value::new(Frame(
                    polars::prelude::DataFrame::new_infer_height(vec![
                        polars::prelude::Column::from(cuts.clone()),
                    ])
                    .map_err(|e| failed(e.to_string()))?,
                ))),
                self.npartitions(),
            ),
            &token,
        );
        let mut sorted = split.then(
            crate::frame::Step::Sort {
                by: column.to_string(),
                descending: false,
            },
            "set_index",
        )?;
        // Known when the column has values: its minimum, the boundaries, its maximum.
        if min.null_count() == 0 && cuts.len() + 1 == self.npartitions() {
            let mut bounds = min;
            bounds.append(&cuts).map_err(|e| failed(e.to_string()))?;
            bounds.append(&max).map_err(|e| failed(e.to_string()))?;
            sorted.index = Some(Arc::new(crate::dataframe::Index {
                column: column.to_string(),
                divisions: bounds,
            }));
        }
        Ok(sorted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any keys, bucketed or not: a stable sort's order.
        #[test]
        fn the_bucketed_order_is_a_stable_sort(
            keys in proptest::collection::vec(
                prop_oneof![0u64..50, any::<u64>(), (u64::MAX - 3)..u64::MAX], 0..3000),
            small in 1usize..64,
        ) {
            let pairs: Vec<(u64, IdxSize)> =
                keys.iter().enumerate().map(|(i, &k)| (k, i as IdxSize)).collect();
            let mut want = pairs.clone();
            want.sort_by_key(|&(k, _)| k);
            let want: Vec<IdxSize> = want.into_iter().map(|(_, i)| i).collect();
            prop_assert_eq!(stable_order(pairs, small), want);
        }
    }

    #[test]
    fn float_and_time_sorts_match_polars_with_nans_zeros_and_nulls_both_ways() {
        use polars::prelude::{DataType, SortMultipleOptions, TimeUnit, df};
        let n = 12_000usize;
        let specials = [
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let x: Vec<Option<f64>> = (0..n)
            .map(|i| match i % 17 {
                0 => None,
                1..=6 => Some(specials[i % 6]),
                _ => Some(((i * 7919) % 4001) as f64 / 8.0 - 250.0),
            })
            .collect();
        let row: Vec<i64> = (0..n as i64).collect();
        let f = df!("x" => x, "row" => row.clone()).unwrap();
        let t = df!("x" => row.iter().map(|r| (r * 7919) % 3001 - 1500).collect::<Vec<_>>(), "row" => row)
            .unwrap()
            .lazy()
            .with_column(polars::prelude::col("x").cast(DataType::Datetime(TimeUnit::Milliseconds, None)))
            .collect()
            .unwrap();
        for frame in [f, t] {
            for descending in [false, true] {
                let got = sorted(frame.clone(), "x", descending).unwrap();
                let want = (frame.sort(
                    ["x"],
                    SortMultipleOptions::default()
                        .with_order_descending(descending)
                        .with_nulls_last(true)
                        .with_maintain_order(true),
                ))
                .unwrap();
                // The rows' numbers say the order, NaNs and zeros included.
                assert_eq!(
                    got.column("row").unwrap().i64().unwrap().to_vec(),
                    want.column("row").unwrap().i64().unwrap().to_vec(),
                    "{} {descending}",
                    frame.column("x").unwrap().dtype()
                );
            }
        }
    }

    #[test]
    fn integer_sorts_match_polars_with_nulls_and_ties_both_ways() {
        use polars::prelude::{DataType, NamedFrom, SortMultipleOptions, df};
        let n = 20_000i64;
        let k: Vec<Option<i64>> = (0..n)
            .map(|i| (i % 13 != 0).then_some((i * 7919) % 5003 - 2500))
            .collect();
        let frame = df!("k" => k, "row" => (0..n).collect::<Vec<i64>>()).unwrap();
        for t in [DataType::Int64, DataType::Int32, DataType::UInt64] {
            let mut f = frame.clone();
            // (Negative keys become nulls as unsigned.)
            let ks: Vec<Option<i64>> = f.column("k").unwrap().i64().unwrap().iter().collect();
            let cast: polars::prelude::Column = match t {
                DataType::UInt64 => {
                    let u: Vec<Option<u64>> = ks
                        .iter()
                        .map(|v| v.and_then(|x| u64::try_from(x).ok()))
                        .collect();
                    polars::prelude::Series::new("k".into(), u).into()
                }
                _ => f.column("k").unwrap().cast(&t).unwrap(),
            };
            f.with_column(cast).unwrap();
            for descending in [false, true] {
                let got = sorted(f.clone(), "k", descending).unwrap();
                let want = f
                    .sort(
                        ["k"],
                        SortMultipleOptions::default()
                            .with_order_descending(descending)
                            .with_nulls_last(true)
                            .with_maintain_order(true),
                    )
                    .unwrap();
                assert!(got.equals_missing(&want), "{t} {descending}");
            }
        }
    }
}
