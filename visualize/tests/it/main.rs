//! `visualize`: DOT, SVG and PNG pictures of array and delayed graphs, and the refusals.

use rask_array::{Array, Reduction, s};
use rask_visualize::{VISUALIZE_LIMIT, Visualize, VisualizeError};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-viz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fancy() -> Array<f64> {
    let ones = Array::<f64>::ones(&[4, 8], [4, 4]).unwrap();
    (&ones * &ones.slice(s![..;-1, ..;-1]).unwrap())
        .mean(Reduction::all())
        .unwrap()
}

#[test]
fn dot_of_a_sum() {
    let x = Array::<f64>::ones(&[4, 4], [4, 2]).unwrap();
    let dot = rask_visualize::dot_to_svg(&rask_graph::dot::to_dot(
        x.sum(Reduction::all()).unwrap().graph(),
    ));
    assert!(dot.unwrap().contains("sum-aggregate"));
    insta::assert_snapshot!(rask_graph::dot::to_dot(x.sum(Reduction::all()).unwrap().graph()), @r#"
    digraph {
        rankdir=BT;
        0 [label="full (0, 0)", shape=circle];
        1 [label="(0, 0)", shape=box];
        2 [label="full (0, 1)", shape=circle];
        3 [label="(0, 1)", shape=box];
        4 [label="sum-chunk (0, 0)", shape=circle];
        5 [label="(0, 0)", shape=box];
        6 [label="sum-chunk (0, 1)", shape=circle];
        7 [label="(0, 1)", shape=box];
        8 [label="sum-aggregate", shape=circle];
        9 [label="sum-aggregate", shape=box];
        0 -> 1;
        2 -> 3;
        4 -> 5;
        1 -> 4;
        6 -> 7;
        3 -> 6;
        8 -> 9;
        5 -> 8;
        7 -> 8;
    }
    "#);
}

#[test]
fn svg_and_dot_are_written_side_by_side() {
    let d = dir("svg");
    let path = fancy().visualize(d.join("fancy.svg")).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") || svg.contains("<svg"));
    for label in ["getitem", "mul", "sum-chunk", "mean-aggregate"] {
        assert!(svg.contains(label), "{label} missing from the SVG");
    }
    let dot = std::fs::read_to_string(d.join("fancy.dot")).unwrap();
    assert!(dot.starts_with("digraph"));
}

#[test]
fn png_is_a_real_picture() {
    let d = dir("png");
    let path = fancy().visualize(d.join("fancy.png")).unwrap();
    let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    // Nine ranks of nodes over two columns: taller than wide, and room for the labels.
    assert!(w > 200 && h > 400, "{w}x{h}");
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let dark = pixels
        .chunks(px)
        .filter(|p| p.iter().take(3).all(|c| *c < 100))
        .count();
    let white = pixels
        .chunks(px)
        .filter(|p| p.iter().take(3).all(|c| *c == 255))
        .count();
    // Mostly white paper, with ink: outlines, arrows and text.
    assert!(white > w * h / 2, "{white} white of {}", w * h);
    assert!(dark > 2_000, "only {dark} dark pixels");
}

#[test]
fn refuses_big_graphs_and_unknown_formats() {
    let d = dir("refuse");
    let big = Array::<f64>::ones(&[1000, 1000], 10usize).unwrap();
    assert!(big.graph().len() > VISUALIZE_LIMIT);
    let err = big.visualize(d.join("big.svg")).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"the graph has 10000 tasks, more than 500 can be drawn legibly; use visualize_forced to draw it anyway");
    assert!(!d.join("big.svg").exists());
    let err = fancy().visualize(d.join("fancy.gif")).unwrap_err();
    insta::assert_snapshot!(err.to_string().replace(&d.display().to_string(), "DIR"), @"DIR/fancy.gif must end in .svg or .png");
    let err = fancy().visualize("/nonexistent-dir/fancy.svg").unwrap_err();
    assert!(
        matches!(&err, VisualizeError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    insta::assert_snapshot!(err.to_string(), @"cannot write /nonexistent-dir/fancy.dot");
}

#[test]
fn any_collection_draws_and_a_broken_one_says_why() {
    let d = dir("delayed");
    let x = rask_graph::delayed::value(1i64).map("inc", |x| x + 1);
    let z = x.zip_with(&x, "add", |a, b| a + b);
    let svg = std::fs::read_to_string(z.visualize(d.join("z.svg")).unwrap()).unwrap();
    assert!(svg.contains("inc") && svg.contains("add"));
    // An array that kept an error from building gives that error, not a picture.
    let a = Array::<f64>::ones(&[3], 3usize).unwrap();
    let b = Array::<f64>::ones(&[4], 4usize).unwrap();
    let bad = &a + &b;
    assert!(bad.check().is_err());
    let err = bad.visualize(d.join("bad.svg")).unwrap_err();
    assert!(matches!(err, VisualizeError::Collection(_)), "{err:?}");
    assert!(!d.join("bad.svg").exists());
}

#[test]
fn dot_that_does_not_parse_is_a_layout_error() {
    let err = rask_visualize::dot_to_svg("digraph { a -> ").unwrap_err();
    assert!(matches!(err, VisualizeError::Layout { .. }), "{err:?}");
    insta::assert_snapshot!(err.to_string(), @"cannot lay out the graph: cannot parse the DOT: port");
}
