//! The errors of building a bag.

use std::path::PathBuf;

/// Why a bag could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BagError {
    /// A path that is not a file.
    #[error("{}: no such file", path.display())]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A glob that matches no file.
    #[error("no file matches {pattern:?}")]
    NoFiles {
        /// The pattern.
        pattern: String,
    },
    /// A glob that is not one.
    #[error("bad pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
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

impl From<rask_graph::files::FilesError> for BagError {
    fn from(e: rask_graph::files::FilesError) -> Self {
        use rask_graph::files::FilesError as F;
        match e {
            F::Missing { path } => BagError::Missing { path },
            F::NoFiles { pattern } => BagError::NoFiles { pattern },
            F::Pattern { pattern, message } => BagError::Pattern { pattern, message },
        }
    }
}
