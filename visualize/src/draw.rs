//! The graph as DOT, and rendered to SVG (here) or PNG (`raster.rs`).

use std::path::{Path, PathBuf};

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};
use layout::topo::layout::VisualGraph;
use rask_graph::Graph;

use crate::VisualizeError;

/// How many tasks `visualize` draws before it refuses (the tutorial: "Do not try to
/// .visualize() this array!").
pub const VISUALIZE_LIMIT: usize = 500;

/// DOT text, parsed into a graph to lay out.
pub(crate) fn layout(dot: &str) -> Result<VisualGraph, String> {
    let mut parser = DotParser::new(dot);
    let ast = parser
        .process()
        .map_err(|e| format!("cannot parse the DOT: {e}"))?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&ast);
    Ok(builder.get())
}

/// Renders DOT text to SVG.
///
/// ```
/// let svg = rask_visualize::dot_to_svg("digraph { a -> b; }")?;
/// assert!(svg.contains("<svg"));
/// # Ok::<(), rask_visualize::VisualizeError>(())
/// ```
pub fn dot_to_svg(dot: &str) -> Result<String, VisualizeError> {
    let mut graph = layout(dot).map_err(|message| VisualizeError::Layout { message })?;
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
/// let png = rask_visualize::write_graph(&g, dir.join("x.png")).unwrap();
/// assert!(std::fs::read(png).unwrap().starts_with(b"\x89PNG"));
/// assert!(rask_visualize::write_graph(&g, dir.join("x.gif")).is_err());
/// ```
pub fn write_graph(graph: &Graph, path: impl AsRef<Path>) -> Result<PathBuf, VisualizeError> {
    let path = path.as_ref().to_path_buf();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png")) {
        return Err(VisualizeError::Extension { path });
    }
    let dot = rask_graph::dot::to_dot(graph);
    let write = |p: &Path, bytes: &[u8]| {
        std::fs::write(p, bytes).map_err(|source| VisualizeError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    write(&path.with_extension("dot"), dot.as_bytes())?;
    if ext.as_deref() == Some("png") {
        crate::raster::dot_to_png(&dot, &path).map_err(|message| VisualizeError::Render {
            path: path.clone(),
            message,
        })?;
    } else {
        write(&path, dot_to_svg(&dot)?.as_bytes())?;
    }
    Ok(path)
}
