//! The files a collection's reader is given: paths and globs, as `read_text`, `read_csv` and
//! `read_parquet` take them.

use std::path::PathBuf;

/// Why `patterns` named no files to read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
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
}

/// The files `patterns` name, in order: each a path (which must be a file) or a glob (its
/// files, sorted; at least one).
///
/// ```
/// use rask_graph::files::{FilesError, expand};
/// let e = expand(&["/nonexistent/*.csv"]).unwrap_err();
/// assert!(matches!(e, FilesError::NoFiles { .. }));
/// ```
pub fn expand(patterns: &[&str]) -> Result<Vec<PathBuf>, FilesError> {
    let mut out = Vec::new();
    for p in patterns {
        if !p.contains(['*', '?', '[']) {
            let path = PathBuf::from(p);
            if !path.is_file() {
                return Err(FilesError::Missing { path });
            }
            out.push(path);
            continue;
        }
        let paths = glob::glob(p).map_err(|e| FilesError::Pattern {
            pattern: p.to_string(),
            message: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(FilesError::NoFiles {
                pattern: p.to_string(),
            });
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}
