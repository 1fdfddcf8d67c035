//! QR and SVD of tall-and-skinny arrays by TSQR (as `dask.array.linalg` does): a thin QR
//! per block row, a QR of the stacked R's, Q's recombined; the SVD from the R. Block kernels
//! from faer (feature `faer`).

use std::sync::Arc;

use ndarray::{ArrayD, Ix2};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::error::ArrayError;

use super::{MatmulBlock, shape_error};

/// QR of one block: the thin Q (as a block) and R (as the second item of a pair).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrBlock;

/// Q and R of a block (shape and row-major elements each), kept together until they are
/// taken apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QrPair {
    q: (Vec<usize>, Vec<f64>),
    r: (Vec<usize>, Vec<f64>),
}

impl rask_graph::Datum for QrPair {
    fn nbytes(&self) -> usize {
        (self.q.1.len() + self.r.1.len()) * 8
    }
}

fn flat(m: ArrayD<f64>) -> (Vec<usize>, Vec<f64>) {
    (m.shape().to_vec(), m.iter().copied().collect())
}

fn unflat((shape, data): &(Vec<usize>, Vec<f64>)) -> Result<ArrayD<f64>, TaskError> {
    ArrayD::from_shape_vec(ndarray::IxDyn(shape), data.clone())
        .map_err(|e| TaskError::new(e.to_string()))
}

fn to_faer(a: &ndarray::ArrayView2<'_, f64>) -> faer::Mat<f64> {
    faer::Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_faer(m: faer::MatRef<'_, f64>) -> ArrayD<f64> {
    ndarray::Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)]).into_dyn()
}

fn two_d<'a>(v: &'a Value, what: &str) -> Result<ndarray::ArrayView2<'a, f64>, TaskError> {
    block_view::<f64>(v)?
        .into_dimensionality::<Ix2>()
        .map_err(|e| TaskError::new(format!("{what} needs 2-d blocks: {e}")))
}

impl Op for QrBlock {
    fn name(&self) -> &str {
        "qr"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        // Several blocks: stacked on top of each other first (the R factors of a TSQR step).
        let views = args
            .iter()
            .map(|a| two_d(a, "qr"))
            .collect::<Result<Vec<_>, _>>()?;
        let stacked = ndarray::concatenate(ndarray::Axis(0), &views)
            .map_err(|e| TaskError::new(e.to_string()))?;
        let m = to_faer(&stacked.view());
        let qr = m.qr();
        Ok(Value::new(QrPair {
            q: flat(from_faer(qr.compute_thin_Q().as_ref())),
            r: flat(from_faer(qr.thin_R())),
        }))
    }
}

/// One part of a [`QrPair`]: Q (rows `rows` of it) or R.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrPart {
    r: bool,
    rows: Option<(usize, usize)>,
}

impl Op for QrPart {
    fn name(&self) -> &str {
        if self.r { "qr-r" } else { "qr-q" }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let p = args[0].get::<QrPair>()?;
        let m = &unflat(if self.r { &p.r } else { &p.q })?;
        let m = match self.rows {
            Some((s, e)) if e <= m.shape()[0] => m
                .slice_axis(ndarray::Axis(0), ndarray::Slice::from(s..e))
                .to_owned(),
            Some((s, e)) => {
                return Err(TaskError::new(format!(
                    "rows {s}..{e} of a factor of {} rows",
                    m.shape()[0]
                )));
            }
            None => m.clone(),
        };
        Ok(Value::new(Chunk(m)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// The thin SVD of one block, as (U, S, Vᵀ) in a triple.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SvdBlock {
    part: u8,
}

impl Op for SvdBlock {
    fn name(&self) -> &str {
        "svd"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = two_d(&args[0], "svd")?;
        let svd = to_faer(&a)
            .thin_svd()
            .map_err(|e| TaskError::new(format!("svd did not converge: {e:?}")))?;
        let out = match self.part {
            0 => from_faer(svd.U()),
            1 => {
                let s = svd.S().column_vector();
                ndarray::Array1::from_shape_fn(s.nrows(), |i| s[i]).into_dyn()
            }
            _ => from_faer(svd.V().transpose()),
        };
        Ok(Value::new(Chunk(out)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

rask_graph::register_value!(QrPair, "rask.array.qr-pair");
rask_graph::register_op!(QrBlock, "rask.array.qr-block");
rask_graph::register_op!(QrPart, "rask.array.qr-part");
rask_graph::register_op!(SvdBlock, "rask.array.svd-block");

/// `linalg::qr(a)`: Q and R of a tall-and-skinny 2-d array (one block of columns), by TSQR:
/// each block of rows is factored, the stacked R factors are factored again, and each block's
/// Q is multiplied by its part of the second Q.
///
/// ```
/// use rask_array::{Array, linalg};
/// use rask_graph::Collection;
/// let a = Array::from_fn(&[40, 3], [10, 3], |r| ndarray::ArrayD::from_shape_fn(
///     ndarray::IxDyn(&[r[0].len(), r[1].len()]), |ix| ((ix[0] + r[0].start) * 7 % 5 + ix[1] * ix[1]) as f64)).unwrap();
/// let (q, r) = linalg::qr(&a).unwrap();
/// let back = q.matmul(&r).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
/// let want = a.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
/// assert!(back.iter().zip(want.iter()).all(|(x, y)| (x - y).abs() < 1e-9));
/// ```
pub fn qr(a: &Array<f64>) -> Result<(Array<f64>, Array<f64>), ArrayError> {
    a.check()?;
    let shape = a.shape();
    if shape.len() != 2 || a.numblocks()[1] != 1 {
        return Err(shape_error(
            "qr",
            format!(
                "needs a tall-and-skinny 2-d array in one block of columns; got shape {shape:?} in chunks {:?} (rechunk the columns to one block)",
                a.chunks().axes()
            ),
        ));
    }
    let n = shape[1];
    let rows = a.chunks().axes()[0].clone();
    let heights: Vec<usize> = rows.iter().map(|m| (*m).min(n)).collect();
    let token = Tokenizer::new().write_str(a.name()).finish();
    let mut graph = a.graph().clone();
    // Stage 1: each block's QR.
    let mut first = Layer::new(key_name("qr-block", &token));
    for i in 0..rows.len() as u32 {
        first.insert([i, 0], Task::new(QrBlock, [Arg::Key(a.key(&[i, 0]))]));
    }
    let first_name = Arc::clone(first.name());
    graph.add_layer(first);
    let mut r1 = Layer::new(key_name("qr-r1", &token));
    for i in 0..rows.len() as u32 {
        r1.insert(
            [i, 0],
            Task::new(
                QrPart {
                    r: true,
                    rows: None,
                },
                [Arg::Key(Key::with_name(&first_name, [i, 0]))],
            ),
        );
    }
    let r1_name = Arc::clone(r1.name());
    graph.add_layer(r1);
    // Stage 2: the QR of the stacked R factors.
    let mut second = Layer::new(key_name("qr-stacked", &token));
    second.insert(
        [0, 0],
        Task::new(
            QrBlock,
            (0..rows.len() as u32).map(|i| Arg::Key(Key::with_name(&r1_name, [i, 0]))),
        ),
    );
    let second_key = second.key([0, 0]);
    graph.add_layer(second);
    // R, and each block's Q times its rows of the second Q.
    let mut r = Layer::new(key_name("qr-r", &token));
    r.insert(
        [0, 0],
        Task::new(
            QrPart {
                r: true,
                rows: None,
            },
            [Arg::Key(second_key.clone())],
        ),
    );
    let r_name = Arc::clone(r.name());
    graph.add_layer(r);
    let mut q1 = Layer::new(key_name("qr-q1", &token));
    let mut q2 = Layer::new(key_name("qr-q2", &token));
    let mut q = Layer::new(key_name("qr-q", &token));
    let product: Arc<dyn Op> = Arc::new(MatmulBlock::<f64>::plain());
    let mut start = 0;
    for (i, h) in heights.iter().enumerate() {
        let i = i as u32;
        q1.insert(
            [i, 0],
            Task::new(
                QrPart {
                    r: false,
                    rows: None,
                },
                [Arg::Key(Key::with_name(&first_name, [i, 0]))],
            ),
        );
        q2.insert(
            [i, 0],
            Task::new(
                QrPart {
                    r: false,
                    rows: Some((start, start + h)),
                },
                [Arg::Key(second_key.clone())],
            ),
        );
        q.insert(
            [i, 0],
            Task::from_arc(
                Arc::clone(&product),
                [Arg::Key(q1.key([i, 0])), Arg::Key(q2.key([i, 0]))],
            ),
        );
        start += h;
    }
    let q_name = Arc::clone(q.name());
    graph.add_layer(q1);
    graph.add_layer(q2);
    graph.add_layer(q);
    let k = n.min(heights.iter().sum());
    let q_arr = Array::from_graph(
        graph.clone(),
        q_name,
        Chunks::from_axes(vec![rows, vec![k]]),
        "qr-q",
    );
    let r_arr = Array::from_graph(
        graph,
        r_name,
        Chunks::from_axes(vec![vec![k], vec![n]]),
        "qr-r",
    );
    Ok((q_arr, r_arr))
}

/// U, S and Vᵀ, as [`svd`] returns them.
pub type Svd = (Array<f64>, Array<f64>, Array<f64>);

/// `linalg::svd(a)`: U, S, Vᵀ of a tall-and-skinny array, from TSQR: `a = Q R`, `R = Û S Vᵀ`,
/// `U = Q Û`.
pub fn svd(a: &Array<f64>) -> Result<Svd, ArrayError> {
    let (q, r) = qr(a)?;
    let token = Tokenizer::new()
        .write_str(r.name())
        .write_str("svd")
        .finish();
    let k = r.shape()[0];
    let n = r.shape()[1];
    let part = |p: u8, label: &str, chunks: Chunks| -> Array<f64> {
        let mut layer = Layer::new(key_name(label, &token));
        let idx: Vec<u32> = vec![0; chunks.ndim()];
        layer.insert(
            idx,
            Task::new(SvdBlock { part: p }, [Arg::Key(r.key(&[0, 0]))]),
        );
        let name = Arc::clone(layer.name());
        let mut g = r.graph().clone();
        g.add_layer(layer);
        Array::from_graph(g, name, chunks, label)
    };
    let m = k.min(n);
    let u_hat = part(0, "svd-u", Chunks::from_axes(vec![vec![k], vec![m]]));
    let s = part(1, "svd-s", Chunks::from_axes(vec![vec![m]]));
    let vt = part(2, "svd-vt", Chunks::from_axes(vec![vec![m], vec![n]]));
    Ok((q.matmul(&u_hat)?, s, vt))
}
