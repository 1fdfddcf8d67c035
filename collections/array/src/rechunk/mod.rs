//! `rechunk`: the same array cut into other blocks, with Dask's planning ("tasks" method):
//! when going straight from the old blocks to the new would make too many tasks (every new
//! block gathering pieces of many old ones), it goes through intermediate chunkings whose
//! blocks stay under a memory limit. Each step assembles each new block from pieces of the
//! old ones (`rechunk-merge`), read where they lie. An intermediate step copies nothing: its
//! blocks are [`Mosaic`]s, records of which regions of the original blocks they hold, so the
//! last step copies every element once, straight from the original blocks into the final
//! ones. A new block that is a whole old block is that block; one that is part of an old block
//! is cut out.
//!
//! - `plan.rs`: the planning — intersections of chunkings, Dask's merge/split steps, `auto`
//!   sizes;
//! - `assemble.rs`: the ops that build new blocks from pieces of old ones, and [`Mosaic`]s.

use std::sync::Arc;

use rask_graph::ops::Identity;
use rask_graph::tokenize::Tokenizer;
use rask_graph::{Arg, Op, Task};

use crate::array::Array;
use crate::chunks::{AxisChunks, ChunkSpec, Chunks, DEFAULT_CHUNK_BYTES};
use crate::element::Element;
use crate::elementwise::SubBlock;
use crate::error::ArrayError;

mod assemble;
mod plan;

pub(crate) use assemble::block_shape;
pub use assemble::{Assemble, Mosaic};
use plan::auto_from_previous;
pub use plan::{
    AxisPieces, DEFAULT_THRESHOLD, divide_to_width, merge_to_number, old_to_new, plan_rechunk,
};
pub(crate) use plan::{even_parts, piece_grid};

/// Options of [`Array::rechunk_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RechunkOptions {
    /// Tasks a step may cost, as a multiple of the blocks at both ends (default 4).
    pub threshold: Option<f64>,
    /// Bytes an intermediate (or `auto`) block may hold (default 128 MiB).
    pub block_size_limit: Option<usize>,
}

impl<T: Element> Array<T> {
    /// The same array cut into other blocks (Dask's `rechunk`). Any [`ChunkSpec`]: a block
    /// shape, explicit sizes, `Whole` (`-1`), `Auto` (sized from the current blocks, within
    /// 128 MiB), or [`AxisChunks::Keep`] to leave an axis as it is. Big reshuffles go through
    /// intermediate chunkings (Dask's plan), which keep the graph small; their blocks are
    /// [`Mosaic`]s, so the data is copied once, into the final blocks.
    ///
    /// ```
    /// use rask_array::{Array, AxisChunks};
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[24, 24], [4, 8]).unwrap();
    /// let y = x.rechunk(vec![AxisChunks::Size(12), AxisChunks::Keep]).unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![12, 12], vec![8, 8, 8]]);
    /// assert_eq!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().sum(), 576.0);
    /// ```
    pub fn rechunk(&self, chunks: impl Into<ChunkSpec>) -> Result<Array<T>, ArrayError> {
        self.rechunk_with(chunks, RechunkOptions::default())
    }

    /// [`rechunk`](Array::rechunk) with a threshold and block size limit of one's own.
    pub fn rechunk_with(
        &self,
        chunks: impl Into<ChunkSpec>,
        options: RechunkOptions,
    ) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let shape = self.shape();
        if !shape.is_empty() && shape.iter().all(|d| *d == 0) {
            return Ok(self.clone());
        }
        let limit = options.block_size_limit.unwrap_or(DEFAULT_CHUNK_BYTES);
        let target = self.target_chunks(chunks.into(), limit)?;
        if target == *self.chunks() {
            return Ok(self.clone());
        }
        let steps = plan_rechunk(
            self.chunks().axes(),
            target.axes(),
            T::DTYPE.itemsize(),
            options.threshold,
            Some(limit as f64),
        );
        // Intermediate steps make mosaics; the last one copies.
        let mut x = self.clone();
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.into_iter().enumerate() {
            x = x.rechunk_step(Chunks::from_axes(step), i > 0, i < last);
        }
        Ok(x)
    }

    /// The chunks a spec asks for, given the current ones.
    fn target_chunks(&self, spec: ChunkSpec, limit: usize) -> Result<Chunks, ArrayError> {
        let ndim = self.ndim();
        let mut axes: Vec<AxisChunks> = match spec {
            ChunkSpec::Size(n) => vec![AxisChunks::Size(n); ndim],
            ChunkSpec::Auto => vec![AxisChunks::Auto; ndim],
            ChunkSpec::Axes(a) => a,
        };
        if axes.len() != ndim {
            return Err(ArrayError::ChunkRank {
                spec: ChunkSpec::Axes(axes.clone()).to_string(),
                spec_ndim: axes.len(),
                shape: self.shape(),
                ndim,
            });
        }
        for (a, rule) in axes.iter_mut().enumerate() {
            if *rule == AxisChunks::Keep {
                *rule = AxisChunks::Explicit(self.chunks().axes()[a].clone());
            }
        }
        if axes.contains(&AxisChunks::Auto) {
            axes = auto_from_previous(
                axes,
                &self.shape(),
                self.chunks().axes(),
                T::DTYPE.itemsize(),
                limit,
            );
        }
        Chunks::normalize(ChunkSpec::Axes(axes), &self.shape(), T::DTYPE)
    }

    /// One step: each new block assembled from pieces of the old ones. `mosaics_in`: the old
    /// blocks may be mosaics (an earlier step's); `mosaics_out`: make mosaics, not blocks.
    fn rechunk_step(&self, new: Chunks, mosaics_in: bool, mosaics_out: bool) -> Array<T> {
        let old = self.chunks().axes();
        // A step that makes mosaics, or reads them, is another computation than a direct
        // rechunk to the same chunks, whose blocks anyone may read: its keys must differ.
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&new)
            .write(&(mosaics_in, mosaics_out))
            .finish();
        let pieces = old_to_new(old, new.axes());
        let label = if mosaics_out {
            "rechunk-mosaic"
        } else {
            "rechunk-merge"
        };
        let identity: Arc<dyn Op> = Arc::new(Identity);
        self.per_block(label, &token, new, |index| {
            let (grid, parts) = piece_grid(index, &pieces);
            let n = parts.len();
            let (mut args, mut ranges) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for (old_index, r) in parts {
                let full = r
                    .iter()
                    .enumerate()
                    .all(|(d, (s, e))| *s == 0 && *e == old[d][old_index[d] as usize]);
                args.push(Arg::Key(self.key(&old_index)));
                ranges.push((!full).then_some(r));
            }
            match (n, ranges.first()) {
                // One whole old block: the new block is that block (put together, if it is a
                // mosaic and this is the last step).
                (1, Some(None)) if mosaics_out || !mosaics_in => {
                    Task::from_arc(Arc::clone(&identity), args)
                }
                // One part of an old block: cut it out.
                (1, Some(Some(r))) if !mosaics_out && !mosaics_in => {
                    Task::new(SubBlock::<T>::new(r.clone()), args)
                }
                _ => Task::new(
                    Assemble::<T> {
                        grid,
                        ranges,
                        lazy: mosaics_out,
                        _t: std::marker::PhantomData,
                    },
                    args,
                ),
            }
        })
    }
}
