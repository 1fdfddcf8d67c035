//! `map_partitions`: a Rust function of a whole partition, named (so its tasks cross
//! processes by the function's path) or a closure (in-process schedulers only).

use std::fmt;
use std::sync::Arc;

use polars::prelude::{DataFrame as PlFrame, PolarsResult};
use rask_graph::TaskError;
use rask_graph::named::{self, NamedFn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dataframe::DataFrame;
use crate::error::FrameError;
use crate::frame::Finish;

type Call = Arc<dyn Fn(&PlFrame) -> Result<PlFrame, TaskError> + Send + Sync>;

/// The canonical type of a named function of a partition returning `Result<DataFrame, E>`.
type Pointer = fn(&PlFrame) -> Result<PlFrame, TaskError>;

/// The canonical type of one returning `PolarsResult<DataFrame>` (an alias the `#[named]`
/// attribute cannot see through: to it, a value like any other).
type PolarsPointer = fn(&PlFrame) -> Result<PolarsResult<PlFrame>, TaskError>;

/// The call of named function `f`, if it is a function of a partition.
fn resolve(f: &NamedFn) -> Option<Call> {
    if let Some(p) = f.pointer::<Pointer>() {
        return Some(Arc::new(p));
    }
    let p = f.pointer::<PolarsPointer>()?;
    Some(Arc::new(move |df: &PlFrame| {
        p(df)?.map_err(|e| TaskError::new(e.to_string()))
    }))
}

/// A function of a partition, and what names it.
#[derive(Clone)]
pub(crate) struct MapFn {
    /// The named function, or `None` for a closure.
    named: Option<&'static NamedFn>,
    /// A closure's unique token.
    token: Arc<str>,
    call: Call,
}

impl MapFn {
    pub(crate) fn call(&self, df: &PlFrame) -> Result<PlFrame, TaskError> {
        (self.call)(df)
    }
}

/// What tokens hash: the path of a named function, a closure's own token.
impl fmt::Debug for MapFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.named {
            Some(n) => write!(f, "{}", n.path),
            None => write!(f, "closure {}", self.token),
        }
    }
}

/// A named function crosses as its path; a closure cannot leave its process.
impl Serialize for MapFn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.named {
            Some(n) => n.path.serialize(s),
            None => Err(rask_graph::registry::ser_error(
                "map_partitions of a closure cannot leave its process: pass a #[named] function",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MapFn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = String::deserialize(d)?;
        let f = named::by_path(&path).ok_or_else(|| {
            rask_graph::registry::de_error(format!("no named function {path} in this process"))
        })?;
        let call = resolve(f).ok_or_else(|| {
            rask_graph::registry::de_error(format!(
                "{path} is {}, not a function of a partition",
                (f.signature)()
            ))
        })?;
        Ok(MapFn {
            named: Some(f),
            token: Arc::from(""),
            call,
        })
    }
}

impl DataFrame {
    /// `f` applied to each whole partition (Dask's `map_partitions`), after the steps so far.
    /// The result's schema is `f` of an empty frame of this one's (as Dask infers `meta`), so
    /// `f` must accept an empty frame. A `#[named]` function's tasks run on any scheduler; a
    /// closure's only in this process.
    ///
    /// ```
    /// use polars::prelude::{PolarsResult, df};
    /// use rask_dataframe::DataFrame;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// #[rask_macros::named(crate = rask_graph)]
    /// fn numbered(df: &polars::frame::DataFrame) -> PolarsResult<polars::frame::DataFrame> {
    ///     df.clone().with_row_index("n".into(), None)
    /// }
    /// let ddf = DataFrame::from_polars(df!("x" => [5i64, 6, 7])?, 2);
    /// let got = ddf.map_partitions(numbered)?.compute()?;
    /// assert_eq!(got, df!("n" => [0u32, 1, 0], "x" => [5i64, 6, 7])?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_partitions<F>(&self, f: F) -> Result<DataFrame, FrameError>
    where
        F: Fn(&PlFrame) -> PolarsResult<PlFrame> + Send + Sync + 'static,
    {
        let named = named::of(&f).and_then(|n| Some((n, resolve(n)?)));
        let map = match named {
            Some((n, call)) => MapFn {
                named: Some(n),
                token: Arc::from(""),
                call,
            },
            None => MapFn {
                named: None,
                token: rask_graph::tokenize::unique_token().into(),
                call: Arc::new(move |df| f(df).map_err(|e| TaskError::new(e.to_string()))),
            },
        };
        let empty = map
            .call(&PlFrame::empty_with_schema(&self.schema))
            .map_err(|e| FrameError::Plan {
                step: "map_partitions (on an empty frame, for the schema)".into(),
                message: e.to_string(),
            })?;
        let schema = Arc::clone(empty.schema());
        Ok(self.then_finish(Finish::Map(map), "map_partitions", schema))
    }
}
