//! The collection: a lazy dataframe of Polars partitions.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::{
    Column, DataFrame as PlFrame, DataType, Expr, IntoLazy, Literal, Schema, SchemaRef, Series,
    col, lit,
};
use rask_graph::layers::{TreeLevel, reduction_tree};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Collection, ComputeError, Delayed, Graph, Key, Layer, Task, Value};
use std::ops::{Bound, RangeBounds};

use crate::agg::{Agg, GroupSpec, Level, Spec};
use crate::error::FrameError;
use crate::frame::{Finish, Frame, Partition, Source, Step};

/// How many partial results each level of a reduction tree combines.
pub(crate) const SPLIT_EVERY: usize = 8;

/// A lazy dataframe in partitions, each a Polars `DataFrame`: Dask's `dask.dataframe`.
/// Per-partition operations (`select`, `filter`, `with_columns`, …) add steps to one Polars
/// lazy plan per partition, so the graph holds one task per partition for the whole run of
/// them, and Polars' optimizer pushes projections and predicates into the file readers.
///
/// ```
/// use polars::prelude::*;
/// use rask_dataframe::DataFrame;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let pl = df!("k" => ["a", "b", "a", "c"], "x" => [1i64, 2, 3, 4])?;
/// let ddf = DataFrame::from_polars(pl, 2);
/// let big = ddf.filter(col("x").gt(lit(1)))?.select([col("x") * lit(10)])?;
/// assert_eq!(big.npartitions(), 2);
/// assert_eq!(big.compute()?, df!("x" => [20i64, 30, 40])?);
/// assert_eq!(big.sum()?.compute()?, df!("x" => [90i64])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a dataframe is lazy: compute it"]
#[derive(Clone)]
pub struct DataFrame {
    /// The graph of what the sources read.
    pub(crate) base: Graph,
    /// A source per partition, with the task arguments it reads.
    pub(crate) sources: Arc<[(Source, Vec<Arg>)]>,
    pub(crate) steps: Arc<[Step]>,
    pub(crate) schema: SchemaRef,
    /// The schema the sources give, before the steps.
    pub(crate) source_schema: SchemaRef,
    /// Names the partitions' plan so far.
    pub(crate) token: String,
    pub(crate) graph: Graph,
    pub(crate) name: Arc<str>,
    /// The column the rows are sorted by across partitions, and its divisions, when known.
    pub(crate) index: Option<Arc<Index>>,
    /// The merge this frame is the result of, before any step.
    pub(crate) merged: Option<Arc<crate::join::Merged>>,
}

/// A sorted column and its divisions: partition `j` holds the rows whose value lies in
/// `[divisions[j], divisions[j + 1])`, the last range closed (nulls in the last partition).
#[derive(Debug)]
pub(crate) struct Index {
    pub(crate) column: String,
    pub(crate) divisions: Series,
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Dask's repr: the columns and their types, and the partitions.
impl fmt::Display for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rask.DataFrame<npartitions={}>", self.npartitions())?;
        for (name, dtype) in self.schema.iter() {
            writeln!(f, "  {name}: {dtype}")?;
        }
        if let Some(index) = &self.index {
            let divisions: Vec<String> = (index.divisions.iter()).map(|v| v.to_string()).collect();
            writeln!(
                f,
                "  index {}: divisions [{}]",
                index.column,
                divisions.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

impl DataFrame {
    /// The HTML repr, as Dask shows a dataframe in a notebook: its structure — a column per
    /// column, the types in the first row, a row per division (the index's values when
    /// known, empty otherwise; at most 10 shown) — then its name and graph layers.
    ///
    /// ```
    /// use polars::prelude::*;
    /// let ddf = rask_dataframe::DataFrame::from_polars(df!("a<b" => [1i64, 2, 3])?, 2);
    /// let html = ddf.to_html();
    /// assert!(html.contains("<th>a&lt;b</th>") && html.contains("npartitions=2"));
    /// assert!(html.contains("<td>i64</td>"));
    /// # Ok::<(), PolarsError>(())
    /// ```
    pub fn to_html(&self) -> String {
        let mut h = String::from(
            "<div><strong>rask DataFrame Structure:</strong></div>\
             <table border=\"1\" class=\"dataframe\"><thead><tr style=\"text-align: right;\"><th></th>",
        );
        for name in self.schema.iter_names() {
            h.push_str(&format!("<th>{}</th>", escape(name)));
        }
        h.push_str(&format!(
            "</tr><tr><th>npartitions={}</th>",
            self.npartitions()
        ));
        h.push_str(&"<th></th>".repeat(self.schema.len()));
        h.push_str("</tr></thead><tbody>");
        let n = self.npartitions() + 1;
        let label = |i: usize| -> String {
            (self.divisions())
                .and_then(|d| d.get(i).ok())
                .map(|v| escape(&v.to_string()))
                .unwrap_or_default()
        };
        let rows: Vec<usize> = if n <= 10 {
            (0..n).collect()
        } else {
            (0..5).chain(n - 5..n).collect()
        };
        for (r, i) in rows.iter().enumerate() {
            if r > 0 && *i != rows[r - 1] + 1 {
                h.push_str("<tr><th>...</th>");
                h.push_str(&"<td>...</td>".repeat(self.schema.len()));
                h.push_str("</tr>");
            }
            h.push_str(&format!("<tr><th>{}</th>", label(*i)));
            for dtype in self.schema.iter_values() {
                let cell = if *i == 0 {
                    escape(&dtype.to_string())
                } else {
                    "...".into()
                };
                h.push_str(&format!("<td>{cell}</td>"));
            }
            h.push_str("</tr>");
        }
        let layers = self.graph.layers().count();
        h.push_str(&format!(
            "</tbody></table><div>rask Name: {}, {layers} graph layer{}</div>",
            escape(&self.name),
            if layers == 1 { "" } else { "s" }
        ));
        h
    }

    /// Shows the HTML repr in an evcxr notebook (evcxr calls this method by name).
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        );
    }
}

pub(crate) fn token_of(parts: &[&str]) -> String {
    let mut t = Tokenizer::new();
    for p in parts {
        t.write_str(p);
    }
    t.finish()
}

impl DataFrame {
    pub(crate) fn from_sources(
        base: Graph,
        sources: Vec<(Source, Vec<Arg>)>,
        schema: SchemaRef,
        token: String,
    ) -> Self {
        let mut df = DataFrame {
            base,
            sources: sources.into(),
            steps: Arc::from([]),
            source_schema: Arc::clone(&schema),
            schema,
            token,
            graph: Graph::new(),
            name: Arc::from(""),
            index: None,
            merged: None,
        };
        df.build();
        df
    }

    /// A dataframe whose partition `i` is the result of the task `keys[i]` of `graph`.
    pub(crate) fn over_keys(
        graph: Graph,
        keys: impl IntoIterator<Item = Key>,
        schema: SchemaRef,
        token: String,
    ) -> Self {
        let sources = keys
            .into_iter()
            .map(|k| (Source::Frame, vec![Arg::Key(k)]))
            .collect();
        DataFrame::from_sources(graph, sources, schema, token)
    }

    /// Makes the graph of the partitions as they stand.
    fn build(&mut self) {
        self.name = key_name("frame", &self.token).into();
        let mut graph = self.base.clone();
        graph.add_layer(self.layer(&self.name, Finish::Frame, "frame"));
        self.graph = graph;
    }

    /// A task per partition: source, steps, then `finish`.
    pub(crate) fn layer(&self, name: &Arc<str>, finish: Finish, label: &str) -> Layer {
        self.layer_with(name, |_| finish.clone(), label)
    }

    /// A task per partition `i`: source, steps, then `finish(i)`.
    pub(crate) fn layer_with(
        &self,
        name: &Arc<str>,
        finish: impl Fn(usize) -> Finish,
        label: &str,
    ) -> Layer {
        let label: Arc<str> = label.into();
        Layer::per_partition(Arc::clone(name), self.sources.len(), |i| {
            let (source, args) = &self.sources[i as usize];
            Task::new(
                Partition {
                    source: source.clone(),
                    steps: Arc::clone(&self.steps),
                    finish: finish(i as usize),
                    label: Arc::clone(&label),
                },
                args.iter().cloned(),
            )
        })
    }

    /// `df` split into `npartitions` partitions of near-equal rows (at least one).
    pub fn from_polars(df: PlFrame, npartitions: usize) -> Self {
        let n = npartitions.clamp(1, df.height().max(1));
        let (base, extra) = (df.height() / n, df.height() % n);
        let mut offset = 0;
        let mut tokens = Tokenizer::new();
        tokens.write_str("from_polars");
        let sources = (0..n)
            .map(|i| {
                let len = base + usize::from(i < extra);
                let part = df.slice(offset as i64, len);
                offset += len;
                let v = Value::new(Frame(part));
                tokens.write_value(&v);
                (Source::Frame, vec![Arg::Value(v)])
            })
            .collect();
        let schema = Arc::clone(df.schema());
        DataFrame::from_sources(Graph::new(), sources, schema, tokens.finish())
    }

    /// A partition per Parquet file `pattern` names (a path or a glob). Columns and rows that
    /// later steps do not need are not read.
    pub fn read_parquet(pattern: &str) -> Result<Self, FrameError> {
        Self::read(pattern, Source::Parquet)
    }

    /// The CSV files (each with a header row) `pattern` names, as partitions of about 64 MiB
    /// (see [`read_csv_with`](Self::read_csv_with)). The column types are inferred from the
    /// first file and every file is read with them (a value that does not fit is an error
    /// naming its file).
    pub fn read_csv(pattern: &str) -> Result<Self, FrameError> {
        Self::read_csv_with(pattern, CsvOptions::default())
    }

    /// [`read_csv`](Self::read_csv) with options: a file larger than `blocksize` bytes is
    /// split into partitions of about that many bytes at line boundaries (Dask's
    /// `blocksize`; a quoted field holding a line break must not cross one), and with no
    /// `blocksize` each file is a partition.
    ///
    /// ```
    /// use rask_dataframe::{CsvOptions, DataFrame};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let path = std::env::temp_dir().join(format!("rask-doc-csv-{}.csv", std::process::id()));
    /// let rows: String = (0..100).map(|i| format!("{i},{}\n", i * 2)).collect();
    /// std::fs::write(&path, format!("a,b\n{rows}"))?;
    /// let options = CsvOptions { blocksize: Some(200), ..CsvOptions::default() };
    /// let df = DataFrame::read_csv_with(path.to_str().unwrap(), options)?;
    /// assert_eq!(df.npartitions(), 4); // 695 bytes
    /// assert_eq!(df.compute()?.height(), 100);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_csv_with(pattern: &str, options: CsvOptions) -> Result<Self, FrameError> {
        let bad_lines = options.bad_lines;
        let whole = |path, schema| Source::Csv {
            path,
            schema,
            range: None,
            bad_lines,
        };
        let df = Self::read_typed(pattern, whole)?;
        let Some(blocksize) = options.blocksize.filter(|b| *b > 0) else {
            return Ok(df);
        };
        let mut sources = Vec::new();
        for (source, args) in df.sources.iter() {
            let Source::Csv { path, schema, .. } = source else {
                sources.push((source.clone(), args.clone()));
                continue;
            };
            let size = std::fs::metadata(path)
                .map_err(|e| FrameError::Read {
                    path: path.clone(),
                    message: e.to_string(),
                })?
                .len();
            if size <= blocksize {
                sources.push((source.clone(), args.clone()));
                continue;
            }
            for start in (0..size).step_by(usize::try_from(blocksize).unwrap_or(usize::MAX)) {
                let block = Source::Csv {
                    path: path.clone(),
                    schema: schema.clone(),
                    range: Some((start, (start + blocksize).min(size))),
                    bad_lines,
                };
                sources.push((block, args.clone()));
            }
        }
        let token = token_of(&[&df.token, "blocksize", &blocksize.to_string()]);
        Ok(DataFrame::from_sources(df.base, sources, df.schema, token))
    }

    /// The records of the CSV files `pattern` names that do not fit the schema
    /// [`read_csv_with`](Self::read_csv_with) reads them with (a value of another type, more
    /// fields than columns): what [`BadLines::Skip`](crate::BadLines::Skip) leaves out, one row each, with columns
    /// `path`, `line` (the header is line 1; a record's first line) and `error` (naming the
    /// value and the column). A partition per block, as `read_csv_with` makes them.
    ///
    /// ```
    /// use rask_dataframe::{BadLines, CsvOptions, DataFrame};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let path = std::env::temp_dir().join(format!("rask-doc-bad-{}.csv", std::process::id()));
    /// // (The types are inferred from the first 100 rows.)
    /// let rows: String = (0..150).map(|i| format!("{i},{}\n", i * 2)).collect();
    /// std::fs::write(&path, format!("a,b\n{rows}7,seven\n8,16,32\n"))?;
    /// let skip = CsvOptions { bad_lines: BadLines::Skip, ..CsvOptions::default() };
    /// let df = DataFrame::read_csv_with(path.to_str().unwrap(), skip.clone())?;
    /// assert_eq!(df.compute()?.height(), 150);
    /// let bad = DataFrame::read_csv_bad_lines(path.to_str().unwrap(), skip)?.compute()?;
    /// let lines: Vec<Option<u64>> = bad.column("line")?.u64()?.to_vec();
    /// assert_eq!(lines, [Some(152), Some(153)]);
    /// // Without the policy, the first of them fails the computation, named.
    /// let err = DataFrame::read_csv(path.to_str().unwrap())?.compute().unwrap_err();
    /// assert!(err.to_string().contains(".csv:152: could not parse `seven`"), "{err}");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_csv_bad_lines(pattern: &str, options: CsvOptions) -> Result<Self, FrameError> {
        let df = Self::read_csv_with(pattern, options)?;
        let sources = (df.sources.iter())
            .filter_map(|(s, args)| match s {
                Source::Csv {
                    path,
                    schema,
                    range,
                    ..
                } => Some((
                    Source::CsvBadLines {
                        path: path.clone(),
                        schema: schema.clone(),
                        range: *range,
                    },
                    args.clone(),
                )),
                _ => None,
            })
            .collect();
        let schema = Schema::from_iter([
            ("path".into(), DataType::String),
            ("line".into(), DataType::UInt64),
            ("error".into(), DataType::String),
        ]);
        let token = token_of(&[&df.token, "bad_lines"]);
        Ok(DataFrame::from_sources(
            df.base,
            sources,
            Arc::new(schema),
            token,
        ))
    }

    /// A partition per file of JSON lines (one object per line) `pattern` names. The column
    /// types are inferred from the first file's first rows and every file is read with them,
    /// as [`read_csv`](Self::read_csv) does: a field not in the first file is left out, a
    /// field a line lacks is null, and a value that does not fit is an error naming its file.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let dir = std::env::temp_dir().join(format!("rask-doc-json-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// std::fs::write(dir.join("0.jsonl"), "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2}\n")?;
    /// std::fs::write(dir.join("1.jsonl"), "{\"a\": 3, \"b\": \"z\"}\n")?;
    /// let df = DataFrame::read_json(&format!("{}/*.jsonl", dir.display()))?;
    /// assert_eq!((df.npartitions(), df.columns()), (2, vec!["a".to_string(), "b".into()]));
    /// let sums = df.select([col("a")])?.sum()?.compute()?;
    /// assert!(sums.equals(&df!("a" => [6i64])?));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_json(pattern: &str) -> Result<Self, FrameError> {
        Self::read_typed(pattern, |path, schema| Source::Json { path, schema })
    }

    /// A dataframe whose partition `i` is the JSON lines of `parts[i]` (one object per line),
    /// read with `schema` — what a bag's `to_json_lines` makes, and how `rask`'s
    /// `to_dataframe` turns a bag into a dataframe. Fields `schema` does not name are left
    /// out; fields a line lacks are null. [`json_schema`](Self::json_schema) infers a schema
    /// from sample lines.
    ///
    /// ```
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::{Collection, delayed};
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let parts = [
    ///     delayed::value(String::from("{\"k\": \"a\", \"v\": 1.5}\n")),
    ///     delayed::value(String::from("{\"k\": \"b\", \"v\": 2.5}\n{\"k\": \"a\"}\n")),
    /// ];
    /// let schema = DataFrame::json_schema(parts[0].compute()?.as_str())?;
    /// let df = DataFrame::from_json_lines(&parts, schema);
    /// let counts = df.count()?.compute()?;
    /// assert_eq!(df.npartitions(), 2);
    /// assert!(counts.equals(&polars::df!("k" => [3u32], "v" => [2u32])?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json_lines(parts: &[Delayed<String>], schema: Schema) -> Self {
        if parts.is_empty() {
            return DataFrame::from_polars(PlFrame::empty_with_schema(&schema), 1);
        }
        let schema = Arc::new(schema);
        let mut t = Tokenizer::new();
        t.write_str("from_json_lines")
            .write_str(&serde_json::to_string(&*schema).unwrap_or_default());
        let sources: Vec<(Source, Vec<Arg>)> = (parts.iter())
            .map(|d| {
                t.write_str(&d.key().to_string());
                let source = Source::JsonText {
                    schema: Some(Arc::clone(&schema)),
                };
                (source, vec![Arg::Key(d.key().clone())])
            })
            .collect();
        let base = Graph::merged(parts.iter().map(|d| d.graph()));
        DataFrame::from_sources(base, sources, schema, t.finish())
    }

    /// The schema of JSON lines (one object per line), inferred from all of `sample`, as
    /// Polars infers it: the types of every field any line has, in the order first seen.
    ///
    /// ```
    /// use polars::prelude::DataType;
    /// use rask_dataframe::DataFrame;
    /// let s = DataFrame::json_schema("{\"a\": 1}\n{\"a\": 2.5, \"b\": true}\n")?;
    /// assert_eq!(s.get("a"), Some(&DataType::Float64));
    /// assert_eq!(s.get("b"), Some(&DataType::Boolean));
    /// assert!(DataFrame::json_schema("[1, 2]").is_err());
    /// # Ok::<(), rask_dataframe::FrameError>(())
    /// ```
    pub fn json_schema(sample: &str) -> Result<Schema, FrameError> {
        let mut reader = std::io::BufReader::new(sample.as_bytes());
        polars::io::ndjson::infer_schema(&mut reader, None).map_err(|e| FrameError::Plan {
            step: "json_schema".into(),
            message: e.to_string(),
        })
    }

    /// Reads files whose schema is the first file's, then read every file with it.
    fn read_typed(
        pattern: &str,
        source: impl Fn(PathBuf, Option<SchemaRef>) -> Source,
    ) -> Result<Self, FrameError> {
        let df = Self::read(pattern, |path| source(path, None))?;
        let sources = (df.sources.iter())
            .map(|(s, args)| match s {
                Source::Csv { path, .. } | Source::Json { path, .. } => (
                    source(path.clone(), Some(Arc::clone(&df.schema))),
                    args.clone(),
                ),
                other => (other.clone(), args.clone()),
            })
            .collect();
        Ok(DataFrame::from_sources(
            df.base, sources, df.schema, df.token,
        ))
    }

    fn read(pattern: &str, source: impl Fn(PathBuf) -> Source) -> Result<Self, FrameError> {
        /// The first way `other` differs from `first`: a column missing, extra, of another
        /// type (when `types`), or the columns' order.
        fn schema_difference(first: &Schema, other: &Schema, types: bool) -> Option<String> {
            if let Some(c) = first.iter_names().find(|c| other.get(c).is_none()) {
                return Some(format!("no column {:?}", c.as_str()));
            }
            if let Some(c) = other.iter_names().find(|c| first.get(c).is_none()) {
                return Some(format!("an extra column {:?}", c.as_str()));
            }
            let (a, b): (Vec<_>, Vec<_>) =
                (first.iter_names().collect(), other.iter_names().collect());
            if a != b {
                return Some("the same columns in another order".into());
            }
            (first.iter())
                .zip(other.iter())
                .find(|((_, t), (_, u))| types && t != u)
                .map(|((c, t), (_, u))| format!("column {:?} is {u}, not {t}", c.as_str()))
        }
        let files = rask_graph::files::expand(&[pattern])?;
        let sources: Vec<(Source, Vec<Arg>)> = files
            .iter()
            .map(|p| (source(p.clone()), Vec::new()))
            .collect();
        // The schema, from the first file (its metadata, or its first rows).
        let schema_of = |i: usize| {
            let head = Partition {
                source: sources[i].0.clone(),
                steps: Arc::from([]),
                finish: Finish::Head(0),
                label: "schema".into(),
            };
            rask_graph::Op::run(&head, Default::default())
                .and_then(|v| Ok(Arc::clone(v.get::<Frame>()?.0.schema())))
                .map_err(|e| FrameError::Read {
                    path: files[i].clone(),
                    message: e.to_string(),
                })
        };
        let schema = schema_of(0)?;
        // Where the metadata tells (a Parquet file's footer, a CSV file's header row): every
        // file has the first one's columns — of its types, for Parquet.
        if matches!(sources[0].0, Source::Parquet(_) | Source::Csv { .. }) {
            let types = matches!(sources[0].0, Source::Parquet(_));
            for (i, path) in files.iter().enumerate().skip(1) {
                if let Some(difference) = schema_difference(&schema, &*schema_of(i)?, types) {
                    return Err(FrameError::Schemas {
                        path: path.clone(),
                        first: files[0].clone(),
                        difference,
                    });
                }
            }
        }
        let mut t = Tokenizer::new();
        t.write_str("read").write_str(pattern);
        for f in &files {
            let modified = std::fs::metadata(f).and_then(|m| m.modified()).ok();
            t.write_str(&format!("{}{modified:?}", f.display()));
        }
        Ok(DataFrame::from_sources(
            Graph::new(),
            sources,
            schema,
            t.finish(),
        ))
    }

    /// The column the rows are sorted by across partitions (Dask's index), after
    /// [`set_index`](Self::set_index); `None` before, or after a step that may change it
    /// (anything but `filter`, `dropna`, `drop_duplicates` and dropping other columns).
    pub fn index(&self) -> Option<&str> {
        self.index.as_ref().map(|i| i.column.as_str())
    }

    /// The index's divisions (Dask's `divisions`), one more than the partitions: partition
    /// `j` holds the rows whose index lies in `[divisions[j], divisions[j + 1])`, the last
    /// range closed. `None` when unknown.
    pub fn divisions(&self) -> Option<&Series> {
        self.index.as_ref().map(|i| &i.divisions)
    }

    /// The rows whose index lies in `range` (Dask's `loc` with a slice, both ends included
    /// for `a..=b`), reading only the partitions whose divisions overlap it. Needs an index
    /// ([`set_index`](Self::set_index)).
    pub fn loc<V: Literal + Clone>(&self, range: impl RangeBounds<V>) -> Result<Self, FrameError> {
        let Some(index) = &self.index else {
            return Err(FrameError::Plan {
                step: "loc".into(),
                message: "there is no index: set_index(column) first".into(),
            });
        };
        let failed = |e: polars::prelude::PolarsError| FrameError::Plan {
            step: "loc".into(),
            message: e.to_string(),
        };
        let c = || col(index.column.as_str());
        let (lo, hi) = (range.start_bound().cloned(), range.end_bound().cloned());
        let mut rows = lit(true);
        // Partition j may hold rows in the range when its range [lower, upper] meets it.
        let (mut lower_ok, mut upper_ok) = (lit(true), lit(true));
        match lo {
            Bound::Included(v) => {
                rows = rows.and(c().gt_eq(lit(v.clone())));
                upper_ok = col("upper").gt_eq(lit(v));
            }
            Bound::Excluded(v) => {
                rows = rows.and(c().gt(lit(v.clone())));
                upper_ok = col("upper").gt_eq(lit(v));
            }
            Bound::Unbounded => {}
        }
        match hi {
            Bound::Included(v) => {
                rows = rows.and(c().lt_eq(lit(v.clone())));
                lower_ok = col("lower").lt_eq(lit(v));
            }
            Bound::Excluded(v) => {
                rows = rows.and(c().lt(lit(v.clone())));
                lower_ok = col("lower").lt(lit(v));
            }
            Bound::Unbounded => {}
        }
        let n = self.npartitions();
        let d = &index.divisions;
        let ranges = PlFrame::new_infer_height(vec![
            Column::from(d.slice(0, n).with_name("lower".into())),
            Column::from(d.slice(1, n).with_name("upper".into())),
        ])
        .map_err(failed)?;
        let keep = ranges
            .lazy()
            .with_columns([lower_ok.and(upper_ok).alias("keep")])
            .collect()
            .map_err(failed)?;
        let keep: Vec<usize> = (keep
            .column("keep")
            .map_err(failed)?
            .bool()
            .map_err(failed)?)
        .iter()
        .enumerate()
        .filter_map(|(j, k)| (k == Some(true)).then_some(j))
        .collect();
        let Some((&first, &last)) = keep.first().zip(keep.last()) else {
            return Ok(DataFrame::from_polars(
                PlFrame::empty_with_schema(&self.schema),
                1,
            ));
        };
        // The partitions in between hold nothing outside the range: they are kept too.
        let picked = DataFrame {
            sources: self.sources[first..=last].into(),
            token: token_of(&[&self.token, "loc-partitions", &format!("{first}..={last}")]),
            index: Some(Arc::new(Index {
                column: index.column.clone(),
                divisions: d.slice(first as i64, last - first + 2),
            })),
            merged: None,
            ..self.clone()
        };
        let mut picked = picked;
        picked.build();
        picked.then(Step::Filter(rows), "loc")
    }

    /// How many partitions.
    pub fn npartitions(&self) -> usize {
        self.sources.len()
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.schema.iter_names().map(|n| n.to_string()).collect()
    }

    /// The column `name`, or an error naming it and the nearest column there is.
    pub(crate) fn column(&self, name: &str) -> Result<(), FrameError> {
        if self.schema.contains(name) {
            return Ok(());
        }
        let nearest = (self.schema.iter_names())
            .map(|n| (strsim::damerau_levenshtein(name, n), n))
            .min()
            .filter(|(d, n)| *d <= n.len().max(name.len()) / 2 + 1)
            .map(|(_, n)| n.to_string());
        Err(FrameError::Column {
            name: name.to_string(),
            nearest,
        })
    }

    /// The columns' names and types.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// This dataframe with one more step, its schema checked now: a column that does not
    /// exist is an error here, not when computed.
    pub(crate) fn then(&self, step: Step, what: &str) -> Result<Self, FrameError> {
        // A projection right after a merge: the merge of only the columns it needs.
        if let Some(m) = &self.merged
            && self.steps.is_empty()
            && matches!(step, Step::Select(_) | Step::Drop(_))
            && let Some(pruned) = m.pruned(&step)?
        {
            return pruned.then(step, what);
        }
        let empty = PlFrame::empty_with_schema(&self.schema);
        let schema = step
            .apply(empty.lazy())
            .collect_schema()
            .map_err(|e| FrameError::Plan {
                step: what.to_string(),
                message: e.to_string(),
            })?;
        let mut steps = self.steps.to_vec();
        let text = serde_json::to_string(&step).map_err(|e| FrameError::Plan {
            step: what.to_string(),
            message: e.to_string(),
        })?;
        // JSON writes NaN and the infinities as null: the Debug form tells them apart.
        let token = token_of(&[&self.token, what, &text, &format!("{step:?}")]);
        // The index survives steps that keep its rows' values where they are.
        let index = self.index.clone().filter(|i| match &step {
            Step::Filter(_) | Step::DropNulls(_) | Step::Unique(_) | Step::Sort { .. } => true,
            Step::Drop(columns) => !columns.contains(&i.column),
            Step::Select(exprs) => {
                (exprs.iter()).any(|e| matches!(e, Expr::Column(name) if name.as_str() == i.column))
            }
            _ => false,
        });
        steps.push(step);
        let mut df = DataFrame {
            steps: steps.into(),
            schema,
            token,
            index,
            merged: None,
            ..self.clone()
        };
        df.build();
        Ok(df)
    }

    /// A dataframe whose partitions are this one's, each run with `finish`: one task per
    /// partition, the steps so far fused into it.
    pub(crate) fn then_finish(&self, finish: Finish, label: &str, schema: SchemaRef) -> DataFrame {
        let token = token_of(&[&self.token, label, &format!("{finish:?}")]);
        let name: Arc<str> = key_name(label, &token).into();
        let mut graph = self.base.clone();
        graph.add_layer(self.layer(&name, finish, label));
        let keys = (0..self.npartitions() as u32).map(|i| Key::with_name(&name, [i]));
        DataFrame::over_keys(graph, keys, schema, token)
    }

    /// The same rows in `n` partitions (at least 1; Dask's `repartition(npartitions=n)`),
    /// in order: fewer by concatenating neighbours, more by cutting each partition into
    /// near-equal parts of its rows.
    pub fn repartition(&self, n: usize) -> DataFrame {
        let have = self.npartitions();
        let n = n.max(1);
        let token = token_of(&[&self.token, "repartition", &n.to_string()]);
        let mut graph = self.graph.clone();
        graph.merge(&self.base);
        if n <= have {
            // Output j: the inputs from j·have/n up to (j+1)·have/n.
            let sources = (0..n)
                .map(|j| {
                    let args = (j * have / n..(j + 1) * have / n)
                        .map(|i| Arg::Key(Key::with_name(&self.name, [i as u32])))
                        .collect();
                    (Source::Frame, args)
                })
                .collect();
            return DataFrame::from_sources(graph, sources, Arc::clone(&self.schema), token);
        }
        // Input i gives the outputs from i·n/have up to (i+1)·n/have, each a slice of it.
        let name: Arc<str> = key_name("repartition", &token).into();
        let mut layer = Layer::with_capacity(Arc::clone(&name), n);
        let mut keys = Vec::with_capacity(n);
        for i in 0..have {
            let (start, end) = (i * n / have, (i + 1) * n / have);
            for j in start..end {
                let slice = Partition {
                    source: Source::Frame,
                    steps: Arc::from([]),
                    finish: Finish::Part {
                        index: (j - start) as u32,
                        of: (end - start) as u32,
                    },
                    label: "repartition".into(),
                };
                layer.insert(
                    [j as u32],
                    Task::new(slice, [Arg::Key(Key::with_name(&self.name, [i as u32]))]),
                );
                keys.push(Key::with_name(&name, [j as u32]));
            }
        }
        graph.add_layer(layer);
        DataFrame::over_keys(graph, keys, Arc::clone(&self.schema), token)
    }

    /// Rows moved so that rows with equal `keys` share a partition: a hash shuffle into
    /// `npartitions` partitions (Dask's `shuffle(on=…)`; at least 1).
    pub fn shuffle<I, S>(&self, keys: I, npartitions: usize) -> Result<DataFrame, FrameError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        for k in &keys {
            self.column(k)?;
        }
        let keys = if keys.is_empty() {
            self.columns()
        } else {
            keys
        };
        let n = npartitions.max(1);
        let token = token_of(&[&self.token, "shuffle", &format!("{keys:?}-{n}")]);
        let mut graph = Graph::new();
        let split = Finish::Split {
            keys,
            buckets: n as u32,
        };
        let bucket = self.split_by(&mut graph, split, n, &token);
        let sources = (0..n as u32)
            .map(|j| {
                let args = (0..self.npartitions() as u32)
                    .map(|i| Arg::Key(Key::with_name(&bucket, [i, j])))
                    .collect();
                (Source::Frame, args)
            })
            .collect();
        Ok(DataFrame::from_sources(
            graph,
            sources,
            Arc::clone(&self.schema),
            token,
        ))
    }

    /// Without repeated rows (rows equal in the columns `subset`, or in every column if it is
    /// empty): Dask's `drop_duplicates`. The rows are hash-shuffled by those columns into as
    /// many partitions as there are now, so equal rows meet; which of them is kept is not
    /// specified.
    pub fn drop_duplicates(&self, subset: &[&str]) -> Result<DataFrame, FrameError> {
        let shuffled = self.shuffle(subset, self.npartitions())?;
        let subset = subset.iter().map(|c| c.to_string()).collect();
        shuffled.then(Step::Unique(subset), "drop_duplicates")
    }

    /// How many distinct values (not null) column `column` holds, exactly (Dask's
    /// `nunique`): the values are hash-shuffled so that equal ones meet, made unique, and
    /// counted.
    pub fn nunique(&self, column: &str) -> Result<Reduced, FrameError> {
        self.column(column)?;
        self.select([polars::prelude::col(column)])?
            .drop_duplicates(&[])?
            .count()
    }

    /// The names of the numeric columns, in order.
    pub(crate) fn numeric_columns(&self) -> Vec<String> {
        (self.schema.iter())
            .filter(|(_, t)| t.is_primitive_numeric())
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// Approximate quantiles `qs` of each numeric column (Dask's `quantile`), as one frame:
    /// a `quantile` column, then an `f64` column per numeric column, a row per `q`.
    ///
    /// A quantile is the value of rank `round((n - 1) q)` among the column's `n` values (not
    /// null, not NaN) — Polars' `Nearest` — found, as Dask finds it, in a tree of merged
    /// samples: each partition summarizes each column by at most 1024 of its sorted values,
    /// each standing for an equal share of the rest, and each merge does so again. The rank
    /// found is off by at most about 1/1024 of the values per level of the tree (two levels
    /// below 32 partitions), and exact while no partition holds more than 1024 values.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("x" => (1..=100i64).collect::<Vec<_>>())?, 4);
    /// let q = ddf.quantile(&[0.0, 0.5, 1.0])?.compute()?;
    /// assert!(q.equals(&df!("quantile" => [0.0, 0.5, 1.0], "x" => [1.0, 51.0, 100.0])?));
    /// assert!(ddf.quantile(&[1.5]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quantile(&self, qs: &[f64]) -> Result<Reduced, FrameError> {
        if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(FrameError::Plan {
                step: "quantile".into(),
                message: format!("the quantile {q} is not between 0 and 1"),
            });
        }
        let columns = self.numeric_columns();
        if columns.iter().any(|c| c == QUANTILE) {
            return Err(FrameError::Plan {
                step: "quantile".into(),
                message: format!(
                    "the numeric column {QUANTILE:?} has the name of the column of quantiles: \
                     rename it first"
                ),
            });
        }
        let token = token_of(&[&self.token, "quantile", &format!("{qs:?}")]);
        let finish = |level| Finish::Quantiles {
            columns: columns.clone(),
            qs: qs.to_vec(),
            level,
        };
        let (graph, key) = self.tree_of(finish, "quantile", &token, SPLIT_EVERY);
        Ok(Reduced { graph, key })
    }

    /// The approximate number of distinct values (not null) of column `column` (Dask's
    /// `nunique_approx`), as one row (`u64`): a HyperLogLog sketch of each partition's
    /// values, merged in a tree — a relative standard error of about 0.8%, and nearly exact
    /// below a few thousand values. [`nunique`](Self::nunique) is exact, by a shuffle.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("k" => (0..1000i64).map(|i| i % 300).collect::<Vec<_>>())?, 3);
    /// let n = ddf.nunique_approx("k")?.compute()?;
    /// let n = n.column("k")?.u64()?.get(0).unwrap();
    /// assert!((295..=305).contains(&n), "{n}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn nunique_approx(&self, column: &str) -> Result<Reduced, FrameError> {
        self.column(column)?;
        let values = self.select([polars::prelude::col(column)])?.dropna(&[])?;
        let token = token_of(&[&values.token, "nunique_approx"]);
        let finish = |level| Finish::Sketch {
            column: column.to_string(),
            level,
        };
        let (graph, key) = values.tree_of(finish, "nunique_approx", &token, SPLIT_EVERY);
        Ok(Reduced { graph, key })
    }

    /// Summary statistics of each numeric column (Dask's and pandas' `describe`), as one
    /// frame: a `statistic` column (`count`, `mean`, `std`, `min`, `25%`, `50%`, `75%`,
    /// `max`) and an `f64` column per numeric column. The count, mean, std (`ddof` 1), min
    /// and max are exact, in one tree; the quantiles are [`quantile`](Self::quantile)'s.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("x" => [1i64, 2, 3, 4], "s" => ["a", "b", "c", "d"])?, 2);
    /// let d = ddf.describe()?.compute()?;
    /// assert_eq!(d.column("statistic")?.str()?.get(4), Some("25%"));
    /// let x: Vec<f64> = d.column("x")?.f64()?.into_no_null_iter().collect();
    /// assert_eq!(x[..4], [4.0, 2.5, (5.0f64 / 3.0).sqrt(), 1.0]);
    /// assert_eq!(x[4..], [2.0, 3.0, 3.0, 4.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self) -> Result<Reduced, FrameError> {
        use crate::summary::{Describe, QUANTILES, stat_name};
        let columns = self.numeric_columns();
        let stats = [
            (Agg::Count, "count"),
            (Agg::Mean, "mean"),
            (Agg::Std { ddof: 1 }, "std"),
            (Agg::Min, "min"),
            (Agg::Max, "max"),
        ];
        let specs = (columns.iter())
            .flat_map(|c| {
                stats.iter().map(move |(agg, s)| Spec {
                    agg: *agg,
                    input: c.clone(),
                    output: stat_name(c, s),
                })
            })
            .collect();
        let spec = GroupSpec {
            keys: Vec::new(),
            specs,
        };
        let token = token_of(&[&self.token, "describe"]);
        let (mut graph, stats_key) = self.tree(spec, "describe-stats", &token, SPLIT_EVERY);
        let quantiles = self.quantile(&QUANTILES)?;
        graph.merge(&quantiles.graph);
        let name: Arc<str> = key_name("describe", &token).into();
        let mut layer = Layer::new(Arc::clone(&name));
        layer.insert(
            [0u32; 0],
            Task::new(
                Describe { columns },
                [Arg::Key(stats_key), Arg::Key(quantiles.key)],
            ),
        );
        graph.add_layer(layer);
        Ok(Reduced {
            graph,
            key: Key::with_name(&name, []),
        })
    }

    /// How often each value (not null) of column `column` occurs (Dask's `value_counts`):
    /// the values and a `count` column, most frequent first, in one partition (a grouping
    /// combined in a tree: for columns of up to millions of distinct values).
    pub fn value_counts(&self, column: &str) -> Result<DataFrame, FrameError> {
        use polars::prelude::col;
        let counts = self
            .dropna(&[column])?
            .groupby([column])?
            .split_out(1)
            .agg([col(column).len().alias("count")])?;
        let schema = Arc::clone(&counts.schema);
        Ok(counts.then_finish(
            Finish::Top {
                n: u64::MAX,
                by: "count".into(),
                largest: true,
            },
            "value_counts",
            schema,
        ))
    }

    /// The `n` rows with the largest values of column `by` (Dask's `nlargest`), largest
    /// first, nulls last: the top `n` of each partition, then of those, in a tree.
    pub fn nlargest(&self, n: usize, by: &str) -> Result<DataFrame, FrameError> {
        self.top(n, by, true)
    }

    /// The `n` rows with the smallest values of column `by`, smallest first.
    pub fn nsmallest(&self, n: usize, by: &str) -> Result<DataFrame, FrameError> {
        self.top(n, by, false)
    }

    fn top(&self, n: usize, by: &str, largest: bool) -> Result<DataFrame, FrameError> {
        self.column(by)?;
        let label = if largest { "nlargest" } else { "nsmallest" };
        let token = token_of(&[&self.token, label, by, &n.to_string()]);
        let finish = |_| Finish::Top {
            n: n as u64,
            by: by.to_string(),
            largest,
        };
        let (graph, key) = self.tree_of(finish, label, &token, SPLIT_EVERY);
        Ok(DataFrame::over_keys(
            graph,
            [key],
            Arc::clone(&self.schema),
            token,
        ))
    }

    /// The columns (or expressions) `exprs`, per partition.
    pub fn select<E: AsRef<[Expr]>>(&self, exprs: E) -> Result<Self, FrameError> {
        self.then(Step::Select(exprs.as_ref().to_vec()), "select")
    }

    /// The rows where `predicate` holds.
    pub fn filter(&self, predicate: Expr) -> Result<Self, FrameError> {
        self.then(Step::Filter(predicate), "filter")
    }

    /// With the columns `exprs` added or replaced (Dask's `assign`).
    pub fn with_columns<E: AsRef<[Expr]>>(&self, exprs: E) -> Result<Self, FrameError> {
        self.then(Step::WithColumns(exprs.as_ref().to_vec()), "with_columns")
    }

    /// With columns renamed, `(old, new)` pairs.
    pub fn rename(&self, pairs: &[(&str, &str)]) -> Result<Self, FrameError> {
        let pairs = (pairs.iter())
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.then(Step::Rename(pairs), "rename")
    }

    /// Without the columns `names`.
    pub fn drop(&self, names: &[&str]) -> Result<Self, FrameError> {
        self.then(
            Step::Drop(names.iter().map(|n| n.to_string()).collect()),
            "drop",
        )
    }

    /// With the columns `types` cast, `(name, type)` pairs (Dask's `astype`). A value that
    /// does not fit its new type becomes null, as Polars' non-strict cast.
    pub fn astype(&self, types: &[(&str, polars::prelude::DataType)]) -> Result<Self, FrameError> {
        let mut exprs = Vec::with_capacity(types.len());
        for (name, t) in types {
            self.column(name)?;
            exprs.push(polars::prelude::col(*name).cast(t.clone()));
        }
        self.then(Step::WithColumns(exprs), "astype")
    }

    /// With nulls replaced by `value` (Dask's `fillna`), in the columns its type fits.
    pub fn fillna(&self, value: Expr) -> Result<Self, FrameError> {
        self.then(Step::FillNull(value), "fillna")
    }

    /// Without the rows that have a null in any of the columns `subset` (in any column, if
    /// `subset` is empty): Dask's `dropna`.
    pub fn dropna(&self, subset: &[&str]) -> Result<Self, FrameError> {
        for name in subset {
            self.column(name)?;
        }
        let names = subset.iter().map(|n| n.to_string()).collect();
        self.then(Step::DropNulls(names), "dropna")
    }

    /// The plan as text: the partitions and the layers of the graph as it will run, then the
    /// first partition's Polars plan as Polars optimizes it (projections and predicates pushed
    /// into the reader; a merge read only by it joins there). A partition that an earlier
    /// layer computes shows as a frame of its schema.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// let ddf = DataFrame::from_polars(df!("x" => [1i64, 2, 3])?, 2);
    /// let plan = ddf.filter(col("x").gt(lit(1)))?.explain()?;
    /// assert!(plan.starts_with("rask.DataFrame<npartitions=2>"));
    /// assert!(plan.contains("FILTER") || plan.contains("SELECTION"), "{plan}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self) -> Result<String, FrameError> {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "rask.DataFrame<npartitions={}>", self.npartitions());
        let _ = writeln!(out, "layers:");
        // The graph as it will run: a merge fused into the tasks that read it is not a layer
        // of its own, and partition 0's task then joins the sides itself.
        let graph = Collection::optimized_graph(self).map_err(|e| FrameError::Plan {
            step: "explain".into(),
            message: e.to_string(),
        })?;
        for layer in graph.layers() {
            let _ = writeln!(out, "  {} ({} tasks)", layer.name(), layer.len());
        }
        let first = (graph.get(&Key::with_name(&self.name, [0])))
            .and_then(|t| rask_graph::downcast_op::<crate::frame::Partition>(t.op()))
            .map(|p| &p.source);
        let Some(source) = first.or(self.sources.first().map(|(s, _)| s)) else {
            return Ok(out);
        };
        let mut lf = source.scan_for_explain(&self.source_schema);
        for step in self.steps.iter() {
            lf = step.apply(lf);
        }
        let plan = lf.explain(true).map_err(|e| FrameError::Plan {
            step: "explain".into(),
            message: e.to_string(),
        })?;
        let _ = writeln!(out, "partition 0, in Polars:");
        for line in plan.lines() {
            let _ = writeln!(out, "  {line}");
        }
        Ok(out)
    }

    /// The first `n` rows, computing the first partitions only as far as needed (eager,
    /// as Dask's `head`), on the default scheduler.
    pub fn head(&self, n: usize) -> Result<PlFrame, ComputeError> {
        self.head_with(n, &*rask_graph::config::scheduler())
    }

    /// [`head`](Self::head) on `scheduler`.
    pub fn head_with(
        &self,
        n: usize,
        scheduler: &dyn rask_graph::Scheduler,
    ) -> Result<PlFrame, ComputeError> {
        let mut out: Option<PlFrame> = None;
        for i in 0..self.npartitions() {
            let have = out.as_ref().map_or(0, PlFrame::height);
            if have >= n {
                break;
            }
            let (graph, key) = self.head_graph(i, n - have);
            let part = Reduced { graph, key }.compute_with(scheduler)?;
            out = Some(match out {
                None => part,
                Some(mut acc) => {
                    acc.vstack_mut(&part).map_err(collection_error)?;
                    acc
                }
            });
        }
        Ok(out.unwrap_or_else(|| PlFrame::empty_with_schema(&self.schema)))
    }

    /// The graph of the first `n` rows of partition `i`, and its key.
    pub(crate) fn head_graph(&self, i: usize, n: usize) -> (Graph, Key) {
        let name: Arc<str> = key_name("head", &format!("{}-{n}-{i}", self.token)).into();
        let (source, args) = &self.sources[i];
        let mut graph = self.base.clone();
        let mut layer = Layer::new(Arc::clone(&name));
        layer.insert(
            [0],
            Task::new(
                Partition {
                    source: source.clone(),
                    steps: Arc::clone(&self.steps),
                    finish: Finish::Head(n as u64),
                    label: "head".into(),
                },
                args.iter().cloned(),
            ),
        );
        graph.add_layer(layer);
        (graph, Key::with_name(&name, [0]))
    }

    /// `spec` as a reduction tree over the partitions, combining `split_every` partial
    /// results per level: the graph and the key of its one result, sorted by the keys.
    pub(crate) fn tree(
        &self,
        spec: GroupSpec,
        label: &str,
        token: &str,
        split_every: usize,
    ) -> (Graph, Key) {
        let spec = Arc::new(spec);
        let finish = |level| Finish::Group {
            spec: Arc::clone(&spec),
            level,
            sort: true,
            buckets: 0,
        };
        self.tree_of(finish, label, token, split_every)
    }

    /// A reduction tree whose tasks end with `finish(level)`: the graph and its one key.
    pub(crate) fn tree_of(
        &self,
        finish: impl Fn(Level) -> Finish,
        label: &str,
        token: &str,
        split_every: usize,
    ) -> (Graph, Key) {
        let chunk: Arc<str> = key_name(&format!("{label}-chunk"), token).into();
        let mut graph = self.base.clone();
        graph.add_layer(self.layer(&chunk, finish(Level::First), label));
        let label: Arc<str> = label.into();
        let level_op = |level: Level| -> Arc<dyn rask_graph::Op> {
            Arc::new(Partition {
                source: Source::Frame,
                steps: Arc::from([]),
                finish: finish(level),
                label: Arc::clone(&label),
            })
        };
        let (combine, last) = (level_op(Level::Combine), level_op(Level::Last));
        let last = reduction_tree(
            &mut graph,
            chunk,
            &[self.npartitions()],
            &[0],
            split_every,
            false,
            |l| {
                let name = key_name(
                    &format!("{label}-{}", if l.last { "aggregate" } else { "combine" }),
                    &format!("{token}-{}", l.depth),
                );
                let op = Arc::clone(if l.last { &last } else { &combine });
                TreeLevel::new(name, move |_, inputs| {
                    Task::from_arc(Arc::clone(&op), inputs)
                })
            },
        );
        (graph, Key::with_name(&last, []))
    }

    /// `agg` of each numeric column (each column for a count; temporal columns too for a
    /// minimum or maximum), as one row.
    pub(crate) fn aggregate(&self, agg: Agg) -> Result<Reduced, FrameError> {
        let specs = (self.schema.iter())
            .filter(|(_, t)| agg.applies_to(t))
            .map(|(n, _)| Spec {
                agg,
                input: n.to_string(),
                output: n.to_string(),
            })
            .collect();
        let spec = GroupSpec {
            keys: Vec::new(),
            specs,
        };
        let token = token_of(&[&self.token, &format!("{spec:?}")]);
        let (graph, key) = self.tree(spec, agg.name(), &token, SPLIT_EVERY);
        Ok(Reduced { graph, key })
    }

    /// The sum of each numeric column, as one row.
    pub fn sum(&self) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Sum)
    }

    /// The smallest value of each numeric, date or time column, as one row.
    pub fn min(&self) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Min)
    }

    /// The largest value of each numeric, date or time column, as one row.
    pub fn max(&self) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Max)
    }

    /// The mean of each numeric column's values (not null), as one row of `f64`s (null for
    /// a column with no values).
    pub fn mean(&self) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Mean)
    }

    /// How many values (not null) each column holds, as one row of Polars' index type
    /// (`u32`, as Polars' `count`).
    pub fn count(&self) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Count)
    }

    /// The variance of each numeric column's values with `ddof` delta degrees of freedom
    /// (Dask's default is 1), as one row of `f64`s, merged across partitions exactly
    /// (Chan's formula, not a sum of squares).
    pub fn var(&self, ddof: u8) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Var { ddof })
    }

    /// The standard deviation of each numeric column's values, as [`var`](Self::var).
    pub fn std(&self, ddof: u8) -> Result<Reduced, FrameError> {
        self.aggregate(Agg::Std { ddof })
    }
}

fn collection_error(e: impl std::error::Error + Send + Sync + 'static) -> ComputeError {
    ComputeError::Collection(Arc::new(e))
}

/// The frames of `values`, stacked.
fn stack(keys: &[Key], values: Vec<Value>) -> Result<PlFrame, ComputeError> {
    let mut out: Option<PlFrame> = None;
    for (key, v) in keys.iter().zip(values) {
        let f = v.get::<Frame>().map_err(|_| ComputeError::ResultType {
            key: key.clone(),
            expected: std::any::type_name::<Frame>(),
            found: v.type_name(),
        })?;
        match &mut out {
            None => out = Some(f.0.clone()),
            Some(acc) => {
                acc.vstack_mut(&f.0).map_err(collection_error)?;
            }
        }
    }
    let mut df = out.unwrap_or_default();
    df.rechunk_mut();
    Ok(df)
}

/// A frame collection's graph as it will run: the passes registered for `"dataframe"` (a
/// merge fused into its one reader) over the graph culled to its outputs.
pub(crate) fn optimized(c: &impl Collection) -> Result<Graph, ComputeError> {
    Ok(rask_graph::optimize::optimize(
        "dataframe",
        c.graph(),
        &c.output_keys(),
    )?)
}

impl Collection for DataFrame {
    type Output = PlFrame;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        (0..self.npartitions() as u32)
            .map(|i| Key::with_name(&self.name, [i]))
            .collect()
    }

    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        optimized(self)
    }

    fn finalize(&self, values: Vec<Value>) -> Result<PlFrame, ComputeError> {
        let df = stack(&self.output_keys(), values)?;
        if df.width() == 0 && !self.schema.is_empty() {
            return Ok(PlFrame::empty_with_schema(&self.schema));
        }
        Ok(df)
    }

    fn rebuild(&self, graph: Graph) -> Self {
        // Persisted: a projection must read these partitions, not merge again.
        DataFrame {
            graph,
            merged: None,
            ..self.clone()
        }
    }
}

/// One frame in a graph: a reduction's result, one row of a value per column (`sum`, `min`,
/// `max`, `count`), or a partition's head.
#[must_use = "a reduction is lazy: compute it"]
#[derive(Clone, Debug)]
pub struct Reduced {
    pub(crate) graph: Graph,
    pub(crate) key: Key,
}

impl Collection for Reduced {
    type Output = PlFrame;
    fn graph(&self) -> &Graph {
        &self.graph
    }
    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }
    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        optimized(self)
    }

    fn finalize(&self, values: Vec<Value>) -> Result<PlFrame, ComputeError> {
        stack(std::slice::from_ref(&self.key), values)
    }
    fn rebuild(&self, graph: Graph) -> Self {
        Reduced {
            graph,
            key: self.key.clone(),
        }
    }
}

/// Options of [`DataFrame::read_csv_with`].
///
/// ```
/// let options = rask_dataframe::CsvOptions::default();
/// assert_eq!(options.blocksize, Some(64 << 20));
/// assert_eq!(options.bad_lines, rask_dataframe::BadLines::Error);
/// ```
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Split files larger than this many bytes into partitions of about this many bytes, at
    /// line boundaries (64 MiB by default, as Dask's); `None` for a partition per file.
    pub blocksize: Option<u64>,
    /// What a record that does not fit the schema does: fail its partition with an error
    /// naming the file, line and column (the default), or be left out. Skipping reads each
    /// block whole before the plan's other steps (a file is not streamed).
    pub bad_lines: crate::BadLines,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            blocksize: Some(64 << 20),
            bad_lines: crate::BadLines::Error,
        }
    }
}

/// The column of [`DataFrame::quantile`]'s frame that holds the quantiles asked for.
pub(crate) const QUANTILE: &str = "quantile";
