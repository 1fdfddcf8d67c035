//! Rolling windows over the rows in order, across partitions: each partition borrows the
//! rows its first windows need from the partitions before it (Dask's `map_overlap`), so a
//! window that starts in one partition and ends in the next is whole.

use std::collections::VecDeque;
use std::sync::Arc;

use polars::prelude::{Column, DataFrame as PlFrame, DataType, NamedFrom, Schema, Series};
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

/// Rolling windows of `window` rows: [`DataFrame::rolling`].
#[derive(Debug, Clone)]
pub struct Rolling {
    df: DataFrame,
    window: usize,
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
            window,
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
        let borrow = self.window - 1;
        let columns: Vec<String> = (df.schema.iter())
            .filter(|(_, t)| t.is_primitive_numeric())
            .map(|(c, _)| c.to_string())
            .collect();
        let token = token_of(&[
            &df.token,
            "rolling",
            &self.window.to_string(),
            &format!("{stat:?}"),
        ]);
        let part = |i: usize| Arg::Key(Key::with_name(&df.name, [i as u32]));
        let mut graph = df.graph.clone();
        graph.merge(&df.base);
        // The rows partition `i + 1` borrows: the last `borrow` rows of partition `i` and
        // of what it borrowed.
        let tail: Arc<str> = key_name("rolling-tail", &token).into();
        if borrow > 0 && n > 1 {
            let mut layer = Layer::with_capacity(Arc::clone(&tail), n - 1);
            for i in 0..n - 1 {
                let args = if i == 0 {
                    vec![part(0)]
                } else {
                    vec![Arg::Key(Key::with_name(&tail, [i as u32 - 1])), part(i)]
                };
                layer.insert([i as u32], Task::new(Tail { n: borrow as u64 }, args));
            }
            graph.add_layer(layer);
        }
        let out: Arc<str> = key_name("rolling", &token).into();
        let op: Arc<dyn Op> = Arc::new(Window {
            window: self.window as u64,
            stat,
            columns: columns.clone(),
        });
        let mut layer = Layer::with_capacity(Arc::clone(&out), n);
        for i in 0..n {
            let args = if i == 0 || borrow == 0 {
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
        Ok(DataFrame::over_keys(graph, keys, Arc::new(schema), token))
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

/// The last `n` rows of the rows before a partition and the partition.
#[derive(Debug, Serialize, Deserialize)]
struct Tail {
    n: u64,
}

impl Op for Tail {
    fn name(&self) -> &str {
        "rolling-tail"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let (_, all) = frames(&args)?;
        Ok(Value::new(Frame(all.tail(usize::try_from(self.n).ok()))))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Tail, "rask-dataframe.rolling-tail");

/// The windows of a partition, the rows before it borrowed for its first windows.
#[derive(Debug, Serialize, Deserialize)]
struct Window {
    window: u64,
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
        let w = usize::try_from(self.window).unwrap_or(usize::MAX);
        for c in &self.columns {
            let values = all.column(c).map_err(polars)?;
            let values = values.cast(&DataType::Float64).map_err(polars)?;
            let values: Vec<Option<f64>> = values.f64().map_err(polars)?.iter().collect();
            let rolled = windows(&values, w, self.stat);
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

/// `stat` of each window of `w` values ending at each value: running sums added and removed
/// as the window slides, a monotonic queue for the minimum and maximum, and the variance
/// from the window's own values (up to [`EXACT`] rows) or from Welford moments added and
/// removed (recentred once per window length).
fn windows(values: &[Option<f64>], w: usize, stat: Stat) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(values.len());
    let (mut count, mut mean, mut m2, mut sum) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    // Indices of the window's values that may yet be its extreme, best first.
    let mut queue: VecDeque<usize> = VecDeque::new();
    let better = |a: f64, b: f64| match stat {
        Stat::Min => a <= b,
        _ => a >= b,
    };
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
        if i >= w
            && let Some(x) = values[i - w]
        {
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
        while queue.front().is_some_and(|&j| j + w <= i) {
            queue.pop_front();
        }
        // Running moments drift as values come and go: recentred from the window's own
        // values once per window's length.
        if w > EXACT && i % w == 0 {
            let present = values[(i + 1).saturating_sub(w)..=i].iter().flatten();
            (mean, m2) = moments(present);
        }
        let whole = i + 1 >= w && count == w;
        let var = |ddof: u8| {
            let dof = count as f64 - f64::from(ddof);
            let m2 = if w <= EXACT && whole {
                moments(values[i + 1 - w..=i].iter().flatten()).1
            } else {
                m2
            };
            (dof > 0.0).then(|| (m2 / dof).max(0.0))
        };
        out.push(match stat {
            _ if i + 1 < w => None,
            Stat::Count => Some(count as f64),
            _ if !whole => None,
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
                if stat == Stat::Count {
                    return Some(present.len() as f64);
                }
                if present.len() < w {
                    return None;
                }
                let n = w as f64;
                let mean = present.iter().sum::<f64>() / n;
                let var = |ddof: u8| {
                    let dof = n - f64::from(ddof);
                    (dof > 0.0)
                        .then(|| present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / dof)
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
            })
            .collect()
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
                let (got, want) = (windows(&values, w, stat), naive(&values, w, stat));
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
                let (got, want) = (windows(&values, w, stat), naive(&values, w, stat));
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

    #[test]
    fn a_window_of_one_is_the_value_and_nulls_void_their_windows() {
        let v = [Some(1.0), None, Some(3.0), Some(-2.0)];
        assert_eq!(windows(&v, 1, Stat::Sum), v);
        assert_eq!(windows(&v, 2, Stat::Max), [None, None, None, Some(3.0)]);
        assert_eq!(
            windows(&v, 2, Stat::Count),
            [None, Some(1.0), Some(1.0), Some(2.0)]
        );
    }
}
