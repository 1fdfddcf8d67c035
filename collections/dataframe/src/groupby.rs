//! `groupby(keys).agg(...)`: a reduction tree when the groups are few, a hash shuffle of the
//! partial aggregates when they are many (Dask's `split_out`).

use std::sync::Arc;

use polars::prelude::{DataFrame as PlFrame, Expr, IntoLazy, UniqueKeepStrategy, col};
use rask_graph::tokenize::key_name;
use rask_graph::{Arg, Graph, Key, Layer, Task};

use crate::agg::{Agg, GroupSpec, Level, Spec};
use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::{Finish, Frame, Partition, Source};

/// How many rows of the first partition the cardinality estimate reads.
const SAMPLE_ROWS: usize = 100_000;

/// A dataframe grouped by key columns, to be aggregated: Dask's `ddf.groupby(keys)`.
/// The result has the key columns first, then one column per aggregation, as Polars'
/// `group_by(keys).agg(...)` on the whole frame (null keys form a group, as in Polars).
///
/// With one output partition (`split_out(1)`), the partial aggregates of the partitions are
/// combined in a tree and the groups come out sorted by their keys. With more, each
/// partition's partial aggregates are hashed by key into that many buckets, and each output
/// partition aggregates one bucket of every partition: no task ever holds every group. Left
/// unset, the choice is made from the distinct keys in a sample of the first partition's rows
/// (computed on the calling thread when [`agg`](Self::agg) is called): a shuffle when most
/// sampled rows have a key of their own.
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::DataFrame;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let pl = df!("k" => ["a", "b", "a", "c", "b"], "x" => [1i64, 2, 3, 4, 5])?;
/// let ddf = DataFrame::from_polars(pl, 2);
/// let g = ddf.groupby(["k"])?.agg([col("x").sum(), col("x").mean().alias("mean")])?;
/// let want = df!("k" => ["a", "b", "c"], "x" => [4i64, 7, 4], "mean" => [2.0, 3.5, 4.0])?;
/// assert_eq!(g.compute()?, want);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a grouping does nothing until it is aggregated"]
#[derive(Clone, Debug)]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<String>,
    split_out: Option<usize>,
    split_every: usize,
}

impl DataFrame {
    /// This dataframe grouped by the columns `keys` (at least one), to be aggregated.
    pub fn groupby<I, S>(&self, keys: I) -> Result<GroupBy, FrameError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        if keys.is_empty() {
            return Err(FrameError::Plan {
                step: "groupby".into(),
                message: "no key columns".into(),
            });
        }
        for k in &keys {
            self.column(k)?;
        }
        Ok(GroupBy {
            df: self.clone(),
            keys,
            split_out: None,
            split_every: crate::dataframe::SPLIT_EVERY,
        })
    }
}

impl GroupBy {
    /// The number of output partitions (Dask's `split_out`): 1 combines the partial
    /// aggregates in a tree, more hash-shuffle them. At least 1.
    pub fn split_out(mut self, n: usize) -> Self {
        self.split_out = Some(n.max(1));
        self
    }

    /// How many partial results each level of the tree combines (Dask's `split_every`,
    /// 8 unless set; at least 2).
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = n.max(2);
        self
    }

    /// The aggregations `exprs` per group: each a column's `sum`, `mean`, `min`, `max`,
    /// `count`, `len` (size, nulls included), `var(ddof)` or `std(ddof)`, optionally aliased
    /// (`col("x").mean().alias("mean_x")`). Anything else is a [`FrameError::Plan`].
    pub fn agg<E: AsRef<[Expr]>>(&self, exprs: E) -> Result<DataFrame, FrameError> {
        let mut specs = Vec::new();
        for e in exprs.as_ref() {
            let spec = Spec::from_expr(e).ok_or_else(|| FrameError::Plan {
                step: "groupby.agg".into(),
                message: format!(
                    "{e:?} is not an aggregation rask can split across partitions \
                     (sum, mean, min, max, count, len, var or std of a column)"
                ),
            })?;
            self.df.column(&spec.input)?;
            if self.keys.contains(&spec.output)
                || specs.iter().any(|s: &Spec| s.output == spec.output)
            {
                return Err(FrameError::Plan {
                    step: "groupby.agg".into(),
                    message: format!("the column {:?} is named twice: alias one", spec.output),
                });
            }
            specs.push(spec);
        }
        self.build(specs)
    }

    /// `agg` of every column but the keys that it [applies to](Agg::applies_to), as the
    /// whole frame's reductions take them: numbers, dates and times too for minima and
    /// maxima, every column for counts.
    fn all(&self, agg: Agg) -> Result<DataFrame, FrameError> {
        let specs = (self.df.schema.iter())
            .filter(|(n, t)| !self.keys.iter().any(|k| k == n.as_str()) && agg.applies_to(t))
            .map(|(n, _)| Spec {
                agg,
                input: n.to_string(),
                output: n.to_string(),
            })
            .collect();
        self.build(specs)
    }

    /// The sum of every numeric column per group.
    pub fn sum(&self) -> Result<DataFrame, FrameError> {
        self.all(Agg::Sum)
    }

    /// The mean of every numeric column per group.
    pub fn mean(&self) -> Result<DataFrame, FrameError> {
        self.all(Agg::Mean)
    }

    /// The smallest value of every numeric, date or time column per group.
    pub fn min(&self) -> Result<DataFrame, FrameError> {
        self.all(Agg::Min)
    }

    /// The largest value of every numeric, date or time column per group.
    pub fn max(&self) -> Result<DataFrame, FrameError> {
        self.all(Agg::Max)
    }

    /// The non-null values of every column per group.
    pub fn count(&self) -> Result<DataFrame, FrameError> {
        self.all(Agg::Count)
    }

    /// The rows per group, as a column `size`.
    pub fn size(&self) -> Result<DataFrame, FrameError> {
        self.build(vec![Spec {
            agg: Agg::Size,
            input: self.keys[0].clone(),
            output: "size".into(),
        }])
    }

    /// The variance of every numeric column per group, with `ddof` delta degrees of freedom.
    pub fn var(&self, ddof: u8) -> Result<DataFrame, FrameError> {
        self.all(Agg::Var { ddof })
    }

    /// The standard deviation of every numeric column per group.
    pub fn std(&self, ddof: u8) -> Result<DataFrame, FrameError> {
        self.all(Agg::Std { ddof })
    }

    /// The output partitions (as set, or a shuffle's when a sample of the first partition
    /// has mostly distinct keys), and whether a shuffle moves partial aggregates (when they
    /// are fewer than half the rows) or the rows themselves.
    fn plan(&self) -> Result<(usize, bool), FrameError> {
        let n = self.df.npartitions();
        if self.split_out == Some(1) || (self.split_out.is_none() && n < 2) {
            return Ok((1, true));
        }
        // The key columns of the first partition's first rows, computed here and now.
        let estimating = |message: String| FrameError::Plan {
            step: "groupby (estimating the groups)".into(),
            message,
        };
        let keys: Vec<Expr> = self.keys.iter().map(|k| col(k.as_str())).collect();
        let (graph, key) = self.df.select(&keys)?.head_graph(0, SAMPLE_ROWS);
        let values = rask_graph::exec::run_in_order(&graph, std::slice::from_ref(&key), &[])
            .map_err(|e| estimating(e.to_string()))?;
        let sample = &values
            .first()
            .ok_or_else(|| estimating("no sample".into()))?
            .get::<Frame>()
            .map_err(|e| estimating(e.to_string()))?
            .0;
        let distinct = distinct_rows(sample).map_err(|e| estimating(e.to_string()))?;
        let many = sample.height() >= 1_000 && distinct * 2 > sample.height();
        let outputs = match self.split_out {
            Some(n) => n,
            None if many => n.div_ceil(2).max(2),
            None => 1,
        };
        Ok((outputs, !many))
    }

    fn build(&self, specs: Vec<Spec>) -> Result<DataFrame, FrameError> {
        let spec = GroupSpec {
            keys: self.keys.clone(),
            specs,
        };
        let schema = spec
            .schema(&self.df.schema)
            .map_err(|message| FrameError::Plan {
                step: "groupby.agg".into(),
                message,
            })?;
        let (outputs, partials) = self.plan()?;
        let token = token_of(&[
            &self.df.token,
            "groupby",
            &format!("{spec:?}-{outputs}-{partials}-{}", self.split_every),
        ]);
        if outputs == 1 {
            let (graph, key) = self.df.tree(spec, "groupby", &token, self.split_every);
            return Ok(DataFrame::over_keys(graph, [key], Arc::new(schema), token));
        }
        self.shuffle(Arc::new(spec), outputs, partials, schema, token)
    }

    /// Partial aggregates (or, without `partials`, the rows of the columns the aggregation
    /// reads) split into `outputs` buckets per partition, a task per bucket, and a task per
    /// output aggregating its bucket of every partition.
    fn shuffle(
        &self,
        spec: Arc<GroupSpec>,
        outputs: usize,
        partials: bool,
        schema: polars::prelude::Schema,
        token: String,
    ) -> Result<DataFrame, FrameError> {
        let inputs = self.df.npartitions();
        let out: Arc<str> = key_name("groupby-aggregate", &token).into();
        let mut graph = Graph::new();
        let (bucket, level) = if partials {
            let split = Finish::Group {
                spec: Arc::clone(&spec),
                level: Level::First,
                sort: false,
                buckets: outputs as u32,
            };
            let bucket = self.df.split_by(&mut graph, split, outputs, &token);
            (bucket, Level::Last)
        } else {
            // Only the columns the aggregation reads cross the shuffle.
            let mut read: Vec<&str> = self.keys.iter().map(String::as_str).collect();
            for s in &spec.specs {
                if !read.contains(&s.input.as_str()) {
                    read.push(&s.input);
                }
            }
            let rows = self
                .df
                .select(read.iter().map(|c| col(*c)).collect::<Vec<_>>())?;
            let split = Finish::Split {
                keys: self.keys.clone(),
                buckets: outputs as u32,
            };
            (
                rows.split_by(&mut graph, split, outputs, &token),
                Level::Whole,
            )
        };
        let last = Arc::new(Partition {
            source: Source::Frame,
            steps: Arc::from([]),
            finish: Finish::Group {
                spec,
                level,
                sort: false,
                buckets: 0,
            },
            label: "groupby-aggregate".into(),
        });
        let mut aggregate = Layer::with_capacity(Arc::clone(&out), outputs);
        for j in 0..outputs as u32 {
            let args = (0..inputs as u32).map(|i| Arg::Key(Key::with_name(&bucket, [i, j])));
            aggregate.insert(
                [j],
                Task::from_arc(Arc::clone(&last) as Arc<dyn rask_graph::Op>, args),
            );
        }
        graph.add_layer(aggregate);
        let keys = (0..outputs as u32).map(|j| Key::with_name(&out, [j]));
        Ok(DataFrame::over_keys(graph, keys, Arc::new(schema), token))
    }
}

/// How many distinct rows `df` has.
fn distinct_rows(df: &PlFrame) -> polars::prelude::PolarsResult<usize> {
    Ok(df
        .clone()
        .lazy()
        .unique(None, UniqueKeepStrategy::Any)
        .collect()?
        .height())
}
