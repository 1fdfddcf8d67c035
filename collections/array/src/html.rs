//! The HTML repr, as Dask shows arrays in notebooks: a table of sizes beside a picture of the
//! chunk grid (inline SVG). `evcxr_display` makes it show in evcxr notebooks.

use std::fmt::Write as _;

use crate::array::{Array, py_tuple};
use crate::element::Element;

fn bytes(n: usize) -> String {
    let units = ["B", "kiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", units[u])
    }
}

/// Lines at the block boundaries of one axis, scaled to `size` pixels (at most 100 lines, as
/// Dask draws).
fn boundaries(blocks: &[usize], size: f64) -> Vec<f64> {
    let total: usize = blocks.iter().sum::<usize>().max(1);
    let mut at = 0;
    let mut out = vec![0.0];
    for b in blocks {
        at += b;
        out.push(at as f64 / total as f64 * size);
    }
    if out.len() > 101 {
        let keep = out.len().div_ceil(100);
        let last = *out.last().unwrap_or(&size);
        out = out.into_iter().step_by(keep).collect();
        if out.last() != Some(&last) {
            out.push(last);
        }
    }
    out
}

impl<T: Element> Array<T> {
    /// The chunk grid as an SVG picture (the last two axes; one row for a 1-d array).
    pub fn svg(&self) -> String {
        let axes = self.chunks().axes();
        let (rows, cols): (Vec<usize>, Vec<usize>) = match axes {
            [] => (vec![1], vec![1]),
            [c] => (vec![1], c.clone()),
            _ => (axes[axes.len() - 2].clone(), axes[axes.len() - 1].clone()),
        };
        let (h_total, w_total) = (
            rows.iter().sum::<usize>().max(1) as f64,
            cols.iter().sum::<usize>().max(1) as f64,
        );
        // The longer side is 120 px; the other keeps the ratio, within [25, 120].
        let (w, h) = if w_total >= h_total {
            (120.0, (120.0 * h_total / w_total).clamp(25.0, 120.0))
        } else {
            ((120.0 * w_total / h_total).clamp(25.0, 120.0), 120.0)
        };
        let mut s = format!(
            "<svg width=\"{:.0}\" height=\"{:.0}\" style=\"stroke:rgb(0,0,0);stroke-width:1\">",
            w + 20.0,
            h + 20.0
        );
        for y in boundaries(&rows, h) {
            let _ = write!(
                s,
                "<line x1=\"10\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
                y + 10.0,
                w + 10.0,
                y + 10.0
            );
        }
        for x in boundaries(&cols, w) {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"10\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
                x + 10.0,
                x + 10.0,
                h + 10.0
            );
        }
        let _ = write!(
            s,
            "<polygon points=\"10,10 {:.1},10 {:.1},{:.1} 10,{:.1}\" style=\"fill:#ECB172A0;stroke-width:0\"/></svg>",
            w + 10.0,
            w + 10.0,
            h + 10.0,
            h + 10.0
        );
        s
    }

    /// The HTML repr: sizes of the array and of one chunk, the task count, the dtype, and the
    /// chunk grid.
    ///
    /// ```
    /// let x = rask_array::Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
    /// let html = x.to_html();
    /// assert!(html.contains("30.52 MiB") && html.contains("7.63 MiB") && html.contains("<svg"));
    /// ```
    pub fn to_html(&self) -> String {
        let chunk_bytes = self.chunksize().iter().product::<usize>() * T::DTYPE.itemsize();
        let layers = self.graph().layers().count();
        format!(
            "<table><tr><td><table style=\"border-collapse:collapse\">\
             <thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead><tbody>\
             <tr><th>Bytes</th><td>{}</td><td>{}</td></tr>\
             <tr><th>Shape</th><td>{}</td><td>{}</td></tr>\
             <tr><th>Dask graph</th><td colspan=\"2\">{} chunks in {} graph layer{}</td></tr>\
             <tr><th>Data type</th><td colspan=\"2\">{}</td></tr>\
             </tbody></table></td><td>{}</td></tr></table>",
            bytes(self.nbytes()),
            bytes(chunk_bytes),
            py_tuple(&self.shape()),
            py_tuple(&self.chunksize()),
            self.npartitions(),
            layers,
            if layers == 1 { "" } else { "s" },
            T::DTYPE,
            self.svg()
        )
    }

    /// Shows the HTML repr in an evcxr notebook (evcxr calls this method by name).
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        );
    }
}
