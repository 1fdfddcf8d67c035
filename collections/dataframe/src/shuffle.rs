//! Hash partitioning: a frame split into buckets by a hash of its key columns, the same key
//! landing in the same bucket in every partition and every process.

use std::io::Cursor;

use polars::prelude::{
    DataFrame as PlFrame, IdxCa, IdxSize, IpcStreamReader, IpcStreamWriter,
    PlSeedableRandomStateQuality, PolarsResult, SeedableFromU64SeedExt, SerReader, SerWriter,
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

/// `df` in `n` buckets by a hash of the columns `keys`.
pub(crate) fn split(df: &PlFrame, keys: &[String], n: usize) -> PolarsResult<Buckets> {
    // A gather from a frame of many chunks (a streaming collect gives one per morsel) looks
    // each row's chunk up: one chunk first is several times faster.
    let df = &single_chunk(df);
    let mut k = df.select(keys.iter().map(String::as_str))?;
    let hashes = k.hash_rows(Some(PlSeedableRandomStateQuality::seed_from_u64(SEED)))?;
    let mut rows: Vec<Vec<IdxSize>> = vec![Vec::with_capacity(df.height() / n.max(1) + 1); n];
    for (i, h) in hashes.into_no_null_iter().enumerate() {
        // The hash's high bits pick the bucket (Lemire's multiply-shift, no division).
        let j = ((u128::from(h) * n as u128) >> 64) as usize;
        rows[j].push(i as IdxSize);
    }
    let frames = rows
        .into_iter()
        .map(|r| df.take(&IdxCa::from_vec("".into(), r)))
        .collect::<PolarsResult<_>>()?;
    Ok(Buckets(frames, Default::default()))
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
