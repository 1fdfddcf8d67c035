//! Deterministic names: the same op, parameters and inputs give the same token, in every process
//! and on every run.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use crate::{Arg, Key, Op, Value, registry};

/// An incremental tokenizer (XXH3-128): feed it what defines a result, get a 32-hex-digit token.
///
/// ```
/// use rask_graph::tokenize::Tokenizer;
///
/// let mut a = Tokenizer::new();
/// a.write_str("ones").write(&(1000u64, 4000u64));
/// let mut b = Tokenizer::new();
/// b.write_str("ones").write(&(1000u64, 4000u64));
/// assert_eq!(a.finish(), b.finish());
/// assert_eq!(a.finish().len(), 32);
/// ```
#[derive(Clone)]
pub struct Tokenizer(Xxh3);

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer")
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    /// A fresh tokenizer.
    pub fn new() -> Self {
        Self(Xxh3::new())
    }

    /// Feeds raw bytes (length-prefixed, so `"ab","c"` and `"a","bc"` differ).
    pub fn write_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Feeds a string.
    pub fn write_str(&mut self, s: &str) -> &mut Self {
        self.write_bytes(s.as_bytes())
    }

    /// Feeds anything serializable, by its postcard encoding.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        match postcard::to_allocvec(value) {
            Ok(bytes) => self.write_bytes(&bytes),
            Err(_) => self.write_str(&unique_token()),
        }
    }

    /// Feeds a key.
    pub fn write_key(&mut self, key: &Key) -> &mut Self {
        self.write_str(key.name());
        for i in key.index() {
            self.0.update(&i.to_le_bytes());
        }
        self
    }

    /// Feeds an op: its registered name and parameters, or — for an unregistered op, whose
    /// parameters cannot be seen — a unique token, so it never collides with another.
    pub fn write_op(&mut self, op: &dyn Op) -> &mut Self {
        match registry::encode_op(op) {
            Some(Ok((name, bytes))) => self.write_str(name).write_bytes(&bytes),
            _ => self.write_str(&unique_token()),
        }
    }

    /// Feeds a value: its registered encoding, or a unique token if its type is not registered.
    pub fn write_value(&mut self, value: &Value) -> &mut Self {
        match registry::encode_value(value) {
            Some(Ok((name, bytes))) => self.write_str(name).write_bytes(&bytes),
            _ => self.write_str(&unique_token()),
        }
    }

    /// Feeds a task's arguments.
    pub fn write_args(&mut self, args: &[Arg]) -> &mut Self {
        for a in args {
            match a {
                Arg::Key(k) => self.write_str("k").write_key(k),
                Arg::Value(v) => self.write_str("v").write_value(v),
            };
        }
        self
    }

    /// The token: 32 lowercase hex digits.
    pub fn finish(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// The token of anything serializable.
///
/// ```
/// assert_eq!(rask_graph::tokenize::tokenize(&[1, 2, 3]), rask_graph::tokenize::tokenize(&[1, 2, 3]));
/// assert_ne!(rask_graph::tokenize::tokenize(&[1, 2, 3]), rask_graph::tokenize::tokenize(&[3, 2, 1]));
/// ```
pub fn tokenize<T: Serialize + ?Sized>(value: &T) -> String {
    Tokenizer::new().write(value).finish()
}

/// A key name: `prefix-token`.
pub fn key_name(prefix: &str, token: &str) -> String {
    format!("{prefix}-{token}")
}

/// A token that no other call, in this process or another, returns.
pub fn unique_token() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut t = Tokenizer::new();
    t.0.update(&seed.to_le_bytes());
    t.0.update(&n.to_le_bytes());
    t.finish()
}
