//! Counting the words of lines: `str().split(sep).flatten().frequencies()` in one sink, the
//! words counted where they are found (no item per word), in a table that keeps short words
//! packed in its buckets (a lookup of a word already seen reads one bucket and compares
//! three `u64`s: no index, no heap string, no call to compare bytes).

use std::hash::BuildHasher;

use rask_graph::item::ItemRef;
use rask_graph::{TaskError, Value};
use rustc_hash::FxBuildHasher;

use crate::item::{Collector, Partition};

/// Words this long or shorter (in bytes) are kept packed in the table's bucket.
const SHORT: usize = 23;

/// A short word packed: its length, then its bytes, zero-padded to 24 bytes — two packed
/// words are equal when their three `u64`s are (no call to compare bytes).
type Packed = [u64; 3];

/// `word`, packed, if it is short; `text` is what it was found in (when the 23 bytes from
/// its start lie within `text`, they are read at once and masked).
#[inline(always)]
fn pack(word: &str, text: &str) -> Option<Packed> {
    let len = word.len();
    if len > SHORT {
        return None;
    }
    let mut buf = [0u8; 24];
    let from = (word.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match text.as_bytes().get(from..from.wrapping_add(SHORT)) {
        Some(window) => buf[1..].copy_from_slice(window),
        None => buf[1..=len].copy_from_slice(word.as_bytes()),
    }
    buf[0] = len as u8;
    let mut key = [0u64; 3];
    for (j, k) in key.iter_mut().enumerate() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&buf[8 * j..8 * j + 8]);
        // Keep the length byte and the word's bytes; clear what followed it.
        let keep = (len + 1).saturating_sub(8 * j).min(8);
        let mask = if keep == 8 {
            !0
        } else {
            (1u64 << (8 * keep)) - 1
        };
        *k = u64::from_le_bytes(eight) & mask;
    }
    Some(key)
}

/// A packed word's text.
fn unpack(key: &Packed) -> String {
    let mut buf = [0u8; 24];
    for (j, k) in key.iter().enumerate() {
        buf[8 * j..8 * j + 8].copy_from_slice(&k.to_le_bytes());
    }
    let len = usize::from(buf[0]).min(SHORT);
    // Only whole `str`s are packed: the bytes are UTF-8.
    String::from_utf8_lossy(&buf[1..=len]).into_owned()
}

struct Entry {
    key: Packed,
    count: u64,
    /// When it was first seen: the results are in first-seen order.
    seen: u64,
}

/// How many times each word occurs, words split at `sep` (at whitespace when `None`): short
/// words in a table of packed keys, the rare long ones in a map of their own.
pub(crate) struct WordCounts {
    sep: Option<String>,
    short: hashbrown::HashTable<Entry>,
    long: indexmap::IndexMap<String, (u64, u64), FxBuildHasher>,
    seen: u64,
}

impl WordCounts {
    pub(crate) fn new(sep: Option<String>) -> Self {
        WordCounts {
            sep,
            short: hashbrown::HashTable::new(),
            long: indexmap::IndexMap::default(),
            seen: 0,
        }
    }

    /// One more of `word`, found in `text`.
    #[inline(always)]
    fn count(&mut self, word: &str, text: &str) {
        let Some(key) = pack(word, text) else {
            return self.count_long(word);
        };
        let hash = FxBuildHasher.hash_one(key);
        match self.short.find_mut(hash, |e| e.key == key) {
            Some(e) => e.count += 1,
            None => {
                let entry = Entry {
                    key,
                    count: 1,
                    seen: self.seen,
                };
                self.seen += 1;
                self.short
                    .insert_unique(hash, entry, |e| FxBuildHasher.hash_one(e.key));
            }
        }
    }

    fn count_long(&mut self, word: &str) {
        match self.long.get_mut(word) {
            Some((n, _)) => *n += 1,
            None => {
                self.long.insert(word.to_owned(), (1, self.seen));
                self.seen += 1;
            }
        }
    }
}

impl WordCounts {
    /// Counts the words of `text`, split at whitespace (its lines' breaks included).
    pub(crate) fn count_text(&mut self, text: &str) -> Result<(), TaskError> {
        let mut one = |word: &str| {
            self.count(word, text);
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
        let sep = self.sep.take();
        let counted = crate::func::split(line, sep.as_deref(), &mut |word| {
            self.count(word, line);
            Ok(())
        });
        self.sep = sep;
        counted
    }

    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        let mut entries: Vec<(u64, String, u64)> = (self.short.into_iter())
            .map(|e| (e.seen, unpack(&e.key), e.count))
            .chain(self.long.into_iter().map(|(w, (n, seen))| (seen, w, n)))
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

    proptest! {
        #[test]
        fn packed_words_are_equal_when_their_text_is(text in "[aé€ ]{0,40}") {
            // Each word packed from within the text (read 23 bytes at a time, or near the
            // end copied) and alone: the same key, and the word back.
            let mut keys = std::collections::HashMap::new();
            for w in text.split(' ') {
                let packed = super::pack(w, &text);
                prop_assert_eq!(packed, super::pack(w, w));
                match packed {
                    Some(k) => {
                        prop_assert_eq!(super::unpack(&k), w);
                        if let Some(other) = keys.insert(k, w) {
                            prop_assert_eq!(other, w);
                        }
                    }
                    None => prop_assert!(w.len() > super::SHORT),
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
