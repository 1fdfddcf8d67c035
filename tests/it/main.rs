//! Integration tests of the `rask` facade: one binary.

mod facade;
#[path = "../../examples/tour/main.rs"]
mod tour;

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
    for f in ["ones.svg", "sum_of_ones.svg", "fancy_calculation.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(svg.contains("<svg"), "{f}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
