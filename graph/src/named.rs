//! Named functions: plain `fn`s registered under their path, so tasks that call them cross
//! process boundaries (Dask pickles a function by reference; a rask worker that links the same
//! crates finds it by name).
//!
//! The `#[named]` attribute (crate `rask-macros`, re-exported as `rask::named`) registers a
//! function with no start-up code (a `linkme` slice, like the op registry). A collection then
//! recognises the function when it is passed where a closure could be — by the type of the
//! function item — and builds a task that names it instead of capturing it:
//! - [`delayed`](crate::delayed)'s `map`, `try_map` and `zip_with` call it with their values
//!   ([`NamedCall`], the *values* calling convention: each parameter a `&T` or a `T: Clone`
//!   read from a task argument, the result a registered value);
//! - other collections look up the function as a typed pointer of the signature they call
//!   ([`NamedFn::pointer`]) and keep only its path in their ops.
//!
//! A capturing closure has no name: process-based schedulers refuse it, naming its task.
//!
//! ```
//! // With the `rask` facade: `#[rask::named]`.
//! #[rask_macros::named(crate = rask_graph)]
//! fn inc(x: &i64) -> i64 {
//!     x + 1
//! }
//!
//! // The task holds the path of `inc`, not its code: its graph is data, fit for workers.
//! let y = rask_graph::delayed::value(1i64).map("inc", inc);
//! assert!(y.graph().to_bytes().is_ok());
//! let f = rask_graph::named::of(&inc).unwrap();
//! assert!(f.path.ends_with("::inc"));
//! // A closure cannot leave this process.
//! assert!(rask_graph::delayed::value(1i64).map("inc", |x| x + 1).graph().to_bytes().is_err());
//! ```

use std::any::TypeId;
use std::fmt;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::{Args, Arity, Op, TaskError, Value};

/// A registered function. Made by the `#[named]` attribute; read through [`by_item`],
/// [`by_path`] and [`of`].
pub struct NamedFn {
    /// The function's path, `crate::module::name`: what crosses process boundaries.
    pub path: &'static str,
    /// The type of the function item (each `fn` has its own): how a collection recognises it.
    pub item: fn() -> TypeId,
    /// The function as a pointer of its canonical type (its own parameters, returning
    /// `Result<T, TaskError>`), as `dyn Any`: [`NamedFn::pointer`] downcasts it.
    pub pointer: fn() -> &'static (dyn std::any::Any + Send + Sync),
    /// The canonical pointer type as text, for messages.
    pub signature: fn() -> &'static str,
    /// The function called with task arguments (the values convention); an error if a
    /// parameter or the result cannot be a [`Value`].
    pub values: fn(Args) -> Result<Value, TaskError>,
    /// Whether every parameter and the result can be read from and made into values.
    pub values_ok: fn() -> bool,
    /// How many parameters it has.
    pub arity: usize,
    /// The function called on items (the items convention, [`item`](crate::item)): one
    /// [`ItemRef`](crate::item::ItemRef) per parameter (borrowed for a `&T` parameter, moved
    /// out or cloned for a `T` one), the result handed to the continuation as an owned item.
    pub each: ItemsFn,
    /// Like `each`, but the result is a collection (any `IntoIterator`) whose elements are
    /// handed on one by one: a flat map. An error if the result is not one.
    pub flat: ItemsFn,
    /// Called with one item that is the tuple of its parameters (a star map): `(A, B)` for
    /// `fn(&A, B)`.
    pub star: StarFn,
    /// Whether `each` works: every parameter and the result can be items.
    pub each_ok: fn() -> bool,
    /// Whether `flat` works: every parameter can be an item and the result is a collection of
    /// items.
    pub flat_ok: fn() -> bool,
    /// Whether `star` works: the parameters make a tuple item and the result is an item.
    pub star_ok: fn() -> bool,
}

/// A named function called on items, its result handed to a continuation
/// ([`NamedFn::each`], [`NamedFn::flat`]).
pub type ItemsFn =
    fn(&mut [crate::item::ItemRef<'_>], &mut crate::item::Emit<'_>) -> Result<(), TaskError>;

/// A named function called on one tuple item ([`NamedFn::star`]).
pub type StarFn =
    fn(&mut crate::item::ItemRef<'_>, &mut crate::item::Emit<'_>) -> Result<(), TaskError>;

impl fmt::Debug for NamedFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedFn")
            .field("path", &self.path)
            .field("signature", &(self.signature)())
            .finish_non_exhaustive()
    }
}

impl NamedFn {
    /// The function as a pointer of type `P`, if that is its canonical type.
    ///
    /// `P` is a function pointer type such as
    /// `fn(&f64, &f64) -> Result<f64, TaskError>`.
    pub fn pointer<P: Copy + 'static>(&self) -> Option<P> {
        (self.pointer)().downcast_ref::<P>().copied()
    }

    /// The last segment of the path: the function's own name.
    pub fn name(&self) -> &'static str {
        self.path.rsplit("::").next().unwrap_or(self.path)
    }
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static NAMED_FNS: [NamedFn];

struct Index {
    by_item: FxHashMap<TypeId, &'static NamedFn>,
    by_path: FxHashMap<&'static str, &'static NamedFn>,
    /// Paths that name more than one function (two `#[named]` functions of one name in one
    /// module, inside other functions): no task may name them, as a worker could not tell
    /// them apart.
    ambiguous: rustc_hash::FxHashSet<&'static str>,
}

fn index() -> &'static Index {
    static I: OnceLock<Index> = OnceLock::new();
    I.get_or_init(|| {
        let mut index = Index {
            by_item: FxHashMap::default(),
            by_path: FxHashMap::default(),
            ambiguous: Default::default(),
        };
        for f in NAMED_FNS.iter() {
            if index.by_path.insert(f.path, f).is_some() {
                index.ambiguous.insert(f.path);
            }
        }
        for f in NAMED_FNS.iter() {
            if !index.ambiguous.contains(f.path) {
                index.by_item.insert((f.item)(), f);
            }
        }
        for path in &index.ambiguous {
            index.by_path.remove(path);
        }
        index
    })
}

/// The registered function whose item type is `item` (none if its path is ambiguous).
pub fn by_item(item: TypeId) -> Option<&'static NamedFn> {
    index().by_item.get(&item).copied()
}

/// The registered function at `path` (none if two functions have that path).
pub fn by_path(path: &str) -> Option<&'static NamedFn> {
    index().by_path.get(path).copied()
}

/// The registration of `f`, if `f` is a named function (and not a closure).
pub fn of<F: 'static>(_f: &F) -> Option<&'static NamedFn> {
    by_item(TypeId::of::<F>())
}

/// `f` as a pointer of type `P` (see [`NamedFn::pointer`]), with its registration, if `f` is
/// a named function of that canonical type: how a collection that calls functions of a fixed
/// signature (an array kernel, say) recognises one it can send to other processes.
pub fn pointer_of<P: Copy + 'static, F: 'static>(f: &F) -> Option<(&'static NamedFn, P)> {
    let function = of(f)?;
    Some((function, function.pointer::<P>()?))
}

/// The op of a task that calls a named function with its arguments' values (see the module
/// docs). It serializes as the function's path.
#[derive(Clone, Copy)]
pub struct NamedCall {
    f: &'static NamedFn,
}

impl NamedCall {
    /// A call of `f`, if `f` takes and returns values.
    pub fn new(f: &'static NamedFn) -> Result<Self, TaskError> {
        if !(f.values_ok)() {
            return Err(TaskError::new(format!(
                "function `{}` ({}) takes or returns something a task value cannot hold",
                f.path,
                (f.signature)()
            )));
        }
        Ok(Self { f })
    }

    /// The function.
    pub fn function(&self) -> &'static NamedFn {
        self.f
    }
}

impl fmt::Debug for NamedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamedCall({})", self.f.path)
    }
}

impl Op for NamedCall {
    fn name(&self) -> &str {
        self.f.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        (self.f.values)(args)
    }

    fn arity(&self) -> Arity {
        Arity::Exact(self.f.arity)
    }
}

impl Serialize for NamedCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.f.path)
    }
}

impl<'de> Deserialize<'de> for NamedCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let f = resolve(&path).map_err(crate::registry::de_error)?;
        NamedCall::new(f).map_err(crate::registry::de_error)
    }
}

crate::register_op!(NamedCall, "rask.named-call");

/// The function at `path`, or an error saying it is not registered in this binary.
pub fn resolve(path: &str) -> Result<&'static NamedFn, TaskError> {
    if index().ambiguous.contains(path) {
        return Err(TaskError::new(format!(
            "`{path}` names two #[named] functions (of one name in one module, inside other \
             functions?): give them different names"
        )));
    }
    by_path(path).ok_or_else(|| {
        TaskError::new(format!(
            "no function `{path}` is registered in this binary (is it marked #[named], and \
             does this worker link the crate that defines it?)"
        ))
    })
}

/// The function at `path` as a pointer of type `P` (see [`NamedFn::pointer`]), for an op's
/// `Deserialize`: an error, kept through postcard ([`registry::de_error`]), if no function
/// has that path or it is not `what` (which the message names, as "a kernel from f64 blocks
/// to f64", say).
///
/// [`registry::de_error`]: crate::registry::de_error
pub fn resolve_pointer<P: Copy + 'static, E: serde::de::Error>(
    path: &str,
    what: impl FnOnce() -> String,
) -> Result<(&'static NamedFn, P), E> {
    let function = resolve(path).map_err(crate::registry::de_error)?;
    let p = function.pointer::<P>().ok_or_else(|| {
        crate::registry::de_error(format!(
            "function `{path}` is {}, not {}",
            (function.signature)(),
            what()
        ))
    })?;
    Ok((function, p))
}

/// What the `#[named]` attribute's expansion uses. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::marker::PhantomData;

    use crate::{Datum, TaskError, Value};

    /// Chooses, for a concrete type `T`, between reading it from a value (when `T` is a
    /// [`Datum`]) and an error (when it is not), at compile time: autoref specialization, so
    /// the expansion compiles for every signature.
    pub struct Probe<T: ?Sized>(PhantomData<fn() -> *const T>);

    impl<T: ?Sized> std::fmt::Debug for Probe<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Probe<{}>", std::any::type_name::<T>())
        }
    }

    impl<T: ?Sized> Probe<T> {
        /// A probe.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Probe(PhantomData)
        }
    }

    fn not_a_value<T: ?Sized>() -> TaskError {
        TaskError::new(format!(
            "{} is not a registered value type, so a task cannot pass it",
            std::any::type_name::<T>()
        ))
    }

    /// A parameter `&T` where `T` is a value type.
    pub trait ByDatum<T: ?Sized> {
        /// `&T` from an argument.
        fn by_ref<'v>(&self, v: &'v Value) -> Result<&'v T, TaskError>;
        /// Whether values work for `T`.
        fn ok(&self) -> bool;
    }

    impl<T: Datum> ByDatum<T> for &Probe<T> {
        fn by_ref<'v>(&self, v: &'v Value) -> Result<&'v T, TaskError> {
            v.get::<T>()
        }
        fn ok(&self) -> bool {
            true
        }
    }

    /// A parameter `&T` where `T` is not a value type (a slice, a view, …).
    pub trait ByFallback<T: ?Sized> {
        /// An error: `T` is not a value type.
        fn by_ref<'v>(&self, v: &'v Value) -> Result<&'v T, TaskError>;
        /// `false`.
        fn ok(&self) -> bool;
    }

    impl<T: ?Sized> ByFallback<T> for Probe<T> {
        fn by_ref<'v>(&self, _: &'v Value) -> Result<&'v T, TaskError> {
            Err(not_a_value::<T>())
        }
        fn ok(&self) -> bool {
            false
        }
    }

    /// A result `T` that is a value type.
    pub trait WrapDatum<T> {
        /// The result as a value.
        fn wrap(&self, x: T) -> Result<Value, TaskError>;
        /// Whether values work for `T`.
        fn ok_ret(&self) -> bool;
    }

    impl<T: Datum> WrapDatum<T> for &Probe<T> {
        fn wrap(&self, x: T) -> Result<Value, TaskError> {
            Ok(Value::new(x))
        }
        fn ok_ret(&self) -> bool {
            true
        }
    }

    /// A result `T` that is not.
    pub trait WrapFallback<T> {
        /// An error.
        fn wrap(&self, x: T) -> Result<Value, TaskError>;
        /// `false`.
        fn ok_ret(&self) -> bool;
    }

    impl<T> WrapFallback<T> for Probe<T> {
        fn wrap(&self, _: T) -> Result<Value, TaskError> {
            Err(not_a_value::<T>())
        }
        fn ok_ret(&self) -> bool {
            false
        }
    }

    /// The case where an owned parameter `T` is a cloneable value type.
    pub trait ByClone<T> {
        /// A clone of the argument.
        fn by_clone(&self, v: &Value) -> Result<T, TaskError>;
        /// Whether values work for `T`.
        fn ok_owned(&self) -> bool;
    }

    impl<T: Datum + Clone> ByClone<T> for &Probe<T> {
        fn by_clone(&self, v: &Value) -> Result<T, TaskError> {
            v.get::<T>().cloned()
        }
        fn ok_owned(&self) -> bool {
            true
        }
    }

    /// The case where an owned parameter `T` is not one.
    pub trait ByCloneFallback<T> {
        /// An error.
        fn by_clone(&self, v: &Value) -> Result<T, TaskError>;
        /// `false`.
        fn ok_owned(&self) -> bool;
    }

    impl<T> ByCloneFallback<T> for Probe<T> {
        fn by_clone(&self, _: &Value) -> Result<T, TaskError> {
            Err(not_a_value::<T>())
        }
        fn ok_owned(&self) -> bool {
            false
        }
    }

    /// A function's error as a task error.
    pub fn task_error(e: impl std::fmt::Display) -> TaskError {
        TaskError::new(e.to_string())
    }

    /// The type id of a function item (each `fn` has a type of its own).
    pub fn type_id_of<T: 'static>(_: &T) -> std::any::TypeId {
        std::any::TypeId::of::<T>()
    }

    pub use linkme;
}
