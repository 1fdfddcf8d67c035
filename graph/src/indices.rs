//! A layer's block indices: worked out, not stored, while they are a grid in C order (as
//! every layer a collection builds block by block is), else listed.

use crate::KeyIndex;
use crate::key::same_index;

/// The block indices of a layer, in insertion order.
#[derive(Clone, Debug)]
pub(crate) enum Indices {
    /// The first `len` indices of a box in C order: 0 bytes per task.
    Grid(GridRun),
    /// Any indices, one stored per task.
    Listed(Vec<KeyIndex>),
}

impl Default for Indices {
    fn default() -> Self {
        Indices::Grid(GridRun::default())
    }
}

/// The first `len` indices, in C order, of a box from `start`. The axes after `open` are
/// closed: their counts are known (an index carried out of each). Axis `open` takes whatever
/// they leave, and the axes before it are still at `start`: while a layer is being built the
/// outer counts are not known yet, and need not be.
#[derive(Clone, Debug, Default)]
pub(crate) struct GridRun {
    start: KeyIndex,
    /// Per axis, its count: meaningful for the closed axes only.
    counts: KeyIndex,
    open: usize,
    len: usize,
    /// The index after the last if no axis closes (empty when it cannot be written in u32).
    next: KeyIndex,
}

impl GridRun {
    /// The index at `pos` (< `len`).
    pub(crate) fn index_at(&self, pos: usize) -> KeyIndex {
        self.unravel(pos).unwrap_or_default()
    }

    /// The index at `pos` (any position), if it can be written in u32.
    fn unravel(&self, mut pos: usize) -> Option<KeyIndex> {
        let mut out = self.start.clone();
        if out.is_empty() {
            return (pos == 0).then_some(out);
        }
        for a in (self.open + 1..out.len()).rev() {
            let n = self.counts[a] as usize;
            out[a] += (pos % n) as u32;
            pos /= n;
        }
        let o = &mut out[self.open];
        *o = o.checked_add(u32::try_from(pos).ok()?)?;
        Some(out)
    }

    /// Takes `index` as the next one if it continues the grid (true); else changes nothing.
    pub(crate) fn push(&mut self, index: &[u32]) -> bool {
        if self.len == 0 {
            self.start = index.into();
            self.counts = smallvec::smallvec![0; index.len()];
            self.open = index.len().saturating_sub(1);
        } else if index.is_empty() || index.len() != self.start.len() {
            return false;
        } else if same_index(index, &self.next) {
            self.len += 1;
            self.advance();
            return true;
        } else if !self.closes(index) {
            return false;
        }
        self.len += 1;
        self.next = self.unravel(self.len).unwrap_or_default();
        true
    }

    /// `next` moved on by one, as an odometer over the closed axes and then the open one.
    fn advance(&mut self) {
        let n = self.next.len();
        for a in (self.open + 1..n).rev() {
            // Within the axis's count (so never past u32: the box's last index is one).
            if self.next[a] - self.start[a] + 1 < self.counts[a] {
                self.next[a] += 1;
                return;
            }
            self.next[a] = self.start[a];
        }
        match self.next.get_mut(self.open).and_then(|o| o.checked_add(1)) {
            Some(v) => self.next[self.open] = v,
            // Past u32: nothing can come next.
            None => self.next.clear(),
        }
    }

    /// Whether `index` is carried out of the open axis: one past `start` on an axis `a`
    /// before it, at `start` on every other, just after a whole run of the closed axes. Then
    /// the open axis closes (its count is what it took), the axes between `a` and it close
    /// with count 1, and `a` is open.
    fn closes(&mut self, index: &[u32]) -> bool {
        let Some(a) = index.iter().zip(&self.start).position(|(i, s)| i != s) else {
            return false;
        };
        let j = self.open;
        if a >= j || self.start[a].checked_add(1) != Some(index[a]) {
            return false;
        }
        if !same_index(&index[a + 1..], &self.start[a + 1..]) {
            return false;
        }
        let inner: usize = self.counts[j + 1..].iter().map(|n| *n as usize).product();
        if !self.len.is_multiple_of(inner) {
            return false;
        }
        let Ok(count) = u32::try_from(self.len / inner) else {
            return false;
        };
        self.counts[j] = count;
        for c in &mut self.counts[a + 1..j] {
            *c = 1;
        }
        self.open = a;
        true
    }

    /// The position of `index`, if it is one of the first `len`.
    pub(crate) fn position(&self, index: &[u32]) -> Option<usize> {
        if index.len() != self.start.len() || self.len == 0 {
            return None;
        }
        if index.is_empty() {
            return Some(0);
        }
        if !same_index(&index[..self.open], &self.start[..self.open]) {
            return None;
        }
        let mut pos = index[self.open].checked_sub(self.start[self.open])? as usize;
        let closed = self.open + 1..index.len();
        let axes = index[closed.clone()]
            .iter()
            .zip(&self.start[closed.clone()])
            .zip(&self.counts[closed]);
        for ((i, s), n) in axes {
            let i = i.checked_sub(*s)?;
            if i >= *n {
                return None;
            }
            pos = pos.checked_mul(*n as usize)?.checked_add(i as usize)?;
        }
        (pos < self.len).then_some(pos)
    }
}

impl Indices {
    /// The index at `pos`.
    pub(crate) fn get(&self, pos: usize) -> KeyIndex {
        match self {
            Indices::Grid(g) => g.index_at(pos),
            Indices::Listed(l) => l[pos].clone(),
        }
    }

    /// Every index, in order (a grid's by odometer, not worked out one by one).
    pub(crate) fn iter(&self) -> impl Iterator<Item = KeyIndex> + '_ {
        let (grid, listed) = match self {
            Indices::Grid(g) => (Some(g), None),
            Indices::Listed(l) => (None, Some(l.iter().cloned())),
        };
        let mut odometer = grid.map(|g| {
            let walk = GridRun {
                next: g.start.clone(),
                len: 0,
                ..g.clone()
            };
            (walk, g.len)
        });
        let from_grid = std::iter::from_fn(move || {
            let (walk, len) = odometer.as_mut()?;
            if walk.len == *len {
                return None;
            }
            let out = walk.next.clone();
            walk.len += 1;
            walk.advance();
            Some(out)
        });
        from_grid.chain(listed.into_iter().flatten())
    }

    /// The indices as a list to add to (a grid written out first).
    pub(crate) fn written_out(&mut self) -> &mut Vec<KeyIndex> {
        if let Indices::Grid(_) = self {
            *self = Indices::Listed(self.iter().collect());
        }
        match self {
            Indices::Listed(l) => l,
            Indices::Grid(_) => unreachable!("written out above"),
        }
    }
}
