//! # rask-visualize — pictures of task graphs
//!
//! Dask's `.visualize(filename)` for every rask [`Collection`]: the graph is written as DOT and
//! drawn to SVG or PNG (by the file's extension) without a system graphviz — layout-rs lays it
//! out; SVG is written directly, PNG painted through plotters' bitmap backend with the DejaVu
//! Sans font shipped in this crate ([`FONT`]).
//!
//! - [`Visualize`]: `visualize(path)` and `visualize_forced(path)` on every collection (an
//!   extension trait, in `rask::prelude`).
//! - [`write_graph`], [`dot_to_svg`]: the same for a bare [`Graph`] or DOT text.
//! - [`VisualizeError`]: what can go wrong, one variant per kind, sources kept.
//!
//! ```
//! use rask_graph::delayed;
//! use rask_visualize::Visualize;
//!
//! let x = delayed::value(1i64).map("inc", |x| x + 1);
//! let z = x.zip_with(&x, "add", |a, b| a + b);
//! let dir = std::env::temp_dir().join(format!("rask-visualize-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let svg = z.visualize(dir.join("z.svg"))?;
//! assert!(std::fs::read_to_string(svg)?.contains("<svg"));
//! assert!(std::fs::read_to_string(dir.join("z.dot"))?.contains("add"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod draw;
mod raster;

use std::path::{Path, PathBuf};

use rask_graph::{Collection, ComputeError};

pub use draw::{VISUALIZE_LIMIT, dot_to_svg, write_graph};
pub use raster::FONT;

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisualizeError {
    /// The graph is too big to draw legibly ([`Visualize::visualize_forced`] draws it anyway).
    #[error(
        "the graph has {tasks} tasks, more than {limit} can be drawn legibly; use \
         visualize_forced to draw it anyway"
    )]
    TooLarge {
        /// How many tasks the graph has.
        tasks: usize,
        /// The limit, [`VISUALIZE_LIMIT`].
        limit: usize,
    },
    /// The file name does not end in `.svg` or `.png`.
    #[error("{} must end in .svg or .png", path.display())]
    Extension {
        /// The file asked for.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The DOT text could not be laid out.
    #[error("cannot lay out the graph: {message}")]
    Layout {
        /// What the layout engine said.
        message: String,
    },
    /// The PNG could not be painted.
    #[error("cannot draw {}: {message}", path.display())]
    Render {
        /// The file.
        path: PathBuf,
        /// What the painter said.
        message: String,
    },
    /// The collection is not valid (an error kept from building it).
    #[error(transparent)]
    Collection(#[from] ComputeError),
}

/// `visualize()` for every [`Collection`]: its task graph drawn into a file.
pub trait Visualize: Collection {
    /// Draws the collection's task graph into `path` — SVG or PNG, by its extension — with
    /// the DOT beside it (Dask's `.visualize(filename)`). Refuses past [`VISUALIZE_LIMIT`]
    /// tasks, as a picture that big is unreadable.
    ///
    /// ```
    /// use rask_graph::delayed;
    /// use rask_visualize::{Visualize, VisualizeError};
    ///
    /// let x = delayed::value(1i64).map("inc", |x| x + 1);
    /// let dir = std::env::temp_dir().join(format!("rask-visualize-png-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let png = x.visualize(dir.join("x.png"))?;
    /// assert!(std::fs::read(png)?.starts_with(b"\x89PNG"));
    /// assert!(matches!(x.visualize(dir.join("x.gif")), Err(VisualizeError::Extension { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn visualize(&self, path: impl AsRef<Path>) -> Result<PathBuf, VisualizeError> {
        let tasks = self.graph().len();
        if tasks > VISUALIZE_LIMIT {
            return Err(VisualizeError::TooLarge {
                tasks,
                limit: VISUALIZE_LIMIT,
            });
        }
        self.visualize_forced(path)
    }

    /// [`visualize`](Visualize::visualize) whatever the graph's size.
    fn visualize_forced(&self, path: impl AsRef<Path>) -> Result<PathBuf, VisualizeError> {
        self.check()?;
        write_graph(self.graph(), path)
    }
}

impl<C: Collection + ?Sized> Visualize for C {}
