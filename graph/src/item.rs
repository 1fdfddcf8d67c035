//! Items: single records handed to [named functions](crate::named) one at a time, with their
//! types checked when the function runs — the *items* calling convention.
//!
//! A collection of records (a bag of log lines, say) streams each partition through a chain
//! of functions without knowing, on the worker that runs it, what type each step produces: the
//! task names the functions, and only the functions know their types. So each function is
//! called through an erased form ([`NamedFn::each`](crate::named::NamedFn), and its `flat`
//! and `star` variants) that takes its arguments as [`ItemRef`]s — an `&dyn Any` with its type
//! name, borrowed from a partition or owned by the pipeline — and hands its result on to an
//! [`Emit`] continuation as an owned item. Nothing is allocated per item: an owned item lives
//! in an `Option` on the caller's stack, and a function that takes its argument by value moves
//! it out.
//!
//! ```
//! use rask_graph::item::ItemRef;
//!
//! #[rask_macros::named(crate = rask_graph)]
//! fn shout(line: &String) -> String {
//!     line.to_uppercase()
//! }
//!
//! let f = rask_graph::named::of(&shout).unwrap();
//! let line = String::from("hi");
//! let mut out = Vec::new();
//! (f.each)(&mut [ItemRef::borrowed(&line)], &mut |r: ItemRef<'_>| {
//!     out.push(r.get::<String>()?.clone());
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(out, ["HI"]);
//!
//! // An item of the wrong type is an error naming both types.
//! let err = (f.each)(&mut [ItemRef::borrowed(&1i64)], &mut |_| Ok(())).unwrap_err();
//! assert!(err.to_string().contains("expected alloc::string::String, found an item of i64"));
//! ```

use std::any::Any;
use std::fmt;

use crate::TaskError;

/// Where a called function hands its result (each element of it, for `flat`): an owned item.
pub type Emit<'e> = dyn FnMut(ItemRef<'_>) -> Result<(), TaskError> + 'e;

/// One item, borrowed or owned, with its type checked on use (see the [module docs](self)).
pub struct ItemRef<'a> {
    slot: Slot<'a>,
    type_name: &'static str,
}

enum Slot<'a> {
    Borrowed(&'a dyn Any),
    /// An `Option<T>`: `Some` until a function taking `T` by value moves it out.
    Owned(&'a mut dyn Any),
}

impl fmt::Debug for ItemRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.slot {
            Slot::Borrowed(_) => "borrowed",
            Slot::Owned(_) => "owned",
        };
        write!(f, "ItemRef({how} {})", self.type_name)
    }
}

impl<'a> ItemRef<'a> {
    /// A borrowed item: functions read it; one that takes it by value gets a clone.
    pub fn borrowed<T: Any>(item: &'a T) -> Self {
        ItemRef {
            slot: Slot::Borrowed(item),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// An owned item in `slot` (which should be `Some`): a function that takes it by value
    /// moves it out, leaving `None`.
    pub fn owned<T: Any>(slot: &'a mut Option<T>) -> Self {
        ItemRef {
            slot: Slot::Owned(slot),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The item's Rust type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the item is owned (and may be moved out).
    pub fn is_owned(&self) -> bool {
        matches!(self.slot, Slot::Owned(_))
    }

    /// The same item, borrowed for a shorter time: to hand it to one function and keep it for
    /// the next (a filter passes on the item its predicate read).
    pub fn reborrow(&mut self) -> ItemRef<'_> {
        ItemRef {
            slot: match &mut self.slot {
                Slot::Borrowed(b) => Slot::Borrowed(*b),
                Slot::Owned(o) => Slot::Owned(&mut **o),
            },
            type_name: self.type_name,
        }
    }

    fn mismatch<T>(&self) -> TaskError {
        TaskError::new(format!(
            "expected {}, found an item of {}",
            std::any::type_name::<T>(),
            self.type_name
        ))
    }

    fn moved(&self) -> TaskError {
        TaskError::new(format!(
            "the item of {} was already moved out by an earlier function",
            self.type_name
        ))
    }

    /// The item as `&T`, or an error naming both types (or saying it was moved out).
    pub fn get<T: Any>(&self) -> Result<&T, TaskError> {
        match &self.slot {
            Slot::Borrowed(b) => b.downcast_ref::<T>().ok_or_else(|| self.mismatch::<T>()),
            Slot::Owned(o) => match o.downcast_ref::<Option<T>>() {
                Some(Some(t)) => Ok(t),
                Some(None) => Err(self.moved()),
                None => Err(self.mismatch::<T>()),
            },
        }
    }

    /// The item moved out if it is owned (`Ok(Some)`), `Ok(None)` if it is borrowed (read it
    /// with [`get`](Self::get)), or an error naming both types.
    pub fn take<T: Any>(&mut self) -> Result<Option<T>, TaskError> {
        match &mut self.slot {
            Slot::Borrowed(b) => match b.is::<T>() {
                true => Ok(None),
                false => Err(self.mismatch::<T>()),
            },
            Slot::Owned(o) => match o.downcast_mut::<Option<T>>() {
                Some(slot) => slot.take().map(Some).ok_or_else(|| self.moved()),
                None => Err(self.mismatch::<T>()),
            },
        }
    }

    /// The item moved out if it is owned, else a clone of it.
    pub fn take_or_clone<T: Any + Clone>(&mut self) -> Result<T, TaskError> {
        match self.take::<T>()? {
            Some(t) => Ok(t),
            None => self.get::<T>().cloned(),
        }
    }
}

/// What the `#[named]` attribute's expansion uses for the items convention. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;

    use super::{Emit, ItemRef};
    use crate::TaskError;
    use crate::named::__private::Probe;

    fn not_an_item<T: ?Sized>() -> TaskError {
        TaskError::new(format!(
            "{} cannot be an item (items are sized types that own their data)",
            std::any::type_name::<T>()
        ))
    }

    /// A parameter, argument or result type that can be an item.
    pub trait AsItem<T> {
        /// `&T` from an item.
        fn item_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError>;
        /// Whether `T` can be an item.
        fn item_ok(&self) -> bool;
        /// The result handed on.
        fn emit(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError>;
    }

    impl<T: Any> AsItem<T> for &Probe<T> {
        fn item_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError> {
            item.get::<T>()
        }
        fn item_ok(&self) -> bool {
            true
        }
        fn emit(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError> {
            emit(ItemRef::owned(&mut Some(x)))
        }
    }

    /// One that cannot (unsized, or borrowing).
    pub trait AsItemFallback<T: ?Sized> {
        /// An error.
        fn item_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError>;
        /// `false`.
        fn item_ok(&self) -> bool;
    }

    impl<T: ?Sized> AsItemFallback<T> for Probe<T> {
        fn item_ref<'i>(&self, _: &'i ItemRef<'_>) -> Result<&'i T, TaskError> {
            Err(not_an_item::<T>())
        }
        fn item_ok(&self) -> bool {
            false
        }
    }

    /// The result handed on when it cannot be an item.
    pub trait EmitFallback<T> {
        /// An error.
        fn emit(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError>;
    }

    impl<T> EmitFallback<T> for Probe<T> {
        fn emit(&self, _: T, _: &mut Emit<'_>) -> Result<(), TaskError> {
            Err(not_an_item::<T>())
        }
    }

    /// An owned parameter from an item: moved out, or cloned from a borrowed one. (Three
    /// levels: `Clone` items, items that can only be moved, and types that are not items; the
    /// expansion calls it on `&&&Probe`.)
    pub trait OwnedItem<T> {
        /// The argument.
        fn item_owned(&self, item: &mut ItemRef<'_>) -> Result<T, TaskError>;
        /// A clone of a borrowed argument.
        fn item_clone(&self, x: &T) -> Result<T, TaskError>;
        /// Whether `T` can be passed by value.
        fn owned_ok(&self) -> bool;
    }

    impl<T: Any + Clone> OwnedItem<T> for &&Probe<T> {
        fn item_owned(&self, item: &mut ItemRef<'_>) -> Result<T, TaskError> {
            item.take_or_clone::<T>()
        }
        fn item_clone(&self, x: &T) -> Result<T, TaskError> {
            Ok(x.clone())
        }
        fn owned_ok(&self) -> bool {
            true
        }
    }

    /// An owned parameter that is not `Clone`: moved out of owned items only.
    pub trait OwnedMove<T> {
        /// The argument, if the item is owned.
        fn item_owned(&self, item: &mut ItemRef<'_>) -> Result<T, TaskError>;
        /// An error: a borrowed item cannot be passed by value.
        fn item_clone(&self, x: &T) -> Result<T, TaskError>;
        /// `true`.
        fn owned_ok(&self) -> bool;
    }

    impl<T: Any> OwnedMove<T> for &Probe<T> {
        fn item_owned(&self, item: &mut ItemRef<'_>) -> Result<T, TaskError> {
            item.take::<T>()?.ok_or_else(not_clone::<T>)
        }
        fn item_clone(&self, _: &T) -> Result<T, TaskError> {
            Err(not_clone::<T>())
        }
        fn owned_ok(&self) -> bool {
            true
        }
    }

    /// An owned parameter that cannot be an item.
    pub trait OwnedFallback<T> {
        /// An error.
        fn item_owned(&self, item: &mut ItemRef<'_>) -> Result<T, TaskError>;
        /// An error.
        fn item_clone(&self, x: &T) -> Result<T, TaskError>;
        /// `false`.
        fn owned_ok(&self) -> bool;
    }

    impl<T> OwnedFallback<T> for Probe<T> {
        fn item_owned(&self, _: &mut ItemRef<'_>) -> Result<T, TaskError> {
            Err(not_an_item::<T>())
        }
        fn item_clone(&self, _: &T) -> Result<T, TaskError> {
            Err(not_an_item::<T>())
        }
        fn owned_ok(&self) -> bool {
            false
        }
    }

    fn not_clone<T>() -> TaskError {
        TaskError::new(format!(
            "{} is taken by value but is not Clone, so it cannot be read from a borrowed item",
            std::any::type_name::<T>()
        ))
    }

    /// The result's elements handed on one by one (`flat`).
    pub trait FlatItems<T> {
        /// Each element of `x`.
        fn emit_each(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError>;
        /// Whether `T` is a collection of items.
        fn flat_ok(&self) -> bool;
    }

    impl<T: IntoIterator> FlatItems<T> for &Probe<T>
    where
        T::Item: Any,
    {
        fn emit_each(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError> {
            for e in x {
                emit(ItemRef::owned(&mut Some(e)))?;
            }
            Ok(())
        }
        fn flat_ok(&self) -> bool {
            true
        }
    }

    /// A result that is not a collection of items.
    pub trait FlatFallback<T> {
        /// An error.
        fn emit_each(&self, x: T, emit: &mut Emit<'_>) -> Result<(), TaskError>;
        /// `false`.
        fn flat_ok(&self) -> bool;
    }

    impl<T> FlatFallback<T> for Probe<T> {
        fn emit_each(&self, _: T, _: &mut Emit<'_>) -> Result<(), TaskError> {
            Err(TaskError::new(format!(
                "{} is not a collection of items, so it cannot be flattened",
                std::any::type_name::<T>()
            )))
        }
        fn flat_ok(&self) -> bool {
            false
        }
    }

    /// A tuple item for `star`: moved out if owned, else borrowed.
    pub trait TupleItem<T> {
        /// `Some(tuple)` if owned.
        fn take_tuple(&self, item: &mut ItemRef<'_>) -> Result<Option<T>, TaskError>;
        /// The tuple, borrowed.
        fn tuple_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError>;
        /// Whether the tuple can be an item.
        fn tuple_ok(&self) -> bool;
    }

    impl<T: Any> TupleItem<T> for &Probe<T> {
        fn take_tuple(&self, item: &mut ItemRef<'_>) -> Result<Option<T>, TaskError> {
            item.take::<T>()
        }
        fn tuple_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError> {
            item.get::<T>()
        }
        fn tuple_ok(&self) -> bool {
            true
        }
    }

    /// A tuple of parameters that cannot be an item.
    pub trait TupleFallback<T> {
        /// An error.
        fn take_tuple(&self, item: &mut ItemRef<'_>) -> Result<Option<T>, TaskError>;
        /// An error.
        fn tuple_ref<'i>(&self, item: &'i ItemRef<'_>) -> Result<&'i T, TaskError>;
        /// `false`.
        fn tuple_ok(&self) -> bool;
    }

    impl<T> TupleFallback<T> for Probe<T> {
        fn take_tuple(&self, _: &mut ItemRef<'_>) -> Result<Option<T>, TaskError> {
            Err(not_an_item::<T>())
        }
        fn tuple_ref<'i>(&self, _: &'i ItemRef<'_>) -> Result<&'i T, TaskError> {
            Err(not_an_item::<T>())
        }
        fn tuple_ok(&self) -> bool {
            false
        }
    }

    /// The error of a function called with the wrong number of items.
    pub fn arity_error(name: &str, arity: usize, got: usize) -> TaskError {
        TaskError::new(format!("function `{name}` takes {arity} items, got {got}"))
    }

    /// The error of `star` on a function whose parameters cannot make a tuple item.
    pub fn no_star(name: &str) -> TaskError {
        TaskError::new(format!(
            "function `{name}` takes a parameter that cannot be part of a tuple item"
        ))
    }
}
