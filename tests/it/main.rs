//! Integration tests of the `rask` facade: one binary.

mod facade;
#[path = "../../examples/tour/main.rs"]
mod tour;

#[test]
fn tour_runs_small() {
    let dir = std::env::temp_dir().join(format!("rask-tour-{}", std::process::id()));
    let answer = tour::run(true, &dir).unwrap();
    let n = 2_000f64;
    let expected = ((n - 1.0) * n * (2.0 * n - 1.0) / 6.0).sqrt();
    assert!((answer - expected).abs() < 1e-6 * expected);
    for f in ["z.dot", "sum_of_ones.dot"] {
        let dot = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(dot.starts_with("digraph {"), "{f}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
