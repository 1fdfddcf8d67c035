//! Elementwise chains fused into the reduction that reads them, evaluated one lane (a run
//! along the last axis) at a time: the chain's block-sized intermediates are never made —
//! numexpr's idea, as DESIGN.md §2 asks.

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, IxDyn};
use rask_graph::{Arg, Args, Graph, Key, KeyMap, KeySet, Op, Task, TaskError, Value, downcast_op};
use serde::{Deserialize, Serialize};

use crate::chunk::{Chunk, block_view};
use crate::element::{Arith, Element};
use crate::elementwise::{BinOp, Binary, Numeric, Unary, UnaryOp, WithScalar, broadcast_shapes};
use crate::reduce::{ReduceBlock, ReduceKind, fold};
use crate::slicing::{Keep, SliceBlock, select};

/// An elementwise expression over input blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub enum Node<T: Element> {
    /// The task's `i`-th argument.
    Input(u16),
    /// A constant.
    Scalar(T),
    /// `a op b`.
    Bin(BinOp, Box<Node<T>>, Box<Node<T>>),
    /// `op(x)`.
    Un(UnaryOp, Box<Node<T>>),
}

/// Applies `f(out[i], lane[i])` along a lane, with slices where the lane is contiguous
/// forwards or backwards (a reversed block), so the loop vectorizes.
fn zip_lane<T: Element>(out: &mut [T], lane: &ArrayView1<'_, T>, f: impl Fn(T, T) -> T) {
    if let Some(src) = lane.as_slice() {
        out.iter_mut().zip(src).for_each(|(o, x)| *o = f(*o, *x));
    } else if lane.strides()[0] == -1 {
        let fwd = lane.slice(ndarray::s![..;-1]);
        if let Some(src) = fwd.as_slice() {
            out.iter_mut()
                .zip(src.iter().rev())
                .for_each(|(o, x)| *o = f(*o, *x));
        }
    } else {
        out.iter_mut()
            .zip(lane.iter())
            .for_each(|(o, x)| *o = f(*o, *x));
    }
}

/// One lane of an input: a constant (a broadcast or constant block) or values.
fn lane_value<T: Element>(lane: &ArrayView1<'_, T>) -> Option<T> {
    (!lane.is_empty() && (lane.strides()[0] == 0 || lane.len() == 1)).then(|| lane[0])
}

impl<T: Numeric> Node<T> {
    /// The constant this node is on this lane, if it is one: an operation on constants is
    /// worked out once per lane, not once per element.
    fn constant(&self, lanes: &[ArrayView1<'_, T>]) -> Option<T> {
        match self {
            Node::Scalar(s) => Some(*s),
            Node::Input(i) => lane_value(&lanes[*i as usize]),
            Node::Un(op, a) => a.constant(lanes).map(|x| T::unary(*op, x)),
            Node::Bin(op, a, b) => Some(T::binary(*op, a.constant(lanes)?, b.constant(lanes)?)),
        }
    }

    /// Writes the node's values on one lane into `out`, borrowing buffers from `spare`.
    fn eval_into(&self, lanes: &[ArrayView1<'_, T>], out: &mut [T], spare: &mut Vec<Vec<T>>) {
        if !matches!(self, Node::Scalar(_) | Node::Input(_))
            && let Some(c) = self.constant(lanes)
        {
            out.fill(c);
            return;
        }
        match self {
            Node::Scalar(s) => out.fill(*s),
            Node::Input(i) => {
                let lane = &lanes[*i as usize];
                match (lane_value(lane), lane.as_slice()) {
                    (Some(v), _) => out.fill(v),
                    (None, Some(src)) => out.copy_from_slice(src),
                    (None, None) => zip_lane(out, lane, |_, x| x),
                }
            }
            Node::Bin(op, a, b) => {
                let op = *op;
                let input = |n: &Node<T>| match n {
                    Node::Input(i) => Some(*i as usize),
                    _ => None,
                };
                match (a.constant(lanes), b.constant(lanes)) {
                    (_, Some(y)) => {
                        a.eval_into(lanes, out, spare);
                        out.iter_mut().for_each(|v| *v = T::binary(op, *v, y));
                    }
                    (Some(x), None) => {
                        b.eval_into(lanes, out, spare);
                        out.iter_mut().for_each(|v| *v = T::binary(op, x, *v));
                    }
                    // An input on either side is read where it lies, not copied first.
                    (None, None) => match (input(a), input(b)) {
                        (_, Some(j)) => {
                            a.eval_into(lanes, out, spare);
                            zip_lane(out, &lanes[j], |v, w| T::binary(op, v, w));
                        }
                        (Some(i), None) => {
                            b.eval_into(lanes, out, spare);
                            zip_lane(out, &lanes[i], |w, v| T::binary(op, v, w));
                        }
                        (None, None) => {
                            a.eval_into(lanes, out, spare);
                            let mut tmp = spare.pop().unwrap_or_default();
                            tmp.resize(out.len(), T::default());
                            b.eval_into(lanes, &mut tmp, spare);
                            out.iter_mut()
                                .zip(&tmp)
                                .for_each(|(v, w)| *v = T::binary(op, *v, *w));
                            spare.push(tmp);
                        }
                    },
                }
            }
            Node::Un(op, a) => {
                a.eval_into(lanes, out, spare);
                let op = *op;
                out.iter_mut().for_each(|v| *v = T::unary(op, *v));
            }
        }
    }

    /// The values of one lane.
    fn eval(&self, lanes: &[ArrayView1<'_, T>], len: usize) -> Vec<T> {
        let mut out = vec![T::default(); len];
        self.eval_into(lanes, &mut out, &mut Vec::new());
        out
    }
}

/// Folds a lane's values into `acc`, the match on the kind hoisted out of the loop.
fn fold_lane<T: Element>(kind: ReduceKind, acc: Option<T::Acc>, values: &[T]) -> Option<T::Acc> {
    let mut it = values.iter();
    let mut a = match acc {
        Some(a) => a,
        None => it.next()?.acc(),
    };
    match kind {
        // Four running sums, as NumPy's pairwise summation also splits the order: the loop
        // vectorizes.
        ReduceKind::Sum => {
            let rest = it.as_slice();
            let mut p = [<T::Acc as Element>::zero(); 4];
            let chunks = rest.chunks_exact(4);
            let tail = chunks.remainder();
            for c in chunks {
                for (pi, x) in p.iter_mut().zip(c) {
                    *pi = pi.add(x.acc());
                }
            }
            a = a.add(p[0].add(p[1]).add(p[2].add(p[3])));
            tail.iter().for_each(|x| a = a.add(x.acc()));
        }
        ReduceKind::Prod => it.for_each(|x| a = a.mul(x.acc())),
        _ => it.for_each(|x| a = fold(kind, a, x.acc())),
    }
    Some(a)
}

/// Folds a lane of `len` copies of `c` into `acc` without making the lane: a sum adds
/// `c * len`, a minimum or maximum folds `c` once.
fn fold_constant<T: Element>(
    kind: ReduceKind,
    acc: Option<T::Acc>,
    c: T,
    len: usize,
) -> Option<T::Acc>
where
    T::Acc: Arith,
{
    if len == 0 {
        return acc;
    }
    let c = c.acc();
    let lane = match kind {
        ReduceKind::Sum => c.mul(<T::Acc as Element>::cast_from(len as u64)),
        ReduceKind::Prod => (1..len).fold(c, |p, _| p.mul(c)),
        ReduceKind::Min | ReduceKind::Max => c,
    };
    Some(match acc {
        Some(a) => fold(kind, a, lane),
        None => lane,
    })
}

/// Refills `lane` with the next lane of every input; false when they are exhausted.
fn next_lanes<'a, T: 'a, I: Iterator<Item = ArrayView1<'a, T>>>(
    inputs: &mut [I],
    lane: &mut Vec<ArrayView1<'a, T>>,
) -> bool {
    lane.clear();
    for it in inputs.iter_mut() {
        match it.next() {
            Some(l) => lane.push(l),
            None => return false,
        }
    }
    true
}

/// `reduce(expr(inputs))` over `axes` (kept, with length 1), one lane at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct ExprReduce<T: Element> {
    expr: Node<T>,
    /// Per input, the part of its block read, if not all of it.
    slices: Vec<Option<Vec<Keep>>>,
    kind: ReduceKind,
    axes: Vec<usize>,
    name: String,
}

impl<T: Numeric> Op for ExprReduce<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let views: Vec<ArrayViewD<'_, T>> = args
            .iter()
            .zip(self.slices.iter().chain(std::iter::repeat(&None)))
            .map(|(a, keep)| {
                let v = block_view::<T>(a)?;
                match keep {
                    Some(keep) => select(keep, v),
                    None => Ok(v),
                }
            })
            .collect::<Result<_, _>>()?;
        let mut shape: Vec<usize> = Vec::new();
        for v in &views {
            shape =
                broadcast_shapes(&shape, v.shape()).map_err(|e| TaskError::new(e.to_string()))?;
        }
        let ndim = shape.len();
        let views: Vec<ArrayViewD<'_, T>> = views
            .iter()
            .map(|v| {
                v.broadcast(IxDyn(&shape))
                    .ok_or_else(|| TaskError::new("blocks do not broadcast"))
            })
            .collect::<Result<_, _>>()?;
        let n: usize = shape.iter().product();
        let last = ndim.checked_sub(1);
        let all = self.axes.len() == ndim;
        let keeps_last = last.is_some_and(|l| !self.axes.contains(&l));
        if n == 0 || ndim == 0 || !(all || keeps_last) {
            // Rare shapes: make the block, then reduce it.
            let block = self.materialize(&views, &shape);
            let r = ReduceBlock::<T>::new(self.kind, self.axes.clone());
            return Ok(Value::new(Chunk(r.apply(&block.view())?)));
        }
        let last = ndim - 1;
        let len = shape[last];
        let mut lanes: Vec<_> = views
            .iter()
            .map(|v| v.lanes(Axis(last)).into_iter())
            .collect();
        let mut lane = Vec::with_capacity(lanes.len());
        let kind = self.kind;
        if all {
            let mut acc: Option<T::Acc> = None;
            let (mut buf, mut spare) = (vec![T::default(); len], Vec::new());
            loop {
                if !next_lanes(&mut lanes, &mut lane) {
                    break;
                }
                acc = match self.expr.constant(&lane) {
                    Some(c) => fold_constant::<T>(kind, acc, c, len),
                    None => {
                        self.expr.eval_into(&lane, &mut buf, &mut spare);
                        fold_lane::<T>(kind, acc, &buf)
                    }
                };
            }
            let out = ArrayD::from_elem(IxDyn(&vec![1; ndim]), acc.unwrap_or_default());
            return Ok(Value::new(Chunk(out)));
        }
        // The last axis is kept: each lane folds into its row of the result.
        let mut out_shape = shape.clone();
        for &a in &self.axes {
            out_shape[a] = 1;
        }
        let outer: Vec<usize> = shape[..last].to_vec();
        let rows: usize = outer.iter().product();
        let mut out: Vec<Option<Vec<T::Acc>>> = vec![None; out_shape[..last].iter().product()];
        let mut idx = vec![0usize; last];
        let (mut buf, mut spare) = (vec![T::default(); len], Vec::new());
        for _ in 0..rows {
            if !next_lanes(&mut lanes, &mut lane) {
                break;
            }
            self.expr.eval_into(&lane, &mut buf, &mut spare);
            let values = &buf;
            // This lane's row in the result: reduced axes at 0.
            let mut pos = 0;
            for (a, i) in idx.iter().enumerate() {
                let i = if self.axes.contains(&a) { 0 } else { *i };
                pos = pos * out_shape[a] + i;
            }
            let slot = &mut out[pos];
            match slot {
                None => *slot = Some(values.iter().map(|x| x.acc()).collect()),
                Some(row) => row
                    .iter_mut()
                    .zip(values.iter())
                    .for_each(|(r, x)| *r = fold(kind, *r, x.acc())),
            }
            for a in (0..last).rev() {
                idx[a] += 1;
                if idx[a] < outer[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        let flat: Vec<T::Acc> = out
            .into_iter()
            .flat_map(|r| r.unwrap_or_else(|| vec![T::Acc::default(); len]))
            .collect();
        let out = ArrayD::from_shape_vec(IxDyn(&out_shape), flat)
            .map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Chunk(out)))
    }
}

impl<T: Numeric> ExprReduce<T> {
    fn materialize(&self, views: &[ArrayViewD<'_, T>], shape: &[usize]) -> ArrayD<T> {
        let n: usize = shape.iter().product();
        if n == 0 {
            return ArrayD::default(IxDyn(shape));
        }
        // A 0-d block is evaluated as one lane of length 1.
        let shape1: Vec<usize> = if shape.is_empty() {
            vec![1]
        } else {
            shape.to_vec()
        };
        let views: Vec<ArrayViewD<'_, T>> = views
            .iter()
            .filter_map(|v| v.broadcast(IxDyn(&shape1)))
            .collect();
        let last = shape1.len() - 1;
        let mut lanes: Vec<_> = views
            .iter()
            .map(|v| v.lanes(Axis(last)).into_iter())
            .collect();
        let mut lane = Vec::with_capacity(lanes.len());
        let mut flat = Vec::with_capacity(n);
        loop {
            if !next_lanes(&mut lanes, &mut lane) {
                break;
            }
            flat.extend(self.expr.eval(&lane, shape1[last]));
        }
        ArrayD::from_shape_vec(IxDyn(shape), flat).unwrap_or_else(|_| ArrayD::default(IxDyn(shape)))
    }
}

macro_rules! register_expr {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ExprReduce<$t>, concat!("rask.array.expr-reduce<", stringify!($t), ">"));
    )*};
}
register_expr!(f64, f32, i64, i32, u64, u32, u8);

/// What an elementwise task computes, as a node over its own arguments.
fn as_node<T: Numeric>(task: &Task) -> Option<Node<T>> {
    let op = task.op();
    if let Some(b) = downcast_op::<Binary<T>>(op) {
        // A fused expression broadcasts its inputs: blocks that must match stay a task.
        if b.is_exact() {
            return None;
        }
        return Some(Node::Bin(
            b.op(),
            Box::new(Node::Input(0)),
            Box::new(Node::Input(1)),
        ));
    }
    if let Some(u) = downcast_op::<Unary<T>>(op) {
        return Some(Node::Un(u.op(), Box::new(Node::Input(0))));
    }
    if let Some(w) = downcast_op::<WithScalar<T>>(op) {
        let (x, s) = (Box::new(Node::Input(0)), Box::new(Node::Scalar(w.scalar())));
        return Some(if w.scalar_first() {
            Node::Bin(w.op(), s, x)
        } else {
            Node::Bin(w.op(), x, s)
        });
    }
    None
}

/// Rewrites `node`'s inputs (the task's argument positions) through `f`.
fn remap<T: Element>(node: Node<T>, f: &mut impl FnMut(u16) -> Node<T>) -> Node<T> {
    match node {
        Node::Input(i) => f(i),
        Node::Scalar(s) => Node::Scalar(s),
        Node::Bin(op, a, b) => Node::Bin(op, Box::new(remap(*a, f)), Box::new(remap(*b, f))),
        Node::Un(op, a) => Node::Un(op, Box::new(remap(*a, f))),
    }
}

/// Grows one fused expression down from a reduction's input.
struct Grower<'a, T> {
    graph: &'a Graph,
    fusable: &'a dyn Fn(&Key) -> bool,
    /// The expression's inputs: an argument, and the part of it read (a slice taken in place).
    leaves: Vec<(Arg, Option<Vec<Keep>>)>,
    absorbed: &'a mut KeySet,
    names: Vec<String>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Numeric> Grower<'_, T> {
    /// The node computing `key`: its elementwise task taken in, or an input.
    fn grow(&mut self, key: &Key, depth: usize) -> Node<T> {
        let task = self.graph.get(key);
        match (task, task.and_then(as_node::<T>)) {
            (Some(task), Some(node)) if depth < 64 && (depth == 0 || (self.fusable)(key)) => {
                self.absorbed.insert(key.clone());
                self.names.push(task.op().name().to_string());
                let args = task.args().to_vec();
                // `grow` takes a fusable elementwise task in, and makes anything else a leaf.
                remap(node, &mut |i| match &args[i as usize] {
                    Arg::Key(k) => self.grow(k, depth + 1),
                    other => self.leaf(other),
                })
            }
            _ => self.leaf(&Arg::Key(key.clone())),
        }
    }

    /// The input reading `arg`. A slice that only this expression reads is taken in: the
    /// expression reads the sliced block's view, and no copy is made.
    fn leaf(&mut self, arg: &Arg) -> Node<T> {
        let mut leaf = (arg.clone(), None);
        if let Arg::Key(k) = arg
            && (self.fusable)(k)
            && let Some(task) = self.graph.get(k)
            && let Some(slice) = downcast_op::<SliceBlock<T>>(task.op())
            && let [inner @ Arg::Key(_)] = task.args()
        {
            self.absorbed.insert(k.clone());
            self.names.push(task.op().name().to_string());
            leaf = (inner.clone(), Some(slice.keep().to_vec()));
        }
        let same = |(a, s): &(Arg, Option<Vec<Keep>>)| match (a, &leaf.0) {
            (Arg::Key(a), Arg::Key(b)) => a == b && *s == leaf.1,
            _ => false,
        };
        let pos = self.leaves.iter().position(same).unwrap_or_else(|| {
            self.leaves.push(leaf);
            self.leaves.len() - 1
        });
        Node::Input(pos as u16)
    }
}

macro_rules! register_fuse_reductions {
    ($($t:ty),*) => {$(
        rask_graph::register_pass!(
            "array", 10, concat!("fuse-reductions-", stringify!($t)),
            ReduceBlock<$t>, fuse_reductions::<$t>
        );
    )*};
}
// Elementwise chains read by a block reduction run inside it, lane by lane.
register_fuse_reductions!(f64, f32, i64, i32, u64, u32, u8);

/// Fuses, for element type `T`, every elementwise chain read only by a block reduction into
/// that reduction. Keys in `keep` are never fused away.
pub(crate) fn fuse_reductions<T: Numeric>(graph: &Graph, keep: &KeySet) -> Graph
where
    T::Acc: Arith,
{
    let readers = graph.reader_counts();
    let fusable = |k: &Key| readers.get(k) == Some(&1) && !keep.contains(k);
    let mut replaced: KeyMap<Task> = KeyMap::default();
    let mut absorbed = KeySet::default();
    for (key, task) in graph.iter() {
        let Some(r) = downcast_op::<ReduceBlock<T>>(task.op()) else {
            continue;
        };
        let Some(Arg::Key(src)) = task.args().first() else {
            continue;
        };
        let Some(src_task) = graph.get(src) else {
            continue;
        };
        if !fusable(src) || as_node::<T>(src_task).is_none() {
            continue;
        }
        // Grow the expression from the reduction's input down through fusable elementwise tasks.
        let mut g = Grower::<T> {
            graph,
            fusable: &fusable,
            leaves: Vec::new(),
            absorbed: &mut absorbed,
            names: Vec::new(),
            _t: std::marker::PhantomData,
        };
        let expr = g.grow(src, 0);
        let (leaves, slices): (Vec<Arg>, Vec<Option<Vec<Keep>>>) = g.leaves.into_iter().unzip();
        let mut names = g.names;
        names.reverse();
        names.push(r.kind().chunk_name().to_string());
        let op = ExprReduce::<T> {
            expr,
            slices,
            kind: r.kind(),
            axes: r.axes().to_vec(),
            name: names.join("-"),
        };
        replaced.insert(key, Task::new(op, leaves));
    }
    graph.replace_tasks(replaced, &absorbed)
}
