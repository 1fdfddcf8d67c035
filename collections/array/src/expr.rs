//! Elementwise chains fused into the reduction that reads them, evaluated one lane (a run
//! along the last axis) at a time: the chain's block-sized intermediates are never made —
//! numexpr's idea, as DESIGN.md §2 asks.

use std::borrow::Cow;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, IxDyn};
use rask_graph::{Arg, Args, Graph, Key, KeySet, Op, Task, TaskError, Value, downcast_op};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::chunk::{Chunk, block_view};
use crate::element::{Arith, Element};
use crate::elementwise::{
    BinOp, Binary, Dims, Numeric, Unary, UnaryOp, WithScalar, broadcast_in_place,
};
use crate::random::{DrawnBlock, RandomBlock};
use crate::reduce::{ReduceBlock, ReduceKind, fold, fold_repeated};
use crate::slicing::{Keep, SliceBlock, select};

/// One node of an elementwise [`Expr`]: it reads the task's arguments, constants, or earlier
/// nodes (by their place in the expression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub enum Node<T: Element> {
    /// The task's `i`-th argument.
    Input(u32),
    /// A constant.
    Scalar(T),
    /// `a op b`, of earlier nodes `a` and `b`.
    Bin(BinOp, u32, u32),
    /// `op(x)`, of an earlier node `x`.
    Un(UnaryOp, u32),
}

/// An elementwise expression over input blocks: a DAG in evaluation order (every node reads
/// only earlier ones; the last is the result), so a subexpression used twice is one node,
/// worked out once per lane — `x + x` doubled 40 times is 40 nodes, not 2^40. A flat list, so
/// that decoding it needs no recursion however deep the expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct Expr<T: Element> {
    nodes: Vec<Node<T>>,
}

impl<T: Element> Expr<T> {
    /// Checks that every node reads only earlier nodes and existing inputs (bytes from
    /// elsewhere may say anything), and returns, per node, the last node that reads it.
    fn last_uses(&self, inputs: usize) -> Result<SmallVec<[u32; 16]>, TaskError> {
        if self.nodes.is_empty() {
            return Err(TaskError::new("an empty expression"));
        }
        let mut last = SmallVec::from_elem(0u32, self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let mut read = |j: u32| {
                if j as usize >= i {
                    return Err(TaskError::new(format!(
                        "expression node {i} reads node {j}, which does not come before it"
                    )));
                }
                last[j as usize] = i as u32;
                Ok(())
            };
            match *node {
                Node::Input(k) if k as usize >= inputs => {
                    return Err(TaskError::new(format!(
                        "expression node {i} reads argument {k} of {inputs}"
                    )));
                }
                Node::Input(_) | Node::Scalar(_) => {}
                Node::Bin(_, a, b) => {
                    read(a)?;
                    read(b)?;
                }
                Node::Un(_, a) => read(a)?,
            }
        }
        Ok(last)
    }
}

/// One node's values on the current lane.
#[derive(Debug)]
enum Lane<T> {
    /// The same value all along (a scalar, a broadcast or constant input, or an operation on
    /// such values — worked out once per lane, not once per element).
    Const(T),
    /// The input with this index, read where it lies (contiguous).
    Input(usize),
    /// Values computed into a buffer.
    Buf(Vec<T>),
    /// Not needed any more (its buffer went back to the pool).
    Dead,
}

/// Where an operand's values are, for one loop.
#[derive(Clone, Copy)]
enum Src<'a, T> {
    Const(T),
    Slice(&'a [T]),
    /// The output buffer itself (the operand's buffer is reused in place).
    Out,
}

/// `out = op(a, b)` elementwise, one loop per op and case so that each vectorizes — for the
/// CPU's vector level (AVX-512 or AVX2 where there is one, not only the target's baseline).
fn apply_bin<T: Numeric>(op: BinOp, out: &mut [T], a: Src<'_, T>, b: Src<'_, T>) {
    rask_math::vectorized(ApplyBin { op, out, a, b })
}

/// [`apply_bin`]'s loops, compiled for each vector level.
struct ApplyBin<'o, 's, T> {
    op: BinOp,
    out: &'o mut [T],
    a: Src<'s, T>,
    b: Src<'s, T>,
}

impl<T: Numeric> rask_math::Vectorized for ApplyBin<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let ApplyBin { op, out, a, b } = self;
        crate::elementwise::with_binop!(T, op, |f| apply_bin_with(f, out, a, b))
    }
}

#[inline(always)]
fn apply_bin_with<T: Element>(f: impl Fn(T, T) -> T, out: &mut [T], a: Src<'_, T>, b: Src<'_, T>) {
    match (a, b) {
        (Src::Out, Src::Out) => out.iter_mut().for_each(|o| *o = f(*o, *o)),
        (Src::Out, Src::Const(y)) => out.iter_mut().for_each(|o| *o = f(*o, y)),
        (Src::Const(x), Src::Out) => out.iter_mut().for_each(|o| *o = f(x, *o)),
        (Src::Out, Src::Slice(y)) => out.iter_mut().zip(y).for_each(|(o, y)| *o = f(*o, *y)),
        (Src::Slice(x), Src::Out) => out.iter_mut().zip(x).for_each(|(o, x)| *o = f(*x, *o)),
        (Src::Slice(x), Src::Slice(y)) => out
            .iter_mut()
            .zip(x.iter().zip(y))
            .for_each(|(o, (x, y))| *o = f(*x, *y)),
        (Src::Slice(x), Src::Const(y)) => out.iter_mut().zip(x).for_each(|(o, x)| *o = f(*x, y)),
        (Src::Const(x), Src::Slice(y)) => out.iter_mut().zip(y).for_each(|(o, y)| *o = f(x, *y)),
        (Src::Const(x), Src::Const(y)) => out.fill(f(x, y)),
    }
}

/// `out = op(a)` elementwise.
fn apply_un<T: Numeric>(op: UnaryOp, out: &mut [T], a: Src<'_, T>) {
    match a {
        Src::Out => T::unary_in_place(op, out),
        Src::Slice(x) => T::unary_into(op, x, out),
        Src::Const(x) => out.fill(T::unary(op, x)),
    }
}

/// Copies a lane that is not contiguous (a reversed, strided or broadcast view) into `out`.
fn copy_lane<T: Element>(out: &mut [T], lane: &ArrayView1<'_, T>) {
    if lane.strides()[0] == -1
        && let Some(src) = lane.slice(ndarray::s![..;-1]).to_slice()
    {
        out.iter_mut()
            .zip(src.iter().rev())
            .for_each(|(o, x)| *o = *x);
        return;
    }
    out.iter_mut().zip(lane.iter()).for_each(|(o, x)| *o = *x);
}

/// One lane of an input: a constant (a broadcast or constant block) or values.
fn lane_value<T: Element>(lane: &ArrayView1<'_, T>) -> Option<T> {
    (!lane.is_empty() && (lane.strides()[0] == 0 || lane.len() == 1)).then(|| lane[0])
}

/// Evaluates an [`Expr`] lane after lane, reusing its buffers.
struct Evaluator<'e, T: Element> {
    nodes: &'e [Node<T>],
    // Inline for small expressions: evaluating a one-element block allocates nothing here.
    last_use: SmallVec<[u32; 16]>,
    vals: SmallVec<[Lane<T>; 16]>,
    pool: Vec<Vec<T>>,
}

impl<'e, T: Numeric> Evaluator<'e, T> {
    fn new(expr: &'e Expr<T>, inputs: usize) -> Result<Self, TaskError> {
        Ok(Evaluator {
            nodes: &expr.nodes,
            last_use: expr.last_uses(inputs)?,
            vals: SmallVec::with_capacity(expr.nodes.len()),
            pool: Vec::new(),
        })
    }

    fn src<'a>(&'a self, j: u32, lanes: &'a [ArrayView1<'_, T>]) -> Src<'a, T> {
        match &self.vals[j as usize] {
            Lane::Const(c) => Src::Const(*c),
            Lane::Input(k) => Src::Slice(lanes[*k].as_slice().unwrap_or(&[])),
            Lane::Buf(b) => Src::Slice(b),
            Lane::Dead => unreachable!("a node is read only up to its last use"),
        }
    }

    fn buffer(&mut self, len: usize) -> Vec<T> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.resize(len, T::default());
        b
    }

    /// The buffer of node `j` if node `i` is its last reader (to be written in place).
    fn take_if_last(&mut self, j: u32, i: usize) -> Option<Vec<T>> {
        if self.last_use[j as usize] as usize != i {
            return None;
        }
        match std::mem::replace(&mut self.vals[j as usize], Lane::Dead) {
            Lane::Buf(b) => Some(b),
            other => {
                self.vals[j as usize] = other;
                None
            }
        }
    }

    /// Evaluates every node on one lane of `len` elements; the result is the last node's.
    fn lane(&mut self, lanes: &[ArrayView1<'_, T>], len: usize) -> &Lane<T> {
        for v in self.vals.drain(..) {
            if let Lane::Buf(b) = v {
                self.pool.push(b);
            }
        }
        for i in 0..self.nodes.len() {
            let val = match self.nodes[i] {
                Node::Scalar(s) => Lane::Const(s),
                Node::Input(k) => {
                    let lane = &lanes[k as usize];
                    match (lane_value(lane), lane.as_slice()) {
                        (Some(v), _) => Lane::Const(v),
                        (None, Some(_)) => Lane::Input(k as usize),
                        (None, None) => {
                            let mut b = self.buffer(len);
                            copy_lane(&mut b, lane);
                            Lane::Buf(b)
                        }
                    }
                }
                Node::Un(op, a) => match self.src(a, lanes) {
                    Src::Const(x) => Lane::Const(T::unary(op, x)),
                    _ => {
                        let (mut out, a) = match self.take_if_last(a, i) {
                            Some(b) => (b, Src::Out),
                            None => (self.buffer(len), self.src(a, lanes)),
                        };
                        apply_un(op, &mut out, a);
                        Lane::Buf(out)
                    }
                },
                Node::Bin(op, a, b) => match (self.src(a, lanes), self.src(b, lanes)) {
                    (Src::Const(x), Src::Const(y)) => Lane::Const(T::binary(op, x, y)),
                    _ => {
                        let (mut out, sa, sb) = if let Some(buf) = self.take_if_last(a, i) {
                            let sb = if b == a { Src::Out } else { self.src(b, lanes) };
                            (buf, Src::Out, sb)
                        } else if let Some(buf) = self.take_if_last(b, i) {
                            (buf, self.src(a, lanes), Src::Out)
                        } else {
                            (self.buffer(len), self.src(a, lanes), self.src(b, lanes))
                        };
                        apply_bin(op, &mut out, sa, sb);
                        Lane::Buf(out)
                    }
                },
            };
            self.vals.push(val);
            // Buffers that nothing reads any more go back to the pool.
            let reads = match self.nodes[i] {
                Node::Bin(_, a, b) => [a, b],
                Node::Un(_, a) => [a, a],
                Node::Input(_) | Node::Scalar(_) => continue,
            };
            {
                for j in reads {
                    if self.last_use[j as usize] as usize == i
                        && let Lane::Buf(buf) =
                            std::mem::replace(&mut self.vals[j as usize], Lane::Dead)
                    {
                        self.pool.push(buf);
                    }
                }
            }
        }
        self.vals.last().unwrap_or(&Lane::Dead)
    }

    /// The lane's result as a constant or values (borrowing the input or the result buffer).
    fn result<'a>(&'a self, lanes: &'a [ArrayView1<'_, T>]) -> Src<'a, T> {
        self.src(self.nodes.len() as u32 - 1, lanes)
    }
}

/// A lane's sum: sixteen running sums, combined pairwise — NumPy's pairwise summation also
/// splits the order — so that the adds of a vector do not wait on each other; compiled for
/// the CPU's vector level (the order, and so the result, is the same on every level).
struct SumLane<'a, T>(&'a [T]);

impl<T: Element> rask_math::Vectorized for SumLane<'_, T> {
    type Output = T::Acc;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> T::Acc {
        const K: usize = 16;
        let mut p = [<T::Acc as Element>::zero(); K];
        let chunks = self.0.chunks_exact(K);
        let tail = chunks.remainder();
        for c in chunks {
            for (pi, x) in p.iter_mut().zip(c) {
                *pi = pi.add(x.acc());
            }
        }
        let mut w = K;
        while w > 1 {
            w /= 2;
            for i in 0..w {
                p[i] = p[i].add(p[i + w]);
            }
        }
        tail.iter().fold(p[0], |s, x| s.add(x.acc()))
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
        ReduceKind::Sum => a = a.add(rask_math::vectorized(SumLane(it.as_slice()))),
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
    let lane = fold_repeated(kind, c.acc(), len);
    Some(match acc {
        Some(a) => fold(kind, a, lane),
        None => lane,
    })
}

/// `reduce(expr(inputs))` over `axes` (kept, with length 1), one lane at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct ExprReduce<T: Element> {
    expr: Expr<T>,
    /// Per input, the part of its block read, if not all of it.
    slices: Vec<Option<Vec<Keep>>>,
    /// The part of the expression's block reduced, if not all of it: applied to every input
    /// (broadcast to the expression's shape) before anything is computed, as
    /// [`ExprBlock`]'s is.
    outer: Option<Vec<Keep>>,
    kind: ReduceKind,
    axes: Vec<usize>,
    name: String,
}

impl<T: Numeric> Op for ExprReduce<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        with_inputs(
            &args,
            &self.slices,
            self.outer.as_deref(),
            |inputs, shape| self.reduce(inputs, shape),
        )
    }
}

impl<T: Numeric> ExprReduce<T> {
    /// The expression over `inputs` (of `shape`), reduced.
    fn reduce(&self, inputs: &[Input<'_, T>], shape: Dims) -> Result<Value, TaskError> {
        let ndim = shape.len();
        let n: usize = shape.iter().product();
        let last = ndim.checked_sub(1);
        let all = self.axes.len() == ndim;
        let keeps_last = last.is_some_and(|l| !self.axes.contains(&l));
        if n == 0 || ndim == 0 || !(all || keeps_last) {
            // Rare shapes: make the block, then reduce it.
            let block = evaluate(&self.expr, inputs, &shape)?;
            let r = ReduceBlock::<T>::new(self.kind, self.axes.clone());
            return Ok(Value::new(Chunk(r.apply(&block.view())?)));
        }
        let last = ndim - 1;
        let len = shape[last];
        let kind = self.kind;
        let mut eval = Evaluator::new(&self.expr, inputs.len())?;
        if all && let Some(ones) = constant_values(inputs) {
            // Every input is one value everywhere (`ones`, `full`, a broadcast scalar): so is
            // the expression, worked out once; its reduction over n elements is O(1).
            let lane: LaneViews<'_, T> = ones.iter().map(ArrayView1::from).collect();
            eval.lane(&lane, 1);
            let c = match eval.result(&lane) {
                Src::Const(c) => c,
                Src::Slice(values) => values[0],
                Src::Out => unreachable!("a result is a constant or values"),
            };
            return Ok(reduced_block(ndim, fold_constant::<T>(kind, None, c, n)));
        }
        let mut lanes = LaneSource::new(inputs, &shape);
        if all {
            let mut acc: Option<T::Acc> = None;
            loop {
                let mut lane = LaneViews::new();
                if !lanes.next(&mut lane)? {
                    break;
                }
                eval.lane(&lane, len);
                acc = match eval.result(&lane) {
                    Src::Const(c) => fold_constant::<T>(kind, acc, c, len),
                    Src::Slice(values) => fold_lane::<T>(kind, acc, values),
                    Src::Out => unreachable!("a result is a constant or values"),
                };
            }
            return Ok(reduced_block(ndim, acc));
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
        let mut constant = Vec::new();
        for _ in 0..rows {
            let mut lane = LaneViews::new();
            if !lanes.next(&mut lane)? {
                break;
            }
            eval.lane(&lane, len);
            let values = match eval.result(&lane) {
                Src::Slice(values) => values,
                Src::Const(c) => {
                    constant.clear();
                    constant.resize(len, c);
                    &constant[..]
                }
                Src::Out => unreachable!("a result is a constant or values"),
            };
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

/// The one value of a view that holds one value everywhere (all strides 0, as constant
/// blocks and broadcast scalars are), if it is not empty.
fn one_value<'v, T: Element>(v: &'v ArrayViewD<'_, T>) -> Option<&'v T> {
    v.strides()
        .iter()
        .all(|s| *s == 0)
        .then(|| v.first())
        .flatten()
}

/// The one value of each input as a 1-element slice, if every input is one value everywhere
/// ([`one_value`]).
fn constant_values<'s, T: Element>(inputs: &'s [Input<'_, T>]) -> Option<SmallVec<[&'s [T]; 4]>> {
    inputs
        .iter()
        .map(|input| match input {
            Input::View(v) => one_value(v).map(std::slice::from_ref),
            Input::Drawn(_) => None,
        })
        .collect()
}

/// A reduction's result for a block of `ndim` dimensions reduced over all of them: its value
/// in a block of length 1 along every axis.
fn reduced_block<A: Element>(ndim: usize, acc: Option<A>) -> Value {
    let ones = Dims::from_elem(1, ndim);
    Value::new(Chunk(ArrayD::from_elem(
        IxDyn(&ones),
        acc.unwrap_or_default(),
    )))
}

/// Values per tile when an expression's inputs are contiguous: numexpr's tile, a few pages
/// per operand, so that every intermediate stays in L1.
const TILE: usize = 1024;

/// One input of a fused expression as it runs: a block's view (broadcast to the
/// expression's shape), or a random block of that shape, drawn tile by tile as it is read.
enum Input<'a, T: Element> {
    View(ArrayViewD<'a, T>),
    Drawn(&'a RandomBlock),
}

/// A fused task's argument as it arrives: a block's view (sliced as its leaf says), or a
/// random block drawn where it is read.
enum Arrived<'a, T: Element> {
    View(ArrayViewD<'a, T>),
    Drawn(&'a RandomBlock),
}

/// A fused task's arguments and the shape of their broadcast: its argument blocks, each sliced
/// as `slices` says. A random block (a [`DrawnBlock`] argument) of exactly that shape,
/// unsliced and not cut by `outer`, is drawn where it is read; others are made here, into
/// `made`. [`broadcast_inputs`] then broadcasts them and cuts them by `outer`.
fn arrive<'a, T: Numeric>(
    args: &'a Args,
    slices: &[Option<Vec<Keep>>],
    outer: Option<&[Keep]>,
    made: &'a mut Vec<ArrayD<T>>,
    arrived: &mut SmallVec<[Arrived<'a, T>; 4]>,
) -> Result<Dims, TaskError> {
    // Its shape comes from its blocks: with none (bytes from elsewhere may say so), there is
    // nothing to evaluate over.
    if args.is_empty() {
        return Err(TaskError::new(
            "a fused expression needs at least one block",
        ));
    }
    let keeps = || slices.iter().chain(std::iter::repeat(&None));
    let drawn: SmallVec<[Option<&RandomBlock>; 4]> = args
        .iter()
        .map(|a| a.downcast_ref::<DrawnBlock>().map(|d| &d.0))
        .collect();
    let mut shape = Dims::new();
    for ((a, d), keep) in args.iter().zip(&drawn).zip(keeps()) {
        let s: Dims = match (d, keep) {
            (Some(r), None) => r.shape().into(),
            (Some(r), Some(keep)) => crate::slicing::sliced_shape(keep, r.shape())?.into(),
            (None, keep) => {
                let v = block_view::<T>(a)?;
                match keep {
                    Some(keep) => select(keep, v)?.shape().into(),
                    None => v.shape().into(),
                }
            }
        };
        broadcast_in_place(&mut shape, &s).map_err(|e| TaskError::new(e.to_string()))?;
    }
    // Whether a random block is drawn where it is read.
    let streams = |r: &RandomBlock, keep: &Option<Vec<Keep>>| {
        keep.is_none() && outer.is_none() && r.shape() == shape.as_slice()
    };
    for (d, keep) in drawn.iter().zip(keeps()) {
        if let Some(r) = d
            && !streams(r, keep)
        {
            made.push(r.to_array::<T>()?);
        }
    }
    let made: &'a Vec<ArrayD<T>> = made;
    let mut made_iter = made.iter();
    arrived.reserve(args.len());
    for ((a, d), keep) in args.iter().zip(&drawn).zip(keeps()) {
        if let Some(r) = d
            && streams(r, keep)
        {
            arrived.push(Arrived::Drawn(r));
            continue;
        }
        let v = match d {
            Some(_) => made_iter
                .next()
                .map(|m| m.view())
                .ok_or_else(|| TaskError::new("a random input was not made"))?,
            None => block_view::<T>(a)?,
        };
        arrived.push(Arrived::View(match keep {
            Some(keep) => select(keep, v)?,
            None => v,
        }));
    }
    Ok(shape)
}

/// What [`ExprBlock`] and [`ExprReduce`] both start with: their arguments as inputs
/// ([`arrive`], then [`broadcast_inputs`]; no blocks at all, which bytes from elsewhere may say, is an
/// error), handed to `f` with the shape they are evaluated over.
fn with_inputs<T: Numeric, R>(
    args: &Args,
    slices: &[Option<Vec<Keep>>],
    outer: Option<&[Keep]>,
    f: impl FnOnce(&[Input<'_, T>], Dims) -> Result<R, TaskError>,
) -> Result<R, TaskError> {
    // Filled in place: moving these (a few hundred bytes inline) would cost more than the
    // work on a small block.
    let mut made = Vec::new();
    let mut arrived = SmallVec::new();
    let shape = arrive::<T>(args, slices, outer, &mut made, &mut arrived)?;
    let mut inputs = SmallVec::new();
    let shape = broadcast_inputs(&arrived, &shape, outer, &mut inputs)?;
    f(&inputs, shape)
}

/// The arguments broadcast to `shape` and cut by `outer`, and the shape that leaves.
fn broadcast_inputs<'b, T: Element>(
    arrived: &'b [Arrived<'_, T>],
    shape: &[usize],
    outer: Option<&[Keep]>,
    out: &mut SmallVec<[Input<'b, T>; 4]>,
) -> Result<Dims, TaskError> {
    out.reserve(arrived.len());
    for a in arrived {
        out.push(match a {
            Arrived::Drawn(r) => Input::Drawn(r),
            Arrived::View(v) => {
                let v = v
                    .broadcast(IxDyn(shape))
                    .ok_or_else(|| TaskError::new("blocks do not broadcast"))?;
                Input::View(match outer {
                    Some(outer) => select(outer, v)?,
                    None => v,
                })
            }
        });
    }
    let shape = match outer {
        Some(outer) => crate::slicing::sliced_shape(outer, shape)?.into(),
        None => shape.into(),
    };
    Ok(shape)
}

/// One lane's views of an expression's inputs (on the stack for up to four inputs: a lane is
/// a thousand values, its views made afresh each time).
type LaneViews<'s, T> = smallvec::SmallVec<[ArrayView1<'s, T>; 4]>;

/// A random block and the buffer its current lane is drawn into.
type DrawnLane<'v, T> = (&'v RandomBlock, Vec<T>);

/// The inputs of an expression lane by lane along the last axis of `shape`: views' lanes, and
/// random blocks' values drawn for each lane (lane `i` of a C-ordered block is its values
/// `i·len..(i + 1)·len`).
struct LaneSource<'v, T: Element> {
    // Inline for up to 2 inputs (more would make the struct, moved once per block, cost more
    // to move than to allocate).
    iters: SmallVec<[Option<ndarray::iter::LanesIter<'v, T, IxDyn>>; 2]>,
    /// Scratch: this lane's views of the inputs that are views.
    got: SmallVec<[Option<ArrayView1<'v, T>>; 2]>,
    drawn: SmallVec<[Option<DrawnLane<'v, T>>; 2]>,
    len: usize,
    lane: usize,
    lanes: usize,
}

impl<'v, T: Element> LaneSource<'v, T> {
    /// Over `shape`, at least 1-d.
    fn new(inputs: &'v [Input<'_, T>], shape: &[usize]) -> Self {
        let last = shape.len().saturating_sub(1);
        let len = shape.get(last).copied().unwrap_or(1);
        let n: usize = shape.iter().product();
        let mut iters = SmallVec::with_capacity(inputs.len());
        let mut drawn = SmallVec::with_capacity(inputs.len());
        for input in inputs {
            match input {
                Input::View(v) => {
                    iters.push(Some(v.lanes(Axis(last)).into_iter()));
                    drawn.push(None);
                }
                Input::Drawn(r) => {
                    iters.push(None);
                    drawn.push(Some((*r, vec![T::default(); len])));
                }
            }
        }
        Self {
            got: SmallVec::with_capacity(iters.len()),
            iters,
            drawn,
            len,
            lane: 0,
            lanes: n.checked_div(len).unwrap_or(0),
        }
    }

    /// The next lane of every input into `out`; false when they are done.
    fn next<'s>(&'s mut self, out: &mut LaneViews<'s, T>) -> Result<bool, TaskError> {
        if self.lane >= self.lanes {
            return Ok(false);
        }
        let got = &mut self.got;
        got.clear();
        for (it, d) in self.iters.iter_mut().zip(self.drawn.iter_mut()) {
            match (it, d) {
                (Some(it), _) => match it.next() {
                    Some(l) => got.push(Some(l)),
                    None => return Ok(false),
                },
                (None, Some((r, buf))) => {
                    r.draw_into(self.lane * self.len, buf)?;
                    got.push(None);
                }
                (None, None) => return Ok(false),
            }
        }
        self.lane += 1;
        out.clear();
        for (g, d) in self.got.drain(..).zip(&self.drawn) {
            out.push(match (g, d) {
                (Some(l), _) => l,
                (None, Some((_, buf))) => ArrayView1::from(&buf[..]),
                (None, None) => return Ok(false),
            });
        }
        Ok(true)
    }
}

/// `expr` over `inputs` (as [`broadcast_inputs`] gives them), made into a block of `shape`: tile by
/// tile when every input is contiguous, constant or drawn (the common case: blocks of one
/// shape), else lane by lane along the last axis. Only the result is block-sized.
fn evaluate<T: Numeric>(
    expr: &Expr<T>,
    inputs: &[Input<'_, T>],
    shape: &[usize],
) -> Result<ArrayD<T>, TaskError> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(ArrayD::default(IxDyn(shape)));
    }
    let mut flat: Vec<T> = crate::chunk::big_vec(n)?;
    let mut eval = Evaluator::new(expr, inputs.len())?;
    let mut push =
        |eval: &Evaluator<'_, T>, lane: &[ArrayView1<'_, T>], len: usize| match eval.result(lane) {
            Src::Const(c) => flat.extend(std::iter::repeat_n(c, len)),
            Src::Slice(values) => flat.extend_from_slice(values),
            Src::Out => unreachable!("a result is a constant or values"),
        };
    /// How an input is read as one run of n values.
    enum Run<'a, T> {
        Values(&'a [T]),
        Const(T),
        Drawn(&'a RandomBlock),
    }
    let runs: Option<Vec<Run<'_, T>>> = inputs
        .iter()
        .map(|input| match input {
            Input::Drawn(r) => Some(Run::Drawn(r)),
            Input::View(v) => match v.as_slice() {
                Some(s) if s.len() == n => Some(Run::Values(s)),
                _ => one_value(v).map(|c| Run::Const(*c)),
            },
        })
        .collect();
    if let Some(runs) = runs {
        let mut bufs: Vec<Vec<T>> = runs
            .iter()
            .map(|r| match r {
                Run::Drawn(_) => vec![T::default(); TILE],
                _ => Vec::new(),
            })
            .collect();
        for start in (0..n).step_by(TILE) {
            let len = TILE.min(n - start);
            for (run, buf) in runs.iter().zip(bufs.iter_mut()) {
                if let Run::Drawn(r) = run {
                    r.draw_into(start, &mut buf[..len])?;
                }
            }
            let mut lane = LaneViews::new();
            for (run, buf) in runs.iter().zip(&bufs) {
                lane.push(match run {
                    Run::Values(s) => ArrayView1::from(&s[start..start + len]),
                    Run::Drawn(_) => ArrayView1::from(&buf[..len]),
                    // One value read len times (stride 0).
                    Run::Const(c) => {
                        use ndarray::ShapeBuilder;
                        ArrayView1::from_shape((len,).strides((0,)), std::slice::from_ref(c))
                            .map_err(|e| TaskError::new(e.to_string()))?
                    }
                });
            }
            eval.lane(&lane, len);
            push(&eval, &lane, len);
        }
    } else {
        // A 0-d block is evaluated as one lane of length 1.
        let shape1: Vec<usize> = if shape.is_empty() {
            vec![1]
        } else {
            shape.to_vec()
        };
        let inputs: Vec<Input<'_, T>> = inputs
            .iter()
            .map(|input| match input {
                Input::View(v) => v
                    .broadcast(IxDyn(&shape1))
                    .map(Input::View)
                    .ok_or_else(|| TaskError::new("blocks do not broadcast")),
                Input::Drawn(r) => Ok(Input::Drawn(r)),
            })
            .collect::<Result<_, _>>()?;
        let len = shape1[shape1.len() - 1];
        let mut lanes = LaneSource::new(&inputs, &shape1);
        loop {
            let mut lane = LaneViews::new();
            if !lanes.next(&mut lane)? {
                break;
            }
            eval.lane(&lane, len);
            push(&eval, &lane, len);
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), flat).map_err(|e| TaskError::new(e.to_string()))
}

/// An elementwise expression over input blocks, made into its block tile by tile (numexpr's
/// model): one output buffer, no block-sized intermediates, a subexpression used twice worked
/// out once per tile, and a slice of the expression (`outer`) pushed down to its inputs, so
/// that `(x * y)[::2]` computes only the elements it keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct ExprBlock<T: Element> {
    expr: Expr<T>,
    /// Per input, the part of its block read, if not all of it.
    slices: Vec<Option<Vec<Keep>>>,
    /// The part of the expression's block kept, if not all of it: applied to every input
    /// (broadcast to the expression's shape) before anything is computed.
    outer: Option<Vec<Keep>>,
    name: String,
}

impl<T: Numeric> Op for ExprBlock<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        with_inputs(
            &args,
            &self.slices,
            self.outer.as_deref(),
            |inputs, shape| Ok(Value::new(Chunk(evaluate(&self.expr, inputs, &shape)?))),
        )
    }
}

macro_rules! register_expr {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ExprReduce<$t>, concat!("rask.array.expr-reduce<", stringify!($t), ">"));
    )*};
}
register_expr!(f64, f32, i64, i32, u64, u32, u8);

macro_rules! register_expr_block {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ExprBlock<$t>, concat!("rask.array.expr-block<", stringify!($t), ">"));
    )*};
}
register_expr_block!(f64, f32, i64, i32, u64, u32, u8);

/// An operand of an elementwise task: one of its arguments, or its scalar.
#[derive(Clone, Copy)]
enum Operand<T> {
    Arg(usize),
    Scalar(T),
}

/// What an elementwise task computes, over its own arguments.
#[derive(Clone, Copy)]
enum Elementwise<T> {
    Bin(BinOp, Operand<T>, Operand<T>),
    Un(UnaryOp, Operand<T>),
}

/// What an elementwise task computes, if it is one that fuses.
fn elementwise<T: Numeric>(task: &Task) -> Option<Elementwise<T>> {
    let op = task.op();
    if let Some(b) = downcast_op::<Binary<T>>(op) {
        // A fused expression broadcasts its inputs: blocks that must match stay a task.
        if b.is_exact() {
            return None;
        }
        return Some(Elementwise::Bin(b.op(), Operand::Arg(0), Operand::Arg(1)));
    }
    if let Some(u) = downcast_op::<Unary<T>>(op) {
        return Some(Elementwise::Un(u.op(), Operand::Arg(0)));
    }
    if let Some(w) = downcast_op::<WithScalar<T>>(op) {
        let (x, s) = (Operand::Arg(0), Operand::Scalar(w.scalar()));
        return Some(if w.scalar_first() {
            Elementwise::Bin(w.op(), s, x)
        } else {
            Elementwise::Bin(w.op(), x, s)
        });
    }
    None
}

/// Grows fused expressions down from reductions' inputs, one after another, reusing its
/// buffers (a graph of millions of blocks grows millions of small expressions).
struct Grower<'a, T: Element> {
    graph: &'a Graph,
    fusable: &'a dyn Fn(&Key) -> bool,
    /// The expression's inputs: an argument, and the part of it read (a slice taken in place).
    /// (Borrowed from the graph, but for random blocks drawn where read.)
    leaves: Vec<(Cow<'a, Arg>, Option<Vec<Keep>>)>,
    /// Per leaf, its `Input` node.
    leaf_nodes: Vec<u32>,
    /// The `Input` nodes of the leaves that read a whole block, by key.
    leaf_map: FxHashMap<&'a Key, u32>,
    /// The `Input` nodes of the random blocks drawn where read, by the key they replace.
    drawn: Vec<(Key, u32)>,
    nodes: Vec<Node<T>>,
    /// Every task taken in so far, by every expression (to be removed from the graph).
    absorbed: Vec<Key>,
    /// The names of this expression's ops, outermost last.
    names: Vec<&'a str>,
    // Scratch for the walk, on the graph's own keys (no key is cloned to be walked).
    // (`None` is the root, which may be a key of the caller's.)
    order: Vec<Option<&'a Key>>,
    seen: Vec<&'a Key>,
    stack: Vec<(Option<&'a Key>, bool)>,
    node_of: Vec<(&'a Key, u32)>,
}

impl<'a, T: Numeric> Grower<'a, T> {
    fn new(graph: &'a Graph, fusable: &'a dyn Fn(&Key) -> bool) -> Self {
        Grower {
            graph,
            fusable,
            leaves: Vec::new(),
            leaf_nodes: Vec::new(),
            leaf_map: FxHashMap::default(),
            drawn: Vec::new(),
            nodes: Vec::new(),
            absorbed: Vec::new(),
            names: Vec::new(),
            order: Vec::new(),
            seen: Vec::new(),
            stack: Vec::new(),
            node_of: Vec::new(),
        }
    }

    /// Whether `k`'s task is taken into the expression.
    fn takes(&self, k: &Key) -> bool {
        (self.fusable)(k) && self.graph.get(k).and_then(elementwise::<T>).is_some()
    }

    /// Grows the expression computing `root` into `nodes`, `leaves` and `names`: every
    /// fusable elementwise task under it taken in once (a task read twice is one node),
    /// anything else an input. Iterative, so that a chain of any length is safe.
    fn grow(&mut self, root: &Key) {
        let graph = self.graph;
        self.order.clear();
        self.seen.clear();
        self.stack.clear();
        self.node_of.clear();
        self.nodes.clear();
        self.leaves.clear();
        self.leaf_nodes.clear();
        self.leaf_map.clear();
        self.drawn.clear();
        self.names.clear();
        // A set once the expression is large; a list searched before that.
        let mut seen_set: Option<FxHashSet<&'a Key>> = None;
        // The tasks taken in, children before their readers (an iterative post-order walk).
        self.stack.push((None, false));
        while let Some((at, expanded)) = self.stack.pop() {
            if expanded {
                self.order.push(at);
                continue;
            }
            let new = match (at, &mut seen_set) {
                (None, _) => true,
                (Some(k), Some(set)) => set.insert(k),
                (Some(k), None) if self.seen.contains(&k) => false,
                (Some(k), None) => {
                    self.seen.push(k);
                    if self.seen.len() > 32 {
                        seen_set = Some(self.seen.drain(..).collect());
                    }
                    true
                }
            };
            if !new {
                continue;
            }
            let args = graph
                .get(at.unwrap_or(root))
                .map(Task::args)
                .unwrap_or_default();
            self.stack.push((at, true));
            for a in args.iter().rev() {
                let Arg::Key(c) = a else { continue };
                let seen = match &seen_set {
                    Some(set) => set.contains(c),
                    None => self.seen.contains(&c),
                };
                if !seen && self.takes(c) {
                    self.stack.push((Some(c), false));
                }
            }
        }
        let mut node_map: FxHashMap<&'a Key, u32> = FxHashMap::default();
        let order = std::mem::take(&mut self.order);
        for &at in &order {
            let k = at.unwrap_or(root);
            let Some(task) = graph.get(k) else { continue };
            let Some(form) = elementwise::<T>(task) else {
                continue;
            };
            self.absorbed.push(k.clone());
            self.names.push(task.op().name());
            let operand = |g: &mut Self, node_map: &FxHashMap<&'a Key, u32>, o: Operand<T>| match o
            {
                Operand::Scalar(s) => g.push(Node::Scalar(s)),
                Operand::Arg(i) => {
                    let found = match &task.args()[i] {
                        Arg::Key(c) if g.node_of.len() <= 32 => {
                            g.node_of.iter().find(|(k, _)| *k == c).map(|(_, n)| *n)
                        }
                        Arg::Key(c) => node_map.get(c).copied(),
                        _ => None,
                    };
                    match found {
                        Some(n) => n,
                        None => g.leaf(&task.args()[i]),
                    }
                }
            };
            let node = match form {
                Elementwise::Bin(op, a, b) => {
                    let a = operand(self, &node_map, a);
                    let b = operand(self, &node_map, b);
                    Node::Bin(op, a, b)
                }
                Elementwise::Un(op, a) => Node::Un(op, operand(self, &node_map, a)),
            };
            let id = self.push(node);
            // The root is read by nothing inside the expression.
            let Some(k) = at else { continue };
            self.node_of.push((k, id));
            if self.node_of.len() > 32 {
                if node_map.is_empty() {
                    node_map.extend(self.node_of.iter().copied());
                } else {
                    node_map.insert(k, id);
                }
            }
        }
        self.order = order;
    }

    /// The expression grown last.
    fn expr(&self) -> Expr<T> {
        Expr {
            nodes: self.nodes.clone(),
        }
    }

    /// Per leaf of the expression grown last, the part of its block read.
    fn slices(&self) -> Vec<Option<Vec<Keep>>> {
        self.leaves.iter().map(|(_, s)| s.clone()).collect()
    }

    /// The leaves of the expression grown last, as the fused task's arguments.
    fn args(&self) -> Vec<Arg> {
        self.leaves
            .iter()
            .map(|(a, _)| a.as_ref().clone())
            .collect()
    }

    /// Whether the expression grown last is `expr` reading its leaves as `slices` say.
    fn same_as(
        &self,
        expr: &Expr<T>,
        slices: &[Option<Vec<Keep>>],
        scratch: &mut (Vec<u8>, Vec<u8>),
    ) -> bool {
        same_nodes(&expr.nodes, &self.nodes, scratch)
            && slices.len() == self.leaves.len()
            && slices.iter().zip(&self.leaves).all(|(a, (_, b))| a == b)
    }

    fn push(&mut self, node: Node<T>) -> u32 {
        self.nodes.push(node);
        self.nodes.len() as u32 - 1
    }

    /// The input node reading `arg`. A slice that only this expression reads is taken in: the
    /// expression reads the sliced block's view, and no copy is made. So is a random block
    /// that only this expression reads: it is drawn where it is read ([`DrawnBlock`]), and
    /// never made.
    fn leaf(&mut self, arg: &'a Arg) -> u32 {
        if let Arg::Key(k) = arg
            && (self.fusable)(k)
            && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>()
            && let Some(task) = self.graph.get(k)
            && let Some(r) = downcast_op::<RandomBlock>(task.op())
            && r.draws_f64()
        {
            if let Some((_, node)) = self.drawn.iter().find(|(d, _)| d == k) {
                return *node;
            }
            self.absorbed.push(k.clone());
            self.names.push(task.op().name());
            let id = self.push(Node::Input(self.leaves.len() as u32));
            self.leaves.push((
                Cow::Owned(Arg::Value(Value::new(DrawnBlock(r.clone())))),
                None,
            ));
            self.leaf_nodes.push(id);
            self.drawn.push((k.clone(), id));
            return id;
        }
        let mut leaf: (&'a Arg, Option<Vec<Keep>>) = (arg, None);
        if let Arg::Key(k) = arg
            && (self.fusable)(k)
            && let Some(task) = self.graph.get(k)
            && let Some(slice) = downcast_op::<SliceBlock<T>>(task.op())
            && let [inner @ Arg::Key(_)] = task.args()
        {
            self.absorbed.push(k.clone());
            self.names.push(task.op().name());
            leaf = (inner, Some(slice.keep().to_vec()));
        }
        // The same input read again is the same node: searched in a list while the inputs
        // are few, through a map of the plain ones past that.
        let found = match (&leaf, self.leaves.len() > 32) {
            ((Arg::Key(k), None), true) => self.leaf_map.get(k).copied(),
            _ => self
                .leaves
                .iter()
                .position(|(a, s)| match (&**a, leaf.0) {
                    (Arg::Key(a), Arg::Key(b)) => a == b && *s == leaf.1,
                    _ => false,
                })
                .map(|pos| self.leaf_nodes[pos]),
        };
        if let Some(node) = found {
            return node;
        }
        let id = self.push(Node::Input(self.leaves.len() as u32));
        if let (Arg::Key(k), None) = &leaf {
            self.leaf_map.insert(k, id);
        }
        self.leaves.push((Cow::Borrowed(leaf.0), leaf.1));
        self.leaf_nodes.push(id);
        id
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

/// Whether two node lists are the same expression, constants compared bit for bit (`0.0`
/// and `-0.0` are different constants: `x / 0.0` and `x / -0.0` differ), so that an op is
/// shared only between blocks that compute the same thing.
fn same_nodes<T: Element>(a: &[Node<T>], b: &[Node<T>], scratch: &mut (Vec<u8>, Vec<u8>)) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Node::Scalar(x), Node::Scalar(y)) => {
                let (bx, by) = (&mut scratch.0, &mut scratch.1);
                bx.clear();
                by.clear();
                x.put(bx);
                y.put(by);
                bx == by
            }
            (x, y) => x == y,
        })
}

/// The op for the next block of a pass: the last one made when `same` says it computes the
/// same thing (blocks of one layer usually do: the op is shared, not repeated), else a new one
/// from `make`, which becomes the last.
fn shared_op<O: Op + Clone>(
    last: &mut Option<(O, Arc<dyn Op>)>,
    same: impl FnOnce(&O) -> bool,
    make: impl FnOnce() -> O,
) -> Arc<dyn Op> {
    if let Some((prev, arc)) = last.as_ref()
        && same(prev)
    {
        return Arc::clone(arc);
    }
    let op = make();
    let arc: Arc<dyn Op> = Arc::new(op.clone());
    *last = Some((op, Arc::clone(&arc)));
    arc
}

/// Fuses, for element type `T`, every elementwise chain read only by a block reduction into
/// that reduction. Keys in `keep` are never fused away.
pub(crate) fn fuse_reductions<T: Numeric>(graph: &Graph, keep: &KeySet) -> Graph
where
    T::Acc: Arith,
{
    let readers = graph.reader_counts();
    let fusable = readers.fusable(keep);
    let mut rewrite = graph.rewrite();
    let mut g = Grower::<T>::new(graph, &fusable);
    // For comparing constants bit for bit without allocating.
    let mut scratch = (Vec::new(), Vec::new());
    // Blocks of one reduction usually make the same op: it is shared, not repeated.
    let mut last: Option<(ExprReduce<T>, Arc<dyn Op>)> = None;
    // Keys are made only for the reductions (not for every task of the graph).
    let reductions = graph.layers().flat_map(|l| {
        l.entries()
            .filter(|(_, t)| downcast_op::<ReduceBlock<T>>(t.op()).is_some())
            .map(move |(i, t)| (l.key(i.iter().copied()), t))
    });
    for (key, task) in reductions {
        let Some(r) = downcast_op::<ReduceBlock<T>>(task.op()) else {
            continue;
        };
        let Some(Arg::Key(src)) = task.args().first() else {
            continue;
        };
        let Some(src_task) = graph.get(src) else {
            continue;
        };
        if !fusable(src) {
            continue;
        }
        // A slice of an expression, read by nothing else, is pushed down into it: the
        // expression is worked out only where the slice keeps it.
        let (top, outer) = match (
            elementwise::<T>(src_task),
            downcast_op::<SliceBlock<T>>(src_task.op()),
        ) {
            (Some(_), _) => (src, None),
            (None, Some(slice)) => match src_task.args() {
                [Arg::Key(c)]
                    if fusable(c) && graph.get(c).and_then(elementwise::<T>).is_some() =>
                {
                    (c, Some(slice.keep().to_vec()))
                }
                _ => continue,
            },
            (None, None) => continue,
        };
        // Grow the expression from the reduction's input down through fusable elementwise tasks.
        g.grow(top);
        let kind = r.kind();
        // The op of the block before, if this block's is the same (no allocation then).
        let op = shared_op(
            &mut last,
            |prev| {
                prev.kind == kind
                    && prev.axes == r.axes()
                    && prev.outer == outer
                    && g.same_as(&prev.expr, &prev.slices, &mut scratch)
            },
            || {
                let mut names: Vec<&str> = g.names.iter().rev().copied().collect();
                if outer.is_some() {
                    names.insert(0, "getitem");
                }
                names.push(kind.chunk_name());
                ExprReduce::<T> {
                    expr: g.expr(),
                    slices: g.slices(),
                    outer: outer.clone(),
                    kind,
                    axes: r.axes().to_vec(),
                    name: names.join("-"),
                }
            },
        );
        rewrite.replace(&key, Task::from_arc(op, g.args()));
        // What the expression took in goes (now: the list is reused, block after block).
        for k in g.absorbed.drain(..) {
            rewrite.remove(&k);
        }
        if outer.is_some() {
            rewrite.remove(src);
        }
    }
    rewrite.finish()
}

macro_rules! register_fuse_elementwise {
    ($($t:ty),*) => {$(
        rask_graph::register_pass!(
            "array", 40, concat!("fuse-elementwise-binary-", stringify!($t)),
            Binary<$t>, fuse_elementwise::<$t>
        );
        rask_graph::register_pass!(
            "array", 41, concat!("fuse-elementwise-unary-", stringify!($t)),
            Unary<$t>, fuse_elementwise::<$t>
        );
        rask_graph::register_pass!(
            "array", 42, concat!("fuse-elementwise-scalar-", stringify!($t)),
            WithScalar<$t>, fuse_elementwise::<$t>
        );
    )*};
}
// Elementwise expressions read by anything else (stored, sliced, returned) run as one task per
// block, tile by tile. Registered once per op type that can start one; a second run finds
// nothing left to fuse.
register_fuse_elementwise!(f64, f32, i64, i32, u64, u32, u8);

/// Fuses, for element type `T`, every elementwise expression into one [`ExprBlock`] task per
/// block: its root (an elementwise task no other expression takes in) keeps its key, and the
/// fusable tasks under it (read once, not kept) go, random blocks among them (drawn where
/// read). A slice of an expression read by nothing else is pushed down into it. A single
/// operation on whole blocks made elsewhere is left as it is (its op already works in place).
pub(crate) fn fuse_elementwise<T: Numeric>(graph: &Graph, keep: &KeySet) -> Graph {
    let readers = graph.reader_counts();
    let fusable = readers.fusable(keep);
    let is_elementwise = |k: &Key| graph.get(k).and_then(elementwise::<T>).is_some();
    let is_slice = |k: &Key| {
        graph
            .get(k)
            .is_some_and(|t| downcast_op::<SliceBlock<T>>(t.op()).is_some())
    };
    // Tasks another expression takes in, and slices an expression reads as its input's view.
    let mut interior = KeySet::default();
    let mut leaf_slices = KeySet::default();
    let tasks = || {
        graph
            .layers()
            .flat_map(|l| l.entries().map(move |(i, t)| (l, i, t)))
    };
    for (_, _, task) in tasks() {
        if elementwise::<T>(task).is_none() {
            continue;
        }
        for a in task.args().iter() {
            if let Arg::Key(c) = a
                && fusable(c)
            {
                if is_elementwise(c) {
                    interior.insert(c.clone());
                } else if is_slice(c) {
                    leaf_slices.insert(c.clone());
                }
            }
        }
    }
    // Slices of an expression that push down: their input goes into them.
    let mut roots: Vec<(Key, Key, Option<Vec<Keep>>)> = Vec::new();
    for (layer, i, task) in tasks() {
        let Some(slice) = downcast_op::<SliceBlock<T>>(task.op()) else {
            continue;
        };
        let key = layer.key(i.iter().copied());
        if let [Arg::Key(c)] = task.args()
            && !leaf_slices.contains(&key)
            && fusable(c)
            && is_elementwise(c)
        {
            interior.insert(c.clone());
            roots.push((key, c.clone(), Some(slice.keep().to_vec())));
        }
    }
    for (layer, i, task) in tasks() {
        if elementwise::<T>(task).is_none() {
            continue;
        }
        let key = layer.key(i.iter().copied());
        if !interior.contains(&key) {
            roots.push((key.clone(), key, None));
        }
    }
    let mut rewrite = graph.rewrite();
    let mut g = Grower::<T>::new(graph, &fusable);
    let mut scratch = (Vec::new(), Vec::new());
    let mut last: Option<(ExprBlock<T>, Arc<dyn Op>)> = None;
    let mut fused = false;
    for (key, top, outer) in roots {
        let before = g.absorbed.len();
        g.grow(&top);
        let ops = g
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Bin(..) | Node::Un(..)))
            .count();
        let sliced = outer.is_some() || g.leaves.iter().any(|(_, s)| s.is_some());
        if ops < 2 && !sliced && g.drawn.is_empty() {
            // Left as it is: nothing taken in after all.
            g.absorbed.truncate(before);
            continue;
        }
        fused = true;
        if outer.is_none() {
            // The root itself was taken in by the walk: it stays, as the fused task.
            if let Some(at) = g.absorbed[before..].iter().position(|k| *k == key) {
                g.absorbed.remove(before + at);
            }
        }
        let op = shared_op(
            &mut last,
            |prev| prev.outer == outer && g.same_as(&prev.expr, &prev.slices, &mut scratch),
            || {
                let mut names: Vec<&str> = g.names.iter().rev().copied().collect();
                if outer.is_some() {
                    names.insert(0, "getitem");
                }
                ExprBlock::<T> {
                    expr: g.expr(),
                    slices: g.slices(),
                    outer: outer.clone(),
                    name: names.join("-"),
                }
            },
        );
        rewrite.replace(&key, Task::from_arc(op, g.args()));
    }
    if !fused {
        return graph.clone();
    }
    for k in &g.absorbed {
        if !keep.contains(k) {
            rewrite.remove(k);
        }
    }
    rewrite.finish()
}

#[cfg(test)]
mod tests {
    use rask_graph::{Args, Op, Value};

    use super::{Expr, ExprReduce, Node};
    use crate::chunk::Chunk;
    use crate::elementwise::BinOp;
    use crate::reduce::ReduceKind;

    /// Bytes from elsewhere may hold any node list: one that reads a later node or a missing
    /// argument is a task error, never a panic.
    #[test]
    fn malformed_expressions_are_task_errors() {
        let run = |nodes: Vec<Node<f64>>| {
            let op = ExprReduce {
                expr: Expr { nodes },
                slices: vec![],
                outer: None,
                kind: ReduceKind::Sum,
                axes: vec![0],
                name: "crafted".into(),
            };
            let block = Value::new(Chunk(ndarray::ArrayD::<f64>::ones(ndarray::IxDyn(&[4]))));
            op.run(Args::from(vec![block]))
                .map(|v| v.get::<Chunk<f64>>().unwrap().0.sum())
        };
        assert_eq!(
            run(vec![Node::Input(0), Node::Bin(BinOp::Add, 0, 0)]).unwrap(),
            8.0
        );
        let err = run(vec![Node::Input(0), Node::Bin(BinOp::Add, 0, 2)]).unwrap_err();
        assert!(err.to_string().contains("does not come before it"), "{err}");
        let err = run(vec![Node::Input(3)]).unwrap_err();
        assert!(err.to_string().contains("argument 3 of 1"), "{err}");
        assert!(run(vec![]).is_err());
        // No block at all: an error, not a loop without end.
        let op = ExprReduce {
            expr: Expr {
                nodes: vec![Node::Scalar(1.0f64)],
            },
            slices: vec![],
            outer: None,
            kind: ReduceKind::Sum,
            axes: vec![],
            name: "crafted".into(),
        };
        assert!(op.run(Args::default()).is_err());
    }
}
