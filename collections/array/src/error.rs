//! The errors of array operations, raised when the graph is built, where the facts are known.

/// What is wrong with an array operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArrayError {
    /// A chunk spec gives a number of axes other than the array's.
    #[error("chunks {spec} have {spec_ndim} axes but the shape {shape:?} has {ndim}")]
    ChunkRank {
        /// The spec, as written.
        spec: String,
        /// Its number of axes.
        spec_ndim: usize,
        /// The shape.
        shape: Vec<usize>,
        /// The shape's number of axes.
        ndim: usize,
    },
    /// Explicit block sizes that do not add up to the axis length.
    #[error("chunks {chunks:?} on axis {axis} add up to {sum}, but the axis has length {len}")]
    ChunkSum {
        /// The axis.
        axis: usize,
        /// The block sizes.
        chunks: Vec<usize>,
        /// Their sum.
        sum: usize,
        /// The axis length.
        len: usize,
    },
    /// A block size of 0 on a non-empty axis.
    #[error("a chunk size of 0 on axis {axis}, whose length is {len}")]
    ZeroChunk {
        /// The axis.
        axis: usize,
        /// The axis length.
        len: usize,
    },
    /// A shape and chunks that make more blocks than a graph can hold (or more elements than
    /// can be addressed).
    #[error(
        "chunks {spec} cut the shape {shape:?} into {blocks} blocks, more than the {max} a \
         graph can hold; use bigger chunks"
    )]
    TooManyBlocks {
        /// The spec, as written.
        spec: String,
        /// The shape.
        shape: Vec<usize>,
        /// How many blocks it makes (saturating).
        blocks: u128,
        /// The most there may be ([`MAX_BLOCKS`](crate::chunks::MAX_BLOCKS)).
        max: usize,
    },
    /// Shapes that do not broadcast together.
    #[error("shapes {left:?} and {right:?} do not broadcast together")]
    Broadcast {
        /// One shape.
        left: Vec<usize>,
        /// The other.
        right: Vec<usize>,
    },
    /// An ndarray that does not fit the shape given for it.
    #[error("{what}: {message}")]
    Shape {
        /// What was being built.
        what: String,
        /// Why it failed.
        message: String,
    },
}
