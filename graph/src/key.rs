//! Keys: how tasks and their results are named.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The block index of a key: `(i, j, …)`. Up to four dimensions are stored inline.
pub type KeyIndex = SmallVec<[u32; 4]>;

/// The name of one task and of the value it produces: a tokenized name plus a block index.
///
/// Keys display like Dask's: `('ones-3f9a…', 2, 0)`, or `'ones-3f9a…'` with an empty index. All
/// the keys of one layer share one `Arc<str>` name, so a key is cheap to clone.
///
/// ```
/// use rask_graph::Key;
///
/// let k = Key::new("sum-aggregate-3f9a", [0]);
/// assert_eq!(k.to_string(), "('sum-aggregate-3f9a', 0)");
/// assert_eq!(Key::new("x", []).to_string(), "'x'");
/// ```
#[derive(Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    name: Arc<str>,
    #[serde(deserialize_with = "deserialize_index")]
    index: KeyIndex,
}

/// Decodes a key index of any length: the integers are read one at a time, so untrusted bytes
/// cannot make the decoder reserve memory for a length it has not seen (every index encoded is
/// decoded: a key of 65 dimensions round-trips).
pub(crate) fn deserialize_index<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<KeyIndex, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = KeyIndex;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a key index (a sequence of integers)")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<KeyIndex, A::Error> {
            let mut out = KeyIndex::new();
            while let Some(i) = seq.next_element::<u32>()? {
                out.push(i);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// The same equality as the fields' own, compared in the cheaper order: the block indices first
/// (keys read together mostly share a name and differ there), then the names, by pointer before
/// by bytes (the keys of one layer share one name).
/// Whether two block indices are equal, element by element: a slice comparison calls `memcmp`,
/// costly for a few integers compared millions of times.
pub(crate) fn same_index(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        // Indices first, element by element (a slice comparison would call `memcmp` for a
        // few integers, and a task's dependencies are compared pairwise), then the name: by
        // address first, as a layer's keys share theirs.
        same_index(&self.index, &other.index)
            && (Arc::ptr_eq(&self.name, &other.name) || self.name == other.name)
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.index.hash(state);
    }
}

impl Key {
    /// A key from a name and a block index.
    pub fn new(name: impl Into<Arc<str>>, index: impl IntoIterator<Item = u32>) -> Self {
        Self {
            name: name.into(),
            index: index.into_iter().collect(),
        }
    }

    /// A key sharing an existing name (no allocation for the name).
    pub fn with_name(name: &Arc<str>, index: impl IntoIterator<Item = u32>) -> Self {
        Self::with_index(name, index.into_iter().collect())
    }

    /// A key of a layer's shared name with an index already made (nothing collected again).
    pub(crate) fn with_index(name: &Arc<str>, index: KeyIndex) -> Self {
        Self {
            name: Arc::clone(name),
            index,
        }
    }

    /// The tokenized name, e.g. `ones-3f9a…`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared name.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The block index, e.g. `[2, 0]`.
    pub fn index(&self) -> &[u32] {
        &self.index
    }

    /// The part of the name before its token: `sum-aggregate` for `sum-aggregate-3f9a…`.
    ///
    /// ```
    /// # use rask_graph::Key;
    /// assert_eq!(Key::new("sum-aggregate-0123456789abcdef0123456789abcdef", [0]).prefix(), "sum-aggregate");
    /// assert_eq!(Key::new("plain", []).prefix(), "plain");
    /// ```
    pub fn prefix(&self) -> &str {
        key_prefix(&self.name)
    }
}

/// The part of a key name before its trailing `-token`, if the tail looks like a hex token.
pub(crate) fn key_prefix(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((head, tail))
            if !head.is_empty()
                && tail.len() >= 8
                && tail.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => name,
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index.is_empty() {
            return write!(f, "'{}'", self.name);
        }
        write!(f, "('{}'", self.name)?;
        for i in &self.index {
            write!(f, ", {i}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<&str> for Key {
    fn from(name: &str) -> Self {
        Key::new(name, [])
    }
}

impl From<(&str, u32)> for Key {
    fn from((name, i): (&str, u32)) -> Self {
        Key::new(name, [i])
    }
}

impl From<(&str, u32, u32)> for Key {
    fn from((name, i, j): (&str, u32, u32)) -> Self {
        Key::new(name, [i, j])
    }
}
