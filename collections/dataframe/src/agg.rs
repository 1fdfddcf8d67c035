//! Aggregations as trees: what each level of a chunk → combine → aggregate tree computes, for
//! a whole frame (one row) or per group, as Polars expressions.

use polars::prelude::{
    AggExpr, DataFrame as PlFrame, DataType, Expr, IDX_DTYPE, IntoLazy, LazyFrame, Literal, NULL,
    Schema, col, lit, when,
};
use serde::{Deserialize, Serialize};

/// A per-column aggregation, computed as a chunk → combine → aggregate tree: each level
/// aggregates the partial results below it (sums and counts add up, minima and maxima are
/// taken again); a mean is a sum and a count divided at the end; a variance merges counts,
/// means and sums of squared deviations (Chan's formula), so it is as exact as a one-pass
/// variance on the whole column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Agg {
    /// Sums.
    Sum,
    /// Minima.
    Min,
    /// Maxima.
    Max,
    /// Non-null counts.
    Count,
    /// Rows, nulls included (a group's size).
    Size,
    /// Means of the non-null values (null where there are none).
    Mean,
    /// Variances of the non-null values with `ddof` delta degrees of freedom (null where
    /// there are no more values than `ddof`).
    Var {
        /// Delta degrees of freedom: the divisor is `n - ddof`.
        ddof: u8,
    },
    /// Standard deviations, as [`Var`](Agg::Var).
    Std {
        /// Delta degrees of freedom.
        ddof: u8,
    },
}

impl Agg {
    /// Whether a whole-frame reduction aggregates a column of type `t`: every column for a
    /// count, dates and times too for a minimum or maximum, numbers otherwise.
    pub(crate) fn applies_to(self, t: &DataType) -> bool {
        t.is_primitive_numeric()
            || matches!(self, Agg::Count | Agg::Size)
            || (matches!(self, Agg::Min | Agg::Max) && t.is_temporal())
    }

    /// Its name in task keys and errors: `sum`, `var`, ….
    pub(crate) fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Count => "count",
            Agg::Size => "size",
            Agg::Mean => "mean",
            Agg::Var { .. } => "var",
            Agg::Std { .. } => "std",
        }
    }
}

/// Where a task stands in a reduction tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Level {
    /// On a partition's rows.
    First,
    /// On partial results.
    Combine,
    /// On partial results, giving the answer.
    Last,
    /// On rows, giving the answer (no partial results: each group's rows are all here).
    Whole,
}

/// One aggregation: of column `input`, named `output`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub(crate) agg: Agg,
    pub(crate) input: String,
    pub(crate) output: String,
}

/// A partial result's column beside `output` (a count, a mean).
pub(crate) fn beside(output: &str, what: &str) -> String {
    format!("{output}\u{1f}{what}")
}

impl Spec {
    /// The expressions of this aggregation at `level`: at the first level they read the
    /// partition's column `input`; above it, the partial columns the level below named.
    fn exprs(&self, level: Level, out: &mut Vec<Expr>) {
        let o = self.output.as_str();
        let f64 = |e: Expr| e.cast(DataType::Float64);
        let c = match level {
            Level::First | Level::Whole => col(self.input.as_str()),
            Level::Combine | Level::Last => col(o),
        };
        // Each as the tree's last level types it.
        let null = || NULL.lit().cast(DataType::Float64);
        match (self.agg, level) {
            (Agg::Sum, Level::Whole) => out.push(c.sum().alias(o)),
            (Agg::Count, Level::Whole) => out.push(c.count().cast(IDX_DTYPE).alias(o)),
            (Agg::Size, Level::Whole) => out.push(c.len().cast(IDX_DTYPE).alias(o)),
            (Agg::Mean, Level::Whole) => out.push(f64(c).mean().alias(o)),
            (Agg::Var { ddof }, Level::Whole) => out.push(f64(c).var(ddof).alias(o)),
            (Agg::Std { ddof }, Level::Whole) => out.push(f64(c).std(ddof).alias(o)),
            (Agg::Sum, _) => out.push(c.sum().alias(o)),
            (Agg::Min, _) => out.push(c.min().alias(o)),
            (Agg::Max, _) => out.push(c.max().alias(o)),
            (Agg::Count, Level::First) => out.push(c.count().cast(DataType::UInt64).alias(o)),
            (Agg::Size, Level::First) => out.push(c.len().cast(DataType::UInt64).alias(o)),
            (Agg::Count | Agg::Size, Level::Combine) => out.push(c.sum().alias(o)),
            // Polars' counts are of its index type.
            (Agg::Count | Agg::Size, Level::Last) => out.push(c.sum().cast(IDX_DTYPE).alias(o)),
            (Agg::Mean, Level::First) => {
                out.push(f64(c.clone()).sum().alias(o));
                out.push(c.count().cast(DataType::UInt64).alias(beside(o, "n")));
            }
            (Agg::Mean, Level::Combine) => {
                out.push(c.sum().alias(o));
                out.push(col(beside(o, "n")).sum().alias(beside(o, "n")));
            }
            (Agg::Mean, Level::Last) => {
                let n = col(beside(o, "n")).sum();
                out.push(
                    when(n.clone().gt(lit(0u64)))
                        .then(c.sum() / f64(n))
                        .otherwise(null())
                        .alias(o),
                );
            }
            (Agg::Var { .. } | Agg::Std { .. }, Level::First) => {
                // A partition's count, mean and sum of squared deviations from its mean.
                let x = f64(c.clone());
                let d = x.clone() - x.clone().mean();
                out.push(c.count().cast(DataType::UInt64).alias(beside(o, "n")));
                out.push(x.mean().alias(beside(o, "mean")));
                out.push((d.clone() * d).sum().alias(o));
            }
            (Agg::Var { ddof } | Agg::Std { ddof }, Level::Combine | Level::Last) => {
                let (n_i, mean_i) = (col(beside(o, "n")), col(beside(o, "mean")));
                let n = n_i.clone().sum();
                let some = n.clone().gt(lit(0u64));
                let mean = when(some)
                    .then((f64(n_i.clone()) * mean_i.clone()).sum() / f64(n.clone()))
                    .otherwise(null());
                // Chan et al.: the parts' squared deviations, plus each part's count times
                // its mean's squared distance from the whole's mean.
                let d = mean_i - mean.clone();
                let m2 = c.sum() + (f64(n_i) * d.clone() * d).sum();
                if level == Level::Combine {
                    out.push(n.alias(beside(o, "n")));
                    out.push(mean.alias(beside(o, "mean")));
                    out.push(m2.alias(o));
                } else {
                    let ddof = u64::from(ddof);
                    let var = m2 / f64(n.clone() - lit(ddof));
                    let value = match self.agg {
                        Agg::Std { .. } => var.sqrt(),
                        _ => var,
                    };
                    out.push(when(n.gt(lit(ddof))).then(value).otherwise(null()).alias(o));
                }
            }
        }
    }

    /// The aggregation a Polars expression asks for: `col(x).sum()`, `col(x).mean()`, … with
    /// an optional alias; anything else is `None`.
    pub(crate) fn from_expr(e: &Expr) -> Option<Spec> {
        let column = |e: &Expr| match e {
            Expr::Column(name) => Some(name.to_string()),
            _ => None,
        };
        match e {
            Expr::Alias(inner, name) => Spec::from_expr(inner).map(|s| Spec {
                output: name.to_string(),
                ..s
            }),
            Expr::Agg(a) => {
                let (agg, input) = match a {
                    AggExpr::Sum(i) => (Agg::Sum, i),
                    AggExpr::Mean(i) => (Agg::Mean, i),
                    AggExpr::Min { input, .. } => (Agg::Min, input),
                    AggExpr::Max { input, .. } => (Agg::Max, input),
                    AggExpr::Count {
                        input,
                        include_nulls,
                    } => (
                        if *include_nulls {
                            Agg::Size
                        } else {
                            Agg::Count
                        },
                        input,
                    ),
                    AggExpr::Var(i, ddof) => (Agg::Var { ddof: *ddof }, i),
                    AggExpr::Std(i, ddof) => (Agg::Std { ddof: *ddof }, i),
                    _ => return None,
                };
                let input = column(input)?;
                Some(Spec {
                    agg,
                    output: input.clone(),
                    input,
                })
            }
            _ => None,
        }
    }
}

/// An aggregation of a whole frame (no keys: one row) or per group of the key columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupSpec {
    pub(crate) keys: Vec<String>,
    pub(crate) specs: Vec<Spec>,
}

impl GroupSpec {
    /// The schema of the answer on a frame of schema `input`, checked by Polars (a column
    /// that does not exist, a type that cannot be aggregated).
    pub(crate) fn schema(&self, input: &Schema) -> Result<Schema, String> {
        let lf = PlFrame::empty_with_schema(input).lazy();
        let mut lf = self.apply(self.apply(lf, Level::First, false), Level::Last, true);
        lf.collect_schema()
            .map(|s| (*s).clone())
            .map_err(|e| e.to_string())
    }

    /// `lf` aggregated at `level`; at the last level, groups are sorted by their keys when
    /// `sort` is set.
    pub(crate) fn apply(&self, lf: LazyFrame, level: Level, sort: bool) -> LazyFrame {
        let mut exprs = Vec::new();
        for s in &self.specs {
            s.exprs(level, &mut exprs);
        }
        if self.keys.is_empty() {
            return lf.select(exprs);
        }
        let keys: Vec<Expr> = self.keys.iter().map(|k| col(k.as_str())).collect();
        let out = lf.group_by(keys).agg(exprs);
        if sort && matches!(level, Level::Last | Level::Whole) {
            out.sort(self.keys.clone(), Default::default())
        } else {
            out
        }
    }
}
