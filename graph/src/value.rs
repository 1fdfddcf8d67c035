//! Values: the type-erased results that flow between tasks.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::TaskError;

/// A datum that can be the result of a task: `Send + Sync + Debug + 'static`, and it knows its
/// size in bytes (what diagnostics and memory limits count).
///
/// Implement it for your own types; to send them to other processes, also register them with
/// [`register_value!`](crate::register_value).
///
/// ```
/// use rask_graph::{Datum, Value};
///
/// #[derive(Debug)]
/// struct Histogram { counts: Vec<u64> }
///
/// impl Datum for Histogram {
///     fn nbytes(&self) -> usize { self.counts.len() * 8 }
/// }
///
/// let v = Value::new(Histogram { counts: vec![1, 2, 3] });
/// assert_eq!(v.nbytes(), 24);
/// assert_eq!(v.get::<Histogram>().unwrap().counts[2], 3);
/// ```
pub trait Datum: Any + Send + Sync + fmt::Debug {
    /// The bytes this datum holds, heap included.
    fn nbytes(&self) -> usize {
        std::mem::size_of_val(self)
    }

    /// The Rust type's name, for error messages.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// A task's result: an `Arc` of a type-erased [`Datum`]. Cloning is an `Arc` clone, never a copy.
#[derive(Clone)]
pub struct Value(Arc<dyn Datum>);

impl Value {
    /// Wraps a datum. Values cross threads, so a datum must be `Send + Sync`:
    ///
    /// ```compile_fail
    /// // An `Rc` is neither: it cannot go into a task.
    /// let v = rask_graph::Value::new(std::rc::Rc::new(1.0f64));
    /// ```
    pub fn new<T: Datum>(datum: T) -> Self {
        Value(Arc::new(datum))
    }

    /// Wraps a datum that is already shared.
    pub fn from_arc(datum: Arc<dyn Datum>) -> Self {
        Value(datum)
    }

    /// The shared datum.
    pub fn as_arc(&self) -> &Arc<dyn Datum> {
        &self.0
    }

    /// The datum as `&dyn Datum`.
    pub fn datum(&self) -> &dyn Datum {
        &*self.0
    }

    /// The datum as `T`, if it is one.
    pub fn downcast_ref<T: Datum>(&self) -> Option<&T> {
        let any: &dyn Any = &*self.0;
        any.downcast_ref::<T>()
    }

    /// The datum as `T`, or an error naming both types — what an op uses on its arguments.
    ///
    /// ```
    /// # use rask_graph::Value;
    /// let v = Value::new(2.5f64);
    /// assert_eq!(*v.get::<f64>().unwrap(), 2.5);
    /// assert!(v.get::<i64>().unwrap_err().to_string().contains("expected i64, found f64"));
    /// ```
    pub fn get<T: Datum>(&self) -> Result<&T, TaskError> {
        self.downcast_ref::<T>().ok_or_else(|| {
            TaskError::new(format!(
                "expected {}, found {}",
                std::any::type_name::<T>(),
                self.type_name()
            ))
        })
    }

    /// The shared datum as `Arc<T>`, or the value back if it is not a `T`.
    pub fn downcast<T: Datum>(self) -> Result<Arc<T>, Value> {
        if self.downcast_ref::<T>().is_none() {
            return Err(self);
        }
        let any: Arc<dyn Any + Send + Sync> = self.0;
        Ok(any
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("type checked above")))
    }

    /// Takes the datum out if this is its only reference, else clones it.
    pub fn into_owned<T: Datum + Clone>(self) -> Result<T, Value> {
        self.downcast::<T>()
            .map(|arc| Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// The datum itself if this is its only reference (no copy); otherwise the shared datum.
    /// What an op uses to work in place when it can, and to read when it cannot.
    ///
    /// ```
    /// # use rask_graph::Value;
    /// let v = Value::new(vec![1.0f64, 2.0]);
    /// let w = v.clone();
    /// assert!(v.try_take::<Vec<f64>>().unwrap().is_err()); // shared with `w`
    /// assert_eq!(w.try_take::<Vec<f64>>().unwrap().unwrap(), vec![1.0, 2.0]);
    /// ```
    pub fn try_take<T: Datum>(self) -> Result<Result<T, Arc<T>>, Value> {
        self.downcast::<T>().map(Arc::try_unwrap)
    }

    /// The datum's size in bytes.
    pub fn nbytes(&self) -> usize {
        self.0.nbytes()
    }

    /// The datum's Rust type name.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// Whether two values share one datum.
    pub fn ptr_eq(&self, other: &Value) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

macro_rules! scalar_datum {
    ($($t:ty),*) => { $(impl Datum for $t {})* };
}
scalar_datum!(
    (),
    bool,
    char,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64
);

impl Datum for String {
    fn nbytes(&self) -> usize {
        std::mem::size_of::<String>() + self.len()
    }
}

impl<T: Datum> Datum for Vec<T> {
    fn nbytes(&self) -> usize {
        std::mem::size_of::<Vec<T>>() + self.iter().map(Datum::nbytes).sum::<usize>()
    }
}

impl<T: Datum> Datum for Option<T> {
    fn nbytes(&self) -> usize {
        std::mem::size_of::<Option<T>>() + self.as_ref().map_or(0, |t| t.nbytes())
    }
}

impl<A: Datum, B: Datum> Datum for (A, B) {
    fn nbytes(&self) -> usize {
        self.0.nbytes() + self.1.nbytes()
    }
}

impl<A: Datum, B: Datum, C: Datum> Datum for (A, B, C) {
    fn nbytes(&self) -> usize {
        self.0.nbytes() + self.1.nbytes() + self.2.nbytes()
    }
}
