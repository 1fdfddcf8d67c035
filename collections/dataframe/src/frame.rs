//! Partitions as Polars frames: the datum that holds one, and the op that makes one — a
//! source (a frame in the graph, a Parquet or CSV file) and the per-partition steps, run as
//! one Polars lazy plan, so Polars pushes projections and predicates into the readers.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::{
    DataFrame as PlFrame, DataType, Engine, Expr, IdxCa, IdxSize, IntoLazy, IpcStreamReader,
    IpcStreamWriter, JsonFormat, JsonReader, LazyCsvReader, LazyFileListReader, LazyFrame,
    LazyJsonLineReader, PlRefPath, ScanArgsParquet, SchemaRef, SerReader, SerWriter,
    SortMultipleOptions, UnionArgs, UniqueKeepStrategy,
};
use polars_core::query_result::QueryResult;
use rask_graph::{Args, Arity, Datum, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::agg::{GroupSpec, Level};

/// One partition: a Polars `DataFrame`. It crosses processes as Arrow IPC.
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::Frame;
/// let f = Frame(df!("a" => [1i64, 2])?);
/// assert_eq!(f.0.height(), 2);
/// # Ok::<(), PolarsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Frame(pub PlFrame);

impl Datum for Frame {
    fn nbytes(&self) -> usize {
        self.0.estimated_size()
    }
}

fn encode(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let f = (datum as &dyn std::any::Any)
        .downcast_ref::<Frame>()
        .ok_or("not a frame")?;
    let mut buf = Vec::new();
    let mut df = f.0.clone();
    IpcStreamWriter::new(&mut buf)
        .finish(&mut df)
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

fn decode(bytes: &[u8]) -> Result<Value, String> {
    let df = IpcStreamReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| e.to_string())?;
    Ok(Value::new(Frame(df)))
}

rask_graph::register_value!(Frame, "rask-dataframe.frame", encode, decode);

/// Where a partition's rows come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Source {
    /// The frame that is the task's argument.
    Frame,
    /// A Parquet file.
    Parquet(PathBuf),
    /// A CSV file with a header row, read with the dataframe's schema (the first file's): a
    /// file whose values do not fit it is an error naming the file, as Dask's mismatched
    /// dtypes are, not a partition of other types.
    Csv {
        path: PathBuf,
        #[serde(with = "schema_text")]
        schema: Option<SchemaRef>,
        /// The lines that start in these bytes of the file (all of it when `None`); only
        /// the block that starts at 0 has the header row.
        range: Option<(u64, u64)>,
        /// What a record Polars cannot read does.
        bad_lines: crate::BadLines,
    },
    /// The records of a CSV file (or block, as `Csv`) that Polars cannot read with `schema`,
    /// as rows of `path`, `line` (the header is line 1) and `error`.
    CsvBadLines {
        path: PathBuf,
        #[serde(with = "schema_text")]
        schema: Option<SchemaRef>,
        range: Option<(u64, u64)>,
    },
    /// A file of JSON lines, one object per line, read with the dataframe's schema (the first
    /// file's, inferred from its first rows) as CSV files are.
    Json {
        path: PathBuf,
        #[serde(with = "schema_text")]
        schema: Option<SchemaRef>,
    },
    /// JSON lines in the `String` that is the task's argument (what a bag's `to_json_lines`
    /// makes), read with `schema`: fields it does not name are left out, fields missing from
    /// a line are null.
    JsonText {
        #[serde(with = "schema_text")]
        schema: Option<SchemaRef>,
    },
    /// The join of the frames that are the task's arguments (a merge fused into the one task
    /// that reads it, so that Polars plans the join with the steps after it: it gathers only
    /// the columns they use, and a reduction reads the joined rows as they are made).
    Join(crate::join::JoinFrames),
}

/// A schema as JSON text (its types do not fit a non-self-describing format).
mod schema_text {
    use polars::prelude::{Schema, SchemaRef};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub(crate) fn serialize<S: Serializer>(v: &Option<SchemaRef>, s: S) -> Result<S::Ok, S::Error> {
        let text = match v {
            Some(schema) => {
                Some(serde_json::to_string(&**schema).map_err(serde::ser::Error::custom)?)
            }
            None => None,
        };
        text.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SchemaRef>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => {
                let schema: Schema =
                    serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
                Ok(Some(Arc::new(schema)))
            }
            None => Ok(None),
        }
    }
}

impl Source {
    /// The plan's start for `explain`: the file's scan, or a frame of `schema` standing for
    /// a partition that is computed first.
    pub(crate) fn scan_for_explain(&self, schema: &polars::prelude::Schema) -> LazyFrame {
        match self {
            Source::Frame | Source::JsonText { .. } => PlFrame::empty_with_schema(schema).lazy(),
            _ => self
                .scan(Default::default())
                .unwrap_or_else(|_| PlFrame::empty_with_schema(schema).lazy()),
        }
    }

    fn scan(&self, args: Args) -> Result<LazyFrame, TaskError> {
        let polars = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
        match self {
            Source::Frame => {
                let mut frames = Vec::new();
                for v in args {
                    frames.push(crate::spill::frame_of(&v)?.lazy());
                }
                match frames.len() {
                    1 => Ok(frames.pop().unwrap_or_default()),
                    _ => polars::prelude::concat(frames, UnionArgs::default()).map_err(polars),
                }
            }
            Source::Join(join) => join.lazy(&args),
            Source::Parquet(path) => {
                let p = PlRefPath::try_from_path(path).map_err(polars)?;
                LazyFrame::scan_parquet(p, ScanArgsParquet::default())
                    .map_err(|e| TaskError::new(format!("{}: {e}", path.display())))
            }
            Source::Csv {
                path,
                schema: Some(schema),
                range,
                bad_lines,
            } if range.is_some() || *bad_lines == crate::BadLines::Skip => {
                let block = crate::csv::read_block(path, *range, schema)?;
                match (block.bad.first(), bad_lines) {
                    (Some(bad), crate::BadLines::Error) => Err(bad_line(path, bad)),
                    _ => Ok(block.frame.lazy()),
                }
            }
            Source::CsvBadLines {
                path,
                schema,
                range,
            } => {
                let schema = schema.clone().unwrap_or_default();
                let block = crate::csv::read_block(path, *range, &schema)?;
                let n = block.bad.len();
                let lines: Vec<u64> = block.bad.iter().map(|b| b.line).collect();
                let errors: Vec<&str> = block.bad.iter().map(|b| b.message.as_str()).collect();
                let name = path.display().to_string();
                polars::prelude::DataFrame::new(
                    n,
                    vec![
                        polars::prelude::Column::new_scalar(
                            "path".into(),
                            polars::prelude::Scalar::from(polars::prelude::PlSmallStr::from(name)),
                            n,
                        ),
                        polars::prelude::Column::new("line".into(), lines),
                        polars::prelude::Column::new("error".into(), errors),
                    ],
                )
                .map(IntoLazy::lazy)
                .map_err(polars)
            }
            Source::Csv { path, schema, .. } => {
                let p = PlRefPath::try_from_path(path).map_err(polars)?;
                LazyCsvReader::new(p)
                    .with_has_header(true)
                    .with_schema(schema.clone())
                    .finish()
                    .map_err(|e| TaskError::new(format!("{}: {e}", path.display())))
            }
            Source::Json { path, schema } => {
                let p = PlRefPath::try_from_path(path).map_err(polars)?;
                LazyJsonLineReader::new(p)
                    .with_schema(schema.clone())
                    .finish()
                    .map_err(|e| TaskError::new(format!("{}: {e}", path.display())))
            }
            Source::JsonText { schema } => {
                let mut frames = Vec::new();
                for v in args {
                    let text = v.get::<String>()?;
                    let mut reader = JsonReader::new(Cursor::new(text.as_bytes()))
                        .with_json_format(JsonFormat::JsonLines);
                    if let Some(schema) = schema {
                        reader = reader.with_schema(Arc::clone(schema));
                    }
                    frames.push(reader.finish().map_err(polars)?.lazy());
                }
                match frames.len() {
                    1 => Ok(frames.pop().unwrap_or_default()),
                    _ => polars::prelude::concat(frames, UnionArgs::default()).map_err(polars),
                }
            }
        }
    }
}

/// A bad line of `path` as an error naming the file, the line and (in Polars' message) the
/// column.
fn bad_line(path: &std::path::Path, bad: &crate::csv::BadLine) -> TaskError {
    TaskError::new(format!("{}:{}: {}", path.display(), bad.line, bad.message))
}

/// One per-partition step of a Polars lazy plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    Select(Vec<Expr>),
    Filter(Expr),
    WithColumns(Vec<Expr>),
    Rename(Vec<(String, String)>),
    Drop(Vec<String>),
    FillNull(Expr),
    /// Rows with a null in any of these columns (any column, if none) dropped.
    DropNulls(Vec<String>),
    /// Rows equal in these columns (in all, if none) made one.
    Unique(Vec<String>),
    /// Rows sorted by a column, nulls last, ties in their order.
    Sort {
        by: String,
        descending: bool,
    },
}

impl Step {
    pub(crate) fn apply(&self, lf: LazyFrame) -> LazyFrame {
        match self {
            Step::Select(e) => lf.select(e.clone()),
            Step::Filter(e) => lf.filter(e.clone()),
            Step::WithColumns(e) => lf.with_columns(e.clone()),
            Step::Rename(pairs) => {
                let (old, new): (Vec<&String>, Vec<&String>) =
                    pairs.iter().map(|(a, b)| (a, b)).unzip();
                lf.rename(old, new, true)
            }
            Step::Drop(names) => lf.drop(by_name(names)),
            Step::FillNull(e) => lf.fill_null(e.clone()),
            Step::DropNulls(names) if names.is_empty() => lf.drop_nulls(None),
            Step::DropNulls(names) => lf.drop_nulls(Some(by_name(names))),
            Step::Unique(names) if names.is_empty() => lf.unique(None, UniqueKeepStrategy::Any),
            Step::Unique(names) => lf.unique(Some(by_name(names)), UniqueKeepStrategy::Any),
            Step::Sort { by, descending } => lf.sort(
                [by.as_str()],
                SortMultipleOptions::default()
                    .with_order_descending(*descending)
                    .with_nulls_last(true)
                    .with_maintain_order(true),
            ),
        }
    }
}

fn by_name(names: &[String]) -> polars::prelude::Selector {
    polars::prelude::Selector::ByName {
        names: names.iter().map(|n| n.as_str().into()).collect(),
        strict: true,
    }
}

/// Steps as JSON text: Polars' expressions serialize through serde, but not in a compact
/// non-self-describing format such as the graph's.
mod steps_text {
    use super::Step;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub(crate) fn serialize<S: Serializer>(v: &Arc<[Step]>, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_string(&**v)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[Step]>, D::Error> {
        let text = String::deserialize(d)?;
        let steps: Vec<Step> = serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
        Ok(steps.into())
    }
}

/// What a partition's task ends with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Finish {
    /// The frame itself.
    Frame,
    /// At most this many rows.
    Head(u64),
    /// An aggregation at one level of its tree, split into this many buckets by the
    /// group keys when not zero.
    Group {
        spec: Arc<GroupSpec>,
        level: Level,
        sort: bool,
        buckets: u32,
    },
    /// The `n` rows with the largest (or smallest) values of column `by`, in that order,
    /// nulls last.
    Top { n: u64, by: String, largest: bool },
    /// Up to `n` values of column `by` (not null), sorted, at evenly spaced ranks of a
    /// stratified sample of at most `n * STRATA_PER_SAMPLE` values (all when fewer).
    Sample { by: String, n: u64 },
    /// Part `index` of `of` near-equal parts of the frame's rows.
    Part { index: u32, of: u32 },
    /// The frame handed to a function of a partition.
    Map(crate::map::MapFn),
    /// Approximate quantiles of the numeric `columns` at one level of their tree: summaries
    /// of each column's sorted values, merged; the last level the quantiles `qs`.
    Quantiles {
        columns: Vec<String>,
        qs: Vec<f64>,
        level: Level,
    },
    /// A HyperLogLog sketch of the frame's one column at one level of its tree; the last
    /// level the estimate, as one row, column `column`.
    Sketch { column: String, level: Level },
    /// The frame in this many [`Buckets`](crate::Buckets) by the columns `keys`.
    Split { keys: Vec<String>, buckets: u32 },
    /// The frame written to `path`'s staging file; the path.
    Write {
        format: crate::write::Format,
        path: PathBuf,
        staging: rask_graph::files::Staging,
    },
}

/// `lf` run on Polars' streaming engine: it reads files in morsels, with less memory and
/// (measured on the groupby bench, files and frames alike) faster than the in-memory engine;
/// a join fused into a partition's plan is as fast on it as on the in-memory engine (the join
/// bench, alternating runs).
pub(crate) fn collect(lf: LazyFrame) -> polars::prelude::PolarsResult<PlFrame> {
    match lf.collect_with_engine(Engine::Streaming)? {
        QueryResult::Single(df) => Ok(df),
        QueryResult::Multiple(_) => Err(polars::prelude::PolarsError::ComputeError(
            "a plan of more than one result".into(),
        )),
    }
}

/// How many values a partition's sample of `n` is drawn from, per sampled value.
const STRATA_PER_SAMPLE: usize = 64;

/// At most `m` rows of `df`: one at a pseudo-random place (the same every run) in each of
/// `m` equal runs of rows — a sample whose quantiles are near the frame's, whatever the
/// rows' order, without sorting all of them.
fn strata(df: PlFrame, m: usize) -> polars::prelude::PolarsResult<PlFrame> {
    let len = df.height();
    if len <= m || m == 0 {
        return Ok(df);
    }
    let at: Vec<IdxSize> = (0..m)
        .map(|j| {
            let (lo, hi) = (j * len / m, (j + 1) * len / m);
            // splitmix64 of the run's number.
            let mut z = (j as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (lo + (z % (hi - lo) as u64) as usize) as IdxSize
        })
        .collect();
    df.take(&IdxCa::from_vec("".into(), at))
}

/// A partition's work: the source, the steps, the finish, as one lazy plan.
#[derive(Debug, Serialize, Deserialize)]
pub struct Partition {
    pub(crate) source: Source,
    #[serde(with = "steps_text")]
    pub(crate) steps: Arc<[Step]>,
    pub(crate) finish: Finish,
    pub(crate) label: Arc<str>,
}

impl Partition {
    /// Polars' error, naming the file the partition reads.
    fn failed(&self, e: polars::prelude::PolarsError) -> TaskError {
        match &self.source {
            // Polars' message names neither the file nor the line: find the first record it
            // cannot read (if that is what failed).
            Source::Csv {
                path,
                schema: Some(schema),
                range,
                ..
            } => match crate::csv::read_block(path, *range, schema) {
                Ok(block) if !block.bad.is_empty() => bad_line(path, &block.bad[0]),
                _ => TaskError::new(format!("{}: {e}", path.display())),
            },
            Source::Parquet(path)
            | Source::Csv { path, .. }
            | Source::CsvBadLines { path, .. }
            | Source::Json { path, .. } => TaskError::new(format!("{}: {e}", path.display())),
            Source::Frame | Source::JsonText { .. } | Source::Join(_) => {
                TaskError::new(e.to_string())
            }
        }
    }
}

impl Op for Partition {
    fn name(&self) -> &str {
        &self.label
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut lf = self.source.scan(args)?;
        // A plan that ends in a sort by an integer column, kept whole or written: the rows
        // are collected, then sorted by rask's stable integer sort (see `sort::sorted`).
        let (steps, last_sort) = match (self.steps.split_last(), &self.finish) {
            (Some((Step::Sort { by, descending }, rest)), Finish::Frame | Finish::Write { .. }) => {
                (rest, Some((by.as_str(), *descending)))
            }
            _ => (&self.steps[..], None),
        };
        for s in steps {
            lf = s.apply(lf);
        }
        if let Some((by, descending)) = last_sort {
            let sorted = collect(lf)
                .and_then(|df| crate::sort::sorted(df, by, descending))
                .map_err(|e| self.failed(e))?;
            lf = sorted.lazy();
        }
        let mut df = match &self.finish {
            Finish::Group {
                spec,
                level: Level::First,
                ..
            } => {
                let schema = lf.collect_schema().map_err(|e| self.failed(e))?;
                if crate::fast::eligible(spec, &schema) {
                    crate::fast::first_level(lf, spec, &schema)
                } else {
                    collect(spec.apply(lf, Level::First, false))
                }
            }
            Finish::Group {
                spec, level, sort, ..
            } => collect(spec.apply(lf, *level, *sort)),
            Finish::Head(n) => collect(lf.limit(u32::try_from(*n).unwrap_or(u32::MAX) as _)),
            Finish::Sample { by, n } => {
                collect(lf.select([polars::prelude::col(by.as_str()).drop_nulls()]))
                    .and_then(|df| strata(df, *n as usize * STRATA_PER_SAMPLE))
                    .and_then(|df| df.sort([by.as_str()], Default::default()))
                    .and_then(|df| {
                        let len = df.height();
                        let n = (*n as usize).min(len);
                        let at: Vec<IdxSize> =
                            (0..n).map(|j| ((j * len) / n.max(1)) as IdxSize).collect();
                        df.take(&IdxCa::from_vec("".into(), at))
                    })
            }
            Finish::Top { n, by, largest } => {
                let order = SortMultipleOptions::default()
                    .with_order_descending(*largest)
                    .with_nulls_last(true)
                    .with_maintain_order(true);
                let sorted = lf.sort([by.as_str()], order);
                // Polars turns sort-then-limit into a top-k that allocates for `n` rows up
                // front: for a large `n`, sort and cut instead.
                match u32::try_from(*n) {
                    Ok(n) if n <= 1 << 20 => collect(sorted.limit(n as _)),
                    _ => collect(sorted).map(|df| df.head(usize::try_from(*n).ok())),
                }
            }
            Finish::Quantiles { columns, qs, level } => {
                let lf = match level {
                    Level::First | Level::Whole => lf.select(
                        (columns.iter())
                            .map(|c| polars::prelude::col(c.as_str()).cast(DataType::Float64))
                            .collect::<Vec<_>>(),
                    ),
                    Level::Combine | Level::Last => lf,
                };
                collect(lf).and_then(|df| crate::summary::quantiles(&df, columns, qs, *level))
            }
            Finish::Sketch { column, level } => {
                collect(lf).and_then(|df| crate::summary::sketch(&df, column, *level))
            }
            Finish::Part { index, of } => collect(lf).map(|df| {
                let (len, of, index) = (df.height(), (*of).max(1) as usize, *index as usize);
                let start = index * len / of;
                df.slice(start as i64, (index + 1) * len / of - start)
            }),
            Finish::Frame | Finish::Write { .. } | Finish::Split { .. } | Finish::Map(_) => {
                collect(lf)
            }
        }
        .map_err(|e| self.failed(e))?;
        match &self.finish {
            Finish::Group { spec, buckets, .. } if *buckets > 0 => {
                let b = crate::shuffle::split(&df, &spec.keys, *buckets as usize)
                    .map_err(|e| TaskError::new(e.to_string()))?;
                crate::spill::hold(b.0)
            }
            Finish::Map(f) => Ok(Value::new(Frame(f.call(&df)?))),
            Finish::Split { keys, buckets } => {
                let b = crate::shuffle::split(&df, keys, *buckets as usize)
                    .map_err(|e| TaskError::new(e.to_string()))?;
                crate::spill::hold(b.0)
            }
            Finish::Write {
                format,
                path,
                staging,
            } => crate::write::write(&mut df, *format, path, staging),
            _ => Ok(Value::new(Frame(df))),
        }
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }

    /// A partition read from a file waits: Polars' streaming engine reads, decodes and runs
    /// the plan on its own threads while the task's thread waits for the result (measured on
    /// the dataframe bench: TPC-H Q6 0.072–0.076 → 0.066–0.068 s and the 100-group groupby
    /// 0.136 → 0.111–0.117 s when other tasks run meanwhile). A partition of frames computed
    /// first does not: rask's own kernels (joins, sorts, grouping) run on the task's thread.
    fn waits(&self) -> bool {
        matches!(
            self.source,
            Source::Parquet(_)
                | Source::Csv { .. }
                | Source::CsvBadLines { .. }
                | Source::Json { .. }
        )
    }
}

rask_graph::register_op!(Partition, "rask-dataframe.partition");
