//! Shuffles on the distributed scheduler: a real scheduler and worker processes, the
//! buckets moving worker to worker — in memory, and spilled to disk under a budget of 0.

use polars::prelude::*;
use rask_dataframe::{DataFrame, How, Merge};
use rask_distributed::{Client, LocalCluster};
use rask_graph::Collection;

use crate::{column_names, merge_sides, sorted};

fn sorted_all(df: polars::prelude::DataFrame) -> polars::prelude::DataFrame {
    let names = column_names(&df);
    sorted(df, &names)
}

#[test]
fn shuffles_move_buckets_between_workers_in_memory_and_spilled() {
    rask_testing::within(240, || {
        for budget in [None, Some(0u64)] {
            let spill = std::env::temp_dir().join(format!(
                "rask-dataframe-cluster-{}-{}",
                std::process::id(),
                budget.is_some()
            ));
            let _ = std::fs::remove_dir_all(&spill);
            std::fs::create_dir_all(&spill).unwrap();
            let mut builder = LocalCluster::builder()
                .n_workers(2)
                .threads_per_worker(2)
                .worker_env("RASK_SPILL_DIR", spill.to_string_lossy());
            if let Some(b) = budget {
                builder = builder.worker_env("RASK_SHUFFLE_MEMORY_BUDGET", b.to_string());
            }
            let cluster = builder.build().unwrap();
            let client = Client::new(&cluster).unwrap();
            let s = client.scheduler();
            let (left, right) = merge_sides(400, 150);
            let (l, r) = (
                DataFrame::from_polars(left.clone(), 6),
                DataFrame::from_polars(right.clone(), 4),
            );

            // A hash-shuffled merge on two keys.
            let merged = l
                .merge(
                    &r,
                    Merge::left_right(How::Left, ["id", "k"], ["rid", "k"])
                        .broadcast(false)
                        .npartitions(5),
                )
                .unwrap();
            let args = JoinArgs::new(JoinType::Left).with_coalesce(JoinCoalesce::CoalesceColumns);
            let want = (left.clone().lazy())
                .join(
                    right.clone().lazy(),
                    [col("id"), col("k")],
                    [col("rid"), col("k")],
                    args,
                )
                .collect()
                .unwrap();
            let got = merged.compute_with(&s).unwrap();
            assert!(
                sorted_all(got).equals_missing(&sorted_all(want)),
                "{budget:?}"
            );

            // A grouping shuffled into 3 outputs.
            let aggs = [col("v").sum(), col("v").count().alias("n")];
            let grouped = l
                .groupby(["id"])
                .unwrap()
                .split_out(3)
                .agg(aggs.clone())
                .unwrap();
            let want = (left.clone().lazy())
                .group_by([col("id")])
                .agg(aggs)
                .collect()
                .unwrap();
            let got = grouped.compute_with(&s).unwrap();
            assert!(
                sorted_all(got).equals_missing(&sorted_all(want)),
                "{budget:?}"
            );

            // A sort by ranges: row for row.
            let order = SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true);
            let want = left.clone().lazy().sort(["id"], order).collect().unwrap();
            let got = l
                .sort_values("id", false)
                .unwrap()
                .compute_with(&s)
                .unwrap();
            assert!(
                got.equals_missing(&want),
                "{budget:?}:\n{got}\nwanted\n{want}"
            );

            // Every spill file goes with its last reader's release.
            let left_over = || std::fs::read_dir(&spill).unwrap().count();
            assert!(
                rask_testing::eventually(|| left_over() == 0),
                "{} files left",
                left_over()
            );
            drop(client);
            drop(cluster);
            let _ = std::fs::remove_dir_all(&spill);
        }
    });
}
