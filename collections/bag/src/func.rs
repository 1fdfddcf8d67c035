//! User functions in a pipeline: a `#[named]` function (sent as its path) or a closure (this
//! process only), both called on items; and the stages a partition streams through.

use std::sync::Arc;

use rask_graph::TaskError;
use rask_graph::item::{Emit, ItemRef};
use rask_graph::named::{self, NamedFn};
use serde::{Deserialize, Serialize};

use crate::item::{Call, Item, ItemFns, Ty};
use crate::json::Pluck;

/// How a named function is called on items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mode {
    /// One item per parameter, the result handed on.
    Each,
    /// The result's elements handed on one by one.
    Flat,
    /// One tuple item spread over the parameters.
    Star,
}

/// A user function.
#[derive(Clone)]
pub(crate) struct Func {
    name: FuncName,
    mode: Mode,
    call: Call,
}

#[derive(Clone, Debug)]
enum FuncName {
    Named(&'static NamedFn),
    /// What it stands for, and a token of its own (no two closures share keys).
    Closure(&'static str, Arc<str>),
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            FuncName::Named(n) => write!(f, "{}", n.path),
            FuncName::Closure(what, token) => write!(f, "<closure: {what} {token}>"),
        }
    }
}

fn one<'s, 'a>(items: &'s mut [ItemRef<'a>]) -> Result<&'s mut ItemRef<'a>, TaskError> {
    let n = items.len();
    match items {
        [x] => Ok(x),
        _ => Err(TaskError::new(format!("expected 1 item, got {n}"))),
    }
}

impl Func {
    fn named(f: &'static NamedFn, mode: Mode) -> Self {
        let call: Call = match mode {
            Mode::Each => Arc::new(move |items, emit| (f.each)(items, emit)),
            Mode::Flat => Arc::new(move |items, emit| (f.flat)(items, emit)),
            Mode::Star => Arc::new(move |items, emit| (f.star)(one(items)?, emit)),
        };
        Func {
            name: FuncName::Named(f),
            mode,
            call,
        }
    }

    fn closure(what: &'static str, mode: Mode, call: Call) -> Self {
        Func {
            name: FuncName::Closure(what, rask_graph::tokenize::unique_token().into()),
            mode,
            call,
        }
    }

    /// `f(&item)`, each result an item.
    pub(crate) fn map<T: Item, U: Item, F>(f: F) -> Self
    where
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        if let Some((n, _)) = named::pointer_of::<fn(&T) -> Result<U, TaskError>, F>(&f) {
            return Func::named(n, Mode::Each);
        }
        Func::closure(
            "map",
            Mode::Each,
            Arc::new(move |items, emit| {
                let u = f(one(items)?.get::<T>()?);
                emit(ItemRef::owned(&mut Some(u)))
            }),
        )
    }

    /// `f(&item)`, each `Ok` result an item and an `Err` the task's error.
    pub(crate) fn try_map<T: Item, U: Item, E: std::fmt::Display, F>(f: F) -> Self
    where
        F: Fn(&T) -> Result<U, E> + Send + Sync + 'static,
    {
        // A named function returning `Result<U, E>` has the canonical type of one returning
        // `U`: its errors are the task's.
        if let Some((n, _)) = named::pointer_of::<fn(&T) -> Result<U, TaskError>, F>(&f) {
            return Func::named(n, Mode::Each);
        }
        Func::closure(
            "try_map",
            Mode::Each,
            Arc::new(move |items, emit| match f(one(items)?.get::<T>()?) {
                Ok(u) => emit(ItemRef::owned(&mut Some(u))),
                Err(e) => Err(TaskError::new(e.to_string())),
            }),
        )
    }

    /// `f(&item)`, each element of each result an item.
    pub(crate) fn flat<T: Item, I, F>(f: F) -> Self
    where
        F: Fn(&T) -> I + Send + Sync + 'static,
        I: IntoIterator + 'static,
        I::Item: Item,
    {
        if let Some((n, _)) = named::pointer_of::<fn(&T) -> Result<I, TaskError>, F>(&f) {
            return Func::named(n, Mode::Flat);
        }
        Func::closure(
            "flat_map",
            Mode::Flat,
            Arc::new(move |items, emit| {
                for u in f(one(items)?.get::<T>()?) {
                    emit(ItemRef::owned(&mut Some(u)))?;
                }
                Ok(())
            }),
        )
    }

    /// `f(&a, &b)` on pair items `(a, b)`.
    pub(crate) fn star<A: Item, B: Item, U: Item, F>(f: F) -> Self
    where
        F: Fn(&A, &B) -> U + Send + Sync + 'static,
    {
        if let Some((n, _)) = named::pointer_of::<fn(&A, &B) -> Result<U, TaskError>, F>(&f) {
            return Func::named(n, Mode::Star);
        }
        Func::closure(
            "starmap",
            Mode::Star,
            Arc::new(move |items, emit| {
                let (a, b) = one(items)?.get::<(A, B)>()?;
                emit(ItemRef::owned(&mut Some(f(a, b))))
            }),
        )
    }

    /// `f(acc, &item)`: a fold's binary operator.
    pub(crate) fn binop<A: Item, T: Item, F>(f: F) -> Self
    where
        F: Fn(A, &T) -> A + Send + Sync + 'static,
    {
        if let Some((n, _)) = named::pointer_of::<fn(A, &T) -> Result<A, TaskError>, F>(&f) {
            return Func::named(n, Mode::Each);
        }
        Func::closure(
            "binop",
            Mode::Each,
            Arc::new(move |items, emit| {
                let [acc, x] = items else {
                    return Err(TaskError::new("a binary operator takes 2 items"));
                };
                let acc = acc.take_or_clone::<A>()?;
                emit(ItemRef::owned(&mut Some(f(acc, x.get::<T>()?))))
            }),
        )
    }

    /// Calls it.
    pub(crate) fn call(&self) -> &Call {
        &self.call
    }

    /// Its name in keys: the function's own name, or what a closure stands for.
    pub(crate) fn label(&self) -> &'static str {
        match &self.name {
            FuncName::Named(n) => n.name(),
            FuncName::Closure(what, _) => what,
        }
    }

    /// What tokens hash: the function's path if it is named, a closure's own unique token.
    pub(crate) fn token(&self) -> &str {
        match &self.name {
            FuncName::Named(n) => n.path,
            FuncName::Closure(_, token) => token,
        }
    }
}

impl Serialize for Func {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.name {
            FuncName::Named(n) => (n.path, self.mode).serialize(s),
            FuncName::Closure(what, _) => Err(rask_graph::registry::ser_error(format!(
                "the function of `{what}` is a closure, which cannot leave this process: pass a \
                 function marked #[rask::named]"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Func {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (path, mode) = <(std::borrow::Cow<'de, str>, Mode)>::deserialize(d)?;
        let f = named::resolve(&path).map_err(rask_graph::registry::de_error)?;
        let ok = match mode {
            Mode::Each => (f.each_ok)(),
            Mode::Flat => (f.flat_ok)(),
            Mode::Star => (f.star_ok)(),
        };
        if !ok {
            return Err(rask_graph::registry::de_error(format!(
                "function `{path}` cannot be called on items as {mode:?}"
            )));
        }
        Ok(Func::named(f, mode))
    }
}

/// Which member of a JSON value `pluck` takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// An object's member.
    Name(String),
    /// An array's element.
    Index(usize),
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::Name(s.to_owned())
    }
}

impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::Name(s)
    }
}

impl From<usize> for Field {
    fn from(i: usize) -> Self {
        Field::Index(i)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Name(n) => write!(f, "{n:?}"),
            Field::Index(i) => write!(f, "{i}"),
        }
    }
}

/// One step of a partition's pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Stage {
    /// Each item to one.
    Map(Func),
    /// Each item to any number.
    FlatMap(Func),
    /// Items whose predicate is `keep` pass.
    Filter { f: Func, keep: bool },
    /// A member of each JSON value (its default for a missing one, or an error).
    Pluck(Pluck),
    /// The elements of each item, a `Vec` of this type.
    Flatten(Ty<ItemFns>),
    /// A string method on each `String` item.
    Str(StrOp),
}

/// A string method (Dask's `.str` accessor), as Python's `str` methods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StrOp {
    /// The pieces between `sep` (or between runs of whitespace, none empty, when `None`):
    /// a `Vec<String>` per item, or — `flat`, a split followed by `flatten` — the pieces
    /// themselves, handed on from one reused buffer (no allocation per piece).
    Split {
        sep: Option<String>,
        flat: bool,
    },
    Lower,
    Upper,
    Strip,
}

impl StrOp {
    fn push(&self, s: &str, emit: &mut Emit<'_>) -> Result<(), TaskError> {
        let owned = |t: String, emit: &mut Emit<'_>| emit(ItemRef::owned(&mut Some(t)));
        match self {
            StrOp::Split { sep, flat: false } => {
                let pieces: Vec<String> = match sep {
                    None => s.split_whitespace().map(str::to_owned).collect(),
                    Some(sep) => s.split(sep.as_str()).map(str::to_owned).collect(),
                };
                emit(ItemRef::owned(&mut Some(pieces)))
            }
            StrOp::Split { sep, flat: true } => {
                let mut buf = String::new();
                let mut piece = |p: &str| {
                    buf.clear();
                    buf.push_str(p);
                    emit(ItemRef::borrowed(&buf))
                };
                split(s, sep.as_deref(), &mut piece)
            }
            StrOp::Lower => owned(s.to_lowercase(), emit),
            StrOp::Upper => owned(s.to_uppercase(), emit),
            StrOp::Strip => owned(s.trim().to_owned(), emit),
        }
    }
}

impl Stage {
    /// Passes `item` through this stage to `emit`.
    pub(crate) fn push(
        &self,
        item: &mut ItemRef<'_>,
        emit: &mut Emit<'_>,
    ) -> Result<(), TaskError> {
        match self {
            Stage::Map(f) | Stage::FlatMap(f) => (f.call)(std::slice::from_mut(item), emit),
            Stage::Filter { f, keep } => {
                let mut pass = None;
                (f.call)(&mut [item.reborrow()], &mut |r| {
                    pass = Some(*r.get::<bool>()?);
                    Ok(())
                })?;
                if pass == Some(*keep) {
                    emit(item.reborrow()).map_err(|e| moved_hint(e, f))
                } else {
                    Ok(())
                }
            }
            Stage::Pluck(p) => p.push(item, emit),
            Stage::Flatten(t) => (t.fns().flatten)(item, emit),
            Stage::Str(op) => op.push(item.get::<String>()?, emit),
        }
    }
}

/// `f` on each piece of `s` between `sep`s, or between runs of whitespace when `None` (then
/// no piece is empty), as Python's `str.split`.
pub(crate) fn split<F: FnMut(&str) -> Result<(), TaskError>>(
    s: &str,
    sep: Option<&str>,
    f: &mut F,
) -> Result<(), TaskError> {
    match sep {
        // The same pieces, bytes compared instead of characters decoded: ASCII whitespace
        // less the vertical tab, which `split_whitespace` also splits at.
        None if s.bytes().all(|b| b.is_ascii() && b != 0x0B) => {
            s.split_ascii_whitespace().try_for_each(f)
        }
        None => s.split_whitespace().try_for_each(f),
        Some(sep) => s.split(sep).try_for_each(f),
    }
}

/// A filter whose predicate took its item by value has nothing left to pass on: say so.
fn moved_hint(e: TaskError, f: &Func) -> TaskError {
    if e.to_string().contains("already moved out") {
        TaskError::new(format!(
            "{e} (the predicate `{}` takes its item by value: predicates take `&T`)",
            f.label()
        ))
    } else {
        e
    }
}

/// `item` through `stages`, in order, then into `last`.
pub(crate) fn drive(
    stages: &[Stage],
    item: &mut ItemRef<'_>,
    last: &mut Emit<'_>,
) -> Result<(), TaskError> {
    match stages.split_first() {
        None => last(item.reborrow()),
        Some((stage, rest)) => stage.push(item, &mut |mut out| drive(rest, &mut out, last)),
    }
}
