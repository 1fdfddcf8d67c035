//! Counting the words of lines: `str().split(sep).flatten().frequencies()` in one sink, the
//! words counted where they are found (no item per word), in a table that keeps short words
//! inline (a lookup of a word already seen reads one bucket, not a bucket, an index and a
//! heap string).

use std::hash::BuildHasher;

use rask_graph::item::ItemRef;
use rask_graph::{TaskError, Value};
use rustc_hash::FxBuildHasher;

use crate::item::{Collector, Partition};

/// Words this long or shorter are kept in the table's bucket.
const INLINE: usize = 22;

/// A word as the table keeps it.
enum Word {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Word {
    fn new(w: &str) -> Word {
        if w.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..w.len()].copy_from_slice(w.as_bytes());
            Word::Inline {
                len: w.len() as u8,
                bytes,
            }
        } else {
            Word::Heap(w.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Word::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Word::Heap(s) => s.as_bytes(),
        }
    }

    fn into_string(self) -> String {
        match self {
            // Only whole `str`s are stored: the bytes are UTF-8.
            Word::Inline { len, bytes } => {
                String::from_utf8_lossy(&bytes[..usize::from(len)]).into_owned()
            }
            Word::Heap(s) => s.into(),
        }
    }
}

struct Entry {
    word: Word,
    count: u64,
    /// When it was first seen: the results are in first-seen order.
    seen: u32,
}

/// How many times each word occurs, words split at `sep` (at whitespace when `None`).
pub(crate) struct WordCounts {
    sep: Option<String>,
    table: hashbrown::HashTable<Entry>,
    hasher: FxBuildHasher,
}

impl WordCounts {
    pub(crate) fn new(sep: Option<String>) -> Self {
        WordCounts {
            sep,
            table: hashbrown::HashTable::new(),
            hasher: FxBuildHasher,
        }
    }
}

/// One more of `word`.
#[inline(always)]
fn count(table: &mut hashbrown::HashTable<Entry>, hasher: &FxBuildHasher, word: &str) {
    let hash = hasher.hash_one(word.as_bytes());
    match table.find_mut(hash, |e| e.word.as_bytes() == word.as_bytes()) {
        Some(e) => e.count += 1,
        None => {
            let seen = table.len() as u32;
            let entry = Entry {
                word: Word::new(word),
                count: 1,
                seen,
            };
            table.insert_unique(hash, entry, |e| hasher.hash_one(e.word.as_bytes()));
        }
    }
}

impl Collector for WordCounts {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        let line = item.get::<String>()?;
        let WordCounts { table, hasher, .. } = self;
        crate::func::split(line, self.sep.as_deref(), &mut |word| {
            count(table, hasher, word);
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        let mut entries: Vec<Entry> = self.table.into_iter().collect();
        entries.sort_unstable_by_key(|e| e.seen);
        let counts: Vec<(String, u64)> = (entries.into_iter())
            .map(|e| (e.word.into_string(), e.count))
            .collect();
        Ok(Value::new(Partition(counts)))
    }
}
