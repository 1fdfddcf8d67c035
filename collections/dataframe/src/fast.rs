//! The first level of the commonest groupings, without Polars' general group-by: one or two
//! keys, each an integer or a string column, and sums, counts, sizes, means, variances of
//! `i64` and `f64` columns and minima and maxima of `i64` ones. Polars' streaming engine
//! reads and filters the partition's columns that are used, and the kernel adds each row into
//! its group's slot. Each key column numbers its distinct values — a direct index for small
//! non-negative integers (ids, codes), a hash table for other integers, and for strings one
//! keyed by the string's 16-byte view when it is held inline (at most 12 bytes: flags,
//! codes; a small direct-mapped cache in front) or by its bytes otherwise; two keys' numbers
//! make the slot through a direct table while both are small, a hash table beyond. The result
//! is the frame Polars' first level would give (the same columns, names and types; groups in
//! another order), which the levels above combine as they would Polars'.

use polars::prelude::{
    ChunkedArray, Column, DataFrame as PlFrame, DataType, Expr, LazyFrame, PlHashMap, PolarsError,
    PolarsNumericType, PolarsResult, Schema, col,
};

use polars_core::utils::arrow::array::{Array as _, Utf8ViewArray};

use crate::agg::{Agg, GroupSpec, beside};

/// Keys below this index a table directly (4 bytes a slot: 256 KiB at most).
const DIRECT: i64 = 1 << 16;

/// What a column holds, for the kernel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
}

/// An integer type the kernel keys by (as `i64`s).
pub(crate) fn int_key(t: &DataType) -> bool {
    t.is_integer() && !matches!(t, DataType::UInt64) && !matches!(t, DataType::Int128)
}

/// Whether the kernel can compute `spec`'s first level on frames of `schema`.
pub(crate) fn eligible(spec: &GroupSpec, schema: &Schema) -> bool {
    let keys_fit = matches!(spec.keys.len(), 1 | 2)
        && (spec.keys.iter()).all(|k| {
            schema
                .get(k)
                .is_some_and(|t| int_key(t) || matches!(t, DataType::String))
        });
    keys_fit
        && spec.specs.iter().all(|s| {
            let kind = match schema.get(&s.input) {
                Some(DataType::Int64) => Some(Kind::Int),
                Some(DataType::Float64) => Some(Kind::Float),
                _ => None,
            };
            match s.agg {
                Agg::Size => true,
                Agg::Min | Agg::Max => kind == Some(Kind::Int),
                _ => kind.is_some(),
            }
        })
}

/// Group slots by key.
#[derive(Default)]
struct Slots {
    direct: Vec<u32>,
    hashed: PlHashMap<i64, u32>,
    null: Option<u32>,
    keys: Vec<Option<i64>>,
}

impl Slots {
    /// The slot of `key`: a direct look-up for a small key seen before, else
    /// [`insert`](Self::insert).
    #[inline(always)]
    fn slot(&mut self, key: Option<i64>) -> u32 {
        if let Some(k) = key
            && let Some(&s) = self.direct.get(k as u64 as usize)
            && s != u32::MAX
        {
            return s;
        }
        self.insert(key)
    }

    #[inline(never)]
    fn insert(&mut self, key: Option<i64>) -> u32 {
        let next = self.keys.len() as u32;
        match key {
            Some(k) if (0..DIRECT).contains(&k) => {
                let k = k as usize;
                if k >= self.direct.len() {
                    let len = (k + 1).next_power_of_two().min(DIRECT as usize);
                    self.direct.resize(len, u32::MAX);
                }
                let s = &mut self.direct[k];
                if *s == u32::MAX {
                    *s = next;
                    self.keys.push(key);
                }
                *s
            }
            Some(k) => *self.hashed.entry(k).or_insert_with(|| {
                self.keys.push(key);
                next
            }),
            None => *self.null.get_or_insert_with(|| {
                self.keys.push(None);
                next
            }),
        }
    }

    /// The number of each row's value of integer column `c`, appended to `out`.
    fn ids(&mut self, c: &Column, out: &mut Vec<u32>) -> PolarsResult<()> {
        let c = c.cast(&DataType::Int64)?;
        for arr in c.as_materialized_series().i64()?.downcast_iter() {
            match arr.validity() {
                None => out.extend(arr.values().iter().map(|k| self.slot(Some(*k)))),
                Some(_) => out.extend(arr.iter().map(|k| self.slot(k.copied()))),
            }
        }
        Ok(())
    }
}

/// A string key column's distinct values, numbered in order of first sight.
#[derive(Default)]
struct Strings {
    /// By the string's view, for a string held in it (the bytes past its length masked).
    inline: PlHashMap<u128, u32>,
    /// The last numbers found by view, direct-mapped by a hash of the view (a look-up in
    /// the table above only when two views share an entry: rarely, for the few values keys
    /// take).
    recent: Vec<(u128, u32)>,
    /// By the bytes, for a longer string.
    long: PlHashMap<Box<[u8]>, u32>,
    null: Option<u32>,
    values: Vec<Option<String>>,
}

impl Strings {
    /// The number of each row's value of string column `c`, appended to `out`.
    fn ids(&mut self, c: &Column, out: &mut Vec<u32>) -> PolarsResult<()> {
        if self.recent.is_empty() {
            // (No view is all ones: its length is at most 12.)
            self.recent = vec![(u128::MAX, 0); RECENT];
        }
        out.reserve(c.len());
        for arr in c.as_materialized_series().str()?.downcast_iter() {
            let views = arr.views().as_slice();
            match arr.validity().filter(|v| v.unset_bits() > 0) {
                None => out.extend((0..views.len()).map(|i| self.id(arr, i))),
                Some(valid) => out.extend(
                    (0..views.len())
                        .zip(valid.iter())
                        .map(|(i, ok)| if ok { self.id(arr, i) } else { self.null() }),
                ),
            }
        }
        Ok(())
    }

    /// The number of row `i` of `arr` (not null): a string held in its view by the view, the
    /// bytes past its length masked, through the cache; any other by [`Strings::find`].
    #[inline(always)]
    fn id(&mut self, arr: &Utf8ViewArray, i: usize) -> u32 {
        let view = arr.views()[i];
        if view.length > 12 {
            return self.find(arr, i);
        }
        let key = view.as_u128() & INLINE[view.length as usize];
        let entry = self.recent[recent(key)];
        if entry.0 == key {
            entry.1
        } else {
            self.find(arr, i)
        }
    }

    /// The number of row `i` of `arr` (not null), from the tables, numbering it if new.
    #[inline(never)]
    fn find(&mut self, arr: &Utf8ViewArray, i: usize) -> u32 {
        let (view, next) = (arr.views()[i], self.values.len() as u32);
        if view.length <= 12 {
            let key = view.as_u128() & INLINE[view.length as usize];
            let id = *self.inline.entry(key).or_insert_with(|| {
                self.values.push(Some(arr.value(i).to_string()));
                next
            });
            self.recent[recent(key)] = (key, id);
            return id;
        }
        let bytes = arr.value(i).as_bytes();
        match self.long.get(bytes) {
            Some(id) => *id,
            None => {
                self.long.insert(bytes.into(), next);
                self.values.push(Some(arr.value(i).to_string()));
                next
            }
        }
    }

    /// The number of the null value.
    fn null(&mut self) -> u32 {
        let next = self.values.len() as u32;
        *self.null.get_or_insert_with(|| {
            self.values.push(None);
            next
        })
    }
}

/// The bits of a view that hold a string of each length up to 12 (little-endian: the
/// length's 4 bytes, then the string's).
const INLINE: [u128; 13] = {
    let mut m = [0u128; 13];
    let mut len = 0;
    while len < 13 {
        let used = 32 + 8 * len;
        m[len] = if used >= 128 {
            u128::MAX
        } else {
            (1u128 << used) - 1
        };
        len += 1;
    }
    m
};

/// Entries of [`Strings`]' cache of recent views (a power of two).
const RECENT: usize = 256;

/// The entry of [`Strings`]' cache for the (masked) view `key`.
#[inline(always)]
fn recent(key: u128) -> usize {
    let h = ((key as u64) ^ ((key >> 64) as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - RECENT.trailing_zeros())) as usize
}

/// A key column's numbering of its values.
enum KeyIds {
    Int(Slots),
    Str(Strings),
}

impl KeyIds {
    fn ids(&mut self, c: &Column, out: &mut Vec<u32>) -> PolarsResult<()> {
        match self {
            KeyIds::Int(s) => s.ids(c, out),
            KeyIds::Str(s) => s.ids(c, out),
        }
    }

    /// How many distinct values so far.
    fn len(&self) -> usize {
        match self {
            KeyIds::Int(s) => s.keys.len(),
            KeyIds::Str(s) => s.values.len(),
        }
    }

    /// The key column of the groups whose values are numbered `ids`, of type `dtype`.
    fn column(&self, name: &str, ids: &[u32], dtype: &DataType) -> PolarsResult<Column> {
        match self {
            KeyIds::Int(s) => {
                let v: Vec<Option<i64>> = ids.iter().map(|i| s.keys[*i as usize]).collect();
                Column::new(name.into(), v).cast(dtype)
            }
            KeyIds::Str(s) => {
                let v: Vec<Option<&str>> = (ids.iter())
                    .map(|i| s.values[*i as usize].as_deref())
                    .collect();
                Ok(Column::new(name.into(), v))
            }
        }
    }
}

/// Two keys' numbers below this make a slot by a direct table (`PAIR`² slots of 4 bytes).
const PAIR: u32 = 64;

/// The groups of two key columns: a slot per pair of numbers seen.
#[derive(Default)]
struct Pairs {
    direct: Vec<u32>,
    hashed: PlHashMap<u64, u32>,
    /// Each slot's pair.
    pairs: Vec<(u32, u32)>,
}

impl Pairs {
    #[inline(always)]
    fn slot(&mut self, a: u32, b: u32) -> u32 {
        let next = self.pairs.len() as u32;
        if a < PAIR && b < PAIR {
            if self.direct.is_empty() {
                self.direct = vec![u32::MAX; (PAIR * PAIR) as usize];
            }
            let s = &mut self.direct[(a * PAIR + b) as usize];
            if *s == u32::MAX {
                *s = next;
                self.pairs.push((a, b));
            }
            return *s;
        }
        *self
            .hashed
            .entry((u64::from(a) << 32) | u64::from(b))
            .or_insert_with(|| {
                self.pairs.push((a, b));
                next
            })
    }
}

/// A partial column the kernel adds up, of which the aggregations' partial columns are
/// made: a sum is one, a mean a float sum and a count, and a count of a column without nulls
/// is the groups' sizes. Each is added up once, however many aggregations use it (Q1's sums
/// and means of one column share their sum).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    SumI,
    SumF,
    Count,
    Size,
}

/// A value the kernel adds: `i64`s wrap (as Polars' sums do), `f64`s and counts add.
trait Add: Copy {
    const ZERO: Self;
    fn add(self, other: Self) -> Self;
}

impl Add for i64 {
    const ZERO: i64 = 0;
    #[inline(always)]
    fn add(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
}

impl Add for f64 {
    const ZERO: f64 = 0.0;
    #[inline(always)]
    fn add(self, other: f64) -> f64 {
        self + other
    }
}

impl Add for u64 {
    const ZERO: u64 = 0;
    #[inline(always)]
    fn add(self, other: u64) -> u64 {
        self + other
    }
}

/// Up to this many groups, [`Adder`] keeps [`LANES`] copies of each slot.
const FEW: usize = 32;

/// Copies of each slot while groups are few (a power of two).
const LANES: usize = 4;

/// A value per slot, added into: while the groups are few, each slot has [`LANES`] copies
/// and consecutive adds go to consecutive copies, so that adds into one slot do not each
/// wait for the one before (a chain of store-to-load latencies: Q1's 6M rows fall into 4
/// groups); the copies are summed at the end. With many groups, rows rarely meet in a slot.
struct Adder<T> {
    v: Vec<T>,
    shift: u32,
    i: usize,
}

impl<T: Add> Adder<T> {
    fn new(slots: usize) -> Adder<T> {
        let shift = if slots <= FEW {
            LANES.trailing_zeros()
        } else {
            0
        };
        Adder {
            v: vec![T::ZERO; slots << shift],
            shift,
            i: 0,
        }
    }

    #[inline(always)]
    fn add(&mut self, slot: u32, x: T) {
        let k = ((slot as usize) << self.shift) | (self.i & ((1 << self.shift) - 1));
        self.v[k] = self.v[k].add(x);
        self.i += 1;
    }

    fn total(self) -> Vec<T> {
        if self.shift == 0 {
            return self.v;
        }
        (self.v.chunks_exact(1 << self.shift))
            .map(|c| c.iter().fold(T::ZERO, |a, b| a.add(*b)))
            .collect()
    }
}

impl Part {
    /// This part of column `c` in `n` slots, a slot per row in `slots`.
    fn add_up(self, slots: &[u32], c: &Column, n: usize) -> PolarsResult<Column> {
        let name = "".into();
        Ok(match self {
            Part::Size => {
                let mut v = Adder::new(n);
                for s in slots {
                    v.add(*s, 1u64);
                }
                Column::new(name, v.total())
            }
            Part::SumI => {
                let mut v = Adder::new(n);
                each(c, slots, |s, x: i64| v.add(s, x))?;
                Column::new(name, v.total())
            }
            Part::SumF => {
                let mut v = Adder::new(n);
                each(c, slots, |s, x: f64| v.add(s, x))?;
                Column::new(name, v.total())
            }
            Part::Count => {
                let mut v = Adder::new(n);
                each(c, slots, |s, _: f64| v.add(s, 1u64))?;
                Column::new(name, v.total())
            }
        })
    }
}

/// A minimum, maximum or variance's partial results, a value per slot.
enum Acc {
    MinMax {
        v: Vec<i64>,
        seen: Vec<bool>,
        max: bool,
    },
    Var {
        n: Vec<u64>,
        mean: Vec<f64>,
        m2: Vec<f64>,
    },
}

/// Each non-null value of column `c` (of `i64`s or `f64`s) as `T`, with its row's slot.
#[inline(always)]
fn each<T: From<Num>>(c: &Column, slots: &[u32], mut f: impl FnMut(u32, T)) -> PolarsResult<()> {
    let s = c.as_materialized_series();
    match s.dtype() {
        DataType::Float64 => each_of(s.f64()?, slots, |s, v| f(s, T::from(Num::F(v)))),
        _ => each_of(s.i64()?, slots, |s, v| f(s, T::from(Num::I(v)))),
    }
    Ok(())
}

/// Each non-null value of `ca` with its row's slot: a plain loop over the values where a
/// chunk has no nulls. Inlined into each accumulator, so each gets its own loop (measured
/// level with a hand-written loop per type).
#[inline(always)]
fn each_of<A: PolarsNumericType>(
    ca: &ChunkedArray<A>,
    slots: &[u32],
    mut f: impl FnMut(u32, A::Native),
) {
    let mut row = 0;
    for arr in ca.downcast_iter() {
        let (values, len) = (arr.values().as_slice(), arr.len());
        let rows = &slots[row..row + len];
        match arr.validity() {
            None => {
                for (v, s) in values.iter().zip(rows) {
                    f(*s, *v);
                }
            }
            Some(valid) => {
                for ((v, s), ok) in values.iter().zip(rows).zip(valid.iter()) {
                    if ok {
                        f(*s, *v);
                    }
                }
            }
        }
        row += len;
    }
}

/// A value of an `i64` or `f64` column.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl From<Num> for f64 {
    fn from(n: Num) -> f64 {
        match n {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

impl From<Num> for i64 {
    fn from(n: Num) -> i64 {
        match n {
            Num::I(i) => i,
            Num::F(f) => f as i64,
        }
    }
}

impl Acc {
    /// `agg`'s accumulator in `slots` slots, if it is a minimum, maximum or variance.
    fn new(agg: Agg, slots: usize) -> Option<Acc> {
        match agg {
            Agg::Min | Agg::Max => Some(Acc::MinMax {
                v: vec![0; slots],
                seen: vec![false; slots],
                max: agg == Agg::Max,
            }),
            Agg::Var { .. } | Agg::Std { .. } => Some(Acc::Var {
                n: vec![0; slots],
                mean: vec![0.0; slots],
                m2: vec![0.0; slots],
            }),
            Agg::Sum | Agg::Count | Agg::Size | Agg::Mean => None,
        }
    }

    /// Rows `slots` (a slot per row) of column `c` added in.
    fn update(&mut self, slots: &[u32], c: &Column) -> PolarsResult<()> {
        match self {
            Acc::MinMax { v, seen, max } => each(c, slots, |s, x: i64| {
                let s = s as usize;
                let better = if *max { x > v[s] } else { x < v[s] };
                if !seen[s] || better {
                    v[s] = x;
                    seen[s] = true;
                }
            }),
            Acc::Var { n, mean, m2 } => each(c, slots, |s, x: f64| {
                // Welford's update: stable, one pass.
                let s = s as usize;
                n[s] += 1;
                let d = x - mean[s];
                mean[s] += d / n[s] as f64;
                m2[s] += d * (x - mean[s]);
            }),
        }
    }

    /// The partial columns, named as Polars' first level names them.
    fn columns(self, output: &str, out: &mut Vec<Column>) {
        match self {
            Acc::MinMax { v, seen, .. } => {
                let v: Vec<Option<i64>> = v
                    .into_iter()
                    .zip(seen)
                    .map(|(v, s)| s.then_some(v))
                    .collect();
                out.push(Column::new(output.into(), v));
            }
            Acc::Var { n, mean, m2 } => {
                let mean: Vec<Option<f64>> = mean
                    .into_iter()
                    .zip(&n)
                    .map(|(m, n)| (*n > 0).then_some(m))
                    .collect();
                out.push(Column::new(beside(output, "n").into(), n));
                out.push(Column::new(beside(output, "mean").into(), mean));
                out.push(Column::new(output.into(), m2));
            }
        }
    }
}

/// `spec`'s first level of `lf` (whose schema is `schema`, and [`eligible`]).
pub(crate) fn first_level(
    lf: LazyFrame,
    spec: &GroupSpec,
    schema: &Schema,
) -> PolarsResult<PlFrame> {
    let keys = &spec.keys;
    let mut read: Vec<String> = keys.clone();
    for s in &spec.specs {
        if !read.contains(&s.input) {
            read.push(s.input.clone());
        }
    }
    let key_types: Vec<DataType> = (keys.iter())
        .map(|k| schema.get(k).cloned().unwrap_or(DataType::Int64))
        .collect();
    let mut ids: Vec<KeyIds> = (key_types.iter())
        .map(|t| match t {
            DataType::String => KeyIds::Str(Strings::default()),
            _ => KeyIds::Int(Slots::default()),
        })
        .collect();
    // The columns read, collected, then added up here on the calling worker's thread. (A
    // sink of Polars' morsels ran on one thread of Polars' runtime for every partition at
    // once: TPC-H Q1 took 20% longer.)
    let exprs: Vec<Expr> = read.iter().map(|c| col(c.as_str())).collect();
    let df = crate::frame::collect(lf.select(exprs))?;
    // Each row's group: its key's number, or the slot of its two keys' numbers.
    let mut rows = Vec::with_capacity(df.height());
    let mut columns = Vec::new();
    let n = match (&mut ids[..], &keys[..]) {
        ([a], [ka]) => {
            a.ids(df.column(ka)?, &mut rows)?;
            let slots: Vec<u32> = (0..a.len() as u32).collect();
            columns.push(a.column(ka, &slots, &key_types[0])?);
            slots.len()
        }
        ([a, b], [ka, kb]) => {
            a.ids(df.column(ka)?, &mut rows)?;
            let mut second = Vec::with_capacity(df.height());
            b.ids(df.column(kb)?, &mut second)?;
            let mut pairs = Pairs::default();
            for (r, b) in rows.iter_mut().zip(&second) {
                *r = pairs.slot(*r, *b);
            }
            let (first, second): (Vec<u32>, Vec<u32>) = pairs.pairs.into_iter().unzip();
            columns.push(a.column(ka, &first, &key_types[0])?);
            columns.push(b.column(kb, &second, &key_types[1])?);
            first.len()
        }
        _ => {
            return Err(PolarsError::ComputeError(
                "a grouping of other than one or two keys".into(),
            ));
        }
    };
    // The parts added up so far, by part and input column (none for the sizes).
    let mut made: Vec<(Part, String, Column)> = Vec::new();
    let mut part = |part: Part, input: &str, output: String| -> PolarsResult<Column> {
        let c = df.column(input)?;
        let (part, input) = match part {
            Part::Size => (Part::Size, ""),
            Part::Count if c.null_count() == 0 => (Part::Size, ""),
            _ => (part, input),
        };
        let c = match made.iter().find(|(p, i, _)| *p == part && i == input) {
            Some((.., c)) => c.clone(),
            None => {
                let c = part.add_up(&rows, c, n)?;
                made.push((part, input.to_string(), c.clone()));
                c
            }
        };
        Ok(c.with_name(output.into()))
    };
    for s in &spec.specs {
        let float = matches!(schema.get(&s.input), Some(DataType::Float64));
        let (input, output) = (s.input.as_str(), s.output.clone());
        match s.agg {
            Agg::Sum if float => columns.push(part(Part::SumF, input, output)?),
            Agg::Sum => columns.push(part(Part::SumI, input, output)?),
            Agg::Count => columns.push(part(Part::Count, input, output)?),
            Agg::Size => columns.push(part(Part::Size, input, output)?),
            Agg::Mean => {
                columns.push(part(Part::SumF, input, output)?);
                columns.push(part(Part::Count, input, beside(&s.output, "n"))?);
            }
            agg => {
                let mut acc = Acc::new(agg, n).ok_or_else(|| {
                    PolarsError::ComputeError(format!("no accumulator for {agg:?}").into())
                })?;
                acc.update(&rows, df.column(input)?)?;
                acc.columns(&s.output, &mut columns);
            }
        }
    }
    PlFrame::new(n, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::{Level, Spec};
    use polars::prelude::{IntoLazy, SortMultipleOptions, df};
    use proptest::prelude::*;

    fn spec(keys: &[&str]) -> GroupSpec {
        let s = |agg, input: &str, output: &str| Spec {
            agg,
            input: input.into(),
            output: output.into(),
        };
        let key = keys[0];
        GroupSpec {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            specs: vec![
                s(Agg::Sum, "i", "i_sum"),
                s(Agg::Sum, "f", "f_sum"),
                s(Agg::Count, "f", "f_count"),
                s(Agg::Size, key, "size"),
                s(Agg::Mean, "i", "i_mean"),
                // Sharing the sum above, and the count when `f` has no nulls.
                s(Agg::Mean, "f", "f_mean"),
                s(Agg::Count, "i", "i_count"),
                s(Agg::Min, "i", "i_min"),
                s(Agg::Max, "i", "i_max"),
                s(Agg::Var { ddof: 1 }, "f", "f_var"),
                s(Agg::Std { ddof: 0 }, "i", "i_std"),
            ],
        }
    }

    fn by_key(df: PlFrame, keys: &[&str]) -> PlFrame {
        df.sort(keys.to_vec(), SortMultipleOptions::default())
            .unwrap()
    }

    /// The kernel's first level equals Polars' (but for float rounding), in every column.
    fn same_as_polars(df: PlFrame, key: &[&str]) -> Result<(), TestCaseError> {
        let spec = spec(key);
        let schema = (**df.schema()).clone();
        prop_assert!(eligible(&spec, &schema));
        let fast = by_key(first_level(df.clone().lazy(), &spec, &schema).unwrap(), key);
        let slow = by_key(
            spec.apply(df.lazy(), Level::First, false)
                .collect()
                .unwrap(),
            key,
        );
        prop_assert_eq!(fast.schema(), slow.schema());
        prop_assert_eq!(fast.height(), slow.height());
        for (a, b) in fast.columns().iter().zip(slow.columns()) {
            match (a.f64(), b.f64()) {
                (Ok(x), Ok(y)) => {
                    for (x, y) in x.iter().zip(y.iter()) {
                        let ok = match (x, y) {
                            (Some(x), Some(y)) => {
                                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
                                    || (x.is_nan() && y.is_nan())
                            }
                            (x, y) => x == y,
                        };
                        prop_assert!(ok, "{}: {:?} vs {:?}", a.name(), x, y);
                    }
                }
                _ => prop_assert!(a.equals_missing(b), "{}:\n{}\nvs\n{}", a.name(), fast, slow),
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_kernel_is_polars_first_level(
            rows in proptest::collection::vec(
                (
                    proptest::option::weighted(0.9, prop_oneof![0i64..50, -5i64..5, 60_000i64..70_000, Just(i64::MIN), Just(i64::MAX)]),
                    proptest::option::weighted(0.8, -1000i64..1000),
                    proptest::option::weighted(0.8, -1e3f64..1e3),
                    // Strings held in their views (up to 12 bytes) and longer ones.
                    proptest::option::weighted(0.9, proptest::sample::select(vec![
                        "", "A", "N", "R", "O", "F", "twelve bytes", "thirteen byte",
                        "a string of more than twelve bytes", "a string of more than twelve bytez",
                    ])),
                    // A second integer key: numbers past the pairs' direct table too.
                    proptest::option::weighted(0.9, prop_oneof![0i32..3, 0i32..200]),
                ),
                0..300,
            ),
        ) {
            let mut k = Vec::new();
            let mut i = Vec::new();
            let mut f = Vec::new();
            let mut s = Vec::new();
            let mut j = Vec::new();
            for (a, b, c, d, e) in rows {
                k.push(a);
                i.push(b);
                f.push(c);
                s.push(d);
                j.push(e);
            }
            let df = df!("k" => k, "i" => i, "f" => f, "s" => s, "j" => j).unwrap();
            for keys in [&["k"][..], &["s"], &["s", "j"], &["k", "s"], &["j", "k"]] {
                same_as_polars(df.clone(), keys)?;
            }
        }
    }

    #[test]
    fn narrower_keys_keep_their_type_and_other_columns_are_not_eligible() {
        let df =
            df!("k" => [3i32, 1, 3, -2], "i" => [1i64, 2, 3, 4], "f" => [0.5, 1.5, f64::NAN, 2.0])
                .unwrap();
        same_as_polars(df, &["k"]).unwrap();
        let s = |agg, input: &str| GroupSpec {
            keys: vec!["k".into()],
            specs: vec![Spec {
                agg,
                input: input.into(),
                output: "o".into(),
            }],
        };
        let schema = df!("k" => ["a"], "i" => [1i32], "f" => [1.0], "n" => [1i64])
            .unwrap()
            .schema()
            .as_ref()
            .clone();
        assert!(eligible(&s(Agg::Sum, "n"), &schema), "a string key");
        let mut three = s(Agg::Sum, "n");
        three.keys = vec!["k".into(), "i".into(), "k".into()];
        assert!(!eligible(&three, &schema), "three keys");
        three.keys = vec!["k".into(), "f".into()];
        assert!(!eligible(&three, &schema), "a float key");
        let schema = df!("k" => [1u64], "i" => [1i32], "f" => [1.0])
            .unwrap()
            .schema()
            .as_ref()
            .clone();
        assert!(!eligible(&s(Agg::Sum, "f"), &schema), "a u64 key");
        let schema = df!("k" => [1i64], "i" => [1i32], "f" => [1.0])
            .unwrap()
            .schema()
            .as_ref()
            .clone();
        assert!(!eligible(&s(Agg::Sum, "i"), &schema), "an i32 value");
        assert!(!eligible(&s(Agg::Min, "f"), &schema), "a float minimum");
        assert!(eligible(&s(Agg::Mean, "f"), &schema));
    }
}
