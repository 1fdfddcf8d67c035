//! One column of a partitioned frame ([`Series`], Dask's `dask.dataframe.Series`) and one
//! value in a graph ([`Scalar`], Dask's `Scalar`).

use std::fmt;
use std::sync::Arc;

use polars::prelude::{
    DataFrame as PlFrame, DataType, Expr, Scalar as PlScalar, Schema, Series as PlSeries, col,
};
use rask_graph::{Collection, ComputeError, Graph, Key, Value};

use crate::dataframe::{QUANTILE, optimized, token_of};
use crate::{Agg, DataFrame, FrameError, Reduced};

/// One column of a partitioned frame (Dask's `dask.dataframe.Series`, `ddf["x"]`): its
/// partitions are one-column Polars frames, and it computes to a Polars `Series`.
///
/// Per-partition steps ([`map`](Self::map) for arithmetic and the string and date
/// expressions, [`filter`](Self::filter), [`astype`](Self::astype), …) join the run of steps
/// of the frame it came from: one Polars plan, one task per partition. Reductions are
/// [`Scalar`]s, computed in the same trees as the frame's.
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::DataFrame;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let ddf = DataFrame::from_polars(df!("x" => [1i64, -2, 3, 4, -5])?, 2);
/// let x = ddf.series("x")?;
/// let doubled = x.map(|x| x * lit(2))?.filter(|x| x.gt(lit(0)))?;
/// assert_eq!(doubled.compute()?, Series::new("x".into(), [2i64, 6, 8]));
/// assert_eq!(x.sum()?.compute()?.value(), &AnyValue::Int64(1));
/// assert_eq!(x.to_string(), "rask.Series<npartitions=2>\n  x: i64\n");
/// assert!(ddf.series("y").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a series is lazy: compute it"]
#[derive(Clone)]
pub struct Series {
    /// A frame of exactly one column.
    frame: DataFrame,
}

impl DataFrame {
    /// Column `name` as a [`Series`] (Dask's `ddf[name]`); a column that does not exist is a
    /// [`FrameError::Column`] naming the nearest one.
    pub fn series(&self, name: &str) -> Result<Series, FrameError> {
        self.column(name)?;
        Ok(Series {
            frame: self.select([col(name)])?,
        })
    }
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Dask's repr: the name and type, and the partitions (and divisions, when the series is
/// its frame's sorted index).
impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.frame.to_string();
        write!(f, "{}", text.replacen("rask.DataFrame", "rask.Series", 1))
    }
}

impl Series {
    /// Wraps a frame the caller knows has exactly one column.
    fn of(frame: DataFrame) -> Series {
        debug_assert_eq!(frame.schema.len(), 1);
        Series { frame }
    }

    /// The name.
    pub fn name(&self) -> &str {
        self.frame
            .schema
            .iter_names()
            .next()
            .map_or("", |n| n.as_str())
    }

    /// The type of the values.
    pub fn dtype(&self) -> &DataType {
        let (_, dtype) = (self.frame.schema.get_at_index(0)).expect("a series has one column");
        dtype
    }

    /// How many partitions.
    pub fn npartitions(&self) -> usize {
        self.frame.npartitions()
    }

    /// The divisions, known when this series is its frame's sorted index (after
    /// `set_index`); see [`DataFrame::divisions`].
    pub fn divisions(&self) -> Option<&PlSeries> {
        self.frame.divisions()
    }

    /// As a one-column dataframe (Dask's `to_frame`).
    pub fn to_frame(&self) -> DataFrame {
        self.frame.clone()
    }

    /// `f` of this series' values, per partition, under the same name: arithmetic (Dask's
    /// `s * 2 + 1`), string and date expressions (`s.str.upper()`), casts. `f` is given
    /// the series as a Polars expression and must give one value per row.
    pub fn map(&self, f: impl FnOnce(Expr) -> Expr) -> Result<Series, FrameError> {
        let name = self.name();
        Ok(Series::of(self.frame.select([f(col(name)).alias(name)])?))
    }

    /// The values where `predicate` of the series holds (Dask's `s[s > 0]`).
    pub fn filter(&self, predicate: impl FnOnce(Expr) -> Expr) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.filter(predicate(col(self.name())))?))
    }

    /// Under another name.
    pub fn rename(&self, name: &str) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.rename(&[(self.name(), name)])?))
    }

    /// The values cast to `dtype` (a value that does not fit is an error naming its
    /// partition when computed).
    pub fn astype(&self, dtype: DataType) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.astype(&[(self.name(), dtype)])?))
    }

    /// With nulls replaced by `value`.
    pub fn fillna(&self, value: Expr) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.fillna(value)?))
    }

    /// Without nulls.
    pub fn dropna(&self) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.dropna(&[])?))
    }

    /// In `n` partitions, the values in order ([`DataFrame::repartition`]).
    pub fn repartition(&self, n: usize) -> Series {
        Series::of(self.frame.repartition(n))
    }

    /// Sorted, stably, nulls last ([`DataFrame::sort_values`]).
    pub fn sort_values(&self, descending: bool) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.sort_values(self.name(), descending)?))
    }

    /// Each value once, nulls included (Dask's `unique`), in no specified order: the
    /// values are hash-shuffled so that equal ones meet.
    pub fn unique(&self) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.drop_duplicates(&[])?))
    }

    /// The `n` largest values, largest first, nulls last.
    pub fn nlargest(&self, n: usize) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.nlargest(n, self.name())?))
    }

    /// The `n` smallest values, smallest first, nulls last.
    pub fn nsmallest(&self, n: usize) -> Result<Series, FrameError> {
        Ok(Series::of(self.frame.nsmallest(n, self.name())?))
    }

    /// How often each value (not null) occurs: the values and a `count` column, most
    /// frequent first ([`DataFrame::value_counts`]).
    pub fn value_counts(&self) -> Result<DataFrame, FrameError> {
        self.frame.value_counts(self.name())
    }

    /// The first `n` values, computing only the partitions they are in (on the default
    /// scheduler).
    pub fn head(&self, n: usize) -> Result<PlSeries, ComputeError> {
        self.frame.head(n).map(|df| only_column(&df))
    }

    /// [`head`](Self::head) on `scheduler`.
    pub fn head_with(
        &self,
        n: usize,
        scheduler: &dyn rask_graph::Scheduler,
    ) -> Result<PlSeries, ComputeError> {
        self.frame
            .head_with(n, scheduler)
            .map(|df| only_column(&df))
    }

    /// The error of a reduction `step` this series' type does not take.
    fn not_numeric(&self, step: &str) -> FrameError {
        FrameError::Plan {
            step: step.into(),
            message: format!(
                "the series {:?} is {}, not numeric",
                self.name(),
                self.dtype()
            ),
        }
    }

    fn scalar(&self, reduced: Reduced) -> Scalar {
        Scalar {
            reduced,
            column: self.name().to_string(),
        }
    }

    /// `agg` of the values, as the frame's reduction of its columns of this type.
    fn reduce(&self, agg: Agg) -> Result<Scalar, FrameError> {
        if !agg.applies_to(self.dtype()) {
            return Err(self.not_numeric(agg.name()));
        }
        Ok(self.scalar(self.frame.aggregate(agg)?))
    }

    /// The sum (0 for no values).
    pub fn sum(&self) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Sum)
    }

    /// The smallest value (null for no values); numbers, dates and times.
    pub fn min(&self) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Min)
    }

    /// The largest value (null for no values); numbers, dates and times.
    pub fn max(&self) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Max)
    }

    /// The mean of the values (not null), an `f64` (null for no values).
    pub fn mean(&self) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Mean)
    }

    /// How many values (not null), of Polars' index type (`u32`).
    pub fn count(&self) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Count)
    }

    /// The variance with `ddof` delta degrees of freedom ([`DataFrame::var`]).
    pub fn var(&self, ddof: u8) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Var { ddof })
    }

    /// The standard deviation with `ddof` delta degrees of freedom.
    pub fn std(&self, ddof: u8) -> Result<Scalar, FrameError> {
        self.reduce(Agg::Std { ddof })
    }

    /// How many distinct values (not null), exactly, a `u32` ([`DataFrame::nunique`]).
    pub fn nunique(&self) -> Result<Scalar, FrameError> {
        Ok(self.scalar(self.frame.nunique(self.name())?))
    }

    /// How many distinct values (not null), approximately, a `u64`
    /// ([`DataFrame::nunique_approx`]).
    pub fn nunique_approx(&self) -> Result<Scalar, FrameError> {
        Ok(self.scalar(self.frame.nunique_approx(self.name())?))
    }

    /// Approximate quantiles `qs`, as `f64`s in the order of `qs`
    /// ([`DataFrame::quantile`]).
    pub fn quantile(&self, qs: &[f64]) -> Result<Series, FrameError> {
        if !self.dtype().is_primitive_numeric() {
            return Err(self.not_numeric("quantile"));
        }
        // The quantiles' frame holds the `qs` in a column `quantile`: a series of that name
        // is summarized under another, and named back.
        let name = self.name();
        let (frame, inner) = match name {
            QUANTILE => (
                self.frame.rename(&[(name, "quantile values")])?,
                "quantile values",
            ),
            _ => (self.frame.clone(), name),
        };
        let Reduced { graph, key } = frame.quantile(qs)?;
        let schema = Schema::from_iter([
            (QUANTILE.into(), DataType::Float64),
            (inner.into(), DataType::Float64),
        ]);
        let token = token_of(&[&self.frame.token, "quantile", &format!("{qs:?}")]);
        let frame = DataFrame::over_keys(graph, [key], Arc::new(schema), token);
        Ok(Series::of(frame.select([col(inner).alias(name)])?))
    }
}

/// The one column of `df`, as a series.
fn only_column(df: &PlFrame) -> PlSeries {
    df.columns()
        .first()
        .map(|c| c.as_materialized_series().clone())
        .unwrap_or_default()
}

impl Collection for Series {
    type Output = PlSeries;

    fn graph(&self) -> &Graph {
        self.frame.graph()
    }

    fn output_keys(&self) -> Vec<Key> {
        self.frame.output_keys()
    }

    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        optimized(self)
    }

    fn finalize(&self, values: Vec<Value>) -> Result<PlSeries, ComputeError> {
        Ok(only_column(&self.frame.finalize(values)?))
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Series::of(self.frame.rebuild(graph))
    }
}

/// One value in a graph (Dask's `Scalar`): a reduction of a [`Series`]. It computes to a
/// Polars `Scalar`, the value with its type (null where there is no value, as the mean of
/// none).
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::DataFrame;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let ddf = DataFrame::from_polars(df!("x" => [Some(1.0), None, Some(2.0)])?, 2);
/// let mean = ddf.series("x")?.mean()?.compute()?;
/// assert_eq!((mean.dtype(), mean.value()), (&DataType::Float64, &AnyValue::Float64(1.5)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a reduction is lazy: compute it"]
#[derive(Clone, Debug)]
pub struct Scalar {
    reduced: Reduced,
    column: String,
}

impl Collection for Scalar {
    type Output = PlScalar;

    fn graph(&self) -> &Graph {
        self.reduced.graph()
    }

    fn output_keys(&self) -> Vec<Key> {
        self.reduced.output_keys()
    }

    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        optimized(self)
    }

    fn finalize(&self, values: Vec<Value>) -> Result<PlScalar, ComputeError> {
        let df = self.reduced.finalize(values)?;
        let missing = || ComputeError::ResultType {
            key: self.reduced.key.clone(),
            expected: "one row with the series' column",
            found: "another frame",
        };
        let column = df.column(&self.column).map_err(|_| missing())?;
        let value = column.get(0).map_err(|_| missing())?.into_static();
        Ok(PlScalar::new(column.dtype().clone(), value))
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Scalar {
            reduced: self.reduced.rebuild(graph),
            column: self.column.clone(),
        }
    }
}
