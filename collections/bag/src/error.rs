//! The errors of building a bag.

use std::path::PathBuf;

/// Why a bag could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BagError {
    /// Paths or globs that name no file to read, or output paths that are malformed.
    #[error(transparent)]
    Files(#[from] rask_graph::files::FilesError),
    /// Bags zipped that differ in their number of partitions.
    #[error("cannot zip a bag of {left} partitions with one of {right}")]
    Partitions {
        /// The first bag's.
        left: usize,
        /// The other's.
        right: usize,
    },
    /// A file that could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
