//! Bridges from the other collections: a bag of records becomes a dataframe.

use polars::prelude::Schema;
use rask_bag::{Bag, Item};

use rask_graph::{Callback, ComputeError, Graph, Key, Scheduler, Value};

use crate::dataframe::DataFrame;
use crate::error::FrameError;

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
