//! Writing a dataframe to files, a file per partition, staged so that a failed computation
//! leaves no half-written dataset (see [`rask_graph::files::Staging`]).

use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::{
    CsvWriter, DataFrame as PlFrame, ParquetCompression, ParquetWriter, SerWriter,
};
use rask_graph::files::Staging;
use rask_graph::tokenize::key_name;
use rask_graph::{
    Arg, Args, Arity, Collection, ComputeError, Graph, Key, Layer, Op, Task, TaskError, Value,
};
use serde::{Deserialize, Serialize};

use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::Finish;

/// How the pages of a Parquet file are compressed.
///
/// ```
/// assert_eq!(rask_dataframe::Compression::default(), rask_dataframe::Compression::Snappy);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Snappy: fast to write and read (Dask's and pyarrow's default, and rask's).
    #[default]
    Snappy,
    /// Zstandard at its default level: smaller files, slower to write (Polars' default).
    Zstd,
    /// LZ4 (the raw format of Parquet's `LZ4_RAW`).
    Lz4,
    /// None.
    Uncompressed,
}

/// A file format a partition is written in.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Format {
    Parquet(Compression),
    /// With a header row.
    Csv,
}

/// Partition `df` written to `path`'s staging file.
pub(crate) fn write(
    df: &mut PlFrame,
    format: Format,
    path: &std::path::Path,
    staging: &Staging,
) -> Result<Value, TaskError> {
    let failed = |e: &dyn std::fmt::Display| TaskError::new(format!("{}: {e}", path.display()));
    let temp = staging.temp_path(path).map_err(|e| failed(&e))?;
    let file = std::fs::File::create(&temp).map_err(|e| failed(&e))?;
    let written = match format {
        Format::Parquet(c) => ParquetWriter::new(file)
            .with_compression(match c {
                Compression::Snappy => ParquetCompression::Snappy,
                Compression::Zstd => ParquetCompression::Zstd(None),
                Compression::Lz4 => ParquetCompression::Lz4Raw,
                Compression::Uncompressed => ParquetCompression::Uncompressed,
            })
            .finish(df)
            .map(drop),
        Format::Csv => CsvWriter::new(file).include_header(true).finish(df),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(failed(&e));
    }
    Ok(Value::new(path.to_string_lossy().into_owned()))
}

/// Every partition's file moved into place, once all are written.
#[derive(Debug, Serialize, Deserialize)]
struct Commit {
    staging: Staging,
    paths: Vec<PathBuf>,
}

impl Op for Commit {
    fn name(&self) -> &str {
        "commit"
    }

    fn run(&self, _written: Args) -> Result<Value, TaskError> {
        self.staging.commit(&self.paths)?;
        Ok(Value::new(
            (self.paths.iter())
                .map(|p| p.to_string_lossy().into_owned())
                .collect::<Vec<String>>(),
        ))
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Commit, "rask-dataframe.commit");

/// A dataframe being written: computing it writes the files and gives their paths. A
/// computation that fails leaves none of them (and no temporary file) behind.
#[must_use = "writing is lazy: compute it"]
#[derive(Clone, Debug)]
pub struct Written {
    graph: Graph,
    key: Key,
    staging: Arc<Staging>,
}

impl Collection for Written {
    type Output = Vec<PathBuf>;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }

    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        crate::dataframe::optimized(self)
    }

    fn finalize(&self, values: Vec<Value>) -> Result<Vec<PathBuf>, ComputeError> {
        let Some(v) = values.into_iter().next() else {
            return Err(ComputeError::ResultCount {
                expected: 1,
                found: 0,
            });
        };
        let paths = v
            .get::<Vec<String>>()
            .map_err(|_| ComputeError::ResultType {
                key: self.key.clone(),
                expected: "Vec<String>",
                found: v.type_name(),
            })?;
        Ok(paths.iter().map(PathBuf::from).collect())
    }

    fn on_failure(&self, _error: &ComputeError) {
        self.staging.abandon();
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Written {
            graph,
            ..self.clone()
        }
    }
}

impl DataFrame {
    /// A Parquet file per partition (Dask's `to_parquet`): `path` names a folder, which gets
    /// `part.0.parquet`, `part.1.parquet`, …, or holds one `*` in its file name, replaced by
    /// the partition's number. Lazy: computing the result writes the files and gives their
    /// paths; every file is moved into place only once all are written. Pages are
    /// compressed with Snappy, as Dask's are ([`to_parquet_with`](Self::to_parquet_with)
    /// chooses).
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let dir = std::env::temp_dir().join(format!("rask-doc-parquet-{}", std::process::id()));
    /// let ddf = DataFrame::from_polars(df!("x" => [1i64, 2, 3])?, 2);
    /// let files = ddf.to_parquet(dir.to_str().unwrap())?.compute()?;
    /// assert_eq!(files, [dir.join("part.0.parquet"), dir.join("part.1.parquet")]);
    /// let back = DataFrame::read_parquet(&format!("{}/*.parquet", dir.display()))?;
    /// assert_eq!(back.compute()?, df!("x" => [1i64, 2, 3])?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_parquet(&self, path: &str) -> Result<Written, FrameError> {
        self.to_parquet_with(path, Compression::default())
    }

    /// [`to_parquet`](Self::to_parquet) with the pages compressed by `compression`.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::{Compression, DataFrame};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let dir = std::env::temp_dir().join(format!("rask-doc-zstd-{}", std::process::id()));
    /// let ddf = DataFrame::from_polars(df!("x" => [1i64, 2, 3])?, 1);
    /// ddf.to_parquet_with(dir.to_str().unwrap(), Compression::Zstd)?.compute()?;
    /// let back = DataFrame::read_parquet(&format!("{}/*.parquet", dir.display()))?;
    /// assert_eq!(back.compute()?, df!("x" => [1i64, 2, 3])?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_parquet_with(
        &self,
        path: &str,
        compression: Compression,
    ) -> Result<Written, FrameError> {
        let format = Format::Parquet(compression);
        self.write_files(path, format, |i| format!("part.{i}.parquet"))
    }

    /// A CSV file (with a header row) per partition (Dask's `to_csv`): `path` holds one `*`
    /// in its file name, replaced by the partition's number (`out/part-*.csv`), or names a
    /// folder, which gets `0.part`, `1.part`, …. Lazy and staged, as
    /// [`to_parquet`](Self::to_parquet).
    pub fn to_csv(&self, path: &str) -> Result<Written, FrameError> {
        self.write_files(path, Format::Csv, |i| format!("{i}.part"))
    }

    fn write_files(
        &self,
        path: &str,
        format: Format,
        in_folder: impl Fn(usize) -> String,
    ) -> Result<Written, FrameError> {
        let (dir, paths) = rask_graph::files::outputs(path, self.npartitions(), in_folder)?;
        let token = token_of(&[
            &self.token,
            &format!("{format:?}"),
            &dir.to_string_lossy(),
            path,
        ]);
        let staging = Staging::new(&dir, &token);
        let write: Arc<str> = key_name("write", &token).into();
        let mut graph = self.base.clone();
        let finishes: Vec<Finish> = (paths.iter())
            .map(|p| Finish::Write {
                format,
                path: p.clone(),
                staging: staging.clone(),
            })
            .collect();
        graph.add_layer(self.layer_with(&write, |i| finishes[i].clone(), "write"));
        let commit: Arc<str> = key_name("commit", &token).into();
        let mut layer = Layer::new(Arc::clone(&commit));
        let written = (0..self.npartitions() as u32).map(|i| Arg::Key(Key::with_name(&write, [i])));
        layer.insert(
            [],
            Task::new(
                Commit {
                    staging: staging.clone(),
                    paths,
                },
                written,
            ),
        );
        graph.add_layer(layer);
        Ok(Written {
            graph,
            key: Key::with_name(&commit, []),
            staging: Arc::new(staging),
        })
    }
}
