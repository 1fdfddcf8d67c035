//! Where a partition's items come from: the task's input partitions, lines of a text file
//! (a byte range of it, or a whole compressed file), JSON lines, or a range of integers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rask_graph::item::{Emit, ItemRef};
use rask_graph::{Args, TaskError};
use serde::{Deserialize, Serialize};

use crate::func::Func;
use crate::item::{HashFns, ItemFns, PairFns, Ty};

/// How a text file is compressed, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Plain text: may be split into byte ranges.
    None,
    /// `.gz`.
    Gzip,
    /// `.bz2`.
    Bzip2,
    /// `.zst` or `.zstd`.
    Zstd,
}

impl Compression {
    /// The compression a path's extension names.
    ///
    /// ```
    /// use rask_bag::Compression;
    /// use std::path::Path;
    /// assert_eq!(Compression::of(Path::new("logs/a.json.zst")), Compression::Zstd);
    /// assert_eq!(Compression::of(Path::new("a.txt")), Compression::None);
    /// ```
    pub fn of(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("bz2") => Compression::Bzip2,
            Some("zst" | "zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// A reader of the text in `file`, decompressed (whole files; a plain file is read as is).
    fn reader(self, file: File) -> std::io::Result<Box<dyn BufRead>> {
        const BUFFER: usize = 1 << 16;
        Ok(match self {
            Compression::None => Box::new(BufReader::with_capacity(BUFFER, file)),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                BUFFER,
                flate2::read::MultiGzDecoder::new(BufReader::new(file)),
            )),
            Compression::Bzip2 => Box::new(BufReader::with_capacity(
                BUFFER,
                bzip2::read::MultiBzDecoder::new(BufReader::new(file)),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                BUFFER,
                zstd::stream::read::Decoder::new(file)?,
            )),
        })
    }
}

/// What to do with a line that is not JSON of the bag's item type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BadLines {
    /// Fail the task with an error naming the file and line.
    #[default]
    Error,
    /// Pass over it ([`Bag::count_bad_lines`](crate::Bag::count_bad_lines) counts them).
    Skip,
    /// Only the bad lines, as unit items: what `count_bad_lines` counts.
    OnlyBad,
}

/// The lines of a file whose first byte lies in `start..end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lines {
    pub(crate) path: PathBuf,
    pub(crate) start: u64,
    pub(crate) end: Option<u64>,
    pub(crate) compression: Compression,
}

/// A partition's source.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Source {
    /// The items of the task's input partitions, in order.
    Partitions(Ty<ItemFns>),
    /// Lines of text, without their line endings.
    Text(Lines),
    /// Each line parsed as JSON of an item type.
    Json {
        lines: Lines,
        item: Ty<ItemFns>,
        bad: BadLines,
    },
    /// Each line of the task's one input, a JSON-lines text (`String`), parsed as JSON of an
    /// item type.
    JsonText(Ty<ItemFns>),
    /// The integers `start..end`, as `u64`.
    Range { start: u64, end: u64 },
    /// Pairs of the items of the task's two input partitions: element by element (`zip`),
    /// or every with every.
    Pairs { pair: Ty<PairFns>, zip: bool },
    /// Part `index` of `of` near-equal parts of the task's one input partition (only the
    /// part's items are cloned from a shared input).
    Part {
        item: Ty<ItemFns>,
        index: u64,
        of: u64,
    },
    /// The items of bucket `bucket` of `of` of the task's one input partition, whose items
    /// are in bucket order (a shuffle's split): the bucket of an item is the hash of its key
    /// modulo `of`.
    Bucket {
        item: Ty<ItemFns>,
        key: Func,
        key_hash: Ty<HashFns>,
        bucket: u64,
        of: u64,
    },
}

impl Source {
    /// Feeds every item to `emit`, stopping early once `full()`.
    pub(crate) fn feed(
        &self,
        args: Args,
        emit: &mut Emit<'_>,
        full: &mut dyn FnMut() -> bool,
    ) -> Result<(), TaskError> {
        match self {
            Source::Partitions(t) => {
                for v in args {
                    if full() {
                        break;
                    }
                    (t.fns().for_each)(v, emit)?;
                }
                Ok(())
            }
            Source::Pairs { pair, zip } => {
                let mut args = args.into_iter();
                let (Some(a), Some(b)) = (args.next(), args.next()) else {
                    return Err(TaskError::new("pairs are made of two partitions"));
                };
                let make = if *zip { pair.0.zip } else { pair.0.product };
                make(a, b, emit)
            }
            Source::Part { item, index, of } => {
                let Some(v) = args.into_iter().next() else {
                    return Err(TaskError::new("a part of a partition reads one partition"));
                };
                let index = usize::try_from(*index).unwrap_or(usize::MAX);
                let of = usize::try_from(*of).unwrap_or(usize::MAX).max(1);
                let len = (item.fns().len)(&v)?;
                let (base, extra) = (len / of, len % of);
                let start = index * base + index.min(extra);
                let end = start + base + usize::from(index < extra);
                let part = (item.fns().range)(v, start, end)?;
                (item.fns().for_each)(part, emit)
            }
            Source::Bucket {
                item,
                key,
                key_hash,
                bucket,
                of,
            } => {
                let Some(v) = args.into_iter().next() else {
                    return Err(TaskError::new("a bucket is taken from one partition"));
                };
                // A split past its memory budget: the bucket's segments, from its file.
                if let Ok(spilled) = v.get::<crate::spill::SpilledBuckets>() {
                    let bucket = usize::try_from(*bucket).unwrap_or(usize::MAX);
                    return spilled.read(bucket, &mut |part| (item.fns().for_each)(part, emit));
                }
                // The partition is in bucket order: the bucket's items are found by bisection.
                let len = (item.fns().len)(&v)?;
                let first_from = |limit: u64| -> Result<usize, TaskError> {
                    let (mut a, mut b) = (0, len);
                    while a < b {
                        let mid = a + (b - a) / 2;
                        if crate::ops::bucket_of(&v, mid, item.0, key, key_hash.0, *of)? < limit {
                            a = mid + 1;
                        } else {
                            b = mid;
                        }
                    }
                    Ok(a)
                };
                let (lo, hi) = (first_from(*bucket)?, first_from(*bucket + 1)?);
                let part = (item.fns().range)(v, lo, hi)?;
                (item.fns().for_each)(part, emit)
            }
            Source::Text(lines) => lines.read(&mut |_, line| {
                if full() {
                    return Ok(false);
                }
                emit(ItemRef::borrowed(line))?;
                Ok(true)
            }),
            Source::Json { lines, item, bad } => lines.read(&mut |n, line| {
                if full() {
                    return Ok(false);
                }
                json_line(item, *bad, line, emit, || {
                    format!("{}, line {}", lines.path.display(), n.describe(&lines.path))
                })?;
                Ok(true)
            }),
            Source::JsonText(item) => {
                let Some(v) = args.into_iter().next() else {
                    return Err(TaskError::new("JSON-lines text is read from one input"));
                };
                let text = v.get::<String>()?;
                for (n, line) in text.lines().enumerate() {
                    if full() {
                        break;
                    }
                    json_line(item, BadLines::Error, line, emit, || {
                        format!("line {} of the partition's JSON lines", n + 1)
                    })?;
                }
                Ok(())
            }
            Source::Range { start, end } => {
                for i in *start..*end {
                    if full() {
                        break;
                    }
                    emit(ItemRef::owned(&mut Some(i)))?;
                }
                Ok(())
            }
        }
    }
}

/// A line of JSON parsed as an item and handed to `emit`, as `bad` says to treat a line that
/// is not JSON of it (an error then names the line by `place`); a blank line is passed over.
fn json_line(
    item: &Ty<ItemFns>,
    bad: BadLines,
    line: &str,
    emit: &mut Emit<'_>,
    place: impl FnOnce() -> String,
) -> Result<(), TaskError> {
    if line.trim().is_empty() {
        return Ok(());
    }
    // Counting bad lines hands the good ones to no one.
    let mut nowhere = |_: ItemRef<'_>| Ok(());
    let to: &mut Emit<'_> = if bad == BadLines::OnlyBad {
        &mut nowhere
    } else {
        emit
    };
    match (bad, (item.fns().parse_json)(line, to)) {
        (BadLines::OnlyBad, Ok(_)) => {}
        (_, Ok(downstream)) => downstream?,
        (BadLines::Error, Err(e)) => {
            return Err(TaskError::new(format!(
                "{}: not JSON of {}: {e}",
                place(),
                item.type_name()
            )));
        }
        (BadLines::Skip, Err(_)) => {}
        (BadLines::OnlyBad, Err(_)) => emit(ItemRef::owned(&mut Some(())))?,
    }
    Ok(())
}

/// Where a line is: its number within the part read, and the byte offset the part starts at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineNo {
    index: u64,
    start: u64,
}

impl LineNo {
    /// The line's number in its file, counted from 1 (reading the file up to the part, which
    /// only an error does).
    fn describe(&self, path: &Path) -> String {
        if self.start == 0 {
            return (self.index + 1).to_string();
        }
        let before = File::open(path).ok().and_then(|f| {
            let mut n = 0u64;
            let mut r = BufReader::new(f.take(self.start));
            let mut buf = Vec::new();
            while r.read_until(b'\n', &mut buf).ok()? > 0 {
                n += 1;
                buf.clear();
            }
            Some(n)
        });
        match before {
            Some(n) => (n + self.index + 1).to_string(),
            None => format!("{} after byte {}", self.index + 1, self.start),
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::new(format!("{}: {e}", path.display()))
}

/// A part opened: see [`Lines::open`].
struct Opened {
    reader: Box<dyn BufRead>,
    limit: u64,
    start: u64,
    first_line: Option<u64>,
}

impl Lines {
    /// The part's reader, at its first line, with how many bytes of lines to read (lines
    /// that start within them are read whole), the byte offset the part starts at, and —
    /// for a plain file — the offset of its first line.
    fn open(&self) -> Result<Opened, TaskError> {
        let path = &self.path;
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        match self.compression {
            Compression::None => {
                // A part that starts mid-file starts after the first line break at or after
                // its first byte's predecessor: the line that crosses the boundary belongs to
                // the part before.
                let mut skip = 0;
                if self.start > 0 {
                    file.seek(SeekFrom::Start(self.start - 1))
                        .map_err(|e| io_error(path, e))?;
                }
                let mut r = BufReader::with_capacity(1 << 16, file);
                if self.start > 0 {
                    let mut buf = Vec::new();
                    skip = r
                        .read_until(b'\n', &mut buf)
                        .map_err(|e| io_error(path, e))? as u64;
                }
                let pos = (self.start + skip).saturating_sub(1);
                let limit = self.end.map_or(u64::MAX, |e| e.saturating_sub(pos));
                Ok(Opened {
                    reader: Box::new(r),
                    limit,
                    start: self.start,
                    first_line: Some(pos),
                })
            }
            compressed => {
                let r = compressed.reader(file).map_err(|e| io_error(path, e))?;
                Ok(Opened {
                    reader: r,
                    limit: u64::MAX,
                    start: 0,
                    first_line: None,
                })
            }
        }
    }

    /// Calls `each(line number, line)` for every line until it returns `false`.
    fn read(
        &self,
        each: &mut dyn FnMut(LineNo, &String) -> Result<bool, TaskError>,
    ) -> Result<(), TaskError> {
        let Opened {
            reader,
            limit,
            start,
            ..
        } = self.open()?;
        // Lines starting before `end`: read until the line break at or after it.
        read_lines(&self.path, BoundedLines::new(reader, limit), start, each)
    }

    /// Calls `each` on the part's text in blocks of whole lines (about 1 MiB each, line
    /// breaks kept): for work that does not care where lines break, such as splitting at
    /// whitespace, without a call per line.
    pub(crate) fn read_blocks(
        &self,
        each: &mut dyn FnMut(&str) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        const BLOCK: usize = 1 << 20;
        let path = &self.path;
        let Opened {
            mut reader,
            limit,
            start,
            first_line,
        } = self.open()?;
        let mut pending: Vec<u8> = Vec::with_capacity(BLOCK + (1 << 16));
        // Bytes taken so far (counted from the first line) and handed on; and, in a
        // compressed stream (where a line's number cannot be found again from an offset),
        // how many lines were handed on.
        let mut taken = 0u64;
        let mut handed = (0u64, 0u64);
        let mut hand_on = |block: &[u8], handed: &mut (u64, u64)| -> Result<(), TaskError> {
            match std::str::from_utf8(block) {
                Ok(text) => each(text)?,
                Err(e) => {
                    let before = &block[..e.valid_up_to()];
                    let line_start = before
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1);
                    let no = match first_line {
                        // The line's number, counted in the file up to where it starts.
                        Some(first) => LineNo {
                            index: 0,
                            start: first + handed.0 + line_start as u64,
                        },
                        None => LineNo {
                            index: handed.1 + bytecount(&before[..line_start]),
                            start,
                        },
                    };
                    return Err(TaskError::new(format!(
                        "{}, line {}: not UTF-8 ({e})",
                        path.display(),
                        no.describe(path)
                    )));
                }
            }
            handed.0 += block.len() as u64;
            if first_line.is_none() {
                handed.1 += bytecount(block);
            }
            Ok(())
        };
        // Once the part's last byte is taken, only the rest of its line is.
        let (mut finishing, mut done) = (false, limit == 0);
        while !done {
            let chunk = reader.fill_buf().map_err(|e| io_error(path, e))?;
            if chunk.is_empty() {
                break;
            }
            let wanted = if finishing {
                memchr_from(chunk, 0).map_or(chunk.len(), |nl| nl + 1)
            } else {
                match usize::try_from(limit - taken) {
                    Ok(left) if left <= chunk.len() => {
                        memchr_from(chunk, left - 1).map_or(chunk.len(), |nl| nl + 1)
                    }
                    _ => chunk.len(),
                }
            };
            let ends_line = chunk[wanted - 1] == b'\n';
            let reached = finishing || taken + wanted as u64 >= limit;
            pending.extend_from_slice(&chunk[..wanted]);
            reader.consume(wanted);
            taken += wanted as u64;
            if reached {
                done = ends_line;
                finishing = !ends_line;
            }
            if pending.len() >= BLOCK
                && let Some(last) = pending.iter().rposition(|b| *b == b'\n')
            {
                hand_on(&pending[..=last], &mut handed)?;
                pending.drain(..=last);
            }
        }
        if !pending.is_empty() {
            hand_on(&pending, &mut handed)?;
        }
        Ok(())
    }
}

/// How many line breaks `bytes` holds.
fn bytecount(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// The index of the first `\n` in `bytes` at or after `from`.
fn memchr_from(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    tail.iter().position(|b| *b == b'\n').map(|i| from + i)
}

/// Lines of a reader, stopping after the line that contains byte `limit` (counted from where
/// it starts) — the last line that starts before it.
struct BoundedLines<R> {
    reader: R,
    limit: u64,
    read: u64,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R, limit: u64) -> Self {
        BoundedLines {
            reader,
            limit,
            read: 0,
        }
    }

    /// The next line into `buf` (without its ending), or `false` at the end.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        buf.clear();
        if self.read >= self.limit {
            return Ok(false);
        }
        let n = self.reader.read_until(b'\n', buf)? as u64;
        if n == 0 {
            return Ok(false);
        }
        self.read += n;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        Ok(true)
    }
}

fn read_lines<R: BufRead>(
    path: &Path,
    mut lines: BoundedLines<R>,
    start: u64,
    each: &mut dyn FnMut(LineNo, &String) -> Result<bool, TaskError>,
) -> Result<(), TaskError> {
    let mut buf = Vec::new();
    let mut index = 0;
    while lines.next_line(&mut buf).map_err(|e| io_error(path, e))? {
        let no = LineNo { index, start };
        // One buffer for every line: a line is lent to `each` (which clones what it keeps),
        // then its bytes are the next line's buffer.
        let line = String::from_utf8(std::mem::take(&mut buf)).map_err(|e| {
            TaskError::new(format!(
                "{}, line {}: not UTF-8 ({e})",
                path.display(),
                no.describe(path)
            ))
        })?;
        let more = each(no, &line)?;
        buf = line.into_bytes();
        if !more {
            break;
        }
        index += 1;
    }
    Ok(())
}
