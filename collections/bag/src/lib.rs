//! # rask-bag — bags of records for semi-structured data
//!
//! Dask's `dask.bag` in Rust: a [`Bag<T>`] is a lazy list of serde items in partitions — lines
//! of logs, JSON records, words — built from sequences, text files and JSON lines, transformed
//! item by item and reduced in trees, on any rask scheduler.
//!
//! - Sources: [`Bag::from_sequence`] (or [`by_size`](Bag::from_sequence_by_size)),
//!   [`read_text`] (globs; `.gz`, `.bz2`, `.zst` by extension; `blocksize` splits plain files
//!   at line boundaries), [`read_json_lines`] (typed through serde, or untyped as
//!   [`sonic_rs::Value`] or `serde_json::Value`), [`range`], [`Bag::from_delayed`],
//!   [`Bag::from_json_lines`] (texts of JSON lines, as `rask::dataframe`'s `to_bag` makes).
//! - Transformations chain into **one pass per partition**: `map`, `try_map`, `filter`,
//!   `remove`, `flat_map`, `flatten`, `pluck`, `starmap` and the `.str` methods add stages to
//!   the partition's pipeline, and the graph holds one task per partition for the whole
//!   chain; each item flows through every stage before the next is read, so no step
//!   materializes a partition. `map_partitions` hands a function the whole partition.
//! - Reductions as trees (`split_every` wide): `count`, `sum`, `mean`, `var`, `std`, `min`,
//!   `max`, `fold`, `reduction`, `all`, `any`, `count_distinct_approx` (HyperLogLog) (each a
//!   [`Scalar`]); `frequencies`, `distinct`, `topk` / `topk_by` and `foldby` (each a
//!   one-partition bag).
//! - `groupby` as a shuffle (with a memory budget past which splits go to disk), `zip`,
//!   `product`, `repartition`.
//! - `take(n)` computes the first partitions only as far as it needs; `to_textfiles` writes
//!   a file per partition (compressed by extension), moved into place when all are written;
//!   `to_delayed` hands the partitions out; `to_json_lines` writes each partition as JSON
//!   lines (what `rask::dataframe`'s `to_dataframe` reads).
//!
//! User functions are closures or `#[rask::named]` functions: a closure runs on the
//! in-process schedulers; a named function runs anywhere, its task naming it. Items cross
//! processes when their type is registered ([`register_item!`]); the built-in item types
//! (strings, numbers, booleans, JSON values, and common pairs) are.
//!
//! ```
//! use rask_bag::Bag;
//! use rask_graph::Collection;
//! # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
//! let lines = Bag::from_sequence(vec!["a b".to_string(), "b c b".into()], 2);
//! let words = lines.flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
//! let counts = words.frequencies();
//! assert_eq!(counts.compute()?, [("a".to_string(), 1), ("b".into(), 3), ("c".into(), 1)]);
//! assert_eq!(words.count().compute()?, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod bag;
mod error;
mod func;
pub mod hll;
pub mod item;
mod json;
mod ops;
mod source;
mod spill;
mod words;
mod write;

pub use bag::{Bag, ReadOptions, Scalar, Shuffle, StrMethods, range, read_json_lines, read_text};
pub use error::BagError;
pub use func::Field;
pub use item::{Item, Number, Partition};
pub use json::JsonValue;
pub use ops::Moments;
/// The JSON value type that parses fastest ([`JsonValue`]), re-exported so that its version is
/// rask-bag's.
pub use sonic_rs;
pub use source::{BadLines, Compression};

/// Registers an item type by a stable name, so that bags of it cross process boundaries:
/// `register_item!(T, "name")`, with the capabilities its methods need after the name —
/// `hash` (`frequencies`, `distinct`, a `foldby` key), `ord` (`topk`, `min`, `max`), `num`
/// (`sum`, `mean`, `var`, `std`), `keyed` (for a pair `(K, V)` that `foldby` makes), `pair`
/// (for a pair `(A, B)` that `zip` or `product` makes), `group` (for a group `(K, Vec<T>)`
/// that `groupby` makes).
///
/// ```
/// #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
/// struct Visit { page: String, ms: u64 }
///
/// rask_bag::register_item!(Visit, "doc.visit", hash);
/// rask_bag::register_item!((String, Visit), "doc.page-visit", keyed);
/// assert!(rask_bag::item::registered_names().contains(&"doc.visit"));
/// ```
#[macro_export]
macro_rules! register_item {
    ($t:ty, $name:expr $(, $cap:ident)* $(,)?) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::item::ITEM_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static ITEM: $crate::item::ItemType =
                $crate::item::ItemType::new::<$t>($name) $(.$cap::<$t>())*;
            $crate::__private::register_value!(
                $crate::Partition<$t>,
                ::core::concat!("rask-bag.partition:", $name)
            );
            $($crate::__cap_extra!($cap, $t, $name);)*
        };
    };
}

/// What a capability registers besides: `hash` the `(T, u64)` pairs `frequencies` makes.
#[doc(hidden)]
#[macro_export]
macro_rules! __cap_extra {
    (hash, $t:ty, $name:expr) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::item::ITEM_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static COUNTS: $crate::item::ItemType =
                $crate::item::ItemType::new::<($t, u64)>(::core::concat!($name, "#counts"))
                    .keyed::<($t, u64)>();
            $crate::__private::register_value!(
                $crate::Partition<($t, u64)>,
                ::core::concat!("rask-bag.partition:", $name, "#counts")
            );
        };
    };
    ($other:ident, $t:ty, $name:expr) => {};
}

#[doc(hidden)]
pub mod __private {
    pub use linkme;
    pub use rask_graph::register_value;
}

// The built-in item types.
register_item!(String, "string", hash, ord);
register_item!(u64, "u64", hash, ord, num);
register_item!(i64, "i64", hash, ord, num);
register_item!(u32, "u32", hash, ord, num);
register_item!(i32, "i32", hash, ord, num);
register_item!(f64, "f64", ord, num);
register_item!(f32, "f32", ord, num);
register_item!(bool, "bool", hash, ord);
register_item!((), "unit", hash);
// JSON values cross as JSON text (postcard cannot read self-describing data).
#[linkme::distributed_slice(item::ITEM_TYPES)]
static JSON: item::ItemType = item::ItemType::new::<serde_json::Value>("json");
rask_graph::register_value!(
    Partition<serde_json::Value>,
    "rask-bag.partition:json",
    json::encode::<serde_json::Value>,
    json::decode::<serde_json::Value>
);
#[linkme::distributed_slice(item::ITEM_TYPES)]
static SONIC_JSON: item::ItemType = item::ItemType::new::<sonic_rs::Value>("sonic-json");
rask_graph::register_value!(
    Partition<sonic_rs::Value>,
    "rask-bag.partition:sonic-json",
    json::encode::<sonic_rs::Value>,
    json::decode::<sonic_rs::Value>
);
register_item!(Vec<String>, "vec-string", hash, ord);
register_item!(Moments, "moments");
register_item!(hll::Sketch, "hll-sketch");
register_item!((String, Vec<String>), "string-strings", group);
register_item!((i64, Vec<i64>), "i64-i64s", group);
register_item!((u64, Vec<u64>), "u64-u64s", group);
register_item!((String, i64), "string-i64", hash, ord, keyed, pair);
register_item!((String, f64), "string-f64", ord, keyed, pair);
register_item!((String, String), "string-string", hash, ord, keyed, pair);
register_item!((i64, i64), "i64-i64", hash, ord, keyed, pair);
register_item!((i64, f64), "i64-f64", ord, keyed, pair);
register_item!((u64, f64), "u64-f64", ord, keyed, pair);
