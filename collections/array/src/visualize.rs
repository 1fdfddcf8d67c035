//! `visualize`: the graph as DOT, and rendered to SVG without a system graphviz.

use std::path::{Path, PathBuf};

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};

use crate::array::Array;
use crate::element::Element;
use crate::error::ArrayError;

/// How many tasks `visualize` draws before it refuses (the tutorial: "Do not try to
/// .visualize() this array!").
pub const VISUALIZE_LIMIT: usize = 500;

/// Renders DOT text to SVG.
pub fn dot_to_svg(dot: &str) -> Result<String, ArrayError> {
    let mut parser = DotParser::new(dot);
    let ast = parser.process().map_err(|e| ArrayError::Shape {
        what: "visualize".into(),
        message: format!("cannot parse the graph's DOT: {e}"),
    })?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&ast);
    let mut graph = builder.get();
    let mut svg = SVGWriter::new();
    graph.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

impl<T: Element> Array<T> {
    /// Draws the array's graph: writes `path` (SVG) and the DOT beside it (`.dot`). Refuses
    /// past [`VISUALIZE_LIMIT`] tasks; [`visualize_forced`](Array::visualize_forced) does not.
    ///
    /// ```
    /// let x = rask_array::Array::<f64>::ones(&[4, 4], 2usize).unwrap();
    /// let dir = std::env::temp_dir().join(format!("rask-viz-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let svg = x.visualize(dir.join("ones.svg")).unwrap();
    /// assert!(std::fs::read_to_string(svg).unwrap().contains("<svg"));
    /// let big = rask_array::Array::<f64>::ones(&[1000, 1000], 10usize).unwrap();
    /// assert!(big.visualize(dir.join("big.svg")).is_err());
    /// ```
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<PathBuf, ArrayError> {
        let n = self.graph().len();
        if n > VISUALIZE_LIMIT {
            return Err(ArrayError::Shape {
                what: "visualize".into(),
                message: format!(
                    "the graph has {n} tasks, more than {VISUALIZE_LIMIT} can be drawn legibly; \
                     use visualize_forced to draw it anyway"
                ),
            });
        }
        self.visualize_forced(path)
    }

    /// [`visualize`](Array::visualize) whatever the graph's size.
    pub fn visualize_forced(&self, path: impl AsRef<Path>) -> Result<PathBuf, ArrayError> {
        self.check()?;
        let path = path.as_ref().to_path_buf();
        let dot = rask_graph::dot::to_dot(self.graph());
        let svg = dot_to_svg(&dot)?;
        let write = |p: &Path, text: &str| {
            std::fs::write(p, text).map_err(|e| ArrayError::Shape {
                what: "visualize".into(),
                message: format!("cannot write {}: {e}", p.display()),
            })
        };
        write(&path.with_extension("dot"), &dot)?;
        write(&path, &svg)?;
        Ok(path)
    }
}
