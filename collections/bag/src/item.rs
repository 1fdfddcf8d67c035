//! Items and their partitions, and what the bag's erased ops do with items of one type.
//!
//! A bag's ops are not generic: a task that maps a partition of `String`s to `Record`s runs on
//! a worker that knows neither type by its op. Each type-specific piece of work — collecting
//! items into a partition, hashing them, ordering them, summing them — is a function of
//! erased items in a *vtable* of the item type ([`ItemFns`] and its capability tables), made
//! for any [`Item`] at the call site where the type is known. Ops hold `&'static` vtables; on
//! the wire a vtable is its registered name ([`register_item!`](crate::register_item)), so a
//! task crosses processes when the types it handles are registered, and works in this process
//! whether or not they are.

use std::any::TypeId;
use std::fmt;
use std::hash::Hash;
use std::sync::OnceLock;

use rask_graph::item::{Emit, ItemRef};
use rask_graph::{Datum, TaskError, Value};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a bag may hold: owned, serializable, cloneable data. Every such type is an item; to
/// send its partitions to other processes, register it with
/// [`register_item!`](crate::register_item).
pub trait Item: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static> Item for T {}

/// One partition of a bag: its items, in order.
///
/// ```
/// use rask_bag::Partition;
/// let p = Partition(vec![String::from("a"), String::from("bc")]);
/// assert_eq!(p.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct Partition<T>(pub Vec<T>);

impl<T> std::ops::Deref for Partition<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Item> Datum for Partition<T> {
    /// Estimated from the encoded size of up to 64 items (exact for fixed-size items).
    fn nbytes(&self) -> usize {
        let n = self.0.len();
        let sample = n.min(64);
        if sample == 0 {
            return std::mem::size_of::<Self>();
        }
        let step = n / sample;
        let heap: usize = (0..sample)
            .map(|i| postcard::experimental::serialized_size(&self.0[i * step]).unwrap_or(0))
            .sum();
        std::mem::size_of::<Self>() + n * std::mem::size_of::<T>() + heap * n / sample
    }
}

/// Collects items into something (a partition, a count, a table) — the end of a pipeline.
pub(crate) trait Collector: Send {
    /// One more item.
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError>;
    /// Whether it wants no more items (a `take` that has enough).
    fn full(&self) -> bool {
        false
    }
    /// The result.
    fn finish(self: Box<Self>) -> Result<Value, TaskError>;
    /// About how many bytes it holds (what a memory budget counts; 0 unless it collects).
    fn nbytes(&self) -> usize {
        0
    }
}

/// Parses a line and hands the item on: the outer error is the line's, the inner one what
/// was downstream.
pub(crate) type ParseFn = fn(&str, &mut Emit<'_>) -> Result<Result<(), TaskError>, String>;

/// The vtable of an item type: what every bag op can do with items of that type.
#[derive(Debug)]
pub struct ItemFns {
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) type_name: fn() -> &'static str,
    /// The items of a partition value, moved out when the value is not shared.
    pub(crate) for_each: fn(Value, &mut Emit<'_>) -> Result<(), TaskError>,
    /// A collector into a partition of at most `limit` items.
    pub(crate) collect: fn(Option<usize>) -> Box<dyn Collector>,
    /// The elements of an item that is a `Vec` of this type.
    pub(crate) flatten: fn(&mut ItemRef<'_>, &mut Emit<'_>) -> Result<(), TaskError>,
    /// An item parsed from one line of JSON and handed on: the outer error is the line's
    /// (not JSON of this type), the inner one what was downstream.
    pub(crate) parse_json: ParseFn,
    /// The item as one line of JSON, appended to the buffer (no newline).
    pub(crate) write_json: fn(&ItemRef<'_>, &mut Vec<u8>) -> Result<(), TaskError>,
    /// A fold's accumulator.
    pub(crate) fold: fn() -> Box<dyn Accumulator>,
    /// The item owned and boxed (moved out when owned, cloned when borrowed).
    pub(crate) boxed: fn(&mut ItemRef<'_>) -> Result<AnyBox, TaskError>,
    /// A partition of boxed items of this type.
    pub(crate) unboxed: fn(Vec<AnyBox>) -> Result<Value, TaskError>,
    /// A partition value handed on as one item, its `Vec` (moved out when not shared).
    pub(crate) as_vec: fn(Value, &mut Emit<'_>) -> Result<(), TaskError>,
    /// Items `start..end` of a partition value (moved out when it is not shared).
    pub(crate) range: fn(Value, usize, usize) -> Result<Value, TaskError>,
    /// How many items a partition value holds.
    pub(crate) len: fn(&Value) -> Result<usize, TaskError>,
    /// Item `index` of a partition value, lent to `emit`.
    pub(crate) at: fn(&Value, usize, &mut Emit<'_>) -> Result<(), TaskError>,
    /// Partition values concatenated.
    pub(crate) concat: fn(Vec<Value>) -> Result<Value, TaskError>,
}

/// An item owned by a vtable's caller that does not know its type.
pub(crate) type AnyBox = Box<dyn std::any::Any + Send>;

/// A function called on items (see `func.rs`): the items calling convention.
pub(crate) type Call = std::sync::Arc<
    dyn Fn(&mut [ItemRef<'_>], &mut Emit<'_>) -> Result<(), TaskError> + Send + Sync,
>;

/// A value being folded: the accumulator of `fold`.
pub(crate) trait Accumulator: Send {
    /// Folds `item` in with `f(acc, item)`; the first item starts the accumulator when there
    /// is no `initial` (a one-item partition).
    fn fold(
        &mut self,
        item: ItemRef<'_>,
        f: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError>;
    /// A partition of the accumulator (empty if nothing was folded and there is no initial).
    fn finish(self: Box<Self>, initial: Option<&Value>) -> Result<Value, TaskError>;
}

/// The first item of a one-item partition of `T`.
pub(crate) fn single<T: Item>(v: &Value) -> Result<T, TaskError> {
    v.get::<Partition<T>>()?
        .first()
        .cloned()
        .ok_or_else(|| TaskError::new("an initial value is missing"))
}

/// Items that hash: frequencies, distinct values, grouping keys.
#[derive(Debug)]
pub struct HashFns {
    pub(crate) item: &'static ItemFns,
    /// Counts items: a partition of `(item, count)` pairs, first-seen order.
    pub(crate) frequencies: fn() -> Box<dyn Collector>,
    /// Distinct items, first-seen order.
    pub(crate) distinct: fn() -> Box<dyn Collector>,
    /// `(item, count)` pairs merged by item, counts added.
    pub(crate) merge_frequencies: fn() -> Box<dyn Collector>,
    /// The item's hash (the same in every process: Fx, unseeded).
    pub(crate) hash64: fn(&ItemRef<'_>) -> Result<u64, TaskError>,
}

/// Items that order (`PartialOrd`; incomparable items such as NaN are passed over).
#[derive(Debug)]
pub struct OrdFns {
    pub(crate) item: &'static ItemFns,
    /// The `k` largest (or smallest) items, best first.
    pub(crate) topk: fn(usize, bool) -> Box<dyn Collector>,
    /// How item `a` compares with `b`, a boxed item of this type (`None`: they do not
    /// compare, as NaN with anything).
    pub(crate) cmp:
        fn(&ItemRef<'_>, &dyn std::any::Any) -> Result<Option<std::cmp::Ordering>, TaskError>,
    /// Whether the item compares with itself (NaN does not).
    pub(crate) comparable: fn(&ItemRef<'_>) -> Result<bool, TaskError>,
}

/// Numbers: sums and moments.
#[derive(Debug)]
pub struct NumFns {
    pub(crate) item: &'static ItemFns,
    /// The sum, as a one-item partition of this type.
    pub(crate) sum: fn() -> Box<dyn Collector>,
    /// As `f64`.
    pub(crate) to_f64: fn(&ItemRef<'_>) -> Result<f64, TaskError>,
}

/// Pairs `(K, V)` whose keys hash: `foldby`'s results.
#[derive(Debug)]
pub struct KeyedFns {
    pub(crate) item: &'static ItemFns,
    /// Folds items by key: each item's key is the first thing it pushes, then the item
    /// itself; see [`KeyedFolder`].
    pub(crate) folder: fn() -> Box<dyn KeyedFolder>,
}

/// A table of accumulators by key, for `foldby`.
pub(crate) trait KeyedFolder: Send {
    /// Folds `item` into the accumulator of its key: `key(item)`, then
    /// `binop(acc, item)`, the accumulator starting as `initial` (or the item itself).
    fn fold(
        &mut self,
        item: ItemRef<'_>,
        key: &Call,
        binop: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError>;
    /// Merges a `(K, V)` pair into the table with `combine(acc, v)`, starting as `initial`
    /// (or `v`).
    fn merge(
        &mut self,
        pair: ItemRef<'_>,
        combine: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError>;
    /// The table as a partition of `(K, V)` pairs, first-seen order.
    fn finish(self: Box<Self>) -> Value;
}

/// The vtables of `T`, made for any item; `ItemType` entries point at them.
pub trait ItemVtables: Item {
    /// What every op can do.
    const FNS: ItemFns;
}

impl<T: Item> ItemVtables for T {
    const FNS: ItemFns = ItemFns {
        type_id: TypeId::of::<T>,
        type_name: std::any::type_name::<T>,
        for_each: for_each::<T>,
        collect: |limit| {
            Box::new(Collect::<T> {
                items: Vec::new(),
                limit,
            })
        },
        flatten: flatten::<T>,
        parse_json: crate::json::parse_line::<T>,
        write_json: |item, out| {
            serde_json::to_writer(out, item.get::<T>()?).map_err(|e| {
                TaskError::new(format!(
                    "an item of {} is not JSON: {e}",
                    std::any::type_name::<T>()
                ))
            })
        },
        fold: || Box::new(Acc::<T>(None)),
        boxed: |item| Ok(Box::new(item.take_or_clone::<T>()?)),
        unboxed: |items| {
            let items = (items.into_iter())
                .map(|b| b.downcast::<T>().map(|t| *t))
                .collect::<Result<Vec<T>, _>>()
                .map_err(|_| {
                    TaskError::new(format!("expected items of {}", std::any::type_name::<T>()))
                })?;
            Ok(Value::new(Partition(items)))
        },
        as_vec: as_vec::<T>,
        range: range::<T>,
        len: |v| Ok(v.get::<Partition<T>>()?.len()),
        at: |v, i, emit| {
            let p = v.get::<Partition<T>>()?;
            let item = p.get(i).ok_or_else(|| {
                TaskError::new(format!("no item {i} in a partition of {}", p.len()))
            })?;
            emit(ItemRef::borrowed(item))
        },
        concat: |values| {
            let mut out = Vec::new();
            for v in values {
                match v.try_take::<Partition<T>>() {
                    Ok(Ok(p)) => out.extend(p.0),
                    Ok(Err(shared)) => out.extend(shared.0.iter().cloned()),
                    Err(v) => {
                        return Err(TaskError::new(format!(
                            "expected a partition of {}, found {}",
                            std::any::type_name::<T>(),
                            v.type_name()
                        )));
                    }
                }
            }
            Ok(Value::new(Partition(out)))
        },
    };
}

/// Hashing items' vtables.
pub trait HashVtables: Item + Hash + Eq {
    /// Their table.
    const HASH: HashFns;
}

impl<T: Item + Hash + Eq> HashVtables for T {
    const HASH: HashFns = HashFns {
        item: &<T as ItemVtables>::FNS,
        frequencies: || Box::new(Frequencies::<T>::default()),
        distinct: || Box::new(Distinct::<T>::default()),
        merge_frequencies: || Box::new(MergeCounts::<T>(Frequencies::default())),
        hash64: |item| {
            use std::hash::BuildHasher;
            Ok(rustc_hash::FxBuildHasher.hash_one(item.get::<T>()?))
        },
    };
}

/// Ordered items' vtables.
pub trait OrdVtables: Item + PartialOrd {
    /// Their table.
    const ORD: OrdFns;
}

impl<T: Item + PartialOrd> OrdVtables for T {
    const ORD: OrdFns = OrdFns {
        item: &<T as ItemVtables>::FNS,
        topk: |k, largest| {
            Box::new(TopK::<T> {
                k,
                largest,
                items: Vec::new(),
            })
        },
        cmp: |a, b| {
            let b = b.downcast_ref::<T>().ok_or_else(|| {
                TaskError::new(format!("expected a key of {}", std::any::type_name::<T>()))
            })?;
            Ok(a.get::<T>()?.partial_cmp(b))
        },
        comparable: |a| {
            let a = a.get::<T>()?;
            Ok(a.partial_cmp(a).is_some())
        },
    };
}

/// Numbers rask-bag sums: the primitive integers and floats.
pub trait Number: Item + Copy + PartialOrd + std::ops::Add<Output = Self> + Default {
    /// As `f64` (for means and variances).
    fn to_f64(self) -> f64;
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
number!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// Numbers' vtables.
pub trait NumVtables: Number {
    /// Their table.
    const NUM: NumFns;
}

impl<T: Number> NumVtables for T {
    const NUM: NumFns = NumFns {
        item: &<T as ItemVtables>::FNS,
        sum: || Box::new(Sum::<T>(T::default(), false)),
        to_f64: |item| Ok(item.get::<T>()?.to_f64()),
    };
}

/// Keyed pairs' vtables.
pub trait KeyedVtables: Item {
    /// Their table.
    const KEYED: KeyedFns;
}

impl<K: Item + Hash + Eq, V: Item> KeyedVtables for (K, V) {
    const KEYED: KeyedFns = KeyedFns {
        item: &<(K, V) as ItemVtables>::FNS,
        folder: || Box::new(Folder::<K, V>::default()),
    };
}

/// Pairs `(A, B)`: made from two partitions, element by element or every with every.
#[derive(Debug)]
pub struct PairFns {
    pub(crate) item: &'static ItemFns,
    /// The pairs of the items of a partition of `A`s and one of `B`s, in order (an error if
    /// their lengths differ).
    pub(crate) zip: fn(Value, Value, &mut Emit<'_>) -> Result<(), TaskError>,
    /// Every item of a partition of `A`s with every item of one of `B`s.
    pub(crate) product: fn(Value, Value, &mut Emit<'_>) -> Result<(), TaskError>,
}

/// Pairs' vtables.
pub trait PairVtables: Item {
    /// Their table.
    const PAIR: PairFns;
}

impl<A: Item, B: Item> PairVtables for (A, B) {
    const PAIR: PairFns = PairFns {
        item: &<(A, B) as ItemVtables>::FNS,
        zip: zip::<A, B>,
        product: product::<A, B>,
    };
}

/// A partition value's items, moved out when it is not shared.
fn items_of<T: Item>(v: Value) -> Result<Vec<T>, TaskError> {
    let type_name = v.type_name();
    match v.try_take::<Partition<T>>() {
        Ok(Ok(p)) => Ok(p.0),
        Ok(Err(shared)) => Ok(shared.0.clone()),
        Err(_) => Err(TaskError::new(format!(
            "expected a partition of {}, found {type_name}",
            std::any::type_name::<T>()
        ))),
    }
}

fn zip<A: Item, B: Item>(a: Value, b: Value, emit: &mut Emit<'_>) -> Result<(), TaskError> {
    let (a, b) = (items_of::<A>(a)?, items_of::<B>(b)?);
    if a.len() != b.len() {
        return Err(TaskError::new(format!(
            "zipped partitions differ in length: {} and {} items",
            a.len(),
            b.len()
        )));
    }
    for pair in a.into_iter().zip(b) {
        emit(ItemRef::owned(&mut Some(pair)))?;
    }
    Ok(())
}

fn product<A: Item, B: Item>(a: Value, b: Value, emit: &mut Emit<'_>) -> Result<(), TaskError> {
    let (a, b) = (items_of::<A>(a)?, items_of::<B>(b)?);
    for x in &a {
        for y in &b {
            emit(ItemRef::owned(&mut Some((x.clone(), y.clone()))))?;
        }
    }
    Ok(())
}

/// Groups `(K, Vec<T>)`: the items of a partition grouped by key.
#[derive(Debug)]
pub struct GroupFns {
    pub(crate) item: &'static ItemFns,
    /// A collector of `T` items into `(key, items)` groups, keys by `key`, first-seen order.
    pub(crate) grouper: fn(Call) -> Box<dyn Collector>,
}

/// Groups' vtables.
pub trait GroupVtables: Item {
    /// Their table.
    const GROUP: GroupFns;
}

impl<K: Item + Hash + Eq, T: Item> GroupVtables for (K, Vec<T>) {
    const GROUP: GroupFns = GroupFns {
        item: &<(K, Vec<T>) as ItemVtables>::FNS,
        grouper: |key| {
            Box::new(Grouper::<K, T> {
                key,
                groups: indexmap::IndexMap::default(),
            })
        },
    };
}

struct Grouper<K, T> {
    key: Call,
    groups: indexmap::IndexMap<K, Vec<T>, rustc_hash::FxBuildHasher>,
}

impl<K: Item + Hash + Eq, T: Item> Collector for Grouper<K, T> {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        let mut k = None;
        (self.key)(&mut [item.reborrow()], &mut |mut r| {
            k = Some(r.take_or_clone::<K>()?);
            Ok(())
        })?;
        let k = k.ok_or_else(|| TaskError::new("the key function gave no key"))?;
        self.groups
            .entry(k)
            .or_default()
            .push(item.take_or_clone::<T>()?);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(
            self.groups.into_iter().collect::<Vec<(K, Vec<T>)>>(),
        )))
    }
}

/// A registered item type: its stable name and vtables. Made by
/// [`register_item!`](crate::register_item).
#[derive(Debug)]
pub struct ItemType {
    name: &'static str,
    item: &'static ItemFns,
    hash: Option<&'static HashFns>,
    ord: Option<&'static OrdFns>,
    num: Option<&'static NumFns>,
    keyed: Option<&'static KeyedFns>,
    pair: Option<&'static PairFns>,
    group: Option<&'static GroupFns>,
}

impl ItemType {
    /// An item type named `name` (stable across the binaries that exchange it).
    pub const fn new<T: Item>(name: &'static str) -> Self {
        ItemType {
            name,
            item: &<T as ItemVtables>::FNS,
            hash: None,
            ord: None,
            num: None,
            keyed: None,
            pair: None,
            group: None,
        }
    }

    /// With `frequencies`, `distinct` and grouping.
    pub const fn hash<T: Item + Hash + Eq>(self) -> Self {
        ItemType {
            hash: Some(&<T as HashVtables>::HASH),
            ..self
        }
    }

    /// With `topk`, `min` and `max`.
    pub const fn ord<T: Item + PartialOrd>(self) -> Self {
        ItemType {
            ord: Some(&<T as OrdVtables>::ORD),
            ..self
        }
    }

    /// With `sum`, `mean`, `var` and `std`.
    pub const fn num<T: Number>(self) -> Self {
        ItemType {
            num: Some(&<T as NumVtables>::NUM),
            ..self
        }
    }

    /// A pair `(K, V)` made by `foldby`.
    pub const fn keyed<T: KeyedVtables>(self) -> Self {
        ItemType {
            keyed: Some(&<T as KeyedVtables>::KEYED),
            ..self
        }
    }

    /// A pair `(A, B)` made by `zip` or `product`.
    pub const fn pair<T: PairVtables>(self) -> Self {
        ItemType {
            pair: Some(&<T as PairVtables>::PAIR),
            ..self
        }
    }

    /// Groups `(K, Vec<T>)` made by `groupby`.
    pub const fn group<T: GroupVtables>(self) -> Self {
        ItemType {
            group: Some(&<T as GroupVtables>::GROUP),
            ..self
        }
    }

    /// The registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static ITEM_TYPES: [ItemType];

struct Index {
    by_name: FxHashMap<&'static str, &'static ItemType>,
    by_type: FxHashMap<TypeId, &'static ItemType>,
}

fn index() -> &'static Index {
    static I: OnceLock<Index> = OnceLock::new();
    I.get_or_init(|| {
        let mut by_name = FxHashMap::default();
        let mut by_type = FxHashMap::default();
        for t in ITEM_TYPES.iter() {
            by_name.insert(t.name, t);
            by_type.insert((t.item.type_id)(), t);
        }
        Index { by_name, by_type }
    })
}

/// The registered name of the item type `T`, if it is registered.
pub fn registered_name<T: Item>() -> Option<&'static str> {
    index().by_type.get(&TypeId::of::<T>()).map(|t| t.name)
}

/// The names of every registered item type.
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = ITEM_TYPES.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names
}

/// How a vtable is found again by name on the other side of a wire.
pub(crate) trait Vtable: fmt::Debug + Sync + 'static {
    const KIND: &'static str;
    fn item(this: &'static Self) -> &'static ItemFns;
    fn of(t: &'static ItemType) -> Option<&'static Self>;
}

macro_rules! vtable {
    ($t:ty, $kind:literal, $field:ident) => {
        impl Vtable for $t {
            const KIND: &'static str = $kind;
            fn item(this: &'static Self) -> &'static ItemFns {
                this.item
            }
            fn of(t: &'static ItemType) -> Option<&'static Self> {
                t.$field
            }
        }
    };
}
vtable!(HashFns, "hashable (register_item!(T, name, hash))", hash);
vtable!(OrdFns, "ordered (register_item!(T, name, ord))", ord);
vtable!(NumFns, "a number (register_item!(T, name, num))", num);
vtable!(
    KeyedFns,
    "a keyed pair (register_item!((K, V), name, keyed))",
    keyed
);
vtable!(PairFns, "a pair (register_item!((A, B), name, pair))", pair);
vtable!(
    GroupFns,
    "a group (register_item!((K, Vec<T>), name, group))",
    group
);

impl Vtable for ItemFns {
    const KIND: &'static str = "an item";
    fn item(this: &'static Self) -> &'static ItemFns {
        this
    }
    fn of(t: &'static ItemType) -> Option<&'static Self> {
        Some(t.item)
    }
}

/// A vtable reference that serializes as its item type's registered name.
#[derive(Debug)]
pub(crate) struct Ty<V: 'static>(pub &'static V);

impl<V> Clone for Ty<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Ty<V> {}

impl<V: Vtable> Ty<V> {
    pub(crate) fn fns(&self) -> &'static ItemFns {
        V::item(self.0)
    }

    pub(crate) fn type_name(&self) -> &'static str {
        (self.fns().type_name)()
    }

    pub(crate) fn name(&self) -> Option<&'static str> {
        let id = (self.fns().type_id)();
        index().by_type.get(&id).map(|t| t.name)
    }
}

impl<V: Vtable> Serialize for Ty<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => s.serialize_str(name),
            None => Err(rask_graph::registry::ser_error(format!(
                "item type {} is not registered, so its partitions cannot leave this process \
                 (rask::bag::register_item!)",
                self.type_name()
            ))),
        }
    }
}

impl<'de, V: Vtable> Deserialize<'de> for Ty<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let t = index().by_name.get(&*name).ok_or_else(|| {
            rask_graph::registry::de_error(format!(
                "no item type `{name}` is registered in this binary"
            ))
        })?;
        V::of(t).map(Ty).ok_or_else(|| {
            rask_graph::registry::de_error(format!(
                "item type `{name}` is not registered as {}",
                V::KIND
            ))
        })
    }
}

// ---- the generic functions the vtables point at ----

fn for_each<T: Item>(v: Value, emit: &mut Emit<'_>) -> Result<(), TaskError> {
    let type_name = v.type_name();
    match v.try_take::<Partition<T>>() {
        Ok(Ok(p)) => {
            for item in p.0 {
                emit(ItemRef::owned(&mut Some(item)))?;
            }
            Ok(())
        }
        Ok(Err(shared)) => {
            for item in shared.iter() {
                emit(ItemRef::borrowed(item))?;
            }
            Ok(())
        }
        Err(_) => Err(TaskError::new(format!(
            "expected a partition of {}, found {type_name}",
            std::any::type_name::<T>()
        ))),
    }
}

fn range<T: Item>(v: Value, start: usize, end: usize) -> Result<Value, TaskError> {
    let type_name = v.type_name();
    match v.try_take::<Partition<T>>() {
        Ok(Ok(mut p)) => {
            let end = end.min(p.0.len());
            p.0.truncate(end);
            p.0.drain(..start.min(end));
            Ok(Value::new(p))
        }
        Ok(Err(shared)) => {
            let end = end.min(shared.0.len());
            Ok(Value::new(Partition(
                shared.0[start.min(end)..end].to_vec(),
            )))
        }
        Err(_) => Err(TaskError::new(format!(
            "expected a partition of {}, found {type_name}",
            std::any::type_name::<T>()
        ))),
    }
}

fn as_vec<T: Item>(v: Value, emit: &mut Emit<'_>) -> Result<(), TaskError> {
    let type_name = v.type_name();
    match v.try_take::<Partition<T>>() {
        Ok(Ok(p)) => emit(ItemRef::owned(&mut Some(p.0))),
        Ok(Err(shared)) => emit(ItemRef::borrowed(&shared.0)),
        Err(_) => Err(TaskError::new(format!(
            "expected a partition of {}, found {type_name}",
            std::any::type_name::<T>()
        ))),
    }
}

fn flatten<T: Item>(item: &mut ItemRef<'_>, emit: &mut Emit<'_>) -> Result<(), TaskError> {
    match item.take::<Vec<T>>()? {
        Some(v) => {
            for x in v {
                emit(ItemRef::owned(&mut Some(x)))?;
            }
        }
        None => {
            for x in item.get::<Vec<T>>()? {
                emit(ItemRef::borrowed(x))?;
            }
        }
    }
    Ok(())
}

struct Collect<T> {
    items: Vec<T>,
    limit: Option<usize>,
}

impl<T: Item> Collector for Collect<T> {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        if !self.full() {
            self.items.push(item.take_or_clone::<T>()?);
        }
        Ok(())
    }
    fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.items.len() >= l)
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(self.items)))
    }
    fn nbytes(&self) -> usize {
        // The items' shallow size, and their encoded size sampled from up to 8 of them.
        let n = self.items.len();
        if n == 0 {
            return 0;
        }
        let step = (n / 8).max(1);
        let sampled: Vec<usize> = (self.items.iter().step_by(step).take(8))
            .map(|t| postcard::experimental::serialized_size(t).unwrap_or(0))
            .collect();
        let heap = sampled.iter().sum::<usize>() * n / sampled.len().max(1);
        n * std::mem::size_of::<T>() + heap
    }
}

struct Acc<T>(Option<T>);

impl<T: Item> Accumulator for Acc<T> {
    fn fold(
        &mut self,
        mut item: ItemRef<'_>,
        f: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError> {
        let mut acc = match (self.0.take(), initial) {
            (Some(acc), _) => Some(acc),
            (None, Some(init)) => Some(single::<T>(init)?),
            (None, None) => {
                self.0 = Some(item.take_or_clone::<T>()?);
                return Ok(());
            }
        };
        f(&mut [ItemRef::owned(&mut acc), item], &mut |mut r| {
            self.0 = Some(r.take_or_clone::<T>()?);
            Ok(())
        })
    }
    fn finish(self: Box<Self>, initial: Option<&Value>) -> Result<Value, TaskError> {
        let acc = match (self.0, initial) {
            (Some(acc), _) => Some(acc),
            (None, Some(init)) => Some(single::<T>(init)?),
            (None, None) => None,
        };
        Ok(Value::new(Partition(acc.into_iter().collect())))
    }
}

/// Counts by item in first-seen order: one table, the item stored once, and an item already
/// counted costs a lookup (a borrowed item is cloned only when it is new).
struct Frequencies<T>(indexmap::IndexMap<T, u64, rustc_hash::FxBuildHasher>);

impl<T> Default for Frequencies<T> {
    fn default() -> Self {
        Frequencies(indexmap::IndexMap::default())
    }
}

impl<T: Item + Hash + Eq> Frequencies<T> {
    fn add(&mut self, mut item: ItemRef<'_>, n: u64) -> Result<(), TaskError> {
        if let Some(count) = self.0.get_mut(item.get::<T>()?) {
            *count += n;
            return Ok(());
        }
        self.0.insert(item.take_or_clone::<T>()?, n);
        Ok(())
    }

    fn finish(self) -> Value {
        Value::new(Partition(self.0.into_iter().collect::<Vec<(T, u64)>>()))
    }
}

impl<T: Item + Hash + Eq> Collector for Frequencies<T> {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.add(item, 1)
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Frequencies::finish(*self))
    }
}

struct MergeCounts<T>(Frequencies<T>);

impl<T: Item + Hash + Eq> Collector for MergeCounts<T> {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        match item.take::<(T, u64)>()? {
            Some((t, n)) => self.0.add(ItemRef::owned(&mut Some(t)), n),
            None => {
                let (t, n) = item.get::<(T, u64)>()?;
                self.0.add(ItemRef::borrowed(t), *n)
            }
        }
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(self.0.finish())
    }
}

/// Distinct items in first-seen order, each stored once.
struct Distinct<T>(indexmap::IndexSet<T, rustc_hash::FxBuildHasher>);

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct(indexmap::IndexSet::default())
    }
}

impl<T: Item + Hash + Eq> Collector for Distinct<T> {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        if !self.0.contains(item.get::<T>()?) {
            self.0.insert(item.take_or_clone::<T>()?);
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(
            self.0.into_iter().collect::<Vec<T>>(),
        )))
    }
}

/// The `k` best items so far, best first (a sorted vector: `k` is small in practice, and
/// an item that does not beat the worst kept costs one comparison).
struct TopK<T> {
    k: usize,
    largest: bool,
    items: Vec<T>,
}

impl<T: Item + PartialOrd> TopK<T> {
    /// Whether `a` ranks before `b`.
    fn better(&self, a: &T, b: &T) -> bool {
        if self.largest { a > b } else { a < b }
    }
}

impl<T: Item + PartialOrd> Collector for TopK<T> {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        if self.k == 0 {
            return Ok(());
        }
        let t = item.get::<T>()?;
        if t.partial_cmp(t).is_none() {
            return Ok(()); // NaN and the like rank nowhere
        }
        if self.items.len() == self.k && !self.better(t, &self.items[self.k - 1]) {
            return Ok(());
        }
        // After the equal ones already kept: the first seen wins ties.
        let at = self.items.partition_point(|x| !self.better(t, x));
        let t = item.take_or_clone::<T>()?;
        self.items.insert(at, t);
        self.items.truncate(self.k);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(self.items)))
    }
}

/// The `k` items of the largest (or smallest) keys, best first (ties: first seen first):
/// items and keys of types known only by their vtables.
pub(crate) struct TopKBy {
    pub(crate) item: &'static ItemFns,
    pub(crate) key_ord: &'static OrdFns,
    pub(crate) key: Call,
    pub(crate) k: usize,
    pub(crate) largest: bool,
    /// `(key, item)`, best first.
    pub(crate) kept: Vec<(AnyBox, AnyBox)>,
}

impl Collector for TopKBy {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        if self.k == 0 {
            return Ok(());
        }
        let TopKBy {
            key_ord,
            k,
            largest,
            kept,
            ..
        } = self;
        let better = if *largest {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Less
        };
        let mut place: Option<(usize, AnyBox)> = None;
        (self.key)(&mut [item.reborrow()], &mut |mut key: ItemRef<'_>| {
            if !(key_ord.comparable)(&key)? {
                return Ok(()); // NaN and the like rank nowhere
            }
            let beats = |kept: &(AnyBox, AnyBox)| -> Result<bool, TaskError> {
                Ok((key_ord.cmp)(&key, kept.0.as_ref())? == Some(better))
            };
            if kept.len() == *k && !beats(&kept[*k - 1])? {
                return Ok(());
            }
            // After the equal ones already kept: the first seen wins ties.
            let mut at = kept.len();
            for (i, x) in kept.iter().enumerate() {
                if beats(x)? {
                    at = i;
                    break;
                }
            }
            place = Some((at, (key_ord.item.boxed)(&mut key)?));
            Ok(())
        })?;
        if let Some((at, key)) = place {
            let item = (self.item.boxed)(&mut item)?;
            self.kept.insert(at, (key, item));
            self.kept.truncate(self.k);
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        (self.item.unboxed)(self.kept.into_iter().map(|(_, item)| item).collect())
    }
}

struct Sum<T>(T, bool);

impl<T: Number> Collector for Sum<T> {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.0 = self.0 + *item.get::<T>()?;
        self.1 = true;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.0])))
    }
}

/// Accumulators by key in first-seen order (`None` until a first item or initial value).
struct Folder<K, V>(indexmap::IndexMap<K, Option<V>, rustc_hash::FxBuildHasher>);

impl<K, V> Default for Folder<K, V> {
    fn default() -> Self {
        Folder(indexmap::IndexMap::default())
    }
}

impl<K: Item + Hash + Eq, V: Item> Folder<K, V> {
    /// The slot of `key`.
    fn slot(&mut self, key: K) -> usize {
        let entry = self.0.entry(key);
        let i = entry.index();
        entry.or_insert(None);
        i
    }

    /// `acc = f(acc, item)` at slot `i`, the accumulator starting as `initial` or as the item.
    fn fold_at(
        &mut self,
        i: usize,
        mut item: ItemRef<'_>,
        f: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError> {
        let mut acc = match (self.0[i].take(), initial) {
            (Some(acc), _) => Some(acc),
            (None, Some(init)) => Some(single::<V>(init)?),
            (None, None) => {
                self.0[i] = Some(item.take_or_clone::<V>()?);
                return Ok(());
            }
        };
        let slot = &mut self.0[i];
        f(&mut [ItemRef::owned(&mut acc), item], &mut |mut r| {
            *slot = Some(r.take_or_clone::<V>()?);
            Ok(())
        })
    }
}

impl<K: Item + Hash + Eq, V: Item> KeyedFolder for Folder<K, V> {
    fn fold(
        &mut self,
        mut item: ItemRef<'_>,
        key: &Call,
        binop: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError> {
        let mut k = None;
        key(&mut [item.reborrow()], &mut |mut r| {
            k = Some(r.take_or_clone::<K>()?);
            Ok(())
        })?;
        let k = k.ok_or_else(|| TaskError::new("the key function gave no key"))?;
        let i = self.slot(k);
        self.fold_at(i, item, binop, initial)
    }

    fn merge(
        &mut self,
        mut pair: ItemRef<'_>,
        combine: &Call,
        initial: Option<&Value>,
    ) -> Result<(), TaskError> {
        let (k, v) = pair.take_or_clone::<(K, V)>()?;
        let i = self.slot(k);
        self.fold_at(i, ItemRef::owned(&mut Some(v)), combine, initial)
    }

    fn finish(self: Box<Self>) -> Value {
        let pairs: Vec<(K, V)> = (self.0.into_iter())
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        Value::new(Partition(pairs))
    }
}
