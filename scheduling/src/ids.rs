//! Handles to the tasks, workers and clients of a [`SchedulerState`](crate::SchedulerState).

use std::fmt;

/// A task of a [`SchedulerState`](crate::SchedulerState): a slot and the generation of the
/// task that holds it. A slot is reused once its task is forgotten, with a new generation, so
/// a late reply about a forgotten task never reaches the task that took its place.
///
/// ```
/// use rask_scheduling::TaskId;
/// let t = TaskId::from_bits(0x0000_0002_0000_0007);
/// assert_eq!((t.slot(), t.generation()), (7, 2));
/// assert_eq!(TaskId::from_bits(t.to_bits()), t);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl TaskId {
    /// Its slot: dense, below the number of tasks the state has ever held at once.
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// Its generation.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// One `u64` (generation high, slot low), for a wire message.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.slot)
    }

    /// The id [`to_bits`](TaskId::to_bits) gave.
    pub fn from_bits(bits: u64) -> Self {
        Self {
            slot: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task#{}.{}", self.slot, self.generation)
    }
}

/// A worker of a [`SchedulerState`](crate::SchedulerState); like [`TaskId`], a slot and a
/// generation, so a worker that replaces a lost one is never mistaken for it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerRef {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl WorkerRef {
    /// Its slot: dense, below the number of workers the state has ever held at once.
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// Its generation.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Debug for WorkerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker#{}.{}", self.slot, self.generation)
    }
}

/// A client of a [`SchedulerState`](crate::SchedulerState): what wants keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ClientId(pub(crate) u32);

impl ClientId {
    /// Its number (never reused within one state).
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Slots with generations: an arena whose freed slots are reused.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    items: Vec<Option<T>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    /// Stores `item`; its slot and generation.
    pub(crate) fn insert(&mut self, item: T) -> (u32, u32) {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            self.items[slot as usize] = Some(item);
            (slot, self.generations[slot as usize])
        } else {
            let slot = u32::try_from(self.items.len())
                .unwrap_or_else(|_| panic!("more than 2^32 live entries in a scheduler state"));
            self.items.push(Some(item));
            self.generations.push(0);
            (slot, 0)
        }
    }

    /// Room for `n` more items without growing.
    pub(crate) fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.free.len());
        self.items.reserve(more);
        self.generations.reserve(more);
    }

    /// Removes the item of `slot` (its generation moves on).
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let item = self.items.get_mut(slot as usize)?.take()?;
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(item)
    }

    pub(crate) fn generation(&self, slot: u32) -> Option<u32> {
        match self.items.get(slot as usize) {
            Some(Some(_)) => Some(self.generations[slot as usize]),
            _ => None,
        }
    }

    /// The item of `slot` if it is of `generation`.
    pub(crate) fn get(&self, slot: u32, generation: u32) -> Option<&T> {
        (self.generation(slot)? == generation).then(|| self.items[slot as usize].as_ref())?
    }

    pub(crate) fn get_mut(&mut self, slot: u32, generation: u32) -> Option<&mut T> {
        if self.generation(slot)? != generation {
            return None;
        }
        self.items[slot as usize].as_mut()
    }

    /// The item of a live slot (a slot the state holds: a bug otherwise).
    pub(crate) fn at(&self, slot: u32) -> &T {
        match self.items.get(slot as usize) {
            Some(Some(item)) => item,
            _ => panic!("slot {slot} is not live"),
        }
    }

    pub(crate) fn at_mut(&mut self, slot: u32) -> &mut T {
        match self.items.get_mut(slot as usize) {
            Some(Some(item)) => item,
            _ => panic!("slot {slot} is not live"),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The live items.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().flatten()
    }

    /// Live slots with their generations and items.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        (self.items.iter().enumerate())
            .filter_map(|(s, i)| i.as_ref().map(|i| (s as u32, self.generations[s], i)))
    }
}
