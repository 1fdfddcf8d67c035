//! `merge`: joins on key columns — each partition of the larger side against the whole of a
//! small side (a broadcast join), or both sides hash-partitioned by key so that bucket `j` of
//! one meets bucket `j` of the other (a shuffle join). Each output's frames are joined by
//! [`hashjoin`](crate::hashjoin) when it can, by Polars otherwise.

use std::sync::Arc;

use polars::prelude::{
    DataFrame as PlFrame, Expr, IntoLazy, JoinArgs, JoinCoalesce, JoinType, LazyFrame, Schema,
    UnionArgs, col,
};
use rask_graph::tokenize::key_name;
use rask_graph::{
    Arg, Args, Arity, Graph, Key, KeySet, Layer, Op, Task, TaskError, Value, downcast_op,
};
use serde::{Deserialize, Serialize};

use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::{Finish, Frame, Partition, Source, Step};
use crate::shuffle::Pick;

/// The suffix of a right side's column whose name the left side has, unless set (Polars').
const DEFAULT_SUFFIX: &str = "_right";

/// Which rows a merge keeps, as SQL's and pandas' joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum How {
    /// Rows whose keys are on both sides.
    Inner,
    /// Every row of the left side, with the right side's columns null where it has no match.
    Left,
    /// Every row of the right side.
    Right,
    /// Every row of both sides.
    Outer,
}

/// How to merge: the kind of join, the key columns of each side, and (optionally) the
/// strategy. Key columns are coalesced into one, as pandas' and Dask's are; other columns
/// that both sides have get `suffix` on the right side's (Polars' `_right` unless set).
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::{DataFrame, How, Merge};
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let people = DataFrame::from_polars(df!("id" => [1i64, 2, 3], "name" => ["ann", "bo", "cy"])?, 2);
/// let orders = DataFrame::from_polars(df!("id" => [3i64, 1, 3], "total" => [5i64, 7, 9])?, 3);
/// let m = orders.merge(&people, Merge::on(How::Left, ["id"]))?;
/// let got = m.compute()?.sort(["total"], Default::default())?;
/// assert_eq!(got, df!("id" => [3i64, 1, 3], "total" => [5i64, 7, 9], "name" => ["cy", "ann", "cy"])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Merge {
    how: How,
    left_on: Vec<String>,
    right_on: Vec<String>,
    suffix: Option<String>,
    npartitions: Option<usize>,
    broadcast: Option<bool>,
}

impl Merge {
    /// A join of kind `how` on the columns `keys`, which both sides have.
    pub fn on<I, S>(how: How, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        Merge::left_right(how, keys.clone(), keys)
    }

    /// A join of kind `how` of the left side's columns `left_on` to the right side's
    /// `right_on`, pairwise.
    pub fn left_right<I, J, S, T>(how: How, left_on: I, right_on: J) -> Self
    where
        I: IntoIterator<Item = S>,
        J: IntoIterator<Item = T>,
        S: AsRef<str>,
        T: AsRef<str>,
    {
        Merge {
            how,
            left_on: left_on.into_iter().map(|k| k.as_ref().to_owned()).collect(),
            right_on: right_on
                .into_iter()
                .map(|k| k.as_ref().to_owned())
                .collect(),
            suffix: None,
            npartitions: None,
            broadcast: None,
        }
    }

    /// The suffix of the right side's columns whose names the left side also has.
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = Some(suffix.to_owned());
        self
    }

    /// The output partitions of a shuffle join (the larger side's partition count unless
    /// set).
    pub fn npartitions(mut self, n: usize) -> Self {
        self.npartitions = Some(n.max(1));
        self
    }

    /// Whether to broadcast the smaller side to every partition of the larger one (`true`)
    /// or shuffle both (`false`). Unset, a side is broadcast when that costs less than a
    /// shuffle if rows are in proportion to partitions (a side of one partition always; of
    /// two, to fewer than four) and the join keeps only matched rows of it (an inner join,
    /// or the right side of a left join and the reverse).
    pub fn broadcast(mut self, yes: bool) -> Self {
        self.broadcast = Some(yes);
        self
    }

    fn args(&self) -> JoinArgs {
        let how = match self.how {
            How::Inner => JoinType::Inner,
            How::Left => JoinType::Left,
            How::Right => JoinType::Right,
            How::Outer => JoinType::Full,
        };
        let args = JoinArgs::new(how).with_coalesce(JoinCoalesce::CoalesceColumns);
        match &self.suffix {
            Some(s) => args.with_suffix(Some(s.as_str().into())),
            None => args,
        }
    }
}

/// The join of a task's frames: the first `left` arguments are the left side's, the rest
/// the right side's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JoinFrames {
    how: How,
    left_on: Vec<String>,
    right_on: Vec<String>,
    suffix: Option<String>,
    left: u32,
    /// The sides' schemas (JSON text), for a side with no frames.
    schemas: [String; 2],
}

impl JoinFrames {
    fn merge(&self) -> Merge {
        Merge {
            suffix: self.suffix.clone(),
            ..Merge::left_right(self.how, &self.left_on, &self.right_on)
        }
    }

    /// The join of `args`' frames, as a plan: joined by rask's kernel when it can
    /// ([`hashjoin`](crate::hashjoin)), else by Polars in the plan.
    pub(crate) fn lazy(&self, args: &[Value]) -> Result<LazyFrame, TaskError> {
        let (l, r) = args.split_at((self.left as usize).min(args.len()));
        let frames = |values: &[Value]| -> Result<Vec<PlFrame>, TaskError> {
            values.iter().map(crate::spill::frame_of).collect()
        };
        let (l, r) = (frames(l)?, frames(r)?);
        if let ([l_key], [r_key]) = (&self.left_on[..], &self.right_on[..]) {
            let suffix = self.suffix.as_deref().unwrap_or(DEFAULT_SUFFIX);
            let joined = crate::hashjoin::join(self.how, l_key, r_key, suffix, &l, &r)
                .map_err(|e| TaskError::new(e.to_string()))?;
            if let Some(df) = joined {
                return Ok(df.lazy());
            }
        }
        Ok(join(
            side(l, &self.schemas[0])?,
            side(r, &self.schemas[1])?,
            &self.merge(),
        ))
    }
}

/// `lf` joined to `other` as `m` says.
fn join(lf: LazyFrame, other: LazyFrame, m: &Merge) -> LazyFrame {
    let on = |keys: &[String]| -> Vec<Expr> { keys.iter().map(|k| col(k.as_str())).collect() };
    lf.join(other, on(&m.left_on), on(&m.right_on), m.args())
}

/// A side's frames as one plan; a frame of its `schema` when it has none.
fn side(frames: Vec<PlFrame>, schema: &str) -> Result<LazyFrame, TaskError> {
    let mut frames: Vec<LazyFrame> = frames.into_iter().map(IntoLazy::lazy).collect();
    if frames.is_empty() {
        let schema: Schema =
            serde_json::from_str(schema).map_err(|e| TaskError::new(e.to_string()))?;
        return Ok(PlFrame::empty_with_schema(&schema).lazy());
    }
    if frames.len() == 1 {
        return Ok(frames.pop().unwrap_or_default());
    }
    polars::prelude::concat(frames, UnionArgs::default()).map_err(|e| TaskError::new(e.to_string()))
}

impl Op for JoinFrames {
    fn name(&self) -> &str {
        "merge"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let df = (self.lazy(&args)?.collect()).map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Frame(df)))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(JoinFrames, "rask-dataframe.merge");

rask_graph::register_pass!("dataframe", 0, "fuse-merges", JoinFrames, fuse_merges);

/// Fuses each merge task read by one partition task only, and by nothing else, into that task:
/// its reader joins the merge's frames itself ([`Source::Join`]), so that the joined
/// partition is never a task's value (a reduction after the join never stores it; a join
/// Polars does is planned with the steps after it). A merge read twice stays a task of its
/// own (both readers share it), as does one that is an output.
fn fuse_merges(graph: &Graph, keep: &KeySet) -> Graph {
    let readers = graph.reader_counts();
    let fusable = readers.fusable(keep);
    let mut rewrite = graph.rewrite();
    for layer in graph.layers() {
        for (index, task) in layer.entries() {
            let Some(p) = downcast_op::<Partition>(task.op()) else {
                continue;
            };
            let (Source::Frame, [Arg::Key(merge)]) = (&p.source, task.args()) else {
                continue;
            };
            if !fusable(merge) {
                continue;
            }
            let Some(merge_task) = graph.get(merge) else {
                continue;
            };
            let Some(join) = downcast_op::<JoinFrames>(merge_task.op()) else {
                continue;
            };
            let fused = Partition {
                source: Source::Join(join.clone()),
                steps: Arc::clone(&p.steps),
                finish: p.finish.clone(),
                label: Arc::clone(&p.label),
            };
            let args = merge_task.args().iter().cloned();
            rewrite.replace(&Key::with_name(layer.name(), index), Task::new(fused, args));
            rewrite.remove(merge);
        }
    }
    rewrite.finish()
}

impl DataFrame {
    /// This dataframe (the left side) joined to `right` as `how` says: Dask's
    /// `merge(right, how=…, on=…)`. The key columns must exist on their sides and have the
    /// same types; the result's columns are checked by Polars now.
    ///
    /// How the partitions meet, in order of preference:
    /// - **broadcast**: a side of few partitions is joined whole to each partition of the
    ///   other (or as [`Merge::broadcast`] forces);
    /// - **partition-aligned**: on one key that is a side's index ([`set_index`]), the
    ///   other side is split by that side's divisions (not at all, if its own are the
    ///   same), and partition `j` joins partition `j` — the indexed side does not move, and
    ///   a result of sides with the same divisions keeps them;
    /// - **hash shuffle** of both sides otherwise.
    ///
    /// A `select` or `drop` right after the merge is pushed into its sides: they read, shuffle
    /// and join only the columns it needs.
    ///
    /// [`set_index`]: DataFrame::set_index
    pub fn merge(&self, right: &DataFrame, how: Merge) -> Result<DataFrame, FrameError> {
        if how.left_on.is_empty() || how.left_on.len() != how.right_on.len() {
            return Err(FrameError::Plan {
                step: "merge".into(),
                message: format!(
                    "{} left key(s) and {} right key(s): give the same number, at least one",
                    how.left_on.len(),
                    how.right_on.len()
                ),
            });
        }
        for (l, r) in how.left_on.iter().zip(&how.right_on) {
            self.column(l)?;
            right.column(r)?;
            let (lt, rt) = (self.schema.get(l.as_str()), right.schema.get(r.as_str()));
            if lt != rt {
                let name = |t: Option<&polars::prelude::DataType>| t.map(|t| t.to_string());
                return Err(FrameError::KeyTypes {
                    left: l.clone(),
                    left_type: name(lt).unwrap_or_default(),
                    right: r.clone(),
                    right_type: name(rt).unwrap_or_default(),
                });
            }
        }
        let empty = |s: &Schema| PlFrame::empty_with_schema(s).lazy();
        let schema = join(empty(&self.schema), empty(&right.schema), &how)
            .collect_schema()
            .map_err(|e| FrameError::Plan {
                step: "merge".into(),
                message: e.to_string(),
            })?;
        let schema_text = |s: &Schema| {
            serde_json::to_string(s).map_err(|e| FrameError::Plan {
                step: "merge".into(),
                message: e.to_string(),
            })
        };
        let (ln, rn) = (self.npartitions(), right.npartitions());
        // Which side may be broadcast: one whose unmatched rows the join drops. With rows in
        // proportion to partitions, broadcasting `a` partitions to `b` costs `a·b + b`
        // partitions' work and a shuffle of both `2(a + b)`: one partition is always worth
        // broadcasting, two only to fewer than four (measured: 2 to 20 was 2.2× slower).
        // Only ever the side of fewer partitions: its copies are built into every task.
        let small = |a: usize, b: usize| a <= b && a * b < b + 2 * a;
        let (can_right, can_left) = (
            matches!(how.how, How::Inner | How::Left),
            matches!(how.how, How::Inner | How::Right),
        );
        let pick = |forced: bool| {
            if can_right && (rn <= ln || !can_left) && (forced || small(rn, ln)) {
                Some(false)
            } else if can_left && (forced || small(ln, rn)) {
                Some(true)
            } else {
                None
            }
        };
        let broadcast = match how.broadcast {
            Some(false) => None,
            Some(true) => Some(pick(true).ok_or_else(|| FrameError::Plan {
                step: "merge".into(),
                message:
                    "an outer join keeps every row of both sides: it cannot broadcast one".into(),
            })?),
            None => pick(false),
        };
        let op = JoinFrames {
            how: how.how,
            left_on: how.left_on.clone(),
            right_on: how.right_on.clone(),
            suffix: how.suffix.clone(),
            left: 0,
            schemas: [schema_text(&self.schema)?, schema_text(&right.schema)?],
        };
        let token = token_of(&[
            &self.token,
            &right.token,
            "merge",
            &format!("{op:?}-{broadcast:?}-{:?}", how.npartitions),
        ]);
        let out: Arc<str> = key_name("merge", &token).into();
        let mut graph = Graph::merged([&self.graph, &right.graph]);
        let mut layer;
        // Sides partitioned alike by the key (a side whose index is the key, the other split
        // by its divisions): partition j joins partition j, and the side with the index
        // does not move.
        let aligned = match (broadcast, how.npartitions) {
            (None, None) => self.aligned(right, &how, &token),
            _ => None,
        };
        let mut divisions = None;
        if let Some((l, r, same)) = aligned {
            graph = Graph::merged([&l.graph, &r.graph]);
            let n = l.npartitions();
            layer = Layer::with_capacity(Arc::clone(&out), n);
            let op = JoinFrames { left: 1, ..op };
            for (j, (a, b)) in l.output_args().into_iter().zip(r.output_args()).enumerate() {
                layer.insert([j as u32], Task::new(op.clone(), [a, b]));
            }
            divisions = same;
        } else {
            match broadcast {
                Some(left_is_small) => {
                    // Each partition of the larger side against every partition of the smaller.
                    let (big, small) = if left_is_small {
                        (right, self)
                    } else {
                        (self, right)
                    };
                    let all: Vec<Arg> = small.output_args();
                    layer = Layer::with_capacity(Arc::clone(&out), big.npartitions());
                    for (i, one) in big.output_args().into_iter().enumerate() {
                        let (args, left) = if left_is_small {
                            (
                                all.iter().cloned().chain([one]).collect::<Vec<_>>(),
                                all.len(),
                            )
                        } else {
                            (std::iter::once(one).chain(all.iter().cloned()).collect(), 1)
                        };
                        let op = JoinFrames {
                            left: left as u32,
                            ..op.clone()
                        };
                        layer.insert([i as u32], Task::new(op, args));
                    }
                }
                None => {
                    let n = how.npartitions.unwrap_or(ln.max(rn));
                    let by = |keys: &[String]| Finish::Split {
                        keys: keys.to_vec(),
                        buckets: n as u32,
                    };
                    let l =
                        self.split_by(&mut graph, by(&how.left_on), n, &format!("{token}-left"));
                    let r =
                        right.split_by(&mut graph, by(&how.right_on), n, &format!("{token}-right"));
                    layer = Layer::with_capacity(Arc::clone(&out), n);
                    for j in 0..n as u32 {
                        let args: Vec<Arg> = (0..ln as u32)
                            .map(|i| Arg::Key(Key::with_name(&l, [i, j])))
                            .chain((0..rn as u32).map(|i| Arg::Key(Key::with_name(&r, [i, j]))))
                            .collect();
                        let op = JoinFrames {
                            left: ln as u32,
                            ..op.clone()
                        };
                        layer.insert([j], Task::new(op, args));
                    }
                }
            }
        }
        let n = layer.len();
        graph.add_layer(layer);
        let keys = (0..n as u32).map(|j| Key::with_name(&out, [j]));
        let mut merged =
            DataFrame::over_keys(graph, keys, Arc::new(schema.as_ref().clone()), token);
        // Sides with the same divisions: so has the result, on the (coalesced) left key.
        merged.index = divisions.map(|divisions| {
            Arc::new(crate::dataframe::Index {
                column: how.left_on[0].clone(),
                divisions,
            })
        });
        merged.merged = Some(Arc::new(Merged {
            left: self.clone(),
            right: right.clone(),
            how,
        }));
        Ok(merged)
    }

    /// This frame and `right` partitioned alike by their one join key, when either side's
    /// index is its key: the side with the index as it is (the left, if both), the other
    /// split by its divisions; and the divisions, when both sides already had the same ones.
    fn aligned(
        &self,
        right: &DataFrame,
        how: &Merge,
        token: &str,
    ) -> Option<(DataFrame, DataFrame, Option<polars::prelude::Series>)> {
        let ([l_key], [r_key]) = (how.left_on.as_slice(), how.right_on.as_slice()) else {
            return None;
        };
        let divisions = |df: &DataFrame, key: &str| {
            (df.index.as_ref())
                .filter(|i| i.column == key)
                .map(|i| i.divisions.clone())
        };
        let inner = |d: &polars::prelude::Series| d.slice(1, d.len().saturating_sub(2));
        match (divisions(self, l_key), divisions(right, r_key)) {
            (Some(a), Some(b)) if a.equals_missing(&b) => {
                Some((self.clone(), right.clone(), Some(a)))
            }
            (Some(a), _) => {
                let r = right.range_by(r_key, &inner(&a), &format!("{token}-right"));
                Some((self.clone(), r, None))
            }
            (None, Some(b)) => {
                let l = self.range_by(l_key, &inner(&b), &format!("{token}-left"));
                Some((l, right.clone(), None))
            }
            (None, None) => None,
        }
    }

    /// The keys of the partitions as they stand, as task arguments.
    fn output_args(&self) -> Vec<Arg> {
        (0..self.npartitions() as u32)
            .map(|i| Arg::Key(Key::with_name(&self.name, [i])))
            .collect()
    }

    /// Layers in `graph` splitting each partition into `n` buckets as `finish` says (a
    /// [`Finish::Split`], or a grouping's partial aggregates split), and a task per bucket;
    /// the name of the bucket layer (keys `(partition, bucket)`).
    pub(crate) fn split_by(
        &self,
        graph: &mut Graph,
        finish: Finish,
        n: usize,
        token: &str,
    ) -> Arc<str> {
        let split: Arc<str> = key_name("split", token).into();
        let bucket: Arc<str> = key_name("bucket", token).into();
        graph.merge(&self.base);
        graph.add_layer(self.layer(&split, finish, "split"));
        let mut picks = Layer::with_capacity(Arc::clone(&bucket), self.npartitions() * n);
        for i in 0..self.npartitions() as u32 {
            for j in 0..n as u32 {
                picks.insert(
                    [i, j],
                    Task::new(Pick { index: j }, [Arg::Key(Key::with_name(&split, [i]))]),
                );
            }
        }
        graph.add_layer(picks);
        bucket
    }
}

/// What a merge was made of, so that a later `select` or `drop` can read fewer columns of
/// its sides (projection pushdown through the merge and its shuffles, as Dask's optimizer
/// does).
#[derive(Debug)]
pub(crate) struct Merged {
    left: DataFrame,
    right: DataFrame,
    how: Merge,
}

impl Merged {
    /// The merge again with only the columns of each side that `step` needs (and the keys),
    /// or `None` when it needs them all. A column is needed when the step's result on the
    /// merged schema changes (or fails) without it — a test on empty frames that sees
    /// through selectors, regexes and suffixes alike.
    pub(crate) fn pruned(&self, step: &Step) -> Result<Option<DataFrame>, FrameError> {
        let empty = |s: &Schema| PlFrame::empty_with_schema(s).lazy();
        let result = |l: &Schema, r: &Schema| {
            step.apply(join(empty(l), empty(r), &self.how))
                .collect_schema()
                .ok()
        };
        let (ls, rs) = (&self.left.schema, &self.right.schema);
        let Some(want) = result(ls, rs) else {
            return Ok(None);
        };
        let needed = |side: &Schema, keys: &[String], left: bool| -> Vec<String> {
            (side.iter_names())
                .filter(|c| {
                    keys.iter().any(|k| k == c.as_str()) || {
                        let mut without = side.clone();
                        without.shift_remove(c.as_str());
                        let got = if left {
                            result(&without, rs)
                        } else {
                            result(ls, &without)
                        };
                        got.as_ref() != Some(&want)
                    }
                })
                .map(|c| c.to_string())
                .collect()
        };
        let (l, r) = (
            needed(ls, &self.how.left_on, true),
            needed(rs, &self.how.right_on, false),
        );
        if l.len() == ls.len() && r.len() == rs.len() {
            return Ok(None);
        }
        let pick = |df: &DataFrame, columns: Vec<String>| {
            if columns.len() == df.schema.len() {
                Ok(df.clone())
            } else {
                df.select(columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
            }
        };
        let pruned = pick(&self.left, l)?.merge(&pick(&self.right, r)?, self.how.clone())?;
        // Each side's columns were tested one at a time: keep the pruning only if all of it
        // together still gives the same result.
        match result(
            &pruned.merged_sides().0.schema,
            &pruned.merged_sides().1.schema,
        ) {
            Some(got) if got == want => Ok(Some(pruned)),
            _ => Ok(None),
        }
    }
}

impl DataFrame {
    /// The sides of the merge this frame is, if it is one.
    fn merged_sides(&self) -> (&DataFrame, &DataFrame) {
        match &self.merged {
            Some(m) => (&m.left, &m.right),
            None => (self, self),
        }
    }
}
