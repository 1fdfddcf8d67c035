//! The errors of building a dataframe.

use std::path::PathBuf;

/// Why a dataframe could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Paths or globs that name no file to read, or output paths that are malformed.
    #[error(transparent)]
    Files(#[from] rask_graph::files::FilesError),
    /// A file whose schema could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Polars' message.
        message: String,
    },
    /// A file of a glob whose columns differ from the first file's (the dataframe's).
    #[error("{}: its columns differ from those of {}: {difference}", path.display(), first.display())]
    Schemas {
        /// The file.
        path: PathBuf,
        /// The first file, whose columns the dataframe has.
        first: PathBuf,
        /// The first difference: a column missing or extra, of another type, or the order.
        difference: String,
    },
    /// A column that does not exist.
    #[error("no column {name:?}{}", nearest.as_ref().map(|n| format!(" (did you mean {n:?}?)")).unwrap_or_default())]
    Column {
        /// The name asked for.
        name: String,
        /// The existing column whose name is nearest, if one is near.
        nearest: Option<String>,
    },
    /// Merge keys of different types on the two sides.
    #[error(
        "merge keys of different types: {left:?} is {left_type} on the left, {right:?} is {right_type} on the right"
    )]
    KeyTypes {
        /// The left side's key column.
        left: String,
        /// Its type.
        left_type: String,
        /// The right side's key column.
        right: String,
        /// Its type.
        right_type: String,
    },
    /// A step that does not fit the frame (a column that does not exist, a type mismatch).
    #[error("{step}: {message}")]
    Plan {
        /// The step (`select`, `filter`, …).
        step: String,
        /// Polars' message, naming the column.
        message: String,
    },
}
