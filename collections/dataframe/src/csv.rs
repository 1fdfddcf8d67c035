//! Reading CSV files and blocks of them, and finding the lines Polars cannot read.
//!
//! A block that Polars reads in one go is the fast path. When it fails, the block's records
//! are halved until each failing record stands alone (a few parses per bad line), so what
//! counts as malformed is exactly what Polars' reader rejects: a value of another type, more
//! fields than columns.

use polars::prelude::{CsvReadOptions, DataFrame as PlFrame, PolarsResult, SchemaRef, SerReader};
use rask_graph::TaskError;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::Path;

/// What reading a CSV file does with a line whose values do not fit the frame's schema (a
/// value of another type, more fields than columns), as pandas' and Dask's `on_bad_lines`.
///
/// ```
/// use rask_dataframe::{BadLines, CsvOptions};
/// let options = CsvOptions { bad_lines: BadLines::Skip, ..CsvOptions::default() };
/// assert_eq!(CsvOptions::default().bad_lines, BadLines::Error);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BadLines {
    /// The partition fails with an error naming the file, the line and the column.
    #[default]
    Error,
    /// The line is left out; [`DataFrame::read_csv_bad_lines`](crate::DataFrame::read_csv_bad_lines)
    /// lists (and so counts) what was left out.
    Skip,
}

/// A CSV record Polars could not read.
pub(crate) struct BadLine {
    /// Its first line's number in the file, the header being line 1.
    pub(crate) line: u64,
    /// The first line of Polars' message (it names the value and the column).
    pub(crate) message: String,
}

/// What a block of a CSV file holds: its records, read, and the records that could not be.
pub(crate) struct Block {
    pub(crate) frame: PlFrame,
    pub(crate) bad: Vec<BadLine>,
}

/// Reads the records of `path` that start in bytes `range` (all of the file when `None`;
/// only the block that starts at 0 has the header row) with `schema`, setting aside every
/// record Polars cannot read.
pub(crate) fn read_block(
    path: &Path,
    range: Option<(u64, u64)>,
    schema: &SchemaRef,
) -> Result<Block, TaskError> {
    let failed = |e: &dyn std::fmt::Display| match range {
        Some((start, end)) => {
            TaskError::new(format!("{} (bytes {start}..{end}): {e}", path.display()))
        }
        None => TaskError::new(format!("{}: {e}", path.display())),
    };
    let (at, bytes) = match range {
        Some((start, end)) => block_bytes(path, start, end),
        None => std::fs::read(path).map(|b| (0, b)),
    }
    .map_err(|e| failed(&e))?;
    let header = if at == 0 { record_end(&bytes, 0) } else { 0 };
    let data = &bytes[header..];
    let mut frames = Vec::new();
    let mut bad = Vec::new();
    if !data.is_empty() {
        match parse(data, schema) {
            Ok(df) => frames.push(df),
            Err(_) => {
                let starts = record_starts(data);
                halve(
                    data,
                    &starts,
                    0,
                    starts.len(),
                    schema,
                    &mut frames,
                    &mut bad,
                );
            }
        }
    }
    let mut frame = PlFrame::empty_with_schema(schema);
    for df in frames {
        frame.vstack_mut_owned(df).map_err(|e| failed(&e))?;
    }
    // Line numbers: the lines before the block (counted only when a record is bad), the
    // header's, and those before each record.
    let mut lines = if at == 0 || bad.is_empty() {
        0
    } else {
        lines_before(path, at).map_err(|e| failed(&e))?
    } + newlines(&bytes[..header]);
    let mut counted = 0;
    let bad = (bad.into_iter())
        .map(|(start, message)| {
            lines += newlines(&data[counted..start]);
            counted = start;
            BadLine {
                line: lines + 1,
                message,
            }
        })
        .collect();
    Ok(Block { frame, bad })
}

/// Records `starts[lo..hi]` of `data` read where Polars can, in order, into `frames`, and
/// each record it cannot (its start and Polars' message) into `bad`.
fn halve(
    data: &[u8],
    starts: &[usize],
    lo: usize,
    hi: usize,
    schema: &SchemaRef,
    frames: &mut Vec<PlFrame>,
    bad: &mut Vec<(usize, String)>,
) {
    if lo >= hi {
        return;
    }
    let (a, b) = (starts[lo], starts.get(hi).copied().unwrap_or(data.len()));
    let piece = &data[a..b];
    if piece.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    match parse(piece, schema) {
        Ok(df) => frames.push(df),
        Err(e) if hi - lo == 1 => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().trim();
            bad.push((a, first.to_string()));
        }
        Err(_) => {
            let mid = lo + (hi - lo) / 2;
            halve(data, starts, lo, mid, schema, frames, bad);
            halve(data, starts, mid, hi, schema, frames, bad);
        }
    }
}

/// Records without a header, read with `schema`.
fn parse(data: &[u8], schema: &SchemaRef) -> PolarsResult<PlFrame> {
    CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(SchemaRef::clone(schema)))
        .into_reader_with_file_handle(Cursor::new(data))
        .finish()
}

/// Where each record of `data` starts: at 0 and after each line break outside quotes (a
/// quoted field may hold line breaks; `""` inside quotes is a quote).
fn record_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut quoted = false;
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted && i + 1 < data.len() => starts.push(i + 1),
            _ => {}
        }
    }
    starts
}

/// The end of the record that starts at `at` (after its line break).
fn record_end(data: &[u8], at: usize) -> usize {
    record_starts(&data[at..])
        .get(1)
        .map_or(data.len(), |s| at + s)
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The number of line breaks in the first `at` bytes of `path`.
fn lines_before(path: &Path, at: u64) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?.take(at);
    let mut buf = vec![0; 1 << 20];
    let mut n = 0;
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(n),
            k => n += newlines(&buf[..k]),
        }
    }
}

/// Where the lines of `path` that start in bytes `start..end` start, and their bytes (a line
/// starts at 0 and after each `\n`): what a CSV block holds, as Dask's `blocksize` splits a
/// file. (A quoted field that holds a line break is cut there, as it is in Dask.)
pub(crate) fn block_bytes(path: &Path, start: u64, end: u64) -> std::io::Result<(u64, Vec<u8>)> {
    use std::io::{BufRead, Read, Seek, SeekFrom};
    let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
    // Where the first line that starts at or after `at` starts (the file's end if none).
    let mut line_start = |at: u64| -> std::io::Result<u64> {
        if at == 0 {
            return Ok(0);
        }
        f.seek(SeekFrom::Start(at - 1))?;
        let n = f.read_until(b'\n', &mut Vec::new())?;
        Ok(at - 1 + n as u64)
    };
    let (s, e) = (line_start(start)?, line_start(end)?);
    let mut bytes = Vec::new();
    if e > s {
        f.seek(SeekFrom::Start(s))?;
        f.take(e - s).read_to_end(&mut bytes)?;
    }
    Ok((s, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{DataType, Schema};
    use std::sync::Arc;

    #[test]
    fn records_start_after_line_breaks_outside_quotes() {
        assert_eq!(record_starts(b"a,b\n1,2\n"), [0, 4]);
        assert_eq!(record_starts(b"1,\"x\ny\"\n2,\"\"\"\"\n3,z"), [0, 8, 15]);
        assert_eq!(record_end(b"a,b\n1,2\n", 0), 4);
        assert_eq!(record_end(b"a,b", 0), 3);
    }

    #[test]
    fn bad_records_are_set_aside_with_their_line_numbers() {
        let path = std::env::temp_dir().join(format!("rask-csv-unit-{}.csv", std::process::id()));
        let text = "a,b\n1,x\n2,\"two\nlines\"\nthree,y\n4,z\n5,w,extra\n6,v\n";
        std::fs::write(&path, text).unwrap();
        let schema: SchemaRef = Arc::new(Schema::from_iter([
            ("a".into(), DataType::Int64),
            ("b".into(), DataType::String),
        ]));
        let block = read_block(&path, None, &schema).unwrap();
        let a: Vec<Option<i64>> = block.frame.column("a").unwrap().i64().unwrap().to_vec();
        assert_eq!(a, [Some(1), Some(2), Some(4), Some(6)]);
        let lines: Vec<u64> = block.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [5, 7]);
        assert!(
            block.bad[0].message.contains("three"),
            "{}",
            block.bad[0].message
        );
        // A block that starts after the header: lines counted from the file's start.
        let start = text.find("three").unwrap() as u64;
        let block = read_block(&path, Some((start - 1, text.len() as u64)), &schema).unwrap();
        let lines: Vec<u64> = block.bad.iter().map(|b| b.line).collect();
        assert_eq!((block.frame.height(), lines), (2, vec![5, 7]));
        std::fs::remove_file(&path).unwrap();
    }
}
