//! Graphs as bytes: every op and literal by its registered name, through postcard.

use serde::{Deserialize, Serialize};

use crate::{Arg, Graph, GraphError, Key, KeyIndex, Layer, Task, registry};

#[derive(Serialize, Deserialize)]
struct WireGraph {
    version: u32,
    /// Every distinct op once (a layer's tasks usually share one): registered name and bytes.
    ops: Vec<WireOp>,
    layers: Vec<WireLayer>,
}

#[derive(Serialize, Deserialize)]
struct WireOp {
    name: String,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct WireLayer {
    name: String,
    tasks: Vec<WireEntry>,
}

#[derive(Serialize, Deserialize)]
struct WireEntry {
    #[serde(deserialize_with = "crate::key::deserialize_index")]
    index: KeyIndex,
    task: WireTask,
}

#[derive(Serialize, Deserialize)]
struct WireTask {
    /// The op's place in [`WireGraph::ops`].
    op: u32,
    args: Vec<WireArg>,
}

#[derive(Serialize, Deserialize)]
enum WireArg {
    Key(Key),
    Value(String, #[serde(with = "serde_bytes")] Vec<u8>),
}

/// The version of the encoding; decoding refuses others.
pub const WIRE_VERSION: u32 = 2;

impl Graph {
    /// Encodes the graph. Every op and literal must be registered; the error names the first
    /// task that holds one that is not.
    ///
    /// ```
    /// use rask_graph::{ops::Sum, Arg, Graph, Layer, Task, Value};
    ///
    /// let mut g = Graph::new();
    /// let mut l = Layer::new("s");
    /// l.insert([], Task::new(Sum, [Arg::Value(Value::new(2i64)), Arg::Value(Value::new(3i64))]));
    /// g.add_layer(l);
    /// let bytes = g.to_bytes().unwrap();
    /// let back = Graph::from_bytes(&bytes).unwrap();
    /// assert_eq!(back.len(), 1);
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, GraphError> {
        let mut layers = Vec::new();
        let mut ops = registry::OpTable::default();
        for layer in self.layers() {
            let mut tasks = Vec::with_capacity(layer.len());
            for (index, task) in layer.entries() {
                let key = || Key::with_name(layer.name(), index.iter().copied());
                let op = ops.index(&key(), task.op())?;
                let mut args = Vec::with_capacity(task.args().len());
                for a in task.args() {
                    args.push(match a {
                        Arg::Key(k) => WireArg::Key(k.clone()),
                        Arg::Value(v) => {
                            let (name, bytes) = registry::encode_task_literal(&key(), v)?;
                            WireArg::Value(name.to_string(), bytes)
                        }
                    });
                }
                tasks.push(WireEntry {
                    index: index.iter().copied().collect(),
                    task: WireTask { op, args },
                });
            }
            layers.push(WireLayer {
                name: layer.name().to_string(),
                tasks,
            });
        }
        let ops = (ops.into_ops().into_iter())
            .map(|(name, bytes)| WireOp {
                name: name.to_string(),
                bytes,
            })
            .collect();
        postcard::to_allocvec(&WireGraph {
            version: WIRE_VERSION,
            ops,
            layers,
        })
        .map_err(|e| GraphError::Encode {
            what: "graph".into(),
            message: e.to_string(),
        })
    }

    /// Decodes a graph made by [`to_bytes`](Graph::to_bytes) in a binary that registers the
    /// same ops and values. Any input gives a graph or an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, GraphError> {
        let wire: WireGraph = postcard::from_bytes(bytes).map_err(|e| GraphError::Corrupt {
            message: e.to_string(),
        })?;
        if wire.version != WIRE_VERSION {
            return Err(GraphError::Corrupt {
                message: format!(
                    "encoding version {} (this binary reads version {WIRE_VERSION})",
                    wire.version
                ),
            });
        }
        // Each op decoded once; its tasks share it.
        let ops = (wire.ops.iter())
            .map(|o| registry::decode_op(&o.name, &o.bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let mut g = Graph::new();
        for wl in wire.layers {
            let mut layer = Layer::with_capacity(wl.name, wl.tasks.len());
            for WireEntry { index, task: wt } in wl.tasks {
                let op = ops.get(wt.op as usize).ok_or_else(|| GraphError::Corrupt {
                    message: format!("op {} of {} ops", wt.op, ops.len()),
                })?;
                let op = std::sync::Arc::clone(op);
                let mut args = Vec::with_capacity(wt.args.len());
                for a in wt.args {
                    args.push(match a {
                        WireArg::Key(k) => Arg::Key(k),
                        WireArg::Value(name, bytes) => {
                            Arg::Value(registry::decode_value(&name, &bytes)?)
                        }
                    });
                }
                layer.insert(index, Task::from_arc(op, args));
            }
            g.add_layer(layer);
        }
        Ok(g)
    }
}
