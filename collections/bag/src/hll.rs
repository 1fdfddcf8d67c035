//! Approximate distinct counts: HyperLogLog (Flajolet et al., 2007) with 2^14 one-byte
//! registers — a relative standard error of 1.04/√16384 ≈ 0.8% — and linear counting for
//! small counts (where it is nearly exact), as HyperLogLog++ does.

use rask_graph::item::ItemRef;
use rask_graph::{TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::item::{Collector, HashFns, Partition};

/// Bits of the hash that choose the register.
const P: u32 = 14;
const M: usize = 1 << P;

/// A HyperLogLog sketch: mergeable (register by register, the maximum), 16 KiB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    registers: Vec<u8>,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            registers: vec![0; M],
        }
    }
}

impl Sketch {
    /// Counts a 64-bit hash (well mixed: every bit matters).
    pub fn add_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - P)) as usize;
        // The rank of the first 1 in the remaining bits (a sentinel bounds it).
        let rest = (hash << P) | (1 << (P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let r = &mut self.registers[index];
        *r = (*r).max(rank);
    }

    /// The registers (2^14 of them), for a sketch kept in another form.
    pub fn registers(&self) -> &[u8] {
        &self.registers
    }

    /// The sketch of these registers, or `None` when they are not 2^14.
    ///
    /// ```
    /// use rask_bag::hll::Sketch;
    /// let mut s = Sketch::default();
    /// s.add_hash(rask_bag::hll::mix(7));
    /// assert_eq!(Sketch::from_registers(s.registers().to_vec()), Some(s));
    /// assert_eq!(Sketch::from_registers(vec![0; 3]), None);
    /// ```
    pub fn from_registers(registers: Vec<u8>) -> Option<Sketch> {
        (registers.len() == M).then_some(Sketch { registers })
    }

    /// Both sketches' items.
    pub fn merge(&mut self, other: &Sketch) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }

    /// The estimated number of distinct items.
    ///
    /// ```
    /// use rask_bag::hll::Sketch;
    /// let mut s = Sketch::default();
    /// for i in 0..1000u64 {
    ///     s.add_hash(rask_bag::hll::mix(i));
    /// }
    /// assert!((s.estimate() as f64 - 1000.0).abs() < 20.0);
    /// ```
    pub fn estimate(&self) -> u64 {
        let m = M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = (self.registers.iter())
            .map(|r| f64::powi(2.0, -i32::from(*r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        let e = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        e.round() as u64
    }
}

/// A 64-bit hash's bits mixed (MurmurHash3's finalizer): what the sketch needs of an
/// item's (Fx) hash, whose low-quality bits would bias the registers.
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Items into a sketch.
pub(crate) struct Sketcher {
    pub(crate) item: &'static HashFns,
    pub(crate) sketch: Sketch,
}

impl Collector for Sketcher {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.sketch.add_hash(mix((self.item.hash64)(&item)?));
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.sketch])))
    }
}

/// Sketches merged.
#[derive(Default)]
pub(crate) struct MergeSketches(pub(crate) Sketch);

impl Collector for MergeSketches {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.0.merge(item.get::<Sketch>()?);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        Ok(Value::new(Partition(vec![self.0])))
    }
}
