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

/// A dataset written in two steps, so that a computation that fails leaves no half-written
/// dataset under the final names: each task writes its file to [`temp_path`](Self::temp_path)
/// in a hidden folder (`.rask-tmp-…`) beside the final place; one last task
/// [`commit`](Self::commit)s them all, moving each into place; a failed computation
/// [`abandon`](Self::abandon)s the folder (from [`Collection::on_failure`](crate::Collection::on_failure)).
///
/// ```
/// use rask_graph::files::Staging;
/// let dir = std::env::temp_dir().join(format!("rask-doc-staging-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let staging = Staging::new(&dir, "0123456789abcdef-token");
/// let out = dir.join("part.0.txt");
/// let temp = staging.temp_path(&out)?;
/// std::fs::write(&temp, "written")?;
/// assert!(!out.exists());
/// staging.commit(&[out.clone()])?;
/// assert_eq!(std::fs::read_to_string(&out)?, "written");
/// assert!(!staging.dir().exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// A staging folder in `dir`, named from the writing collection's `token`.
    pub fn new(dir: &std::path::Path, token: &str) -> Self {
        let short: String = token.chars().take(16).collect();
        Staging {
            dir: dir.join(format!(".rask-tmp-{short}")),
        }
    }

    /// The hidden folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where the file that belongs at `path` is written first (the folder is made if it is
    /// not there yet).
    pub fn temp_path(&self, path: &std::path::Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        Ok(self.dir.join(path.file_name().unwrap_or_default()))
    }

    /// Every file written for `paths` moved into place, then the folder removed. An error
    /// names the file that could not be moved.
    pub fn commit(&self, paths: &[PathBuf]) -> Result<(), crate::TaskError> {
        for path in paths {
            let temp = self.dir.join(path.file_name().unwrap_or_default());
            std::fs::rename(&temp, path)
                .map_err(|e| crate::TaskError::new(format!("{}: {e}", path.display())))?;
        }
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }

    /// The folder and whatever was written to it removed.
    pub fn abandon(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The files a writer of `n` partitions makes from `path`, and the folder they go in: a path
/// with one `*` in its file name gets the partition's number there (`out/part-*.csv`); any
/// other path names a folder, which gets `in_folder(i)` for partition `i` (Dask's `0.part`,
/// `part.0.parquet`). Relative paths are made absolute.
///
/// ```
/// use rask_graph::files::outputs;
/// let (dir, files) = outputs("/data/out-*.csv", 2, |i| format!("{i}.part"))?;
/// assert_eq!(dir, std::path::Path::new("/data"));
/// assert_eq!(files[1], std::path::Path::new("/data/out-1.csv"));
/// let (dir, files) = outputs("/data/set", 1, |i| format!("part.{i}.parquet"))?;
/// assert_eq!(files[0], dir.join("part.0.parquet"));
/// assert!(outputs("/data/*/x.csv", 2, |i| i.to_string()).is_err());
/// # Ok::<(), rask_graph::files::FilesError>(())
/// ```
pub fn outputs(
    path: &str,
    n: usize,
    in_folder: impl Fn(usize) -> String,
) -> Result<(PathBuf, Vec<PathBuf>), FilesError> {
    let bad = |message: &str| FilesError::Pattern {
        pattern: path.to_string(),
        message: message.to_string(),
    };
    let base = std::path::absolute(path).map_err(|e| bad(&e.to_string()))?;
    match path.matches('*').count() {
        0 => {
            let files = (0..n).map(|i| base.join(in_folder(i))).collect();
            Ok((base, files))
        }
        1 => {
            let name = base.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| n.contains('*')) else {
                return Err(bad("the `*` must be in the file name"));
            };
            let dir = base.parent().map(PathBuf::from).unwrap_or_default();
            let files = (0..n)
                .map(|i| dir.join(name.replace('*', &i.to_string())))
                .collect();
            Ok((dir, files))
        }
        _ => Err(bad("more than one `*`")),
    }
}
