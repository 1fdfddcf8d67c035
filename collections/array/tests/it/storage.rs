//! `.npy` round trips (every element type, odd shapes, other chunkings), the header NumPy
//! writes, errors, a failed write leaving the target alone, and `store` into a sink.

use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::io::{Sink, read_npy_header};
use rask_array::{Array, Element};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-npy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Four ones in two blocks, the second of which fails when computed.
fn failing_array() -> Array<f64> {
    Array::<f64>::ones(&[4], 2usize)
        .unwrap()
        .map_blocks::<f64>("boom", |b, info| {
            if info.index[0] == 1 {
                Err("boom".into())
            } else {
                Ok(b.to_owned())
            }
        })
        .unwrap()
}

fn round_trip<T: Element + std::fmt::Debug>(
    a: &ArrayD<T>,
    write: &[usize],
    read: &[usize],
    path: &std::path::Path,
) {
    let x = Array::from_array(a, write).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let n = x
        .to_npy(path)
        .unwrap()
        .compute_on(&t as &dyn Scheduler, &[])
        .unwrap();
    assert_eq!(n, x.npartitions() as u64);
    let y = Array::<T>::from_npy(path, read).unwrap();
    assert_eq!(y.shape(), a.shape().to_vec());
    assert_eq!(&y.compute_on(&SyncScheduler, &[]).unwrap(), a);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn npy_round_trips(
        shape in proptest::collection::vec(0usize..7, 0..4),
        w in proptest::collection::vec(1usize..4, 3),
        r in proptest::collection::vec(1usize..5, 3),
        case in 0u32..1000,
    ) {
        let d = dir("prop");
        let n = shape.len();
        let len: usize = shape.iter().product();
        let p = d.join(format!("x{case}.npy"));
        let f = ArrayD::from_shape_vec(IxDyn(&shape), (0..len).map(|i| i as f64 * 0.5 - 3.0).collect()).unwrap();
        round_trip(&f, &w[..n], &r[..n], &p);
        let i = f.mapv(|v| (v * 2.0) as i32);
        round_trip(&i, &w[..n], &r[..n], &p);
        let b = f.mapv(|v| v > 0.0);
        round_trip(&b, &w[..n], &r[..n], &p);
        let u = f.mapv(|v| (v + 3.0) as u8);
        round_trip(&u, &w[..n], &r[..n], &p);
    }
}

#[test]
fn headers_are_numpys() {
    let d = dir("header");
    let x = Array::<f64>::ones(&[3, 4], 2usize).unwrap();
    x.to_npy(d.join("h.npy"))
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    let bytes = std::fs::read(d.join("h.npy")).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0, "data aligned to 64 bytes");
    let text = String::from_utf8_lossy(&bytes[10..10 + header_len]).to_string();
    insta::assert_snapshot!(text.trim_end(), @"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }");
    assert_eq!(bytes.len(), 10 + header_len + 12 * 8);
    let h = read_npy_header(&d.join("h.npy")).unwrap();
    assert_eq!(
        (h.descr.as_str(), h.shape.as_slice(), h.fortran_order),
        ("<f8", &[3usize, 4][..], false)
    );
}

#[test]
fn bad_files_are_errors_and_failed_writes_leave_the_target() {
    let d = dir("bad");
    let missing = d.join("missing.npy");
    let e = Array::<f64>::from_npy(&missing, 2usize).unwrap_err();
    // A typed error: what was done, the path, and the io::Error as its source.
    match &e {
        rask_array::ArrayError::Io {
            action,
            path,
            source,
        } => {
            assert_eq!((*action, path.as_path()), ("open", missing.as_path()));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&e).is_some());
    insta::assert_snapshot!(e.to_string().replace(&d.display().to_string(), "DIR"), @"cannot open DIR/missing.npy");
    std::fs::write(d.join("junk.npy"), b"not numpy at all").unwrap();
    let e = Array::<f64>::from_npy(d.join("junk.npy"), 2usize)
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("junk.npy: not an .npy file"), "{e}");
    Array::<i64>::ones(&[4], 2usize)
        .unwrap()
        .to_npy(d.join("i.npy"))
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    let e = Array::<f64>::from_npy(d.join("i.npy"), 2usize)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds <i8, not f64"), "{e}");
    // A file cut short, and a header whose shape overflows: errors when the array is made.
    let bytes = std::fs::read(d.join("i.npy")).unwrap();
    std::fs::write(d.join("short.npy"), &bytes[..bytes.len() - 8]).unwrap();
    let e = Array::<i64>::from_npy(d.join("short.npy"), 2usize)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("short.npy: cut short: its header says shape [4] of <i8"),
        "{e}"
    );
    let dict = b"{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999, 99999999999999999), }\n";
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    huge.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    huge.extend_from_slice(dict);
    huge.extend_from_slice(&[0; 64]);
    std::fs::write(d.join("huge.npy"), &huge).unwrap();
    let e = Array::<i64>::from_npy(d.join("huge.npy"), 2usize)
        .unwrap_err()
        .to_string();
    assert!(e.contains(": cut short"), "{e}");
    // A block that fails: the target keeps its old contents.
    std::fs::write(d.join("keep.npy"), b"old").unwrap();
    let failing = failing_array();
    assert!(
        failing
            .to_npy(d.join("keep.npy"))
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .is_err()
    );
    assert_eq!(std::fs::read(d.join("keep.npy")).unwrap(), b"old");
}

/// A block's index, where it sits, and its sum.
type Seen = (Vec<u32>, Vec<std::ops::Range<usize>>, f64);

struct Collect(Mutex<Vec<Seen>>);

impl Sink<f64> for Collect {
    fn put(
        &self,
        index: &[u32],
        location: &[std::ops::Range<usize>],
        block: ndarray::ArrayViewD<'_, f64>,
    ) -> Result<(), rask_array::KernelError> {
        self.0
            .lock()
            .unwrap()
            .push((index.to_vec(), location.to_vec(), block.sum()));
        Ok(())
    }
}

#[test]
fn store_hands_every_block_to_the_sink() {
    let a = ArrayD::from_shape_fn(IxDyn(&[5, 3]), |ix| (ix[0] * 3 + ix[1]) as f64);
    let x = Array::from_array(&a, [2, 2]).unwrap();
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    let n = x
        .store(Arc::clone(&sink) as Arc<dyn Sink<f64>>)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(n, 6);
    let mut got = sink.0.lock().unwrap().clone();
    got.sort_by(|p, q| p.0.cmp(&q.0));
    assert_eq!(got.len(), 6);
    for (index, loc, sum) in got {
        let want: f64 = a.slice(ndarray::s![loc[0].clone(), loc[1].clone()]).sum();
        assert_eq!(sum, want, "block {index:?}");
    }
}

#[cfg(feature = "zarr")]
fn zarr_round_trip<T: rask_array::io::ZarrElement + std::fmt::Debug>(
    a: &ArrayD<T>,
    chunks: &[usize],
    path: &std::path::Path,
) {
    let x = Array::from_array(a, chunks).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    assert_eq!(
        x.to_zarr(path)
            .unwrap()
            .compute_on(&t as &dyn Scheduler, &[])
            .unwrap(),
        x.npartitions() as u64
    );
    let y = Array::<T>::from_zarr(path, None).unwrap();
    assert_eq!(y.chunks(), x.chunks());
    assert_eq!(&y.compute_on(&SyncScheduler, &[]).unwrap(), a);
    // Read in other blocks: regions across zarr chunks.
    let z = Array::<T>::from_zarr(path, Some(rask_array::ChunkSpec::from(3usize))).unwrap();
    assert_eq!(&z.compute_on(&t as &dyn Scheduler, &[]).unwrap(), a);
    std::fs::remove_dir_all(path).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[cfg(feature = "zarr")]
    #[test]
    fn zarr_round_trips(
        shape in proptest::collection::vec(1usize..7, 1..4),
        c in proptest::collection::vec(1usize..4, 3),
        case in 0u32..100000,
    ) {
        let d = dir("zarr");
        let n = shape.len();
        let len: usize = shape.iter().product();
        let f = ArrayD::from_shape_vec(IxDyn(&shape), (0..len).map(|i| i as f64 * 0.25 - 1.0).collect()).unwrap();
        zarr_round_trip(&f, &c[..n], &d.join(format!("f{case}.zarr")));
        zarr_round_trip(&f.mapv(|v| (v * 4.0) as i64), &c[..n], &d.join(format!("i{case}.zarr")));
        zarr_round_trip(&f.mapv(|v| v > 0.0), &c[..n], &d.join(format!("b{case}.zarr")));
    }
}

#[cfg(feature = "zarr")]
#[test]
fn zarr_errors_and_failed_writes() {
    let d = dir("zarr-bad");
    let e = Array::<f64>::from_zarr(d.join("nothing.zarr"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("nothing.zarr: not a zarr array (no zarr.json)"),
        "{e}"
    );
    let x = Array::<i32>::ones(&[4, 4], 2usize).unwrap();
    x.to_zarr(d.join("i.zarr"))
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    let e = Array::<f64>::from_zarr(d.join("i.zarr"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds int32") && e.ends_with("not f64"), "{e}");
    let e = x.to_zarr(d.join("i.zarr")).unwrap_err().to_string();
    assert!(e.ends_with("i.zarr: already exists"), "{e}");
    let irregular =
        Array::<f64>::ones(&[5], rask_array::ChunkSpec::from(vec![vec![2, 3]])).unwrap();
    insta::assert_snapshot!(irregular.to_zarr(d.join("r.zarr")).unwrap_err().to_string().replace(&d.display().to_string(), "DIR"), @"DIR/r.zarr: zarr needs regular chunks (equal but the last on each axis), got [[2, 3]]: rechunk first");
    // A header whose shape is huge: an error when the array is made, not a graph that never
    // finishes building.
    let h = d.join("h.zarr");
    Array::<f64>::ones(&[4], 2usize)
        .unwrap()
        .to_zarr(&h)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    let header = std::fs::read_to_string(h.join("zarr.json")).unwrap();
    let shape = "\"shape\": [\n    4\n  ]";
    assert!(header.contains(shape), "{header}");
    let with_shape = |s: &str| {
        std::fs::write(h.join("zarr.json"), header.replace(shape, s)).unwrap();
        Array::<f64>::from_zarr(&h, None).unwrap_err().to_string()
    };
    insta::assert_snapshot!(with_shape("\"shape\": [1099511627776]"), @"chunks (2,) cut the shape [1099511627776] into 549755813888 blocks, more than the 67108864 a graph can hold; use bigger chunks");
    // A block that fails: no store appears.
    let failing = failing_array();
    assert!(
        failing
            .to_zarr(d.join("f.zarr"))
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .is_err()
    );
    assert!(!d.join("f.zarr").exists());
}

/// The partial files and stores in `d` (a failed or finished write leaves none).
fn partials(d: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rask-partial"))
        .collect()
}

/// A write of `x` to `target`: `.npy` or zarr, by its extension.
fn write_to(
    x: &Array<f64>,
    target: &std::path::Path,
) -> Result<rask_array::io::Stored, rask_array::ArrayError> {
    match target.extension().and_then(|e| e.to_str()) {
        Some("zarr") => x.to_zarr(target),
        _ => x.to_npy(target),
    }
}

/// A failed write removes its partial output and leaves the target alone; a write into a
/// directory that does not exist is refused, for `.npy` and zarr alike (issue 12, items 21
/// and 23).
#[test]
fn failed_writes_leave_nothing_behind_and_parents_must_exist() {
    let d = dir("leftovers");
    let failing = failing_array();
    let threaded = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let schedulers: [(&dyn Scheduler, &str); 2] = [(&SyncScheduler, "f"), (&threaded, "g")];
    for (s, name) in schedulers {
        for ext in ["npy", "zarr"] {
            let write = write_to(&failing, &d.join(format!("{name}.{ext}"))).unwrap();
            assert!(write.compute_on(s, &[]).is_err(), "{name}.{ext}");
        }
    }
    assert_eq!(partials(&d), Vec::<String>::new());
    assert!(!d.join("f.npy").exists() && !d.join("f.zarr").exists());
    let ones = Array::<f64>::ones(&[4], 2usize).unwrap();
    for target in [d.join("no/such/x.npy"), d.join("no/such/x.zarr")] {
        let err = write_to(&ones, &target).unwrap_err();
        assert!(
            matches!(&err, rask_array::ArrayError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
    }
    assert!(!d.join("no").exists(), "no parent directory was made");
}

/// Writers of one target at once each write their own partial output; the target ends whole,
/// from one of them (issue 12: about half the npy rounds and nearly all zarr rounds ended mixed).
#[test]
fn concurrent_writers_of_one_target_do_not_mix() {
    let d = dir("concurrent");
    let a = Array::<f64>::full(&[64, 64], 8usize, 1.0).unwrap();
    let b = Array::<f64>::full(&[64, 64], 8usize, 2.0).unwrap();
    for round in 0..12 {
        for zarr in [false, true] {
            let target = d.join(if zarr {
                format!("t{round}.zarr")
            } else {
                format!("t{round}.npy")
            });
            let writes: Vec<_> = [&a, &b]
                .iter()
                .map(|x| write_to(x, &target).unwrap())
                .collect();
            std::thread::scope(|s| {
                for w in &writes {
                    s.spawn(|| {
                        let threaded = ThreadedScheduler::builder().num_workers(2).build().unwrap();
                        w.compute_on(&threaded, &[]).unwrap();
                    });
                }
            });
            let back = if zarr {
                Array::<f64>::from_zarr(&target, None).unwrap()
            } else {
                Array::<f64>::from_npy(&target, 16usize).unwrap()
            };
            let got = back.compute_on(&SyncScheduler, &[]).unwrap();
            let first = got[[0, 0]];
            assert!(
                got.iter().all(|v| *v == first) && (first == 1.0 || first == 2.0),
                "round {round} (zarr: {zarr}) mixed the writers"
            );
        }
    }
    assert_eq!(partials(&d), Vec::<String>::new());
}

/// A file shortened by another program while blocks are read gives errors or right answers,
/// never a crash (issue 12, item 22: a memory map turned it into SIGBUS).
#[test]
fn a_file_shortened_while_read_is_an_error_not_a_crash() {
    let d = dir("shrinking");
    let path = d.join("x.npy");
    Array::<f64>::full(&[1 << 20], 1usize << 20, 3.0)
        .unwrap()
        .to_npy(&path)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    let x = Array::<f64>::from_npy(&path, 1usize << 14).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut ok, mut failed) = (0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.set_len(full / 3).unwrap();
                f.set_len(full).unwrap();
            }
        });
        for _ in 0..20 {
            match x
                .sum(rask_array::Reduction::all())
                .unwrap()
                .compute_on(&SyncScheduler, &[])
            {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(e.to_string().contains("x.npy"), "{e}");
                    failed += 1;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(ok + failed, 20);
}

/// The header is parsed as the Python dict it is: keys in any order, either quote, spaces;
/// a missing or repeated key, or a value of the wrong kind, is an error naming the file.
#[test]
fn npy_headers_are_parsed_as_dicts() {
    let d = dir("headers");
    let write = |name: &str, dict: &str| {
        let p = d.join(name);
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut dict = dict.to_string();
        let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
        dict.push_str(&" ".repeat(pad));
        dict.push('\n');
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend((0..6).flat_map(|i| (i as f64).to_le_bytes()));
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let p = write(
        "ok.npy",
        r#"{"shape": (2, 3L), "fortran_order": False, 'descr': "<f8"}"#,
    );
    let h = read_npy_header(&p).unwrap();
    assert_eq!(
        (h.descr.as_str(), h.fortran_order, h.shape.as_slice()),
        ("<f8", false, &[2, 3][..])
    );
    let got = Array::<f64>::from_npy(&p, 2usize)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(got.as_slice().unwrap(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    for (name, dict) in [
        ("missing.npy", "{'descr': '<f8', 'fortran_order': False}"),
        (
            "twice.npy",
            "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (6,)}",
        ),
        (
            "kind.npy",
            "{'descr': '<f8', 'fortran_order': 'no', 'shape': (6,)}",
        ),
        (
            "decoy.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 'shape: (1,)'}",
        ),
        (
            "trailing.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} junk",
        ),
    ] {
        let e = read_npy_header(&write(name, dict)).unwrap_err().to_string();
        assert!(
            e.contains(name) && e.contains("cannot be read"),
            "{name}: {e}"
        );
    }
}
