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

impl WordCounts {
    /// Counts the words of `text`, split at whitespace (its lines' breaks included).
    pub(crate) fn count_text(&mut self, text: &str) -> Result<(), TaskError> {
        let WordCounts { table, hasher, .. } = self;
        let mut one = |word: &str| {
            count(table, hasher, word);
            Ok(())
        };
        if text.is_ascii() {
            ascii_words(text, &mut one)
        } else {
            text.split_whitespace().try_for_each(one)
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

/// `f` on each run of non-whitespace in ASCII text `s`: what `split_whitespace` gives (its
/// ASCII whitespace: space and `\t` to `\r`), found 64 bytes at a time from a mask of the
/// whitespace bytes — no branch per byte, and one call per word.
fn ascii_words<F: FnMut(&str) -> Result<(), TaskError>>(
    s: &str,
    f: &mut F,
) -> Result<(), TaskError> {
    let bytes = s.as_bytes();
    // Where the word being read started, if one is.
    let mut start: Option<usize> = None;
    for (block, chunk) in bytes.chunks(64).enumerate() {
        let base = block * 64;
        let mask = whitespace_mask(chunk);
        let mut i = 0u32;
        while i < 64 {
            match start {
                Some(a) => {
                    // The word ends at the next whitespace byte (or runs on).
                    let rest = mask >> i;
                    if rest == 0 {
                        break;
                    }
                    let end = i + rest.trailing_zeros();
                    f(&s[a..base + end as usize])?;
                    start = None;
                    i = end;
                }
                None => {
                    // The next word starts at the next other byte (or none here).
                    let rest = !mask >> i;
                    if rest == 0 {
                        break;
                    }
                    i += rest.trailing_zeros();
                    start = Some(base + i as usize);
                }
            }
        }
    }
    match start {
        Some(a) => f(&s[a..]),
        None => Ok(()),
    }
}

/// Bit `i` set where `chunk[i]` (ASCII) is whitespace, and past the chunk's end.
fn whitespace_mask(chunk: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut mask = 0u64;
    for (k, eight) in chunk.chunks(8).enumerate() {
        let mut word = [b' '; 8];
        word[..eight.len()].copy_from_slice(eight);
        let x = u64::from_le_bytes(word);
        // Every byte is below 0x80, so no sum carries into the next byte.
        let at_least_tab = x + (0x80 - 0x09) * ONES;
        let past_cr = x + (0x80 - 0x0E) * ONES;
        let space = x ^ (0x20 * ONES);
        let not_space = space + 0x7F * ONES;
        let ws = ((at_least_tab & !past_cr) | !not_space) & HIGH;
        // The high bits gathered into 8 bits, byte j to bit j.
        let bits = ((ws >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * k);
    }
    if chunk.len() < 64 {
        mask |= !0u64 << chunk.len();
    }
    mask
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ascii_words_are_split_whitespace(s in "[a-z \\t\\n\\x0b\\x0c\\r\\x00-\\x1f\\x7f]{0,300}") {
            let mut got = Vec::new();
            super::ascii_words(&s, &mut |w| {
                got.push(w.to_owned());
                Ok(())
            })
            .unwrap();
            let want: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
            prop_assert_eq!(got, want);
        }
    }
}
