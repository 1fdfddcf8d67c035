//! Integration tests of the `rask` facade: one binary.

mod arrays;
mod facade;
mod named;
#[path = "../../examples/tour/main.rs"]
mod tour;

/// A PNG's width and height, read by a PNG decoder.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = png::Decoder::new(file).read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn tour_runs_small() {
    let dir = std::env::temp_dir().join(format!("rask-tour-{}", std::process::id()));
    let answer = tour::run(true, &dir).unwrap();
    assert_eq!(answer, 1.0, "(ones * ones[::-1, ::-1]).mean()");
    for f in [
        "ones.dot",
        "sum_of_ones.dot",
        "fancy_calculation.dot",
        "z.dot",
    ] {
        let dot = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(dot.starts_with("digraph {"), "{f}");
    }
    for f in [
        "ones.png",
        "sum_of_ones.png",
        "fancy_calculation.png",
        "z.png",
        "big_ones_reduce.png",
        "histogram.png",
    ] {
        let (w, h) = png_size(&dir.join(f));
        assert!(w >= 100 && h >= 100, "{f} is {w}x{h}");
    }

    let _ = std::fs::remove_dir_all(dir);
}
