//! A bag's groupby on the distributed scheduler: a real scheduler and worker processes, each
//! bucket moving from the worker that split it to the one that groups it — in memory, and
//! spilled to disk under a budget of 0.

use rask_bag::{Bag, Shuffle};
use rask_distributed::{Client, LocalCluster};
use rask_graph::Collection;
use rask_macros::named;

#[named(crate = rask_graph)]
fn residue(x: &i64) -> i64 {
    x.rem_euclid(97)
}

#[test]
fn groupby_moves_buckets_between_workers_in_memory_and_spilled() {
    rask_testing::within(240, || {
        // Enough items per partition for a split to check its budget (every 1,024 items).
        let items: Vec<i64> = (0..20_000).map(|i| (i * 7919) % 10_007 - 5_000).collect();
        // The groups of the whole `Vec`, each in the items' order.
        let mut want: Vec<(i64, Vec<i64>)> = Vec::new();
        for x in &items {
            match want.iter_mut().find(|(k, _)| *k == residue(x)) {
                Some((_, g)) => g.push(*x),
                None => want.push((residue(x), vec![*x])),
            }
        }
        want.sort();
        let cluster = LocalCluster::builder()
            .n_workers(2)
            .threads_per_worker(2)
            .build()
            .unwrap();
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        let b = Bag::from_sequence(items, 6);
        for budget in [None, Some(0u64)] {
            let scratch = crate::Scratch::new("cluster-spill");
            let spill_dir = scratch.0.join("spill");
            let shuffle = Shuffle {
                npartitions: Some(3),
                memory_budget: budget,
                spill_dir: Some(spill_dir.clone()),
            };
            let mut got = b
                .groupby_with(residue, shuffle)
                .compute_with(&s)
                .unwrap_or_else(|e| panic!("{budget:?}: {e}"));
            for (_, g) in &mut got {
                g.sort();
            }
            got.sort();
            let mut want = want.clone();
            for (_, g) in &mut want {
                g.sort();
            }
            assert_eq!(got, want, "{budget:?}");
            // Spilled under the budget of 0, and every spill file gone once read.
            assert_eq!(spill_dir.exists(), budget.is_some(), "{budget:?}");
            if spill_dir.exists() {
                let left = || std::fs::read_dir(&spill_dir).unwrap().count();
                rask_testing::eventually(|| left() == 0);
                assert_eq!(left(), 0, "{budget:?}");
            }
        }
    })
}
