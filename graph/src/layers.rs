//! The collection author's kit for building graphs: one task per partition (or per block of
//! an n-d grid), and `split_every` reduction trees — what Dask's `blockwise` layers and
//! `reduction`'s tree do for every collection, written once.
//!
//! ```
//! use rask_graph::layers::{reduction_tree, TreeLevel};
//! use rask_graph::{ops::{AddConst, Sum}, Arg, Graph, Key, Layer, Plan, Task, Value};
//!
//! // Ten partitions, each x_i = i + 1, summed four at a time (3 partial sums, then 1).
//! let mut g = Graph::new();
//! g.add_layer(Layer::per_partition("x", 10, |i| {
//!     Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))])
//! }));
//! let total = reduction_tree(&mut g, "x".into(), &[10], &[0], 4, false, |level| {
//!     TreeLevel::new(format!("sum-{}", level.depth), |_, inputs| Task::new(Sum, inputs))
//! });
//! assert_eq!(g.layer("sum-0").unwrap().len(), 3);
//! let plan = Plan::lower(&g, &[Key::with_name(&total, [])]).unwrap();
//! assert_eq!(plan.len(), 10 + 3 + 1);
//! ```

use std::ops::Range;
use std::sync::Arc;

use crate::{Arg, Graph, Key, KeyIndex, Layer, Task};

impl Layer {
    /// A layer of `n` tasks at indices `[0]`, `[1]`, …, `[n - 1]`: `task(i)` for each (one task
    /// per partition of a 1-d collection).
    pub fn per_partition(
        name: impl Into<Arc<str>>,
        n: usize,
        mut task: impl FnMut(u32) -> Task,
    ) -> Layer {
        let mut layer = Layer::with_capacity(name, n);
        for i in 0..n as u32 {
            layer.insert([i], task(i));
        }
        layer
    }

    /// A layer of one task per block of a grid with `counts[a]` blocks along axis `a`, in C
    /// order: `task(index)` for each.
    ///
    /// ```
    /// use rask_graph::{Layer, Task, Value};
    /// let l = Layer::per_block("b", &[2, 3], |i| Task::literal(Value::new(i.to_vec())));
    /// assert_eq!(l.len(), 6);
    /// assert!(l.get(&[1, 2]).is_some());
    /// ```
    pub fn per_block(
        name: impl Into<Arc<str>>,
        counts: &[usize],
        mut task: impl FnMut(&[u32]) -> Task,
    ) -> Layer {
        let n = counts.iter().product::<usize>();
        let mut layer = Layer::with_capacity(name, n);
        for index in grid(counts) {
            let t = task(&index);
            layer.insert(index, t);
        }
        layer
    }
}

/// The block indices of a grid with `counts[a]` blocks along axis `a`, in C order (the last
/// axis fastest). A grid with no axes has one block, `[]`; one with an empty axis has none.
///
/// ```
/// let all: Vec<Vec<u32>> = rask_graph::layers::grid(&[2, 2]).map(|i| i.to_vec()).collect();
/// assert_eq!(all, [vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
/// assert_eq!(rask_graph::layers::grid(&[]).count(), 1);
/// assert_eq!(rask_graph::layers::grid(&[3, 0]).count(), 0);
/// ```
pub fn grid(counts: &[usize]) -> impl Iterator<Item = KeyIndex> + '_ {
    boxes(counts.iter().map(|&n| 0..n as u32).collect())
}

/// Every index of the box `ranges[0] × ranges[1] × …`, in C order.
///
/// ```
/// let b: Vec<Vec<u32>> = rask_graph::layers::boxes(vec![1..3, 5..6]).map(|i| i.to_vec()).collect();
/// assert_eq!(b, [vec![1, 5], vec![2, 5]]);
/// ```
pub fn boxes(ranges: Vec<Range<u32>>) -> impl Iterator<Item = KeyIndex> {
    let empty = ranges.iter().any(|r| r.is_empty());
    let mut next: Option<KeyIndex> = (!empty).then(|| ranges.iter().map(|r| r.start).collect());
    std::iter::from_fn(move || {
        let current = next.take()?;
        let mut following = current.clone();
        for a in (0..ranges.len()).rev() {
            following[a] += 1;
            if following[a] < ranges[a].end {
                next = Some(following);
                break;
            }
            following[a] = ranges[a].start;
        }
        Some(current)
    })
}

/// Where a level of a [`reduction_tree`] is: what its task makers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelInfo {
    /// 0 for the first combining level.
    pub depth: usize,
    /// Whether this level makes the final result.
    pub last: bool,
}

/// One combining level of a [`reduction_tree`]: its layer's name and how to make a task from
/// the ranges of input block indices it combines (per axis) and the inputs' keys as arguments.
pub struct TreeLevel<'a> {
    name: String,
    task: TaskMaker<'a>,
}

/// Makes a tree task from the ranges of input block indices it combines and their keys.
type TaskMaker<'a> = Box<dyn FnMut(&[Range<u32>], Vec<Arg>) -> Task + 'a>;

impl<'a> TreeLevel<'a> {
    /// A level named `name` whose tasks `task(ranges, inputs)` makes.
    pub fn new(
        name: impl Into<String>,
        task: impl FnMut(&[Range<u32>], Vec<Arg>) -> Task + 'a,
    ) -> Self {
        Self {
            name: name.into(),
            task: Box::new(task),
        }
    }
}

impl std::fmt::Debug for TreeLevel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeLevel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Adds the combining levels of a reduction tree to `graph` (Dask's `split_every`): `partials`
/// names a layer with one partial result per block of a grid of `counts` blocks; each level
/// combines up to `split_every` neighbours along `axes` until one block is left along each of
/// them. The last level drops the reduced axes from its blocks' indices unless `keepdims`.
/// `level(info)` names each level's layer and makes its tasks. Returns the last layer's name.
///
/// `split_every` below 2 is taken as 2 (a level must combine something). A reduced axis of no
/// blocks gives one task of no inputs; axes the grid does not have are ignored. There is
/// always at least one level, so the last level's op sees even a single partial.
pub fn reduction_tree<'a>(
    graph: &mut Graph,
    partials: Arc<str>,
    counts: &[usize],
    axes: &[usize],
    split_every: usize,
    keepdims: bool,
    mut level: impl FnMut(LevelInfo) -> TreeLevel<'a>,
) -> Arc<str> {
    let split = split_every.clamp(2, u32::MAX as usize);
    let axes: Vec<usize> = axes.iter().copied().filter(|a| *a < counts.len()).collect();
    let axes = axes.as_slice();
    let mut counts = counts.to_vec();
    let mut name = partials;
    for depth in 0.. {
        let last = axes.iter().all(|a| counts[*a].div_ceil(split) <= 1);
        // A reduced axis of no blocks still gives one result (of no inputs).
        let next: Vec<usize> = (counts.iter().enumerate())
            .map(|(a, n)| {
                if axes.contains(&a) {
                    n.div_ceil(split).max(1)
                } else {
                    *n
                }
            })
            .collect();
        let TreeLevel {
            name: layer_name,
            mut task,
        } = level(LevelInfo { depth, last });
        let mut layer = Layer::with_capacity(layer_name, next.iter().product());
        for out in grid(&next) {
            let ranges: Vec<Range<u32>> = (out.iter().enumerate())
                .map(|(a, &o)| {
                    if axes.contains(&a) {
                        let start = o * split as u32;
                        start..(start + split as u32).min(counts[a] as u32)
                    } else {
                        o..o + 1
                    }
                })
                .collect();
            let inputs = boxes(ranges.clone())
                .map(|i| Arg::Key(Key::with_index(&name, i)))
                .collect();
            let at: KeyIndex = if last && !keepdims {
                drop_axes(&out, axes)
            } else {
                out
            };
            layer.insert(at, task(&ranges, inputs));
        }
        name = Arc::clone(layer.name());
        graph.add_layer(layer);
        counts = next;
        if last {
            break;
        }
    }
    name
}

/// `index` without its entries on `axes` (the index of a result that drops them).
///
/// ```
/// assert_eq!(rask_graph::layers::drop_axes(&[4, 5, 6], &[1]).to_vec(), [4, 6]);
/// ```
pub fn drop_axes(index: &[u32], axes: &[usize]) -> KeyIndex {
    (index.iter().enumerate())
        .filter(|(a, _)| !axes.contains(a))
        .map(|(_, v)| *v)
        .collect()
}
