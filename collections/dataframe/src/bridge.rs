//! Bridges with the other collections: a bag of records becomes a dataframe; numeric columns
//! become a 2-d array, and a 2-d array becomes columns.

use std::sync::Arc;

use polars::prelude::Schema;
use rask_array::{Array, Chunk, Chunks, block_view};
use rask_bag::{Bag, Item};
use rask_graph::tokenize::key_name;
use rask_graph::{
    Arg, Arity, Callback, Collection, ComputeError, Delayed, Graph, Key, Layer, Scheduler, Task,
    TaskError, Value,
};
use serde::{Deserialize, Serialize};

use crate::dataframe::{DataFrame, token_of};
use crate::error::FrameError;
use crate::frame::Frame;

/// How many items `to_dataframe` reads to infer the columns when no schema is given.
const SAMPLE: usize = 100;

/// `bag.to_dataframe(schema)`: a bag of records as a dataframe (Dask's `Bag.to_dataframe`).
///
/// Each item must serialize (serde) as a JSON object — a struct or a map; its fields are the
/// columns. With `schema`, the columns are those it names, in its order and types: a field it
/// does not name is left out, a field an item lacks is null. Without one, the columns and
/// types are inferred from the bag's first 100 items, computed at once (as Dask computes the
/// first item for its `meta`) — an empty bag then has nothing to infer from and is an error.
///
/// Each partition's items are written as JSON lines by the bag's own pipeline and read by
/// Polars' JSON reader, in one task per partition.
///
/// ```
/// use polars::prelude::*;
/// use rask_bag::Bag;
/// use rask_dataframe::ToDataFrame;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Visit { page: String, ms: u64 }
///
/// let visits = Bag::from_sequence(
///     vec![Visit { page: "a".into(), ms: 10 }, Visit { page: "b".into(), ms: 5 }],
///     2,
/// );
/// let df = visits.to_dataframe(None)?;
/// assert_eq!(df.columns(), ["page", "ms"]);
/// assert!(df.sum()?.compute()?.equals(&df!("ms" => [15i64])?));
///
/// // With a schema: its columns, its types.
/// let schema = Schema::from_iter([Field::new("ms".into(), DataType::Float64)]);
/// let ms = visits.to_dataframe(Some(schema))?;
/// assert!(ms.sum()?.compute()?.equals(&df!("ms" => [15.0])?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ToDataFrame {
    /// The records as a dataframe of `schema`, or of the columns inferred from the first
    /// items.
    fn to_dataframe(&self, schema: Option<Schema>) -> Result<DataFrame, FrameError>;
}

impl<T: Item> ToDataFrame for Bag<T> {
    fn to_dataframe(&self, schema: Option<Schema>) -> Result<DataFrame, FrameError> {
        let schema = match schema {
            Some(schema) => schema,
            None => {
                let failed = |message: String| FrameError::Plan {
                    step: "to_dataframe".into(),
                    message,
                };
                // In this process, as a groupby's sample is: the take stops after the items
                // it needs.
                let sample =
                    (self.take_with(SAMPLE, &InProcess)).map_err(|e| failed(e.to_string()))?;
                if sample.is_empty() {
                    return Err(failed(
                        "the bag is empty: there are no records to infer the columns from \
                         (pass a schema)"
                            .into(),
                    ));
                }
                let mut text = Vec::new();
                for item in &sample {
                    serde_json::to_writer(&mut text, item).map_err(|e| failed(e.to_string()))?;
                    text.push(b'\n');
                }
                let text = String::from_utf8(text).map_err(|e| failed(e.to_string()))?;
                DataFrame::json_schema(&text).map_err(|e| match e {
                    FrameError::Plan { message, .. } => failed(format!(
                        "items of {} are not records (JSON objects): {message}",
                        std::any::type_name::<T>()
                    )),
                    other => other,
                })?
            }
        };
        Ok(DataFrame::from_json_lines(&self.to_json_lines(), schema))
    }
}

/// Runs a graph on the calling thread.
#[derive(Debug)]
struct InProcess;

impl Scheduler for InProcess {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        rask_graph::exec::run_in_order(graph, keys, callbacks)
    }
}

impl DataFrame {
    /// The numeric columns as a 2-d `f64` array (Dask's `to_dask_array(lengths=True)`): a
    /// row per row, a column per numeric column in order (nulls as NaN), a block of rows per
    /// partition. The partitions' lengths are computed now, in this process, as
    /// `lengths=True` computes them (for Parquet files Polars reads them from the metadata).
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let ddf = DataFrame::from_polars(df!("k" => ["a", "b", "c"], "x" => [1i64, 2, 3], "y" => [0.5, 1.5, 2.5])?, 2);
    /// let a = ddf.to_array()?;
    /// assert_eq!(a.shape(), [3, 2]);
    /// assert_eq!(a.compute()?, ndarray::arr2(&[[1.0, 0.5], [2.0, 1.5], [3.0, 2.5]]).into_dyn());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_array(&self) -> Result<Array<f64>, FrameError> {
        use polars::prelude::{DataType, col, len};
        let columns = self.numeric_columns();
        let numeric = self.select(
            (columns.iter())
                .map(|c| col(c.as_str()).cast(DataType::Float64))
                .collect::<Vec<_>>(),
        )?;
        let failed = |message: String| FrameError::Plan {
            step: "to_array".into(),
            message,
        };
        // The lengths: a count of each partition's rows.
        let counts = self.select([len().alias("n")])?;
        let found = rask_graph::exec::run_in_order(&counts.graph, &counts.output_keys(), &[])
            .map_err(|e| failed(format!("counting the rows: {e}")))?;
        let mut lengths = Vec::with_capacity(found.len());
        for v in &found {
            let f = v.get::<Frame>().map_err(|e| failed(e.to_string()))?;
            let n = (f.0.column("n").and_then(|c| c.cast(&DataType::UInt64)))
                .map_err(|e| failed(e.to_string()))?;
            let n = n
                .u64()
                .map_err(|e| failed(e.to_string()))?
                .get(0)
                .unwrap_or(0);
            lengths.push(usize::try_from(n).map_err(|e| failed(e.to_string()))?);
        }
        let token = token_of(&[&numeric.token, "to_array"]);
        let name: Arc<str> = key_name("to-array", &token).into();
        let mut graph = numeric.graph.clone();
        let op: Arc<dyn rask_graph::Op> = Arc::new(ToBlock {
            columns: columns.len() as u64,
        });
        let mut layer = Layer::with_capacity(Arc::clone(&name), lengths.len());
        for (i, key) in numeric.output_keys().into_iter().enumerate() {
            layer.insert(
                [i as u32, 0],
                Task::from_arc(Arc::clone(&op), [Arg::Key(key)]),
            );
        }
        graph.add_layer(layer);
        let chunks = Chunks::from(vec![lengths, vec![columns.len()]]);
        Ok(Array::from_graph(graph, name, chunks, "to_array"))
    }

    /// A dataframe of the columns of a 2-d array (or of one column, a 1-d array), named
    /// `columns`, as `f64` (Dask's `from_dask_array`): a partition per block of rows (the
    /// array is first rechunked to one block across its columns).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let a = Array::<f64>::ones(&[5, 2], vec![vec![2, 2, 1], vec![1, 1]])?;
    /// let ddf = DataFrame::from_array(&a, &["a", "b"])?;
    /// assert_eq!((ddf.npartitions(), ddf.columns()), (3, vec!["a".to_string(), "b".into()]));
    /// assert_eq!(ddf.compute()?.height(), 5);
    /// assert!(DataFrame::from_array(&a, &["only one"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_array(a: &Array<f64>, columns: &[&str]) -> Result<DataFrame, FrameError> {
        let failed = |message: String| FrameError::Plan {
            step: "from_array".into(),
            message,
        };
        a.check().map_err(|e| failed(e.to_string()))?;
        let shape = a.shape();
        let width = match shape.as_slice() {
            [_] => 1,
            [_, w] => *w,
            _ => {
                return Err(failed(format!(
                    "an array of {} dimensions, not 1 or 2",
                    shape.len()
                )));
            }
        };
        if width != columns.len() {
            return Err(failed(format!(
                "{} column names for an array of {width} columns",
                columns.len()
            )));
        }
        let axes: Vec<Vec<usize>> = a.chunks().clone().into();
        let a = if axes.len() == 2 && axes[1].len() > 1 {
            a.rechunk(Chunks::from(vec![axes[0].clone(), vec![width]]))
                .map_err(|e| failed(e.to_string()))?
        } else {
            a.clone()
        };
        let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let mut t = rask_graph::tokenize::Tokenizer::new();
        t.write_str("from_array").write_str(a.name());
        for n in &names {
            t.write_str(n);
        }
        let token = t.finish();
        let name: Arc<str> = key_name("from-array", &token).into();
        let op: Arc<dyn rask_graph::Op> = Arc::new(FromBlock {
            columns: names.clone(),
        });
        let blocks = a.output_keys();
        let n = blocks.len();
        let mut layer = Layer::with_capacity(Arc::clone(&name), n);
        for (i, key) in blocks.into_iter().enumerate() {
            layer.insert([i as u32], Task::from_arc(Arc::clone(&op), [Arg::Key(key)]));
        }
        let mut graph = a.graph().clone();
        graph.add_layer(layer);
        let schema: polars::prelude::Schema = (names.iter())
            .map(|n| (n.as_str().into(), polars::prelude::DataType::Float64))
            .collect();
        let keys = (0..n as u32).map(|i| Key::with_name(&name, [i]));
        Ok(DataFrame::over_keys(graph, keys, Arc::new(schema), token))
    }
}

/// How [`DataFrame::to_bag`] hands out each row (Dask's `to_bag(format=…)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rows {
    /// The row as a JSON object of its columns by name (Dask's `format="dict"`): for a
    /// struct whose fields are named as the columns, a map, or a JSON value.
    Records,
    /// The row's values in column order, as a JSON array (Dask's `format="tuple"`): for a
    /// tuple, or a struct read by position.
    Tuples,
}

impl DataFrame {
    /// The rows as a bag of `T`s (Dask's `to_bag`), a bag partition per partition: each row
    /// is written as JSON (a record or a tuple, as `rows` says; dates and times as ISO text,
    /// nulls as `null`) and read as a `T` with serde. A row that is not JSON of `T` fails its
    /// partition's task, naming the line and the type.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use rask_dataframe::{DataFrame, Rows};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Visit { page: String, ms: Option<u64> }
    ///
    /// let ddf = DataFrame::from_polars(df!("page" => ["a", "b", "c"], "ms" => [Some(10u64), None, Some(7)])?, 2);
    /// let visits = ddf.to_bag::<Visit>(Rows::Records);
    /// assert_eq!(visits.npartitions(), 2);
    /// assert_eq!(visits.compute()?[1], Visit { page: "b".into(), ms: None });
    /// let tuples = ddf.to_bag::<(String, Option<u64>)>(Rows::Tuples);
    /// assert_eq!(tuples.compute()?[2], ("c".to_string(), Some(7)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_bag<T: Item>(&self, rows: Rows) -> Bag<T> {
        let token = token_of(&[&self.token, "to_bag", &format!("{rows:?}")]);
        let name: Arc<str> = key_name("to-bag", &token).into();
        let mut graph = self.graph.clone();
        let op: Arc<dyn rask_graph::Op> = Arc::new(ToJsonLines { rows });
        let keys = self.output_keys();
        let mut layer = Layer::with_capacity(Arc::clone(&name), keys.len());
        for (i, key) in keys.into_iter().enumerate() {
            layer.insert([i as u32], Task::from_arc(Arc::clone(&op), [Arg::Key(key)]));
        }
        let n = layer.len() as u32;
        graph.add_layer(layer);
        let parts: Vec<Delayed<String>> = (0..n)
            .map(|i| Delayed::from_key(graph.clone(), Key::with_name(&name, [i])))
            .collect();
        Bag::from_json_lines(&parts)
    }
}

/// A partition as JSON lines: a record or a tuple per row.
#[derive(Debug, Serialize, Deserialize)]
struct ToJsonLines {
    rows: Rows,
}

impl rask_graph::Op for ToJsonLines {
    fn name(&self) -> &str {
        "to_bag"
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        use polars::prelude::{JsonFormat, JsonWriter, SerWriter};
        use rask_bag::sonic_rs::{self, JsonContainerTrait};
        let failed = |e: &dyn std::fmt::Display| TaskError::new(format!("to_bag: {e}"));
        let mut df = crate::spill::frame_of(&args[0])?;
        let mut records = Vec::new();
        JsonWriter::new(&mut records)
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut df)
            .map_err(|e| failed(&e))?;
        let records = String::from_utf8(records).map_err(|e| failed(&e))?;
        if self.rows == Rows::Records {
            return Ok(Value::new(records));
        }
        // Each record's values, in the order written: the columns'.
        let mut tuples = String::with_capacity(records.len());
        for line in records.lines().filter(|l| !l.trim().is_empty()) {
            let record: sonic_rs::Value = sonic_rs::from_str(line).map_err(|e| failed(&e))?;
            let object = record
                .as_object()
                .ok_or_else(|| failed(&"a row written as other than a JSON object"))?;
            tuples.push('[');
            for (i, (_, v)) in object.iter().enumerate() {
                if i > 0 {
                    tuples.push(',');
                }
                tuples.push_str(&sonic_rs::to_string(v).map_err(|e| failed(&e))?);
            }
            tuples.push_str("]\n");
        }
        Ok(Value::new(tuples))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

rask_graph::register_op!(ToJsonLines, "rask-dataframe.to-bag");

/// A partition of `f64` columns as a block of rows (nulls as NaN).
#[derive(Debug, Serialize, Deserialize)]
struct ToBlock {
    columns: u64,
}

impl rask_graph::Op for ToBlock {
    fn name(&self) -> &str {
        "to_array"
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        let polars = |e: polars::prelude::PolarsError| TaskError::new(e.to_string());
        let df = &args[0].get::<Frame>()?.0;
        let width = usize::try_from(self.columns).unwrap_or(usize::MAX);
        if df.width() != width {
            return Err(TaskError::new(format!(
                "a partition of {} columns, not {width}",
                df.width()
            )));
        }
        let mut block = ndarray::Array2::<f64>::zeros((df.height(), width));
        for (j, c) in df.columns().iter().enumerate() {
            let values = c.f64().map_err(polars)?;
            for (r, v) in values.iter().enumerate() {
                block[[r, j]] = v.unwrap_or(f64::NAN);
            }
        }
        Ok(Value::new(Chunk(block.into_dyn())))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

rask_graph::register_op!(ToBlock, "rask-dataframe.to-array");

/// A block of rows (or a 1-d block: one column) as a partition of `f64` columns.
#[derive(Debug, Serialize, Deserialize)]
struct FromBlock {
    columns: Vec<String>,
}

impl rask_graph::Op for FromBlock {
    fn name(&self) -> &str {
        "from_array"
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        use polars::prelude::{Column, NamedFrom, Series};
        let block = block_view::<f64>(&args[0])?;
        let block = match block.ndim() {
            1 => block.insert_axis(ndarray::Axis(1)),
            _ => block,
        };
        let columns = (self.columns.iter().enumerate())
            .map(|(j, n)| {
                let values: Vec<f64> = block
                    .index_axis(ndarray::Axis(1), j)
                    .iter()
                    .copied()
                    .collect();
                Column::from(Series::new(n.as_str().into(), values))
            })
            .collect();
        let df = polars::prelude::DataFrame::new_infer_height(columns)
            .map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Frame(df)))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

rask_graph::register_op!(FromBlock, "rask-dataframe.from-array");
