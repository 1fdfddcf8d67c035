//! Hash partitioning: a frame split into buckets by a hash of its key columns, the same key
//! landing in the same bucket in every partition and every process.

use std::io::Cursor;

use polars::prelude::{
    ChunkedArray, Column, DataFrame as PlFrame, DataType, IdxCa, IdxSize, IntoColumn, IntoSeries,
    IpcStreamReader, IpcStreamWriter, PlSeedableRandomStateQuality, PolarsNumericType,
    PolarsResult, SeedableFromU64SeedExt, SerReader, SerWriter, Series,
};
use rask_graph::{Args, Arity, Datum, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::frame::Frame;

/// The seed of the key hash: fixed, so every process buckets a key alike.
const SEED: u64 = 0x7261_736b_5f73_6875;

/// A frame split into buckets, bucket `j` holding the rows whose keys hash to `j` (the
/// memory they hold counted against the shuffle memory budget while they live).
#[derive(Debug)]
pub struct Buckets(
    pub Vec<PlFrame>,
    #[allow(dead_code, reason = "held for its Drop, which gives the bytes back")]
    crate::spill::Held,
);

impl Buckets {
    pub(crate) fn held(frames: Vec<PlFrame>, held: crate::spill::Held) -> Self {
        Buckets(frames, held)
    }
}

impl Datum for Buckets {
    fn nbytes(&self) -> usize {
        self.0.iter().map(PlFrame::estimated_size).sum()
    }
}

/// Each bucket as its length (8 bytes, little-endian) and an Arrow IPC stream.
fn encode(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let b = (datum as &dyn std::any::Any)
        .downcast_ref::<Buckets>()
        .ok_or("not buckets")?;
    let mut out = Vec::new();
    for f in &b.0 {
        let mut buf = Vec::new();
        IpcStreamWriter::new(&mut buf)
            .finish(&mut f.clone())
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Value, String> {
    Ok(Value::new(Buckets(frames_of(bytes)?, Default::default())))
}

/// The frames of buckets as [`encode`] writes them.
pub(crate) fn frames_of(mut bytes: &[u8]) -> Result<Vec<PlFrame>, String> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_at_checked(8)
            .ok_or("a truncated bucket length")?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| "a bad bucket length")?);
        let (frame, rest) = rest
            .split_at_checked(usize::try_from(len).map_err(|e| e.to_string())?)
            .ok_or("a truncated bucket")?;
        frames.push(
            IpcStreamReader::new(Cursor::new(frame))
                .finish()
                .map_err(|e| e.to_string())?,
        );
        bytes = rest;
    }
    Ok(frames)
}

rask_graph::register_value!(Buckets, "rask-dataframe.buckets", encode, decode);

/// `df` in `n` buckets by a hash of the columns `keys`, each bucket's rows in their order
/// in `df`.
pub(crate) fn split(df: &PlFrame, keys: &[String], n: usize) -> PolarsResult<Buckets> {
    let n = n.max(1);
    // A gather from a frame of many chunks (a streaming collect gives one per morsel) looks
    // each row's chunk up: one chunk first is several times faster.
    let df = &single_chunk(df);
    let mut k = df.select(keys.iter().map(String::as_str))?;
    let hashes = k.hash_rows(Some(PlSeedableRandomStateQuality::seed_from_u64(SEED)))?;
    let bucket: Vec<u32> = (hashes.into_no_null_iter())
        .map(|h| bucket_of(h, n))
        .collect();
    Ok(Buckets(scatter_rows(df, &bucket, n)?, Default::default()))
}

/// The bucket of `n` of a key hash `h`: its high bits (Lemire's multiply-shift, no division).
fn bucket_of(h: u64, n: usize) -> u32 {
    ((u128::from(h) * n as u128) >> 64) as u32
}

/// The rows of `df` (one chunk) in `n` frames, row `i` in frame `bucket[i]` (each below `n`),
/// each frame's rows in their order in `df`. Each column is read once and scattered to the
/// frames (a gather per frame would read it once per frame); a column that cannot be
/// scattered so (nulls, or values that are not plain numbers or dates) is gathered by each
/// frame's rows.
pub(crate) fn scatter_rows(df: &PlFrame, bucket: &[u32], n: usize) -> PolarsResult<Vec<PlFrame>> {
    let mut counts = vec![0usize; n];
    for j in bucket {
        counts[*j as usize] += 1;
    }
    let mut rows: Option<Vec<IdxCa>> = None;
    let mut columns: Vec<Vec<Column>> = (0..n).map(|_| Vec::with_capacity(df.width())).collect();
    for c in df.columns() {
        let parts = match scatter(c.as_materialized_series(), bucket, &counts)? {
            Some(parts) => parts,
            None => {
                let rows = rows.get_or_insert_with(|| bucket_rows(bucket, &counts));
                (rows.iter())
                    .map(|r| c.take(r).map(Column::take_materialized_series))
                    .collect::<PolarsResult<_>>()?
            }
        };
        for (out, part) in columns.iter_mut().zip(parts) {
            out.push(part.into_column());
        }
    }
    (columns.into_iter().zip(&counts))
        .map(|(c, len)| PlFrame::new(*len, c))
        .collect()
}

/// The rows of each bucket, ascending.
fn bucket_rows(bucket: &[u32], counts: &[usize]) -> Vec<IdxCa> {
    let mut rows: Vec<Vec<IdxSize>> = counts.iter().map(|c| Vec::with_capacity(*c)).collect();
    for (i, j) in bucket.iter().enumerate() {
        rows[*j as usize].push(i as IdxSize);
    }
    rows.into_iter()
        .map(|r| IdxCa::from_vec("".into(), r))
        .collect()
}

/// `s` scattered to the buckets (`bucket[i]` is row `i`'s), or `None` when it is not a column
/// of plain numbers (or their logical types, as dates) without nulls.
fn scatter(s: &Series, bucket: &[u32], counts: &[usize]) -> PolarsResult<Option<Vec<Series>>> {
    let logical = matches!(s.dtype(), DataType::Date | DataType::Datetime(..));
    if s.null_count() > 0
        || s.len() != bucket.len()
        || !(logical || s.dtype().is_primitive_numeric())
    {
        return Ok(None);
    }
    let physical = s.to_physical_repr();
    let parts = match physical.dtype() {
        DataType::Int64 => scatter_values(physical.i64()?, bucket, counts),
        DataType::Float64 => scatter_values(physical.f64()?, bucket, counts),
        DataType::Int32 => scatter_values(physical.i32()?, bucket, counts),
        DataType::UInt32 => scatter_values(physical.u32()?, bucket, counts),
        DataType::UInt64 => scatter_values(physical.u64()?, bucket, counts),
        DataType::Float32 => scatter_values(physical.f32()?, bucket, counts),
        _ => None,
    };
    let Some(parts) = parts else {
        return Ok(None);
    };
    if physical.dtype() == s.dtype() {
        return Ok(Some(parts));
    }
    // Back to the date or time type: the same values, reinterpreted.
    let parts = (parts.into_iter())
        .map(|p| p.cast(s.dtype()))
        .collect::<PolarsResult<_>>()?;
    Ok(Some(parts))
}

/// The values of `ca` (one chunk, no nulls) scattered to the buckets; `None` otherwise.
fn scatter_values<T: PolarsNumericType>(
    ca: &ChunkedArray<T>,
    bucket: &[u32],
    counts: &[usize],
) -> Option<Vec<Series>> {
    let values = ca.cont_slice().ok()?;
    let mut out: Vec<Vec<T::Native>> = counts.iter().map(|c| Vec::with_capacity(*c)).collect();
    for (v, j) in values.iter().zip(bucket) {
        out[*j as usize].push(*v);
    }
    Some(
        out.into_iter()
            .map(|v| ChunkedArray::<T>::from_vec(ca.name().clone(), v).into_series())
            .collect(),
    )
}

/// `df` with each column in one chunk.
pub(crate) fn single_chunk(df: &PlFrame) -> PlFrame {
    let mut df = df.clone();
    if df.max_n_chunks() > 1 {
        df.rechunk_mut();
    }
    df
}

/// Bucket `index` of its argument's [`Buckets`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pick {
    pub(crate) index: u32,
}

impl Op for Pick {
    fn name(&self) -> &str {
        "bucket"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let buckets = args.first().ok_or_else(|| TaskError::new("no buckets"))?;
        if let Some(spilled) = buckets.downcast_ref::<crate::spill::SpilledBuckets>() {
            let part = spilled.part(self.index as usize).ok_or_else(|| {
                TaskError::new(format!("no bucket {} of {}", self.index, spilled.len()))
            })?;
            return Ok(Value::new(part));
        }
        let b = buckets.get::<Buckets>()?;
        let f = b
            .0
            .get(self.index as usize)
            .ok_or_else(|| TaskError::new(format!("no bucket {} of {}", self.index, b.0.len())))?;
        Ok(Value::new(Frame(f.clone())))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

rask_graph::register_op!(Pick, "rask-dataframe.bucket");

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::df;

    #[test]
    fn scattered_columns_equal_each_bucket_gathered() {
        use polars::prelude::{IntoLazy, TimeUnit, lit};
        let n = 1000usize;
        let k: Vec<i64> = (0..n as i64).map(|i| i * 7919 % 263).collect();
        let nullable: Vec<Option<i32>> = (0..n as i32).map(|i| (i % 5 != 0).then_some(i)).collect();
        let df = df!(
            "k" => k,
            "x" => (0..n).map(|i| i as f64 / 3.0).collect::<Vec<_>>(),
            "u" => (0..n as u32).collect::<Vec<_>>(),
            "f" => (0..n).map(|i| i as f32).collect::<Vec<_>>(),
            "s" => (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>(),
            "nullable" => nullable,
            "day" => (0..n as i32).collect::<Vec<_>>(),
            "at" => (0..n as i64).map(|i| i * 1_000_000).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_columns([
            polars::prelude::col("day").cast(DataType::Date),
            polars::prelude::col("at").cast(DataType::Datetime(TimeUnit::Microseconds, None)),
            lit(true).alias("flag"),
        ])
        .collect()
        .unwrap();
        // In several chunks, as a streaming collect leaves it.
        let mut chunked = df.slice(0, 300);
        chunked.vstack_mut(&df.slice(300, n)).unwrap();
        for buckets in [1, 3, 17] {
            let b = split(&chunked, &["k".into(), "s".into()], buckets).unwrap();
            assert_eq!(b.0.len(), buckets);
            // What each bucket must be: the rows that hash to it, gathered in order.
            let mut keys = df.select(["k", "s"]).unwrap();
            let hashes = keys
                .hash_rows(Some(PlSeedableRandomStateQuality::seed_from_u64(SEED)))
                .unwrap();
            let bucket: Vec<u32> = (hashes.into_no_null_iter())
                .map(|h| bucket_of(h, buckets))
                .collect();
            let mut counts = vec![0; buckets];
            bucket.iter().for_each(|j| counts[*j as usize] += 1);
            for (j, rows) in bucket_rows(&bucket, &counts).iter().enumerate() {
                let want = df.take(rows).unwrap();
                assert!(
                    b.0[j].equals_missing(&want),
                    "{buckets} buckets, bucket {j}"
                );
                assert_eq!(b.0[j].schema(), df.schema());
            }
        }
    }

    #[test]
    fn a_key_lands_in_one_bucket_and_buckets_cross_processes_whole() {
        let df = df!("k" => [1i64, 2, 3, 1, 2, 1, 7], "v" => ["a", "b", "c", "d", "e", "f", "g"])
            .unwrap();
        let b = split(&df, &["k".into()], 3).unwrap();
        assert_eq!(b.0.iter().map(PlFrame::height).sum::<usize>(), 7);
        let home = |k: i64| {
            (b.0.iter())
                .position(|f| {
                    f.column("k")
                        .unwrap()
                        .i64()
                        .unwrap()
                        .into_no_null_iter()
                        .any(|v| v == k)
                })
                .unwrap()
        };
        for (j, f) in b.0.iter().enumerate() {
            for k in f.column("k").unwrap().i64().unwrap().into_no_null_iter() {
                assert_eq!(home(k), j, "key {k} in two buckets");
            }
        }
        // The same key in another frame (another partition) goes to the same bucket.
        let other = split(
            &df!("k" => [7i64, 1], "v" => ["x", "y"]).unwrap(),
            &["k".into()],
            3,
        )
        .unwrap();
        assert_eq!(
            other.0[home(7)].column("k").unwrap().i64().unwrap().get(0),
            Some(7)
        );
        let (name, bytes) = rask_graph::registry::encode_value(&Value::new(Buckets(
            b.0.clone(),
            Default::default(),
        )))
        .unwrap()
        .unwrap();
        assert_eq!(name, "rask-dataframe.buckets");
        let back = decode(&bytes).unwrap();
        let back = back.get::<Buckets>().unwrap();
        assert_eq!(back.0.len(), 3);
        for (x, y) in back.0.iter().zip(&b.0) {
            assert!(x.equals_missing(y));
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[1, 2, 3]).is_err());
    }
}
