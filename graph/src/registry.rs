//! The registry through which ops and values serialize by stable names.
//!
//! Every registration is a `static` gathered into one slice by the linker (the `linkme`
//! crate), so a binary knows all the op and value types of every crate it links with **no
//! start-up code at all** — which matters: a worker process starts serving before `main`, when
//! constructor-based registries may not have run yet. Lookups go through two hash tables built
//! on first use.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Datum, GraphError, Key, Op, Value};

type DecodeOp = fn(&[u8]) -> Result<Arc<dyn Op>, String>;

/// A registered op type: its stable name and how to encode and decode it.
#[derive(Debug)]
pub struct OpType {
    name: &'static str,
    version: &'static str,
    type_id: fn() -> TypeId,
    encode: fn(&dyn Op) -> Result<Vec<u8>, String>,
    decode: DecodeOp,
}

impl OpType {
    /// The registration of op type `T` under `name`. Use [`register_op!`](crate::register_op).
    pub const fn of<T: Op + Serialize + DeserializeOwned>(name: &'static str) -> Self {
        Self {
            name,
            version: "",
            type_id: TypeId::of::<T>,
            encode: encode_op_as::<T>,
            decode: decode_op_as::<T>,
        }
    }

    /// The same registration, of the version of the crate that made it
    /// ([`register_op!`](crate::register_op) gives its crate's `CARGO_PKG_VERSION`).
    pub const fn with_version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }

    /// The registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The version of the crate that registered it (`""` if not given).
    pub fn version(&self) -> &'static str {
        self.version
    }
}

fn encode_op_as<T: Op + Serialize>(op: &dyn Op) -> Result<Vec<u8>, String> {
    let any: &dyn Any = op;
    let op = any
        .downcast_ref::<T>()
        .ok_or_else(|| "op type does not match its registration".to_string())?;
    encode_as(op)
}

/// Encodes a registered type, keeping the message of a [`ser_error`] its `Serialize` gave.
fn encode_as<T: Serialize + ?Sized>(x: &T) -> Result<Vec<u8>, String> {
    CUSTOM_ERROR.with(|c| c.borrow_mut().take());
    postcard::to_allocvec(x).map_err(postcard_message)
}

fn decode_op_as<T: Op + DeserializeOwned>(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    Ok(Arc::new(decode_as::<T>(bytes)?))
}

/// Decodes a registered type, keeping the message of a [`de_error`] its `Deserialize` gave.
fn decode_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    // A message left by an error that was swallowed must not label this one.
    CUSTOM_ERROR.with(|c| c.borrow_mut().take());
    postcard::from_bytes(bytes).map_err(postcard_message)
}

thread_local! {
    static CUSTOM_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// A deserialization error with a message that survives postcard (whose own custom errors
/// keep no message): what a `Deserialize` impl of an op or value returns when the bytes are
/// well formed but mean nothing here (a function this binary does not have, say).
///
/// ```
/// let e: postcard::Error = rask_graph::registry::de_error("no function `f` here");
/// # let _ = e;
/// ```
pub fn de_error<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    let message = message.to_string();
    CUSTOM_ERROR.with(|c| *c.borrow_mut() = Some(message.clone()));
    E::custom(message)
}

/// A serialization error with a message that survives postcard: what a `Serialize` impl of
/// an op or value returns for something that cannot leave this process (a closure, say).
///
/// ```
/// let e: postcard::Error = rask_graph::registry::ser_error("a closure cannot be sent");
/// # let _ = e;
/// ```
pub fn ser_error<E: serde::ser::Error>(message: impl std::fmt::Display) -> E {
    let message = message.to_string();
    CUSTOM_ERROR.with(|c| *c.borrow_mut() = Some(message.clone()));
    E::custom(message)
}

/// A postcard error's message, with the message of a [`de_error`] or [`ser_error`] it stands
/// for.
fn postcard_message(e: postcard::Error) -> String {
    let custom = CUSTOM_ERROR.with(|c| c.borrow_mut().take());
    match (e, custom) {
        (postcard::Error::SerdeDeCustom | postcard::Error::SerdeSerCustom, Some(message)) => {
            message
        }
        (e, _) => e.to_string(),
    }
}

/// A registered value type: its stable name and how to encode and decode it.
#[derive(Debug)]
pub struct ValueType {
    name: &'static str,
    type_id: fn() -> TypeId,
    encode: fn(&dyn Datum) -> Result<Vec<u8>, String>,
    decode: fn(&[u8]) -> Result<Value, String>,
    raw: Option<RawAccess>,
}

/// For types whose encoding *is* their memory: a borrowed view to write, and a reader that fills
/// a new value straight from a stream (one copy, by the kernel).
#[derive(Debug, Clone, Copy)]
pub struct RawAccess {
    /// The encoded bytes, borrowed from the datum.
    pub view: fn(&dyn Datum) -> Option<&[u8]>,
    /// Reads `len` encoded bytes into a new value.
    pub read: fn(&mut dyn std::io::Read, usize) -> std::io::Result<Value>,
}

impl ValueType {
    /// The registration of value type `T` under `name`. Use
    /// [`register_value!`](crate::register_value).
    pub const fn of<T: Datum + Serialize + DeserializeOwned>(name: &'static str) -> Self {
        Self {
            name,
            type_id: TypeId::of::<T>,
            encode: encode_value_as::<T>,
            decode: decode_value_as::<T>,
            raw: None,
        }
    }

    /// The registration of value type `T` under `name` with its own codec (for types whose
    /// bytes can be written faster than serde would, like vectors of numbers). Use
    /// [`register_value!`](crate::register_value)`(T, name, encode, decode)`.
    pub const fn with_codec<T: Datum>(
        name: &'static str,
        encode: fn(&dyn Datum) -> Result<Vec<u8>, String>,
        decode: fn(&[u8]) -> Result<Value, String>,
    ) -> Self {
        Self {
            name,
            type_id: TypeId::of::<T>,
            encode,
            decode,
            raw: None,
        }
    }

    /// The same registration with raw access (see [`RawAccess`]).
    pub const fn with_raw(mut self, raw: RawAccess) -> Self {
        self.raw = Some(raw);
        self
    }

    /// The registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Codecs that write vectors of numbers as their little-endian bytes, one copy each way.
pub mod codec {
    use super::*;

    macro_rules! le_vec {
        ($encode:ident, $decode:ident, $t:ty) => {
            #[doc = concat!("Encodes a `Vec<", stringify!($t), ">` as little-endian bytes.")]
            pub fn $encode(datum: &dyn Datum) -> Result<Vec<u8>, String> {
                let any: &dyn Any = datum;
                let v = any
                    .downcast_ref::<Vec<$t>>()
                    .ok_or_else(|| "value type does not match its registration".to_string())?;
                if cfg!(target_endian = "little") {
                    // The memory is the encoding: one copy.
                    return Ok(bytemuck::cast_slice::<$t, u8>(v).to_vec());
                }
                let mut out = Vec::with_capacity(v.len() * size_of::<$t>());
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
                Ok(out)
            }

            #[doc = concat!("Decodes a `Vec<", stringify!($t), ">` from little-endian bytes.")]
            pub fn $decode(bytes: &[u8]) -> Result<Value, String> {
                const W: usize = size_of::<$t>();
                if !bytes.len().is_multiple_of(W) {
                    return Err(format!(
                        "{} bytes is not a whole number of {W}-byte items",
                        bytes.len()
                    ));
                }
                if cfg!(target_endian = "little") {
                    let mut v: Vec<$t> = vec![<$t>::default(); bytes.len() / W];
                    bytemuck::cast_slice_mut::<$t, u8>(&mut v).copy_from_slice(bytes);
                    return Ok(Value::new(v));
                }
                let v: Vec<$t> = bytes
                    .chunks_exact(W)
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; W])))
                    .collect();
                Ok(Value::new(v))
            }
        };
    }
    /// Raw access to a `Vec<T>` of plain numbers, whose memory is its little-endian encoding
    /// on little-endian targets.
    pub const fn pod_vec<T: bytemuck::Pod + Datum>() -> RawAccess {
        RawAccess {
            view: view_pod_vec::<T>,
            read: read_pod_vec::<T>,
        }
    }

    fn view_pod_vec<T: bytemuck::Pod + Datum>(datum: &dyn Datum) -> Option<&[u8]> {
        let any: &dyn Any = datum;
        Some(bytemuck::cast_slice::<T, u8>(any.downcast_ref::<Vec<T>>()?))
    }

    fn read_pod_vec<T: bytemuck::Pod + Datum>(
        r: &mut dyn std::io::Read,
        len: usize,
    ) -> std::io::Result<Value> {
        if !len.is_multiple_of(size_of::<T>()) {
            return Err(std::io::Error::other(format!(
                "{len} bytes is not a whole number of {}-byte items",
                size_of::<T>()
            )));
        }
        let mut v: Vec<T> = vec![T::zeroed(); len / size_of::<T>()];
        r.read_exact(bytemuck::cast_slice_mut::<T, u8>(&mut v))?;
        Ok(Value::new(v))
    }

    le_vec!(encode_vec_f64, decode_vec_f64, f64);
    le_vec!(encode_vec_i64, decode_vec_i64, i64);
    le_vec!(encode_vec_u64, decode_vec_u64, u64);
}

fn encode_value_as<T: Datum + Serialize>(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let any: &dyn Any = datum;
    let datum = any
        .downcast_ref::<T>()
        .ok_or_else(|| "value type does not match its registration".to_string())?;
    encode_as(datum)
}

fn decode_value_as<T: Datum + DeserializeOwned>(bytes: &[u8]) -> Result<Value, String> {
    CUSTOM_ERROR.with(|c| c.borrow_mut().take());
    match postcard::from_bytes::<T>(bytes) {
        Ok(v) => Ok(Value::new(v)),
        // Bytes the type wrote and cannot read back: what serde attributes that leave things
        // out do to a format that is not self-describing.
        Err(
            e @ (postcard::Error::DeserializeUnexpectedEnd
            | postcard::Error::DeserializeBadVarint
            | postcard::Error::DeserializeBadBool
            | postcard::Error::DeserializeBadChar
            | postcard::Error::DeserializeBadUtf8
            | postcard::Error::DeserializeBadOption
            | postcard::Error::DeserializeBadEnum
            | postcard::Error::WontImplement),
        ) => Err(format!(
            "{e} (values cross processes as postcard, which reads only what a type always \
             writes: serde attributes that leave fields out, such as `skip_serializing_if`, \
             `flatten` or `untagged`, need a codec of their own in `register_value!`)"
        )),
        Err(e) => Err(postcard_message(e)),
    }
}

/// Every registered op type of the binary.
#[linkme::distributed_slice]
pub static OP_TYPES: [OpType];

/// Every registered value type of the binary.
#[linkme::distributed_slice]
pub static VALUE_TYPES: [ValueType];

/// Memory that collections keep for reuse (rask-array's pool of block buffers), each
/// registered with [`register_cache!`](crate::register_cache) as a function that gives it all
/// back and returns the bytes it gave.
#[linkme::distributed_slice]
pub static CACHES: [fn() -> usize];

/// Gives back the memory every registered cache keeps, returning the bytes given: what a
/// scheduler short of memory does before it spills results (a pool of spare buffers would
/// otherwise keep what spilling frees).
///
/// ```
/// // Nothing kept is nothing given.
/// let _bytes: usize = rask_graph::registry::release_caches();
/// ```
pub fn release_caches() -> usize {
    CACHES.iter().map(|release| release()).sum()
}

/// Registers a cache of reusable memory (a `fn() -> usize` that gives it back and returns the
/// bytes) so that [`release_caches`] empties it.
///
/// ```
/// fn release() -> usize { 0 }
/// rask_graph::register_cache!(release);
/// assert!(rask_graph::registry::CACHES.len() >= 1);
/// ```
#[macro_export]
macro_rules! register_cache {
    ($release:expr) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::registry::CACHES)]
            #[linkme(crate = $crate::__private::linkme)]
            static CACHE: fn() -> usize = $release;
        };
    };
}

struct Tables<T: 'static> {
    by_name: FxHashMap<&'static str, &'static T>,
    by_type: FxHashMap<TypeId, &'static T>,
    duplicates: Vec<&'static str>,
}

fn tables<T: 'static>(
    items: impl Iterator<Item = &'static T>,
    name: fn(&T) -> &'static str,
    type_id: fn(&T) -> TypeId,
) -> Tables<T> {
    let mut t = Tables {
        by_name: FxHashMap::default(),
        by_type: FxHashMap::default(),
        duplicates: Vec::new(),
    };
    for item in items {
        if t.by_name.insert(name(item), item).is_some() {
            t.duplicates.push(name(item));
        }
        t.by_type.insert(type_id(item), item);
    }
    t
}

fn op_tables() -> &'static Tables<OpType> {
    static T: OnceLock<Tables<OpType>> = OnceLock::new();
    T.get_or_init(|| tables(OP_TYPES.iter(), |o| o.name, |o| (o.type_id)()))
}

fn value_tables() -> &'static Tables<ValueType> {
    static T: OnceLock<Tables<ValueType>> = OnceLock::new();
    T.get_or_init(|| tables(VALUE_TYPES.iter(), |v| v.name, |v| (v.type_id)()))
}

/// The registered name of an op's type, if it is registered.
pub fn op_type_name(op: &dyn Op) -> Option<&'static str> {
    let any: &dyn Any = op;
    op_tables().by_type.get(&any.type_id()).map(|o| o.name)
}

/// The registered name of a value's type, if it is registered.
pub fn value_type_name(datum: &dyn Datum) -> Option<&'static str> {
    let any: &dyn Any = datum;
    value_tables().by_type.get(&any.type_id()).map(|v| v.name)
}

/// Every registered op name, sorted.
pub fn op_names() -> Vec<&'static str> {
    let mut v: Vec<_> = op_tables().by_name.keys().copied().collect();
    v.sort_unstable();
    v
}

/// The version of the crate that registered op `name` (see [`OpType::version`]).
///
/// ```
/// let name = rask_graph::registry::op_type_name(&rask_graph::ops::AddConst(1)).unwrap();
/// assert_eq!(rask_graph::registry::op_version(name), Some(env!("CARGO_PKG_VERSION")));
/// ```
pub fn op_version(name: &str) -> Option<&'static str> {
    op_tables().by_name.get(name).map(|r| r.version)
}

/// Every registered value type name, sorted.
pub fn value_names() -> Vec<&'static str> {
    let mut v: Vec<_> = value_tables().by_name.keys().copied().collect();
    v.sort_unstable();
    v
}

/// Names registered twice (by two different types or crates): each is an error to fix.
pub fn duplicate_names() -> Vec<&'static str> {
    let mut v = op_tables().duplicates.clone();
    v.extend(value_tables().duplicates.iter().copied());
    v
}

/// Encodes an op as its registered name and its parameters' postcard bytes; `None` when its type
/// is not registered.
pub fn encode_op(op: &dyn Op) -> Option<Result<(&'static str, Vec<u8>), String>> {
    let any: &dyn Any = op;
    let reg = op_tables().by_type.get(&any.type_id())?;
    Some((reg.encode)(op).map(|b| (reg.name, b)))
}

/// A value's registered name and encoded bytes borrowed from its memory, for the types that
/// allow it (see [`RawAccess`]); `None` for the others (use [`encode_value`]).
pub fn value_view(value: &Value) -> Option<(&'static str, &[u8])> {
    let any: &dyn Any = value.datum();
    let reg = value_tables().by_type.get(&any.type_id())?;
    let raw = reg.raw?;
    Some((reg.name, (raw.view)(value.datum())?))
}

/// Reads a value of registered type `name` whose encoding is the next `len` bytes of `r`:
/// straight into the new value when the type allows it, else through a buffer.
pub fn read_value(name: &str, len: usize, r: &mut dyn std::io::Read) -> Result<Value, GraphError> {
    let reg = value_tables()
        .by_name
        .get(name)
        .ok_or_else(|| GraphError::UnknownValueType {
            name: name.to_string(),
        })?;
    let corrupt = |message: String| GraphError::Corrupt {
        message: format!("value `{name}`: {message}"),
    };
    match reg.raw {
        Some(raw) => (raw.read)(r, len).map_err(|e| corrupt(e.to_string())),
        None => {
            let mut buf = Vec::new();
            buf.try_reserve_exact(len)
                .map_err(|e| corrupt(e.to_string()))?;
            std::io::Read::read_to_end(&mut std::io::Read::take(r, len as u64), &mut buf)
                .map_err(|e| corrupt(e.to_string()))?;
            if buf.len() != len {
                return Err(corrupt(format!("{} of {len} bytes", buf.len())));
            }
            (reg.decode)(&buf).map_err(corrupt)
        }
    }
}

/// Encodes a value as its registered type name and postcard bytes; `None` when its type is not
/// registered.
pub fn encode_value(value: &Value) -> Option<Result<(&'static str, Vec<u8>), String>> {
    let any: &dyn Any = value.datum();
    let reg = value_tables().by_type.get(&any.type_id())?;
    Some((reg.encode)(value.datum()).map(|b| (reg.name, b)))
}

/// Ops encoded once each: tasks that share an op (an `Arc`, as the tasks of a layer usually
/// do) share its encoding and its place in the table. What a graph's bytes and a process
/// pool's messages hold instead of an op per task.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops::AddConst, registry::OpTable, Key, Op};
///
/// let shared: Arc<dyn Op> = Arc::new(AddConst(1));
/// let mut table = OpTable::default();
/// assert_eq!(table.index(&Key::new("x", [0]), &*shared).unwrap(), 0);
/// assert_eq!(table.index(&Key::new("x", [1]), &*shared).unwrap(), 0);
/// assert_eq!(table.index(&Key::new("y", []), &AddConst(2)).unwrap(), 1);
/// assert_eq!(table.into_ops().len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct OpTable {
    /// By address and type (zero-sized ops outside an `Arc` may share an address).
    seen: FxHashMap<(*const (), TypeId), u32>,
    ops: Vec<(&'static str, Vec<u8>)>,
}

impl OpTable {
    /// The place of `op`, the op of task `key`, encoding it the first time it is seen; an
    /// unregistered op is an error naming the task.
    pub fn index(&mut self, key: &Key, op: &dyn Op) -> Result<u32, GraphError> {
        let any: &dyn Any = op;
        let address = (op as *const dyn Op as *const (), any.type_id());
        if let Some(i) = self.seen.get(&address) {
            return Ok(*i);
        }
        self.ops.push(encode_task_op(key, op)?);
        let i = (self.ops.len() - 1) as u32;
        self.seen.insert(address, i);
        Ok(i)
    }

    /// The distinct ops, by place: registered name and bytes.
    pub fn into_ops(self) -> Vec<(&'static str, Vec<u8>)> {
        self.ops
    }
}

/// Encodes the op of task `key`, with the error that names the task when it cannot be.
pub fn encode_task_op(key: &Key, op: &dyn Op) -> Result<(&'static str, Vec<u8>), GraphError> {
    match encode_op(op) {
        Some(Ok(encoded)) => Ok(encoded),
        Some(Err(message)) => Err(GraphError::Encode {
            what: format!("task {key}"),
            message,
        }),
        None => Err(GraphError::UnregisteredOp {
            key: key.clone(),
            op: op.name().to_string(),
            type_name: op.type_name().to_string(),
        }),
    }
}

/// Encodes a literal of task `key`, with the error that names the task when it cannot be.
pub fn encode_task_literal(
    key: &Key,
    value: &Value,
) -> Result<(&'static str, Vec<u8>), GraphError> {
    match encode_value(value) {
        Some(Ok(encoded)) => Ok(encoded),
        Some(Err(message)) => Err(GraphError::Encode {
            what: format!("a literal of task {key}"),
            message,
        }),
        None => Err(GraphError::UnregisteredValue {
            key: key.clone(),
            type_name: value.type_name().to_string(),
        }),
    }
}

thread_local! {
    static DECODE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// How deep ops may nest inside ops (a fused op holds ops) when decoding.
pub const MAX_DECODE_DEPTH: u32 = 32;

/// Decodes an op from its registered name and bytes.
pub fn decode_op(name: &str, bytes: &[u8]) -> Result<Arc<dyn Op>, GraphError> {
    let reg = op_tables()
        .by_name
        .get(name)
        .ok_or_else(|| GraphError::UnknownOp {
            name: name.to_string(),
        })?;
    let depth = DECODE_DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let result = if depth > MAX_DECODE_DEPTH {
        Err(format!("ops nested deeper than {MAX_DECODE_DEPTH}"))
    } else {
        (reg.decode)(bytes)
    };
    DECODE_DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|message| GraphError::Corrupt {
        message: format!("op `{name}`: {message}"),
    })
}

/// Decodes a value from its registered type name and bytes.
pub fn decode_value(name: &str, bytes: &[u8]) -> Result<Value, GraphError> {
    let reg = value_tables()
        .by_name
        .get(name)
        .ok_or_else(|| GraphError::UnknownValueType {
            name: name.to_string(),
        })?;
    (reg.decode)(bytes).map_err(|message| GraphError::Corrupt {
        message: format!("value `{name}`: {message}"),
    })
}

/// Registers an op type by a stable name so that graphs holding it can cross process boundaries.
///
/// The type must implement [`Op`](crate::Op), `serde::Serialize` and `serde::Deserialize`. Names
/// must be unique across everything a binary links: prefix them with your crate's name.
///
/// ```
/// # use rask_graph::{Args, Op, TaskError, Value};
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct Negate;
/// impl Op for Negate {
///     fn name(&self) -> &str { "negate" }
///     fn run(&self, a: Args) -> Result<Value, TaskError> { Ok(Value::new(-*a[0].get::<f64>()?)) }
/// }
/// rask_graph::register_op!(Negate, "mycrate.negate");
/// assert!(rask_graph::registry::op_names().contains(&"mycrate.negate"));
/// ```
#[macro_export]
macro_rules! register_op {
    ($ty:ty, $name:expr $(,)?) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::registry::OP_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTRATION: $crate::registry::OpType =
                $crate::registry::OpType::of::<$ty>($name).with_version(env!("CARGO_PKG_VERSION"));
        };
    };
}

/// Registers a value type by a stable name so that it can cross process boundaries.
///
/// ```
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct Point { x: f64, y: f64 }
/// impl rask_graph::Datum for Point {}
/// rask_graph::register_value!(Point, "mycrate.point");
///
/// let v = rask_graph::Value::new(Point { x: 1.0, y: 2.0 });
/// let (name, _bytes) = rask_graph::registry::encode_value(&v).unwrap().unwrap();
/// assert_eq!(name, "mycrate.point");
/// ```
#[macro_export]
macro_rules! register_value {
    ($ty:ty, $name:expr $(,)?) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::registry::VALUE_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTRATION: $crate::registry::ValueType =
                $crate::registry::ValueType::of::<$ty>($name);
        };
    };
    ($ty:ty, $name:expr, $encode:expr, $decode:expr $(,)?) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::registry::VALUE_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTRATION: $crate::registry::ValueType =
                $crate::registry::ValueType::with_codec::<$ty>($name, $encode, $decode);
        };
    };
}

// The built-in registrations.
crate::register_op!(crate::op::Identity, "rask.identity");
crate::register_op!(crate::op::Sum, "rask.sum");
crate::register_op!(crate::op::AddConst, "rask.add-const");
crate::register_op!(crate::op::Held, "rask.held");
crate::register_value!((), "unit");
crate::register_value!(bool, "bool");
crate::register_value!(i32, "i32");
crate::register_value!(i64, "i64");
crate::register_value!(u8, "u8");
crate::register_value!(u32, "u32");
crate::register_value!(u64, "u64");
crate::register_value!(usize, "usize");
crate::register_value!(f32, "f32");
crate::register_value!(f64, "f64");
crate::register_value!(String, "string");
macro_rules! register_pod_vec {
    ($t:ty, $name:expr, $encode:path, $decode:path) => {
        const _: () = {
            #[linkme::distributed_slice(VALUE_TYPES)]
            static REGISTRATION: ValueType = {
                let t = ValueType::with_codec::<Vec<$t>>($name, $encode, $decode);
                if cfg!(target_endian = "little") {
                    t.with_raw(codec::pod_vec::<$t>())
                } else {
                    t
                }
            };
        };
    };
}
register_pod_vec!(
    i64,
    "vec<i64>",
    codec::encode_vec_i64,
    codec::decode_vec_i64
);
register_pod_vec!(
    u64,
    "vec<u64>",
    codec::encode_vec_u64,
    codec::decode_vec_u64
);
register_pod_vec!(
    f64,
    "vec<f64>",
    codec::encode_vec_f64,
    codec::decode_vec_f64
);
crate::register_value!(Vec<String>, "vec<string>");
crate::register_value!((f64, f64), "(f64,f64)");
crate::register_value!((f64, u64), "(f64,u64)");

#[cfg(test)]
mod tests {
    /// Crafted bytes: a fused chain whose first op is a fused chain, 20,000 deep. Decoding
    /// stops at the nesting bound with an error, on a small stack, instead of overflowing it.
    #[test]
    fn deeply_nested_ops_are_an_error_not_a_stack_overflow() {
        let nest = |levels: usize| {
            let mut bytes: Vec<u8> = postcard::to_allocvec(&crate::ops::AddConst(1)).unwrap();
            let mut name = "rask.add-const";
            for _ in 0..levels {
                let level = (
                    "f",
                    (name, serde_bytes::Bytes::new(&bytes)),
                    Vec::<()>::new(),
                );
                bytes = postcard::to_allocvec(&level).unwrap();
                name = "rask.fused";
            }
            bytes
        };
        let bytes = nest(20_000);
        let err = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || super::decode_op("rask.fused", &bytes).map(|_| ()))
            .unwrap()
            .join()
            .expect("no stack overflow, no panic")
            .unwrap_err();
        assert!(matches!(err, crate::GraphError::Corrupt { .. }), "{err}");
        // Within the bound, nesting decodes.
        assert!(super::decode_op("rask.fused", &nest(10)).is_ok());
    }
}
