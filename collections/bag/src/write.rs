//! Writing a bag of lines to text files: each partition to a temporary file in a hidden
//! folder beside the dataset, then — once every partition is written — each moved into
//! place, so a computation that fails leaves no half-written dataset under the final names.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rask_graph::files::Staging;
use rask_graph::item::ItemRef;
use rask_graph::{TaskError, Value};

use crate::item::{Collector, Partition};
use crate::source::Compression;

fn io_error(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::new(format!("{}: {e}", path.display()))
}

/// A text file being written, compressed as its extension says.
enum Writer {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Bzip2(bzip2::write::BzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Writer {
    fn create(path: &Path, compression: Compression) -> std::io::Result<Writer> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        Ok(match compression {
            Compression::None => Writer::Plain(file),
            Compression::Gzip => Writer::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )),
            Compression::Bzip2 => Writer::Bzip2(bzip2::write::BzEncoder::new(
                file,
                bzip2::Compression::default(),
            )),
            Compression::Zstd => Writer::Zstd(zstd::stream::write::Encoder::new(file, 3)?),
        })
    }

    fn out(&mut self) -> &mut dyn Write {
        match self {
            Writer::Plain(w) => w,
            Writer::Gzip(w) => w,
            Writer::Bzip2(w) => w,
            Writer::Zstd(w) => w,
        }
    }

    /// Ends the stream (a compressed one's trailer) and flushes the file.
    fn finish(self) -> std::io::Result<()> {
        let mut file = match self {
            Writer::Plain(w) => w,
            Writer::Gzip(w) => w.finish()?,
            Writer::Bzip2(w) => w.finish()?,
            Writer::Zstd(w) => w.finish()?,
        };
        file.flush()
    }
}

/// A partition's lines into its temporary file.
pub(crate) struct TextWriter {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<Writer>,
}

impl TextWriter {
    pub(crate) fn create(path: &Path, staging: &Staging) -> Result<Self, TaskError> {
        let temp = staging
            .temp_path(path)
            .map_err(|e| io_error(staging.dir(), e))?;
        let writer = Writer::create(&temp, Compression::of(path)).map_err(|e| io_error(path, e))?;
        Ok(TextWriter {
            path: path.to_owned(),
            temp,
            writer: Some(writer),
        })
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        let out = w.out();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    }
}

impl Drop for TextWriter {
    /// A partition that failed leaves no temporary file.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Collector for TextWriter {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        let line = item.get::<String>()?;
        self.write(line).map_err(|e| io_error(&self.path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<Value, TaskError> {
        if let Some(w) = self.writer.take()
            && let Err(e) = w.finish()
        {
            let _ = std::fs::remove_file(&self.temp);
            return Err(io_error(&self.path, e));
        }
        Ok(Value::new(Partition(vec![
            self.path.to_string_lossy().into_owned(),
        ])))
    }
}

/// Moves written files into place.
pub(crate) struct MoveIntoPlace {
    staging: Staging,
    paths: Vec<PathBuf>,
}

impl MoveIntoPlace {
    pub(crate) fn new(staging: &Staging) -> Self {
        MoveIntoPlace {
            staging: staging.clone(),
            paths: Vec::new(),
        }
    }
}

impl Collector for MoveIntoPlace {
    fn push(&mut self, item: ItemRef<'_>) -> Result<(), TaskError> {
        self.paths.push(PathBuf::from(item.get::<String>()?));
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Value, TaskError> {
        self.staging.commit(&self.paths)?;
        let paths = (self.paths.iter())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        Ok(Value::new(Partition::<String>(paths)))
    }
}
