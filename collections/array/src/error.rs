//! The errors of array operations, raised when the graph is built, where the facts are known.

/// What is wrong with an array operation.
#[derive(Debug, Clone, thiserror::Error)]
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
        /// Their sum (exact: block sizes may add up past `usize::MAX`).
        sum: u128,
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
    /// An axis that the array does not have.
    #[error("{what}: axis {axis} is out of bounds for an array of {ndim} dimensions")]
    Axis {
        /// The operation.
        what: String,
        /// The axis asked for (negative counts from the end).
        axis: isize,
        /// How many axes the array has.
        ndim: usize,
    },
    /// A file could not be opened, read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: "open", "read", "create", ….
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// A file or store is not what the operation needs: not an `.npy` file, another element
    /// type, a header cut short, an existing target, ….
    #[error("{}: {problem}", path.display())]
    Format {
        /// The file or store.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The zarr library failed on a store.
    #[error("zarr: {}: {message}", path.display())]
    Zarr {
        /// The store.
        path: std::path::PathBuf,
        /// What zarrs said.
        message: String,
    },
    /// A user kernel declared something that cannot be (output chunks that do not match the
    /// input's blocks, an axis to drop that spans several blocks, …).
    #[error("{name}: {message}")]
    Kernel {
        /// The kernel's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// More bins (histogram) or counts (bincount) than a block's counts may hold: refused
    /// before anything is allocated.
    #[error("{what}: {bins} bins are more than the {max} one task's counts may hold")]
    TooManyBins {
        /// `histogram` or `bincount`.
        what: &'static str,
        /// The bins asked for.
        bins: usize,
        /// The most there may be ([`MAX_BINS`](crate::MAX_BINS)).
        max: usize,
    },
    /// A histogram whose range is too narrow for its bins to have distinct edges (NumPy's
    /// "Too many bins for data range").
    #[error(
        "histogram: too many bins for the range: {bins} bins on [{lo}, {hi}] cannot all have a \
         finite, positive width"
    )]
    BinsTooNarrow {
        /// The bins asked for.
        bins: usize,
        /// The range's lower end.
        lo: f64,
        /// Its upper end.
        hi: f64,
    },
    /// An array whose element count or bytes overflow what can be addressed.
    #[error("{what}: the shape {shape:?} has more elements than can be addressed")]
    Overflow {
        /// What was being built.
        what: &'static str,
        /// The shape (as asked for: its product overflows).
        shape: Vec<usize>,
    },
    /// An ndarray that does not fit the shape given for it, or shapes that do not go together.
    #[error("{what}: {message}")]
    Shape {
        /// What was being built.
        what: String,
        /// Why it failed.
        message: String,
    },
}

/// What a user kernel (`map_blocks`, `map_overlap`, `blockwise`, `reduction` steps) returns
/// when it fails: any error — `?` converts every `std::error::Error + Send + Sync` and strings
/// into it — with its chain of causes kept. Like `anyhow::Error` it is not itself a
/// `std::error::Error`, so that `?` can convert any error into it.
///
/// ```
/// use rask_array::KernelError;
///
/// fn parse(s: &str) -> Result<f64, KernelError> {
///     Ok(s.parse::<f64>()?) // a ParseFloatError, converted
/// }
/// assert_eq!(parse("x").unwrap_err().to_string(), "invalid float literal");
/// let e: KernelError = "the block is empty".into();
/// assert_eq!(e.to_string(), "the block is empty");
/// ```
pub struct KernelError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl ArrayError {
    /// An I/O failure on `path`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        ArrayError::Io {
            action,
            path: path.to_path_buf(),
            source: std::sync::Arc::new(source),
        }
    }

    /// A file or store at `path` that is not what is needed.
    pub(crate) fn format(path: &std::path::Path, problem: impl Into<String>) -> Self {
        ArrayError::Format {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

impl KernelError {
    /// The error itself.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>> From<E> for KernelError {
    fn from(e: E) -> Self {
        KernelError(e.into())
    }
}

impl std::fmt::Display for KernelError {
    /// The error and its causes, `: `-separated.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}
