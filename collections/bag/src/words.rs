//! Counting the words of lines: `str().split(sep).flatten().frequencies()` in one sink, the
//! words counted where they are found (no item per word). A word of up to 15 bytes is its
//! bytes and length packed in two `u64`s, read from the text it was found in with two loads:
//! the table's hash and its comparisons are arithmetic on those, with no call to hash or
//! compare bytes (a lookup of a word already seen reads one bucket). Longer words, rare in
//! prose, have a map of their own.

use rask_graph::item::ItemRef;
use rask_graph::{TaskError, Value};
use rustc_hash::FxBuildHasher;

use crate::item::{Collector, Partition};

/// Words this long or shorter (in bytes) are packed.
const SHORT: usize = 15;

/// A short word packed: its bytes little-endian in `lo` (the first eight) and `hi` (the rest,
/// then zeros), its length in `hi`'s top byte — two words are the same when their keys are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed {
    lo: u64,
    hi: u64,
}

impl Packed {
    /// `word` packed, if it is short; `text` is what it was found in: when the 16 bytes from
    /// the word's start lie within it, they are read with two loads and masked.
    #[inline(always)]
    fn of(word: &str, text: &str) -> Option<Packed> {
        let len = word.len();
        if len > SHORT || len == 0 {
            return None;
        }
        let from = (word.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let mut window = [0u8; 16];
        let bytes = match text.as_bytes().get(from..from.wrapping_add(16)) {
            Some(w) => w,
            None => {
                window[..len].copy_from_slice(word.as_bytes());
                &window
            }
        };
        let eight = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        // `len` is 1..=15: the first shift is at most 56, and so is the second.
        let lo_mask = u64::MAX >> (64 - 8 * len.min(8));
        let hi_mask = (1u64 << (8 * len.saturating_sub(8))) - 1;
        Some(Packed {
            lo: eight(0) & lo_mask,
            hi: (eight(8) & hi_mask) | (len as u64) << 56,
        })
    }

    /// The hash of the key: a folded multiply of its halves (wyhash's mixing step).
    #[inline(always)]
    fn hash(self) -> u64 {
        let m = u128::from(self.lo ^ 0x243F_6A88_85A3_08D3)
            * u128::from(self.hi ^ 0x1319_8A2E_0370_7344);
        (m as u64) ^ (m >> 64) as u64
    }

    /// The word back.
    fn word(self) -> String {
        let len = ((self.hi >> 56) as usize).min(SHORT);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.lo.to_le_bytes());
        bytes[8..].copy_from_slice(&self.hi.to_le_bytes());
        // Only whole `str`s are packed: the bytes are UTF-8.
        String::from_utf8_lossy(&bytes[..len]).into_owned()
    }
}

struct Entry {
    key: Packed,
    count: u64,
    /// When it was first seen: the results are in first-seen order.
    seen: u64,
}

/// How many times each word occurs, words split at `sep` (at whitespace when `None`).
pub(crate) struct WordCounts {
    sep: Option<String>,
    table: Table,
}

/// The counts: short words packed, longer ones (and the empty word) by their text.
#[derive(Default)]
struct Table {
    short: hashbrown::HashTable<Entry>,
    /// Count and first sight.
    long: hashbrown::HashMap<Box<str>, (u64, u64), FxBuildHasher>,
}

impl Table {
    /// One more of `word`, found in `text`.
    #[inline(always)]
    fn count(&mut self, word: &str, text: &str) {
        let Some(key) = Packed::of(word, text) else {
            return self.count_long(word);
        };
        let hash = key.hash();
        let seen = self.seen();
        match self.short.find_mut(hash, |e| e.key == key) {
            Some(e) => e.count += 1,
            None => {
                let entry = Entry {
                    key,
                    count: 1,
                    seen,
                };
                self.short.insert_unique(hash, entry, |e| e.key.hash());
            }
        }
    }

    #[inline(never)]
    fn count_long(&mut self, word: &str) {
        let seen = self.seen();
        match self.long.get_mut(word) {
            Some((n, _)) => *n += 1,
            None => {
                self.long.insert(word.into(), (1, seen));
            }
        }
    }

    /// How many words have been seen: the next new word's place in first-seen order.
    fn seen(&self) -> u64 {
        (self.short.len() + self.long.len()) as u64
    }
}

impl WordCounts {
    pub(crate) fn new(sep: Option<String>) -> Self {
        WordCounts {
            sep,
            table: Table::default(),
        }
    }

    /// Counts the words of `text`, split at whitespace (its lines' breaks included).
    pub(crate) fn count_text(&mut self, text: &str) -> Result<(), TaskError> {
        let mut one = |word: &str| {
            self.table.count(word, text);
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
        let WordCounts { sep, table } = self;
        crate::func::split(line, sep.as_deref(), &mut |word| {
            table.count(word, line);
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        let Table { short, long } = self.table;
        let mut entries: Vec<(u64, String, u64)> = (short.into_iter())
            .map(|e| (e.seen, e.key.word(), e.count))
            .chain((long.into_iter()).map(|(w, (n, seen))| (seen, w.into(), n)))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let counts: Vec<(String, u64)> = (entries.into_iter())
            .map(|(_, word, count)| (word, count))
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

    use super::{Packed, SHORT};

    proptest! {
        #[test]
        fn packed_words_are_equal_exactly_when_their_text_is(text in "[ab\\x00é ]{0,40}") {
            // Each word packed from within the text (16 bytes read at once, or near the end
            // copied) and on its own: the same key, and the word back; two keys are equal
            // only for the same word.
            let mut words = std::collections::HashMap::new();
            for w in text.split(' ') {
                let packed = Packed::of(w, &text);
                prop_assert_eq!(packed, Packed::of(w, w));
                match packed {
                    Some(k) => {
                        prop_assert_eq!(k.word(), w);
                        if let Some(other) = words.insert((k.lo, k.hi), w) {
                            prop_assert_eq!(other, w);
                        }
                    }
                    None => prop_assert!(w.is_empty() || w.len() > SHORT),
                }
            }
        }

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
