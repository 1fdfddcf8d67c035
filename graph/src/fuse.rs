//! The fused op: a linear chain of ops run as one task.

use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Args, Key, Op, Task, TaskError, Value, registry};

/// An op that travels by its registered name (used inside other ops, like [`Fused`]).
#[derive(Debug, Clone)]
pub struct OpBox(pub Arc<dyn Op>);

impl Serialize for OpBox {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match registry::encode_op(&*self.0) {
            Some(Ok((name, bytes))) => (name, serde_bytes::Bytes::new(&bytes)).serialize(s),
            Some(Err(e)) => Err(S::Error::custom(format!("op `{}`: {e}", self.0.name()))),
            None => Err(S::Error::custom(format!(
                "op `{}` ({}) is not registered",
                self.0.name(),
                self.0.type_name()
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for OpBox {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, bytes): (String, serde_bytes::ByteBuf) = Deserialize::deserialize(d)?;
        registry::decode_op(&name, &bytes)
            .map(OpBox)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// A value that travels by its registered type name.
#[derive(Debug, Clone)]
pub struct ValueBox(pub Value);

impl Serialize for ValueBox {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match registry::encode_value(&self.0) {
            Some(Ok((name, bytes))) => (name, serde_bytes::Bytes::new(&bytes)).serialize(s),
            Some(Err(e)) => Err(S::Error::custom(e)),
            None => Err(S::Error::custom(format!(
                "value of type {} is not registered",
                self.0.type_name()
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for ValueBox {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, bytes): (String, serde_bytes::ByteBuf) = Deserialize::deserialize(d)?;
        registry::decode_value(&name, &bytes)
            .map(ValueBox)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// An argument of a step after the first in a fused chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChainArg {
    /// The previous step's result.
    Prev,
    /// A literal.
    Value(ValueBox),
}

/// A linear chain of ops run as one task: the first step gets the task's arguments, each later
/// step the previous step's result (and literals). Made by
/// [`Graph::fuse_linear`](crate::Graph::fuse_linear).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fused {
    name: String,
    first: OpBox,
    rest: Vec<(OpBox, Vec<ChainArg>)>,
}

impl Fused {
    /// Fuses `tasks` (bottom first; each depends only on the one before) into one task.
    pub(crate) fn chain(tasks: &[(&Key, &Task)]) -> Task {
        let (_, first) = tasks[0];
        let mut rest = Vec::with_capacity(tasks.len() - 1);
        for pair in tasks.windows(2) {
            let (prev_key, _) = pair[0];
            let (_, task) = pair[1];
            let args = task
                .args()
                .iter()
                .map(|a| match a {
                    crate::Arg::Key(k) => {
                        debug_assert_eq!(k, prev_key);
                        ChainArg::Prev
                    }
                    crate::Arg::Value(v) => ChainArg::Value(ValueBox(v.clone())),
                })
                .collect();
            rest.push((OpBox(Arc::clone(task.op_arc())), args));
        }
        // Named after the ops that do something (a literal's `identity` says nothing).
        let mut names: Vec<&str> = tasks
            .iter()
            .map(|(_, t)| t.op().name())
            .filter(|n| *n != "identity")
            .collect();
        if names.is_empty() {
            names.push("identity");
        }
        let name = if names.len() <= 3 {
            names.join("-")
        } else {
            format!("{}-…-{}", names[0], names[names.len() - 1])
        };
        let fused = Fused {
            name,
            first: OpBox(Arc::clone(first.op_arc())),
            rest,
        };
        Task::new(fused, first.args().iter().cloned())
    }

    /// The number of ops in the chain.
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Always false: a chain has at least one op.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Op for Fused {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut prev = self.first.0.run(args)?;
        for (op, chain_args) in &self.rest {
            let args: Args = chain_args
                .iter()
                .map(|a| match a {
                    ChainArg::Prev => prev.clone(),
                    ChainArg::Value(v) => v.0.clone(),
                })
                .collect();
            drop(prev);
            prev = op.0.run(args)?;
        }
        Ok(prev)
    }

    /// Whether any op of the chain waits.
    fn waits(&self) -> bool {
        self.first.0.waits() || self.rest.iter().any(|(op, _)| op.0.waits())
    }
}

crate::register_op!(Fused, "rask.fused");
