//! The bag's one op: a partition's pipeline — a source, stages, and a sink — registered once,
//! its types carried as vtables (see `item.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use rask_graph::files::Staging;
use rask_graph::item::ItemRef;
use rask_graph::{Args, Arity, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::func::{Func, Stage, drive};
use crate::item::{
    Collector, GroupFns, HashFns, ItemFns, KeyedFns, NumFns, OrdFns, Partition, TopKBy, Ty,
};
use crate::source::Source;
use crate::words::WordCounts;

/// Mean and variance pieces of a partition (Chan et al.'s parallel algorithm combines them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// How many items.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// The sum of squared differences from the mean.
    pub m2: f64,
}

impl Moments {
    /// One more value (Welford).
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Two sets of moments as one.
    pub fn merge(self, other: Moments) -> Moments {
        if self.n == 0 {
            return other;
        }
        if other.n == 0 {
            return self;
        }
        let n = self.n + other.n;
        let d = other.mean - self.mean;
        let (a, b) = (self.n as f64, other.n as f64);
        Moments {
            n,
            mean: self.mean + d * b / n as f64,
            m2: self.m2 + other.m2 + d * d * a * b / n as f64,
        }
    }
}

/// What a pipeline ends in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Sink {
    /// A partition (of at most `limit` items).
    Collect {
        item: Ty<ItemFns>,
        limit: Option<u64>,
    },
    /// How many items: a one-item partition of `u64`.
    Count,
    /// `binop` folded over the items; the task's last argument is the initial value if
    /// `initial`.
    Fold {
        acc: Ty<ItemFns>,
        binop: Func,
        initial: bool,
    },
    /// `(item, count)` pairs.
    Frequencies(Ty<HashFns>),
    /// `(item, count)` pairs merged, counts added.
    MergeFrequencies(Ty<HashFns>),
    /// Distinct items.
    Distinct(Ty<HashFns>),
    /// The `k` largest or smallest.
    TopK {
        item: Ty<OrdFns>,
        k: u64,
        largest: bool,
    },
    /// The `k` items of the largest or smallest keys.
    TopKBy {
        item: Ty<ItemFns>,
        key_ord: Ty<OrdFns>,
        key: Func,
        k: u64,
        largest: bool,
    },
    /// The sum, one item.
    Sum(Ty<NumFns>),
    /// Moments of numbers.
    Moments(Ty<NumFns>),
    /// Moments merged.
    MergeMoments,
    /// Whether all (`true`) or any (`false`) of the `bool` items are true.
    AllAny(bool),
    /// `binop` folded by `key`; the last argument the initial value if `initial`.
    FoldBy {
        pair: Ty<KeyedFns>,
        key: Func,
        binop: Func,
        initial: bool,
    },
    /// `(key, value)` pairs merged by key with `combine`.
    MergeBy {
        pair: Ty<KeyedFns>,
        combine: Func,
        initial: bool,
    },
    /// How many times each word occurs in `String` items split at `sep` (at whitespace when
    /// `None`): a split, flatten and frequencies in one, the words counted where they are
    /// found.
    WordFrequencies { sep: Option<String> },
    /// The items in bucket order, a bucket the hash of an item's key modulo `of` (the
    /// first step of a shuffle; [`Source::Bucket`] takes a bucket out).
    Split {
        item: Ty<ItemFns>,
        key: Func,
        key_hash: Ty<HashFns>,
        of: u64,
        spill: Option<Spill>,
    },
    /// Items grouped by key into `(key, items)` pairs.
    Group { pair: Ty<GroupFns>, key: Func },
    /// A HyperLogLog sketch of the items.
    Sketch(Ty<HashFns>),
    /// Sketches merged.
    MergeSketches,
    /// `String` items written as lines to `path`'s staging file (compressed as `path`'s
    /// extension says); the partition of `path`, the file it is to become.
    WriteText { path: PathBuf, staging: Staging },
    /// Every written file (the items, final paths) moved from the staging folder into
    /// place; then the folder removed. The partition of the paths.
    MoveIntoPlace { staging: Staging },
    /// The items as JSON lines, one `String` (each line ends in a newline).
    JsonLines(Ty<ItemFns>),
    /// The whole partition of `input` items handed to `f` as one `Vec`; its result (or the
    /// elements of it, when `f` is flat) collected into a partition of `output` items.
    Apply {
        input: Ty<ItemFns>,
        f: Func,
        output: Ty<ItemFns>,
    },
}

/// The bucket of an item: the hash of its key, `key(item)`, modulo `of`.
fn bucket(item: ItemRef<'_>, key: &Func, key_hash: &HashFns, of: u64) -> Result<u64, TaskError> {
    let mut hash = None;
    let mut item = item;
    (key.call())(&mut [item.reborrow()], &mut |k| {
        hash = Some((key_hash.hash64)(&k)?);
        Ok(())
    })?;
    let hash = hash.ok_or_else(|| TaskError::new("the key function gave no key"))?;
    Ok(crate::hll::mix(hash) % of.max(1))
}

/// The bucket of item `i` of partition value `v`.
pub(crate) fn bucket_of(
    v: &Value,
    i: usize,
    item: &ItemFns,
    key: &Func,
    key_hash: &HashFns,
    of: u64,
) -> Result<u64, TaskError> {
    let mut b = None;
    (item.at)(v, i, &mut |x| {
        b = Some(bucket(x, key, key_hash, of)?);
        Ok(())
    })?;
    b.ok_or_else(|| TaskError::new(format!("no item {i}")))
}

/// Where a shuffle's split goes past its memory budget.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Spill {
    /// The bytes a split keeps in memory before it writes its buckets out.
    pub(crate) budget: u64,
    /// The folder of the files.
    pub(crate) dir: PathBuf,
}

/// Items into buckets, then the buckets concatenated in order — or, past the memory budget,
/// written to a file bucket by bucket.
struct Split {
    item: &'static ItemFns,
    key: Func,
    key_hash: &'static HashFns,
    buckets: Vec<Box<dyn Collector>>,
    spill: Option<Spill>,
    file: Option<crate::spill::SpillFile>,
    pushed: u64,
}

/// How many items a split takes between two looks at its memory.
const SPILL_CHECK_EVERY: u64 = 1024;

impl Split {
    /// Writes the buckets held in memory out to the file (made on first use).
    fn spill_buckets(&mut self, dir: &std::path::Path) -> Result<(), TaskError> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(crate::spill::SpillFile::create(dir, self.buckets.len())?),
        };
        for (j, b) in self.buckets.iter_mut().enumerate() {
            let full = std::mem::replace(b, (self.item.collect)(None));
            let v = full.finish()?;
            if (self.item.len)(&v)? > 0 {
                file.append(j, &v)?;
            }
        }
        Ok(())
    }
}

impl Collector for Split {
    fn push(&mut self, mut item: ItemRef<'_>) -> Result<(), TaskError> {
        let b = bucket(
            item.reborrow(),
            &self.key,
            self.key_hash,
            self.buckets.len() as u64,
        )?;
        self.buckets[b as usize].push(item)?;
        self.pushed += 1;
        if let Some(spill) = &self.spill
            && self.pushed.is_multiple_of(SPILL_CHECK_EVERY)
        {
            let held: usize = self.buckets.iter().map(|b| b.nbytes()).sum();
            if held as u64 > spill.budget {
                let dir = spill.dir.clone();
                self.spill_buckets(&dir)?;
            }
        }
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<Value, TaskError> {
        if self.file.is_some() {
            let dir = self
                .spill
                .as_ref()
                .map(|s| s.dir.clone())
                .unwrap_or_default();
            self.spill_buckets(&dir)?;
            let file = self
                .file
                .take()
                .ok_or_else(|| TaskError::new("no spill file"))?;
            return Ok(Value::new(file.finish()?));
        }
        let parts = (self.buckets.into_iter())
            .map(|b| b.finish())
            .collect::<Result<Vec<Value>, TaskError>>()?;
        (self.item.concat)(parts)
    }
}

/// A partition collected, then handed whole to a function.
struct Apply {
    items: Box<dyn Collector>,
    input: &'static ItemFns,
    f: Func,
    output: Box<dyn Collector>,
}

impl Collector for Apply {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.items.push(item)
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        let Apply {
            items,
            input,
            f,
            mut output,
        } = *self;
        let items = items.finish()?;
        (input.as_vec)(items, &mut |mut part: ItemRef<'_>| {
            (f.call())(&mut [part.reborrow()], &mut |item: ItemRef<'_>| {
                output.push(item)
            })
        })?;
        output.finish()
    }
}

struct Count(u64);

impl Collector for Count {
    fn push(&mut self, _: ItemRef<'_>) -> Result<(), TaskError> {
        self.0 += 1;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.0])))
    }
}

/// Items written as JSON lines into one text.
struct JsonLines {
    item: &'static ItemFns,
    text: Vec<u8>,
}

impl Collector for JsonLines {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        (self.item.write_json)(&item, &mut self.text)?;
        self.text.push(b'\n');
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        let text = String::from_utf8(self.text)
            .map_err(|e| TaskError::new(format!("JSON text that is not UTF-8: {e}")))?;
        Ok(Value::new(text))
    }
    fn nbytes(&self) -> usize {
        self.text.len()
    }
}

struct MomentsOf(Ty<NumFns>, Moments);

impl Collector for MomentsOf {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.1.push((self.0.0.to_f64)(&item)?);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.1])))
    }
}

struct MergeMoments(Moments);

impl Collector for MergeMoments {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.0 = self.0.merge(*item.get::<Moments>()?);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.0])))
    }
}

struct AllAny {
    all: bool,
    result: bool,
}

impl Collector for AllAny {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        let b = *item.get::<bool>()?;
        self.result = if self.all {
            self.result && b
        } else {
            self.result || b
        };
        Ok(())
    }
    fn full(&self) -> bool {
        self.result != self.all
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.result])))
    }
}

struct Fold {
    acc: Box<dyn crate::item::Accumulator>,
    binop: Func,
    initial: Option<Value>,
}

impl Collector for Fold {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.acc
            .fold(item, self.binop.call(), self.initial.as_ref())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        self.acc.finish(self.initial.as_ref())
    }
}

struct FoldBy {
    table: Box<dyn crate::item::KeyedFolder>,
    key: Option<Func>,
    f: Func,
    initial: Option<Value>,
}

impl Collector for FoldBy {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        match &self.key {
            Some(key) => self
                .table
                .fold(item, key.call(), self.f.call(), self.initial.as_ref()),
            None => self.table.merge(item, self.f.call(), self.initial.as_ref()),
        }
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(self.table.finish())
    }
}

impl Sink {
    /// The sink's collector, and how many of the task's arguments it takes (from the end).
    fn start(&self, args: &mut Args) -> Result<Box<dyn Collector>, TaskError> {
        let mut initial = |wanted: bool| -> Result<Option<Value>, TaskError> {
            if !wanted {
                return Ok(None);
            }
            args.pop()
                .map(Some)
                .ok_or_else(|| TaskError::new("the initial value is missing"))
        };
        Ok(match self {
            Sink::Collect { item, limit } => {
                (item.fns().collect)(limit.map(|l| l.try_into().unwrap_or(usize::MAX)))
            }
            Sink::Count => Box::new(Count(0)),
            Sink::JsonLines(item) => Box::new(JsonLines {
                item: item.0,
                text: Vec::new(),
            }),
            Sink::Fold {
                acc,
                binop,
                initial: i,
            } => Box::new(Fold {
                acc: (acc.fns().fold)(),
                binop: binop.clone(),
                initial: initial(*i)?,
            }),
            Sink::Frequencies(t) => (t.0.frequencies)(),
            Sink::MergeFrequencies(t) => (t.0.merge_frequencies)(),
            Sink::Distinct(t) => (t.0.distinct)(),
            Sink::TopK { item, k, largest } => {
                (item.0.topk)((*k).try_into().unwrap_or(usize::MAX), *largest)
            }
            Sink::TopKBy {
                item,
                key_ord,
                key,
                k,
                largest,
            } => Box::new(TopKBy {
                item: item.0,
                key_ord: key_ord.0,
                key: Arc::clone(key.call()),
                k: (*k).try_into().unwrap_or(usize::MAX),
                largest: *largest,
                kept: Vec::new(),
            }),
            Sink::Sum(t) => (t.0.sum)(),
            Sink::Moments(t) => Box::new(MomentsOf(*t, Moments::default())),
            Sink::MergeMoments => Box::new(MergeMoments(Moments::default())),
            Sink::AllAny(all) => Box::new(AllAny {
                all: *all,
                result: *all,
            }),
            Sink::FoldBy {
                pair,
                key,
                binop,
                initial: i,
            } => Box::new(FoldBy {
                table: (pair.0.folder)(),
                key: Some(key.clone()),
                f: binop.clone(),
                initial: initial(*i)?,
            }),
            Sink::MergeBy {
                pair,
                combine,
                initial: i,
            } => Box::new(FoldBy {
                table: (pair.0.folder)(),
                key: None,
                f: combine.clone(),
                initial: initial(*i)?,
            }),
            Sink::Split {
                item,
                key,
                key_hash,
                of,
                spill,
            } => Box::new(Split {
                item: item.0,
                key: key.clone(),
                key_hash: key_hash.0,
                buckets: (0..*of).map(|_| (item.0.collect)(None)).collect(),
                spill: spill.clone(),
                file: None,
                pushed: 0,
            }),
            Sink::Group { pair, key } => (pair.0.grouper)(Arc::clone(key.call())),
            Sink::Sketch(t) => Box::new(crate::hll::Sketcher {
                item: t.0,
                sketch: Default::default(),
            }),
            Sink::MergeSketches => Box::new(crate::hll::MergeSketches::default()),
            Sink::WriteText { path, staging } => {
                Box::new(crate::write::TextWriter::create(path, staging)?)
            }
            Sink::MoveIntoPlace { staging } => Box::new(crate::write::MoveIntoPlace::new(staging)),
            Sink::WordFrequencies { sep } => Box::new(WordCounts::new(sep.clone())),
            Sink::Apply { input, f, output } => Box::new(Apply {
                items: (input.0.collect)(None),
                input: input.0,
                f: f.clone(),
                output: (output.0.collect)(None),
            }),
        })
    }
}

/// A partition's work: items from `source`, through `stages`, into `sink`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pipeline {
    pub(crate) source: Source,
    pub(crate) stages: Arc<[Stage]>,
    pub(crate) sink: Sink,
    /// What the task is called (`map`, `frequencies`, …).
    pub(crate) label: Arc<str>,
}

impl Op for Pipeline {
    fn name(&self) -> &str {
        &self.label
    }

    fn run(&self, mut args: Args) -> Result<Value, TaskError> {
        // The words of a text file counted straight from its blocks of lines: whitespace
        // includes the line breaks, so no line need be handed on.
        if let (Source::Text(lines), [], Sink::WordFrequencies { sep: None }) =
            (&self.source, &*self.stages, &self.sink)
        {
            let mut counts = WordCounts::new(None);
            lines.read_blocks(&mut |text| counts.count_text(text))?;
            return Box::new(counts).finish();
        }
        let mut sink = self.sink.start(&mut args)?;
        let stages = &*self.stages;
        let full = std::cell::Cell::new(false);
        {
            let mut last = |item: ItemRef<'_>| {
                sink.push(item)?;
                full.set(sink.full());
                Ok(())
            };
            let mut push = |mut item: ItemRef<'_>| drive(stages, &mut item, &mut last);
            self.source.feed(args, &mut push, &mut || full.get())?;
        }
        sink.finish()
    }

    fn arity(&self) -> Arity {
        Arity::Any
    }
}

rask_graph::register_op!(Pipeline, "rask-bag.pipeline");
