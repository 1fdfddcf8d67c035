//! `blockwise`: Dask's index notation for aligning the blocks of several arrays.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::delayed::ClosureOp;
use rask_graph::named::NamedFn;
use rask_graph::tokenize::{key_name, unique_token};
use rask_graph::{Arg, Args, Graph, Layer, Op, Task, TaskError, Value};

use crate::array::Array;
use crate::chunk::block_view;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::{ArrayError, KernelError};

use super::{checked, kernel_error};

impl<T: Element> Array<T> {
    /// Dask's `blockwise`: `f` applied to aligned blocks of several arrays, the alignment given
    /// by index letters. `out` names the output's axes; each input names its own. A letter
    /// shared by several inputs aligns their blocks on it (cut to common blocks first); a
    /// letter not in `out` is contracted: the blocks along it are joined into one before `f`
    /// sees them. `f` must return the block of the output's shape at that position.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let a = Array::from_array(&ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn(), 1usize).unwrap();
    /// let b = Array::from_array(&ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0]]).into_dyn(), 1usize).unwrap();
    /// // A matrix product: "ij" from "ik" and "kj".
    /// let c = Array::blockwise("matmul", "ij", &[(&a, "ik"), (&b, "kj")], |blocks| {
    ///     let x = blocks[0].clone().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?;
    ///     let y = blocks[1].clone().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?;
    ///     Ok(x.dot(&y).into_dyn())
    /// })
    /// .unwrap();
    /// assert_eq!(c.compute_on(&rask_local::SyncScheduler, &[]).unwrap(), ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn());
    /// ```
    pub fn blockwise<U: Element>(
        name: &str,
        out: &str,
        inputs: &[(&Array<T>, &str)],
        f: impl Fn(&[ArrayViewD<'_, T>]) -> Result<ArrayD<U>, KernelError> + Send + Sync + 'static,
    ) -> Result<Array<U>, ArrayError> {
        let bad = |m: String| kernel_error("blockwise", m);
        // Letter -> (length, common blocks).
        let mut dims: HashMap<char, (usize, Vec<usize>)> = HashMap::new();
        for (a, ind) in inputs {
            a.check()?;
            let letters: Vec<char> = ind.chars().collect();
            if letters.len() != a.ndim() {
                return Err(bad(format!(
                    "index {ind:?} has {} letters for an array of {} dimensions",
                    letters.len(),
                    a.ndim()
                )));
            }
            for (ax, l) in letters.iter().enumerate() {
                let (len, c) = (a.shape()[ax], a.chunks().axes()[ax].clone());
                match dims.get_mut(l) {
                    None => {
                        dims.insert(*l, (len, c));
                    }
                    Some((n, common)) => {
                        if *n != len {
                            return Err(bad(format!(
                                "index {l:?} has length {n} in one input and {len} in another"
                            )));
                        }
                        *common = crate::elementwise::refine(common, &c);
                    }
                }
            }
        }
        let out_letters: Vec<char> = out.chars().collect();
        if let Some(l) = out_letters.iter().find(|l| !dims.contains_key(l)) {
            return Err(bad(format!("output index {l:?} is in no input")));
        }
        // Inputs cut to the common blocks, contracted letters joined into one block.
        let prepared: Vec<(Array<T>, Vec<char>)> = inputs
            .iter()
            .map(|(a, ind)| {
                let letters: Vec<char> = ind.chars().collect();
                let target: Vec<Vec<usize>> = letters
                    .iter()
                    .map(|l| {
                        let (len, common) = &dims[l];
                        if out_letters.contains(l) {
                            common.clone()
                        } else {
                            vec![*len]
                        }
                    })
                    .collect();
                Ok((a.rechunk(ChunkSpec::from(target))?, letters))
            })
            .collect::<Result<_, ArrayError>>()?;
        let out_chunks = Chunks::from_axes(out_letters.iter().map(|l| dims[l].1.clone()).collect());
        let named = rask_graph::named::pointer_of::<BlockwisePtr<T, U>, _>(&f);
        let f = Arc::new(f);
        let mut layer =
            Layer::with_capacity(key_name(name, &unique_token()), out_chunks.npartitions());
        for index in out_chunks.blocks() {
            let at: HashMap<char, u32> = out_letters
                .iter()
                .copied()
                .zip(index.iter().copied())
                .collect();
            let args: Vec<Arg> = prepared
                .iter()
                .map(|(a, letters)| {
                    let src: Vec<u32> = letters
                        .iter()
                        .map(|l| at.get(l).copied().unwrap_or(0))
                        .collect();
                    Arg::Key(a.key(&src))
                })
                .collect();
            let want = out_chunks.block_shape(&index);
            if let Some((function, f)) = named {
                let op = NamedBlockwise::<T, U> {
                    function,
                    f,
                    label: name.to_string(),
                    want,
                };
                layer.insert(index, Task::new(op, args));
                continue;
            }
            let (f, label) = (Arc::clone(&f), name.to_string());
            let op = ClosureOp::new(name, move |args| {
                let views = args
                    .iter()
                    .map(block_view::<T>)
                    .collect::<Result<Vec<_>, _>>()?;
                checked(&label, f(&views), &want)
            });
            layer.insert(index, Task::new(op, args));
        }
        let layer_name = Arc::clone(layer.name());
        let mut graph = Graph::merged(prepared.iter().map(|(a, _)| a.graph()));
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, layer_name, out_chunks, name))
    }
}

/// A blockwise function that is a [named](rask_graph::named) function, as its canonical
/// pointer.
type BlockwisePtr<T, U> = fn(&[ArrayViewD<'_, T>]) -> Result<ArrayD<U>, TaskError>;

/// A named blockwise function applied to one output block's inputs; serializable as the
/// function's path.
struct NamedBlockwise<T, U> {
    function: &'static NamedFn,
    f: BlockwisePtr<T, U>,
    label: String,
    want: Vec<usize>,
}

impl<T, U> std::fmt::Debug for NamedBlockwise<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedBlockwise({})", self.function.path)
    }
}

impl<T: Element, U: Element> Op for NamedBlockwise<T, U> {
    fn name(&self) -> &str {
        &self.label
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let views = args
            .iter()
            .map(block_view::<T>)
            .collect::<Result<Vec<_>, _>>()?;
        checked(&self.label, (self.f)(&views), &self.want)
    }
}

impl<T, U> serde::Serialize for NamedBlockwise<T, U> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.function.path, &self.label, &self.want).serialize(s)
    }
}

impl<'de, T: Element, U: Element> serde::Deserialize<'de> for NamedBlockwise<T, U> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (path, label, want) = <(String, String, Vec<usize>)>::deserialize(d)?;
        let (function, f) =
            rask_graph::named::resolve_pointer::<BlockwisePtr<T, U>, D::Error>(&path, || {
                format!(
                    "a blockwise function from {} blocks to {}",
                    T::DTYPE,
                    U::DTYPE
                )
            })?;
        Ok(NamedBlockwise {
            function,
            f,
            label,
            want,
        })
    }
}

super::register_element_pairs!(NamedBlockwise, "rask.array.named-blockwise.");
