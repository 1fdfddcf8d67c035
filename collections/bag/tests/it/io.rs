//! Text and JSON-lines files.

use std::io::Write;

use rask_bag::{BadLines, BagError, ReadOptions, read_json_lines, read_text, sonic_rs};
use rask_graph::Collection;
use rask_graph::files::FilesError;

use crate::{Scratch, everywhere, message};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Visit {
    page: String,
    ms: u64,
}
rask_bag::register_item!(Visit, "rask-bag-tests.visit");

#[rask_macros::named(crate = rask_graph)]
fn page(v: &Visit) -> String {
    v.page.clone()
}

#[rask_macros::named(crate = rask_graph)]
fn words(line: &String) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn bz2(text: &str) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn zst(text: &str) -> Vec<u8> {
    zstd::stream::encode_all(text.as_bytes(), 1).unwrap()
}

/// `text` compressed by the compression that extension `ext` names.
fn compressed(ext: &str, text: &str) -> Vec<u8> {
    match ext {
        "gz" => gz(text),
        "bz2" => bz2(text),
        _ => zst(text),
    }
}

#[test]
fn lines_of_plain_and_compressed_files_split_at_line_boundaries() {
    let dir = Scratch::new("text");
    let a: String = (0..500).map(|i| format!("line {i} of a\n")).collect();
    dir.file("a.txt", a.as_bytes());
    dir.file("b.txt.gz", &gz("x y\r\nz\n\nlast without newline"));
    // Two streams in one file (as `cat a.bz2 b.bz2` makes): both are read.
    dir.file("c.txt.bz2", &[bz2("bz one\n"), bz2("bz two\n")].concat());
    dir.file("d.txt.zst", &[zst("zst one\nzst "), zst("two")].concat());
    let want: Vec<String> = a
        .lines()
        .map(str::to_owned)
        .chain(["x y", "z", "", "last without newline"].map(String::from))
        .chain(["bz one", "bz two", "zst one", "zst two"].map(String::from))
        .collect();
    for blocksize in [None, Some(1), Some(7), Some(100), Some(1 << 20)] {
        let b = read_text(
            &[&dir.glob("*")],
            ReadOptions {
                blocksize,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(everywhere(&b), want, "blocksize {blocksize:?}");
        // Words counted straight from the files' blocks, as from the lines.
        let words: Vec<String> = want
            .iter()
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect();
        let mut want_counts: Vec<(String, u64)> = Vec::new();
        for w in &words {
            match want_counts.iter_mut().find(|(x, _)| x == w) {
                Some((_, n)) => *n += 1,
                None => want_counts.push((w.clone(), 1)),
            }
        }
        let counts = b.str().split(None).flatten().frequencies();
        assert_eq!(everywhere(&counts), want_counts, "blocksize {blocksize:?}");
        if blocksize == Some(100) {
            assert!(
                b.npartitions() > 50,
                "a plain file is split: {}",
                b.npartitions()
            );
        }
    }
    let counts = read_text(&[&dir.glob("*.txt")], Default::default())
        .unwrap()
        .flat_map(words)
        .frequencies();
    let got = everywhere(&counts);
    assert_eq!(got[0], ("line".to_string(), 500));
    assert_eq!(got.iter().find(|(w, _)| w == "a").unwrap().1, 500);
}

#[test]
fn words_counted_from_blocks_of_large_files_are_the_words_of_their_lines() {
    // Larger than the 1 MiB blocks the counting reads, split into parts or not.
    let dir = Scratch::new("blocks");
    let text: String = (0..250_000)
        .map(|i| format!("w{} x\tyz{}\r\n", i % 997, i % 13))
        .collect();
    dir.file("big.txt", text.as_bytes());
    for blocksize in [None, Some(700_000), Some(65_537)] {
        let options = ReadOptions {
            blocksize,
            ..Default::default()
        };
        let b = read_text(&[&dir.glob("big.txt")], options).unwrap();
        let fused = b.str().split(None).flatten().frequencies();
        let by_line = b.flat_map(words).frequencies();
        let sync = &rask_local::SyncScheduler;
        assert_eq!(
            fused.compute_with(sync).unwrap(),
            by_line.compute_with(sync).unwrap(),
            "blocksize {blocksize:?}"
        );
    }
}

#[test]
fn json_lines_typed_and_bad_lines_named_or_skipped_and_counted() {
    let dir = Scratch::new("json");
    dir.file(
        "1.jsonl",
        b"{\"page\": \"/\", \"ms\": 10}\n\n{\"page\": \"/a\", \"ms\": 5}\n",
    );
    dir.file(
        "2.jsonl",
        b"{\"page\": \"/\", \"ms\": 1}\n{\"page\": 3}\nnot json\n",
    );
    let opts = |bad_lines| ReadOptions {
        blocksize: None,
        bad_lines,
    };
    let strict = read_json_lines::<Visit>(&[&dir.glob("*.jsonl")], opts(BadLines::Error)).unwrap();
    let err = message(strict.compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("2.jsonl, line 2: not JSON of"), "{err}");
    let lenient = read_json_lines::<Visit>(&[&dir.glob("*.jsonl")], opts(BadLines::Skip)).unwrap();
    assert_eq!(everywhere(&lenient.map(page)), ["/", "/a", "/"]);
    assert_eq!(everywhere(&lenient.count_bad_lines()), 2);
    let any =
        read_json_lines::<serde_json::Value>(&[&dir.glob("1.jsonl")], Default::default()).unwrap();
    assert_eq!(
        everywhere(&any.pluck("ms")),
        [serde_json::json!(10), serde_json::json!(5)]
    );
    // Untyped as sonic-rs's values: parsed by sonic-rs, bad lines named or skipped alike.
    let sonic = |bad_lines| {
        read_json_lines::<sonic_rs::Value>(&[&dir.glob("*.jsonl")], opts(bad_lines)).unwrap()
    };
    let err = message(sonic(BadLines::Error).compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("2.jsonl, line 3: not JSON of"), "{err}");
    let lenient = sonic(BadLines::Skip);
    assert_eq!(
        everywhere(&lenient.pluck("page")),
        [
            sonic_rs::json!("/"),
            sonic_rs::json!("/a"),
            sonic_rs::json!("/"),
            sonic_rs::json!(3)
        ]
    );
    assert_eq!(everywhere(&lenient.count_bad_lines()), 1);
    // Line numbers count from the file's start in a part that starts mid-file.
    let big: String = (0..100)
        .map(|i| format!("{{\"page\": \"/{i}\", \"ms\": {i}}}\n"))
        .collect::<String>()
        + "oops\n";
    dir.file("3.jsonl", big.as_bytes());
    let split = read_json_lines::<Visit>(
        &[&dir.glob("3.jsonl")],
        ReadOptions {
            blocksize: Some(500),
            ..opts(BadLines::Error)
        },
    )
    .unwrap();
    assert!(split.npartitions() > 3);
    let err = message(split.compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("3.jsonl, line 101: not JSON"), "{err}");
}

#[test]
fn missing_files_and_empty_globs_are_errors_when_the_bag_is_built() {
    let dir = Scratch::new("missing");
    let e = read_text(&[&dir.glob("nothing-*.txt")], Default::default()).unwrap_err();
    assert!(
        matches!(e, BagError::Files(FilesError::NoFiles { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("no file matches"), "{e}");
    let e = read_text(&[&dir.glob("absent.txt")], Default::default()).unwrap_err();
    assert!(e.to_string().contains("absent.txt: no such file"), "{e}");
    // A file removed after the bag was built: the task names it.
    let p = dir.file("gone.txt", b"a\n");
    let b = read_text(&[&p], Default::default()).unwrap();
    std::fs::remove_file(&p).unwrap();
    assert!(message(b.compute_with(&rask_local::SyncScheduler)).contains("gone.txt"));
    // A truncated or garbled compressed file names the file.
    for ext in ["gz", "bz2", "zst"] {
        let whole = compressed(ext, &"some text\n".repeat(1000));
        let cut = dir.file(&format!("cut.txt.{ext}"), &whole[..whole.len() / 2]);
        let b = read_text(&[&cut], Default::default()).unwrap();
        let err = message(b.compute_with(&rask_local::SyncScheduler));
        assert!(err.contains(&format!("cut.txt.{ext}")), "{err}");
        let garbled = dir.file(&format!("garbled.txt.{ext}"), b"not compressed at all\n");
        let b = read_text(&[&garbled], Default::default()).unwrap();
        let err = message(b.compute_with(&rask_local::SyncScheduler));
        assert!(err.contains(&format!("garbled.txt.{ext}")), "{err}");
    }
    // Not UTF-8.
    let bin = dir.file("bin.txt", b"ok\n\xff\xfe\n");
    let b = read_text(&[&bin], Default::default()).unwrap();
    let err = message(b.compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("bin.txt, line 2: not UTF-8"), "{err}");
    // The same, where words are counted from blocks of lines.
    let counts = b.str().split(None).flatten().frequencies();
    let err = message(counts.compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("bin.txt, line 2: not UTF-8"), "{err}");
    let bin_gz = [gz("ok\n"), {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"fine\nok \xff\n").unwrap();
        e.finish().unwrap()
    }]
    .concat();
    let bin_gz = dir.file("bin.txt.gz", &bin_gz);
    let b = read_text(&[&bin_gz], Default::default()).unwrap();
    let err = message(
        b.str()
            .split(None)
            .flatten()
            .frequencies()
            .compute_with(&rask_local::SyncScheduler),
    );
    assert!(err.contains("bin.txt.gz, line 3: not UTF-8"), "{err}");
    let later = dir.file(
        "later.txt",
        &[&b"ok\n".repeat(100_000)[..], b"\xff\n"].concat(),
    );
    let split = read_text(
        &[&later],
        ReadOptions {
            blocksize: Some(100_000),
            ..Default::default()
        },
    )
    .unwrap();
    let err = message(
        split
            .str()
            .split(None)
            .flatten()
            .frequencies()
            .compute_with(&rask_local::SyncScheduler),
    );
    assert!(err.contains("later.txt, line 100001: not UTF-8"), "{err}");
}

#[rask_macros::named(crate = rask_graph)]
fn fail_on_boom(line: &String) -> String {
    assert!(line != "boom", "boom is not written");
    line.clone()
}

/// The files under `dir` (recursively, hidden ones included), relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn text_files_are_written_compressed_by_extension_and_read_back() {
    let dir = Scratch::new("write");
    let lines: Vec<String> = (0..50).map(|i| format!("line {i} é")).collect();
    let b = rask_bag::Bag::from_sequence(lines.clone(), 3);
    for ext in ["txt", "txt.gz", "txt.bz2", "txt.zst"] {
        let pattern = dir.glob(&format!("{ext}/*.{ext}"));
        let written = everywhere(&b.to_textfiles(&pattern).unwrap());
        let names: Vec<String> = (0..3)
            .map(|i| dir.glob(&format!("{ext}/{i}.{ext}")))
            .collect();
        assert_eq!(written, names);
        let back = read_text(&[&pattern], Default::default()).unwrap();
        assert_eq!(everywhere(&back), lines, "{ext}");
        // Nothing but the files: the hidden folder is gone.
        let files = files_under(&dir.0.join(ext));
        assert_eq!(
            files,
            (0..3).map(|i| format!("{i}.{ext}")).collect::<Vec<_>>()
        );
    }
    // A folder gets numbered parts; an empty partition an empty file.
    let empty = rask_bag::Bag::<String>::from_sequence(vec![], 1);
    let written = everywhere(&empty.to_textfiles(&dir.glob("parts")).unwrap());
    assert_eq!(written, [dir.glob("parts/0.part")]);
    assert_eq!(std::fs::read(dir.0.join("parts/0.part")).unwrap(), b"");
    // Patterns that cannot name the files.
    for bad in ["a/*/*.txt", "*/x.txt"] {
        let e = b.to_textfiles(&dir.glob(bad)).unwrap_err();
        assert!(
            matches!(e, BagError::Files(FilesError::Pattern { .. })),
            "{e}"
        );
    }
}

#[test]
fn a_failed_write_leaves_no_file_behind() {
    let dir = Scratch::new("write-fail");
    let mut lines: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
    lines[35] = "boom".to_string();
    let b = rask_bag::Bag::from_sequence(lines, 4).map(fail_on_boom);
    let out = b.to_textfiles(&dir.glob("out/*.txt")).unwrap();
    for (name, s) in crate::schedulers() {
        let err = message(out.compute_with(s));
        assert!(err.contains("boom is not written"), "{name}: {err}");
        let left = if dir.0.join("out").exists() {
            files_under(&dir.0.join("out"))
        } else {
            Vec::new()
        };
        assert!(left.is_empty(), "{name}: nothing is left: {left:?}");
    }
}
