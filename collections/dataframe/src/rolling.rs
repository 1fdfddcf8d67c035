//! Rolling windows over the rows in order, across partitions: each partition borrows the
//! rows its first windows need from the partitions before it (Dask's `map_overlap`), so a
//! window that starts in one partition and ends in the next is whole. A window is a number
//! of rows, or a span of time over a sorted datetime index.

use std::collections::VecDeque;
use std::sync::Arc;

use polars::prelude::{
    Column, DataFrame as PlFrame, DataType, NamedFrom, Schema, Series, TimeUnit,
};
use rask_graph::tokenize::key_name;
use rask_graph::{Arg, Args, Arity, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::Frame;

/// A statistic of each window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Stat {
    Sum,
    Mean,
    Min,
    Max,
    Count,
    Var { ddof: u8 },
    Std { ddof: u8 },
}

/// How far back a window reaches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Span {
    /// This many rows, ending at the row.
    Rows(u64),
    /// The rows up to the row whose time in `index` is less than this many nanoseconds
    /// before the row's.
    Time { index: String, nanos: i64 },
}

/// Rolling windows of rows or of time: [`DataFrame::rolling`], [`DataFrame::rolling_time`].
#[derive(Debug, Clone)]
pub struct Rolling {
    df: DataFrame,
    span: Span,
}

impl DataFrame {
    /// Windows of `window` consecutive rows, ending at each row, in the rows' order across
    /// partitions (pandas' and Dask's `rolling(window)`): a statistic of each numeric column
    /// over each window, as `f64`; the other columns are kept. The first `window - 1` rows
    /// give null, and so does a window holding a null, as pandas' default `min_periods`
    /// does — but for `count`, which counts the values (not null) of each whole window.
    ///
    /// A partition borrows the last `window - 1` rows before it — from as many partitions
    /// back as that takes — so windows across partition boundaries are whole.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("x" => [1i64, 2, 3, 4, 5])?, 3);
    /// let sums = ddf.rolling(2)?.sum()?.compute()?;
    /// assert!(sums.equals_missing(&df!("x" => [None, Some(3.0), Some(5.0), Some(7.0), Some(9.0)])?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rolling(&self, window: usize) -> Result<Rolling, FrameError> {
        if window == 0 {
            return Err(FrameError::Plan {
                step: "rolling".into(),
                message: "a window of 0 rows".into(),
            });
        }
        Ok(Rolling {
            df: self.clone(),
            span: Span::Rows(window as u64),
        })
    }

    /// Windows of time ending at each row, over the index (pandas' and Dask's
    /// `rolling("2s")` on a datetime index): row `i`'s window holds the rows up to it whose
    /// time is after `t[i] - window` (closed on the right, as pandas' default), and a
    /// statistic of it is computed once it holds one value (pandas' `min_periods` for time
    /// windows). The index ([`set_index`](Self::set_index)) is a `Date` or `Datetime`
    /// column, without nulls; `window` is a fixed span in Polars' duration language
    /// (`"500ms"`, `"2s"`, `"3h"`, `"1d"`, `"1w"`, `"1h30m"`; a day is 24 hours; months and
    /// years are refused, not being fixed).
    ///
    /// A partition borrows the rows of the partitions before it that lie within `window`
    /// of its first row, however many partitions back.
    ///
    /// ```
    /// use polars::prelude::{Column, DataType, NamedFrom, Series, TimeUnit};
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let t = Series::new("t".into(), [0i64, 1, 2, 4, 10])
    ///     .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?;
    /// let x = Column::new("x".into(), [1i64, 2, 3, 4, 5]);
    /// let pl = polars::prelude::DataFrame::new(5, vec![t.into(), x])?;
    /// let ddf = DataFrame::from_polars(pl, 2).set_index("t")?;
    /// let sums = ddf.rolling_time("3ms")?.sum()?.compute()?;
    /// let x: Vec<Option<f64>> = sums.column("x")?.f64()?.to_vec();
    /// assert_eq!(x, [Some(1.0), Some(3.0), Some(6.0), Some(7.0), Some(5.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rolling_time(&self, window: &str) -> Result<Rolling, FrameError> {
        let bad = |message: String| FrameError::Plan {
            step: "rolling_time".into(),
            message,
        };
        let Some(index) = &self.index else {
            return Err(bad("there is no index: set_index(column) first".into()));
        };
        let kind = (self.schema.get(&index.column).cloned()).unwrap_or(DataType::Null);
        if !matches!(kind, DataType::Date | DataType::Datetime(..)) {
            return Err(bad(format!(
                "the index {:?} is {kind}, not a date or datetime",
                index.column
            )));
        }
        let d = polars::prelude::Duration::try_parse(window)
            .map_err(|e| bad(format!("window {window:?}: {e}")))?;
        if d.months() != 0 {
            return Err(bad(format!(
                "window {window:?}: months and years are not fixed spans"
            )));
        }
        let nanos = (d.weeks().checked_mul(7 * 86_400_000_000_000))
            .zip(d.days().checked_mul(86_400_000_000_000))
            .and_then(|(w, dd)| w.checked_add(dd)?.checked_add(d.nanoseconds()))
            .filter(|n| *n > 0 && !d.negative())
            .ok_or_else(|| bad(format!("window {window:?} is not a positive span")))?;
        Ok(Rolling {
            df: self.clone(),
            span: Span::Time {
                index: index.column.clone(),
                nanos,
            },
        })
    }
}

impl Rolling {
    /// The sum of each window.
    pub fn sum(&self) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Sum)
    }

    /// The mean of each window.
    pub fn mean(&self) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Mean)
    }

    /// The smallest value of each window.
    pub fn min(&self) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Min)
    }

    /// The largest value of each window.
    pub fn max(&self) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Max)
    }

    /// How many values (not null) each window holds.
    pub fn count(&self) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Count)
    }

    /// The variance of each window, with `ddof` degrees of freedom (pandas' default is 1).
    pub fn var(&self, ddof: u8) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Var { ddof })
    }

    /// The standard deviation of each window, with `ddof` degrees of freedom.
    pub fn std(&self, ddof: u8) -> Result<DataFrame, FrameError> {
        self.stat(Stat::Std { ddof })
    }

    fn stat(&self, stat: Stat) -> Result<DataFrame, FrameError> {
        let df = &self.df;
        let n = df.npartitions();
        let borrows = self.span != Span::Rows(1);
        let columns: Vec<String> = (df.schema.iter())
            .filter(|(_, t)| t.is_primitive_numeric())
            .map(|(c, _)| c.to_string())
            .collect();
        let token = token_of(&[
            &df.token,
            "rolling",
            &format!("{:?}", self.span),
            &format!("{stat:?}"),
        ]);
        let part = |i: usize| Arg::Key(Key::with_name(&df.name, [i as u32]));
        let mut graph = df.graph.clone();
        graph.merge(&df.base);
        // The rows partition `i + 1` borrows: the last rows of partition `i` and of what it
        // borrowed, as many as a window that ends at its last row holds.
        let tail: Arc<str> = key_name("rolling-tail", &token).into();
        if borrows && n > 1 {
            let mut layer = Layer::with_capacity(Arc::clone(&tail), n - 1);
            for i in 0..n - 1 {
                let args = if i == 0 {
                    vec![part(0)]
                } else {
                    vec![Arg::Key(Key::with_name(&tail, [i as u32 - 1])), part(i)]
                };
                let op = Tail {
                    span: self.span.clone(),
                };
                layer.insert([i as u32], Task::new(op, args));
            }
            graph.add_layer(layer);
        }
        let out: Arc<str> = key_name("rolling", &token).into();
        let op: Arc<dyn Op> = Arc::new(Window {
            span: self.span.clone(),
            stat,
            columns: columns.clone(),
        });
        let mut layer = Layer::with_capacity(Arc::clone(&out), n);
        for i in 0..n {
            let args = if i == 0 || !borrows {
                vec![part(i)]
            } else {
                vec![Arg::Key(Key::with_name(&tail, [i as u32 - 1])), part(i)]
            };
            layer.insert([i as u32], Task::from_arc(Arc::clone(&op), args));
        }
        graph.add_layer(layer);
        let schema: Schema = (df.schema.iter())
            .map(|(c, t)| {
                let t = if columns.iter().any(|n| n == c.as_str()) {
                    DataType::Float64
                } else {
                    t.clone()
                };
                (c.clone(), t)
            })
            .collect();
        let keys = (0..n as u32).map(|i| Key::with_name(&out, [i]));
        let mut rolled = DataFrame::over_keys(graph, keys, Arc::new(schema), token);
        // The rows and their order are the partitions', so is the index.
        rolled.index = df.index.clone();
        Ok(rolled)
    }
}

fn frames(args: &Args) -> Result<(usize, PlFrame), TaskError> {
    let polars = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
    match args.as_slice() {
        [part] => Ok((0, part.get::<Frame>()?.0.clone())),
        [before, part] => {
            let before = &before.get::<Frame>()?.0;
            let mut all = before.clone();
            all.vstack_mut(&part.get::<Frame>()?.0).map_err(polars)?;
            Ok((before.height(), all))
        }
        _ => Err(TaskError::new(
            "expected a partition and the rows before it",
        )),
    }
}

/// The last rows of the rows before a partition and the partition that a window ending at
/// the last of them holds (more for time: all within the span of the last).
#[derive(Debug, Serialize, Deserialize)]
struct Tail {
    span: Span,
}

impl Op for Tail {
    fn name(&self) -> &str {
        "rolling-tail"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let (_, all) = frames(&args)?;
        let keep = match &self.span {
            Span::Rows(n) => usize::try_from(*n - 1).unwrap_or(usize::MAX),
            Span::Time { index, nanos } => {
                let t = times(&all, index)?;
                let last = t.last().copied().unwrap_or(i64::MIN);
                t.len() - t.partition_point(|&x| x <= last.saturating_sub(*nanos))
            }
        };
        Ok(Value::new(Frame(all.tail(Some(keep)))))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Tail, "rask-dataframe.rolling-tail");

/// The windows of a partition, the rows before it borrowed for its first windows.
#[derive(Debug, Serialize, Deserialize)]
struct Window {
    span: Span,
    stat: Stat,
    columns: Vec<String>,
}

impl Op for Window {
    fn name(&self) -> &str {
        "rolling"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let polars = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
        let (borrowed, mut all) = frames(&args)?;
        let bounds = match &self.span {
            Span::Rows(w) => Bounds::rows(all.height(), usize::try_from(*w).unwrap_or(usize::MAX)),
            Span::Time { index, nanos } => Bounds::time(&times(&all, index)?, *nanos),
        };
        for c in &self.columns {
            let values = all.column(c).map_err(polars)?;
            let values = values.cast(&DataType::Float64).map_err(polars)?;
            let values: Vec<Option<f64>> = values.f64().map_err(polars)?.iter().collect();
            let rolled = windows(&values, &bounds, self.stat);
            all.with_column(Column::from(Series::new(c.as_str().into(), rolled)))
                .map_err(polars)?;
        }
        let height = all.height() - borrowed;
        Ok(Value::new(Frame(all.slice(borrowed as i64, height))))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Window, "rask-dataframe.rolling");

/// Windows up to this many rows have their variance computed from their own values (two
/// passes); longer ones from running moments.
const EXACT: usize = 256;

/// The mean and the sum of squared deviations of `values`, in two passes.
fn moments<'a>(values: impl Iterator<Item = &'a f64> + Clone) -> (f64, f64) {
    let (n, sum) = values
        .clone()
        .fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    (mean, values.map(|x| (x - mean) * (x - mean)).sum())
}

/// The times of `index` in nanoseconds, checked sorted and without nulls.
fn times(df: &PlFrame, index: &str) -> Result<Vec<i64>, TaskError> {
    let polars = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
    let column = df.column(index).map_err(polars)?;
    let ns = (column.cast(&DataType::Datetime(TimeUnit::Nanoseconds, None)))
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(polars)?;
    let mut out = Vec::with_capacity(ns.len());
    for t in ns.i64().map_err(polars)?.iter() {
        let t = t.ok_or_else(|| TaskError::new(format!("a null in the index {index:?}")))?;
        if out.last().is_some_and(|&last| t < last) {
            return Err(TaskError::new(format!("the index {index:?} is not sorted")));
        }
        out.push(t);
    }
    Ok(out)
}

/// Where each row's window starts, from when windows are computed, and how many values a
/// window needs (pandas' `min_periods`).
struct Bounds {
    starts: Vec<usize>,
    ready_from: usize,
    min_periods: usize,
}

impl Bounds {
    /// Windows of `w` rows: none before the `w`-th row, and each needs all its values.
    fn rows(len: usize, w: usize) -> Self {
        Bounds {
            starts: (0..len).map(|i| (i + 1).saturating_sub(w)).collect(),
            ready_from: w - 1,
            min_periods: w,
        }
    }

    /// Windows of the rows whose time (sorted) is after `t[i] - nanos`, up to row `i`:
    /// computed from one value.
    fn time(t: &[i64], nanos: i64) -> Self {
        let mut start = 0;
        let starts = (0..t.len())
            .map(|i| {
                while t[start] <= t[i].saturating_sub(nanos) {
                    start += 1;
                }
                start
            })
            .collect();
        Bounds {
            starts,
            ready_from: 0,
            min_periods: 1,
        }
    }
}

/// `stat` of each window (`bounds.starts[i]..=i`, the starts never decreasing): running sums
/// with values added and removed as the window slides, a monotonic queue for the minimum and
/// maximum, and the variance from the window's own values (up to [`EXACT`] rows) or from
/// Welford moments added and removed (recentred from the window's values once per window
/// length).
fn windows(values: &[Option<f64>], bounds: &Bounds, stat: Stat) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(values.len());
    let (mut count, mut mean, mut m2, mut sum) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    // Indices of the window's values that may yet be its extreme, best first.
    let mut queue: VecDeque<usize> = VecDeque::new();
    let better = |a: f64, b: f64| match stat {
        Stat::Min => a <= b,
        _ => a >= b,
    };
    let (mut lo, mut recentred) = (0, 0);
    for (i, v) in values.iter().enumerate() {
        if let Some(x) = *v {
            count += 1;
            sum += x;
            let d = x - mean;
            mean += d / count as f64;
            m2 += d * (x - mean);
            while queue
                .back()
                .is_some_and(|&j| values[j].is_some_and(|y| better(x, y)))
            {
                queue.pop_back();
            }
            queue.push_back(i);
        }
        let start = bounds.starts[i];
        while lo < start {
            if let Some(x) = values[lo] {
                count -= 1;
                sum -= x;
                if count == 0 {
                    (mean, m2) = (0.0, 0.0);
                } else {
                    let d = x - mean;
                    mean -= d / count as f64;
                    m2 -= d * (x - mean);
                }
            }
            lo += 1;
        }
        while queue.front().is_some_and(|&j| j < start) {
            queue.pop_front();
        }
        let len = i + 1 - start;
        // Running moments drift as values come and go: recentred from the window's own
        // values once per window's length.
        if len > EXACT && i - recentred >= len {
            (mean, m2) = moments(values[start..=i].iter().flatten());
            recentred = i;
        }
        let var = |ddof: u8| {
            let dof = count as f64 - f64::from(ddof);
            let m2 = if len <= EXACT {
                moments(values[start..=i].iter().flatten()).1
            } else {
                m2
            };
            (dof > 0.0).then(|| (m2 / dof).max(0.0))
        };
        out.push(match stat {
            _ if i < bounds.ready_from => None,
            Stat::Count => Some(count as f64),
            _ if count < bounds.min_periods.max(1) => None,
            Stat::Sum => Some(sum),
            Stat::Mean => Some(sum / count as f64),
            Stat::Min | Stat::Max => queue.front().and_then(|&j| values[j]),
            Stat::Var { ddof } => var(ddof),
            Stat::Std { ddof } => var(ddof).map(f64::sqrt),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each window computed on its own.
    fn naive(values: &[Option<f64>], w: usize, stat: Stat) -> Vec<Option<f64>> {
        (0..values.len())
            .map(|i| {
                if i + 1 < w {
                    return None;
                }
                let win = &values[i + 1 - w..=i];
                let present: Vec<f64> = win.iter().flatten().copied().collect();
                if stat != Stat::Count && present.len() < w {
                    return None;
                }
                of_values(&present, stat)
            })
            .collect()
    }

    /// `stat` of the values of a window, computed directly.
    fn of_values(present: &[f64], stat: Stat) -> Option<f64> {
        let n = present.len() as f64;
        if stat == Stat::Count {
            return Some(n);
        }
        let mean = present.iter().sum::<f64>() / n;
        let var = |ddof: u8| {
            let dof = n - f64::from(ddof);
            (dof > 0.0).then(|| present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / dof)
        };
        match stat {
            Stat::Sum => Some(present.iter().sum()),
            Stat::Mean => Some(mean),
            Stat::Min => present.iter().copied().reduce(f64::min),
            Stat::Max => present.iter().copied().reduce(f64::max),
            Stat::Var { ddof } => var(ddof),
            Stat::Std { ddof } => var(ddof).map(f64::sqrt),
            Stat::Count => unreachable!("counted above"),
        }
    }

    proptest! {
        #[test]
        fn every_window_matches_its_own_computation(
            values in proptest::collection::vec(proptest::option::weighted(0.9, -1e3f64..1e3), 0..80),
            w in 1usize..12,
        ) {
            let stats = [Stat::Sum, Stat::Mean, Stat::Min, Stat::Max, Stat::Count,
                         Stat::Var { ddof: 1 }, Stat::Std { ddof: 0 }];
            for stat in stats {
                let (got, want) = (windows(&values, &Bounds::rows(values.len(), w), stat), naive(&values, w, stat));
                for (i, (g, x)) in got.iter().zip(&want).enumerate() {
                    let close = match (g, x) {
                        (Some(g), Some(x)) => (g - x).abs() <= 1e-7 * x.abs().max(1.0),
                        (g, x) => g == x,
                    };
                    prop_assert!(close, "{:?} window {} at {}: {:?} vs {:?}", stat, w, i, g, x);
                }
            }
        }

        #[test]
        fn long_windows_keep_running_moments_near(
            values in proptest::collection::vec(proptest::option::weighted(0.99, -1e3f64..1e3), 300..1200),
            w in (EXACT + 1)..(EXACT + 150),
        ) {
            for stat in [Stat::Sum, Stat::Min, Stat::Var { ddof: 1 }] {
                let (got, want) = (windows(&values, &Bounds::rows(values.len(), w), stat), naive(&values, w, stat));
                for (i, (g, x)) in got.iter().zip(&want).enumerate() {
                    let close = match (g, x) {
                        (Some(g), Some(x)) => (g - x).abs() <= 1e-8 * x.abs().max(1e3),
                        (g, x) => g == x,
                    };
                    prop_assert!(close, "{:?} window {} at {}: {:?} vs {:?}", stat, w, i, g, x);
                }
            }
        }
    }

    /// Each time window computed on its own: the rows up to `i` after `t[i] - nanos`.
    fn naive_time(t: &[i64], values: &[Option<f64>], nanos: i64, stat: Stat) -> Vec<Option<f64>> {
        (0..values.len())
            .map(|i| {
                let present: Vec<f64> = (0..=i)
                    .filter(|&j| t[j] > t[i] - nanos)
                    .filter_map(|j| values[j])
                    .collect();
                if stat != Stat::Count && present.is_empty() {
                    return None;
                }
                of_values(&present, stat)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn every_time_window_matches_its_own_computation(
            rows in proptest::collection::vec(
                (0i64..4, proptest::option::weighted(0.85, -1e3f64..1e3)), 0..80),
            nanos in 1i64..12,
            long in proptest::bool::ANY,
        ) {
            // Sorted times with ties and gaps; long spans reach past the exact variance.
            let scale = if long { 1 } else { 100 };
            let t: Vec<i64> = rows.iter().scan(0, |t, (gap, _)| { *t += gap * scale; Some(*t) }).collect();
            let values: Vec<Option<f64>> = rows.iter().map(|(_, v)| *v).collect();
            let nanos = if long { nanos * 40 } else { nanos * 100 };
            let stats = [Stat::Sum, Stat::Mean, Stat::Min, Stat::Max, Stat::Count,
                         Stat::Var { ddof: 1 }, Stat::Std { ddof: 0 }];
            for stat in stats {
                let got = windows(&values, &Bounds::time(&t, nanos), stat);
                let want = naive_time(&t, &values, nanos, stat);
                for (i, (g, x)) in got.iter().zip(&want).enumerate() {
                    let close = match (g, x) {
                        (Some(g), Some(x)) => (g - x).abs() <= 1e-7 * x.abs().max(1.0),
                        (g, x) => g == x,
                    };
                    prop_assert!(close, "{:?} span {} at {}: {:?} vs {:?}", stat, nanos, i, g, x);
                }
            }
        }
    }

    #[test]
    fn a_window_of_one_is_the_value_and_nulls_void_their_windows() {
        let v = [Some(1.0), None, Some(3.0), Some(-2.0)];
        assert_eq!(windows(&v, &Bounds::rows(4, 1), Stat::Sum), v);
        assert_eq!(
            windows(&v, &Bounds::rows(4, 2), Stat::Max),
            [None, None, None, Some(3.0)]
        );
        assert_eq!(
            windows(&v, &Bounds::rows(4, 2), Stat::Count),
            [None, Some(1.0), Some(1.0), Some(2.0)]
        );
    }
}
