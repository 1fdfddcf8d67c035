//! `visualize`: the graph as DOT, and rendered to SVG or PNG without a system graphviz.

use std::path::{Path, PathBuf};

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};
use layout::topo::layout::VisualGraph;
use rask_graph::Graph;

use crate::array::Array;
use crate::element::Element;
use crate::error::ArrayError;

/// How many tasks `visualize` draws before it refuses (the tutorial: "Do not try to
/// .visualize() this array!").
pub const VISUALIZE_LIMIT: usize = 500;

/// DOT text, parsed into a graph to lay out.
pub(crate) fn layout(dot: &str) -> Result<VisualGraph, String> {
    let mut parser = DotParser::new(dot);
    let ast = parser
        .process()
        .map_err(|e| format!("cannot parse the graph's DOT: {e}"))?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&ast);
    Ok(builder.get())
}

fn error(message: String) -> ArrayError {
    ArrayError::Visualize(message)
}

/// Renders DOT text to SVG.
pub fn dot_to_svg(dot: &str) -> Result<String, ArrayError> {
    let mut graph = layout(dot).map_err(error)?;
    let mut svg = SVGWriter::new();
    graph.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

/// Draws `graph` into `path`, SVG or PNG by its extension, with the DOT beside it (`.dot`).
/// What every `visualize` comes down to; it draws graphs of any size.
///
/// ```
/// use rask_graph::{Graph, Layer, Task, Value};
/// let mut g = Graph::new();
/// let mut x = Layer::new("x");
/// x.insert([0], Task::literal(Value::new(1u64)));
/// g.add_layer(x);
/// let dir = std::env::temp_dir().join(format!("rask-write-graph-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let png = rask_array::write_graph(&g, dir.join("x.png")).unwrap();
/// assert!(std::fs::read(png).unwrap().starts_with(b"\x89PNG"));
/// assert!(rask_array::write_graph(&g, dir.join("x.gif")).is_err());
/// ```
pub fn write_graph(graph: &Graph, path: impl AsRef<Path>) -> Result<PathBuf, ArrayError> {
    let path = path.as_ref().to_path_buf();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png")) {
        return Err(error(format!(
            "{} must end in .svg or .png",
            path.display()
        )));
    }
    let dot = rask_graph::dot::to_dot(graph);
    let write = |p: &Path, bytes: &[u8]| {
        std::fs::write(p, bytes).map_err(|e| error(format!("cannot write {}: {e}", p.display())))
    };
    write(&path.with_extension("dot"), dot.as_bytes())?;
    if ext.as_deref() == Some("png") {
        crate::raster::dot_to_png(&dot, &path).map_err(error)?;
    } else {
        write(&path, dot_to_svg(&dot)?.as_bytes())?;
    }
    Ok(path)
}

impl<T: Element> Array<T> {
    /// Draws the array's graph: writes `path` (SVG or PNG, by its extension) and the DOT
    /// beside it (`.dot`). Refuses past [`VISUALIZE_LIMIT`] tasks;
    /// [`visualize_forced`](Array::visualize_forced) does not.
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
            return Err(error(format!(
                "the graph has {n} tasks, more than {VISUALIZE_LIMIT} can be drawn legibly; \
                 use visualize_forced to draw it anyway"
            )));
        }
        self.visualize_forced(path)
    }

    /// [`visualize`](Array::visualize) whatever the graph's size.
    pub fn visualize_forced(&self, path: impl AsRef<Path>) -> Result<PathBuf, ArrayError> {
        self.check()?;
        write_graph(self.graph(), path)
    }
}
