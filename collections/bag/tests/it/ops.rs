//! Every operation against the same operation on the whole `Vec`.

use proptest::prelude::*;
use rask_bag::{Bag, sonic_rs};
use rask_graph::Collection;
use rask_macros::named;
use sonic_rs::JsonContainerTrait;

use crate::{everywhere, everywhere_here, message, schedulers};

#[named(crate = rask_graph)]
fn double(x: &i64) -> i64 {
    x * 2
}

#[named(crate = rask_graph)]
fn small(x: &i64) -> bool {
    x.abs() < 50
}

#[named(crate = rask_graph)]
fn digits(x: &i64) -> Vec<i64> {
    x.abs()
        .to_string()
        .bytes()
        .map(|b| (b - b'0') as i64)
        .collect()
}

#[named(crate = rask_graph)]
fn add(acc: i64, x: &i64) -> i64 {
    acc + x
}

#[named(crate = rask_graph)]
fn last_digit(x: &i64) -> i64 {
    x.rem_euclid(10)
}

#[named(crate = rask_graph)]
fn with_square(x: &i64) -> (i64, i64) {
    (*x, x * x)
}

#[named(crate = rask_graph)]
fn difference(a: &i64, b: &i64) -> i64 {
    b - a
}

#[named(crate = rask_graph)]
fn is_odd(x: &i64) -> bool {
    x % 2 != 0
}

#[named(crate = rask_graph)]
fn boom(x: &i64) -> i64 {
    if *x == 7 {
        panic!("seven is unlucky")
    }
    *x
}

#[named(crate = rask_graph)]
fn json_len(v: &serde_json::Value) -> u64 {
    v.as_array().map_or(0, |a| a.len() as u64)
}

#[named(crate = rask_graph)]
fn sonic_len(v: &sonic_rs::Value) -> u64 {
    v.as_array().map_or(0, |a| a.len() as u64)
}

#[named(crate = rask_graph)]
fn twice(x: &u64) -> u64 {
    x * 2
}

/// First-seen order of a sequence's distinct items, with counts.
fn frequencies_of<T: Clone + PartialEq>(v: &[T]) -> Vec<(T, u64)> {
    let mut out: Vec<(T, u64)> = Vec::new();
    for x in v {
        match out.iter_mut().find(|(y, _)| y == x) {
            Some((_, n)) => *n += 1,
            None => out.push((x.clone(), 1)),
        }
    }
    out
}

#[named(crate = rask_graph)]
fn sort_part(items: &Vec<i64>) -> Vec<i64> {
    let mut v = items.clone();
    v.sort_unstable();
    v
}

#[named(crate = rask_graph)]
fn part_len(items: &Vec<i64>) -> u64 {
    items.len() as u64
}

#[named(crate = rask_graph)]
fn count_of(p: &(String, u64)) -> u64 {
    p.1
}

#[named(crate = rask_graph)]
fn part_lens(items: &Vec<i64>) -> Vec<u64> {
    vec![items.len() as u64]
}

#[named(crate = rask_graph)]
fn total(counts: &Vec<u64>) -> u64 {
    counts.iter().sum()
}

#[named(crate = rask_graph)]
fn most(counts: &Vec<u64>) -> u64 {
    counts.iter().copied().max().unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn string_methods_match_the_whole_vec(
        items in prop::collection::vec("[aBé \\t\\x0b\\x0c\\r\\x1f]{0,10}", 0..40),
        n in 1usize..5,
    ) {
        let b = Bag::from_sequence(items.clone(), n);
        let s = b.str();
        let words: Vec<String> = items.iter().flat_map(|l| l.split_whitespace().map(str::to_owned)).collect();
        // Split then flattened (the fused path) and split alone agree with str's own.
        prop_assert_eq!(everywhere(&s.split(None).flatten()), words.clone());
        prop_assert_eq!(
            everywhere(&s.split(None)),
            items.iter().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect::<Vec<Vec<String>>>()
        );
        prop_assert_eq!(
            everywhere(&s.split(Some("a")).flatten()),
            items.iter().flat_map(|l| l.split('a').map(str::to_owned)).collect::<Vec<_>>()
        );
        // Counted where the lines are split (one sink, no item per word), as counted apart.
        prop_assert_eq!(everywhere(&s.split(None).flatten().frequencies()), frequencies_of(&words));
        let pieces: Vec<String> = items.iter().flat_map(|l| l.split('a').map(str::to_owned)).collect();
        prop_assert_eq!(everywhere(&s.split(Some("a")).flatten().frequencies()), frequencies_of(&pieces));
        prop_assert_eq!(everywhere(&s.split(None).flatten().frequencies().topk_by(2, count_of)).len(), frequencies_of(&words).len().min(2));
        prop_assert_eq!(everywhere(&s.lower()), items.iter().map(|l| l.to_lowercase()).collect::<Vec<_>>());
        prop_assert_eq!(everywhere(&s.upper()), items.iter().map(|l| l.to_uppercase()).collect::<Vec<_>>());
        prop_assert_eq!(everywhere(&s.strip()), items.iter().map(|l| l.trim().to_owned()).collect::<Vec<_>>());
    }

    #[test]
    fn plucks_match_the_whole_vec(
        items in prop::collection::vec((prop::option::of(-50i64..50), prop::collection::vec(0u8..9, 0..3)), 0..40),
        n in 1usize..5,
    ) {
        use serde_json::Value::Null;
        let docs: Vec<serde_json::Value> = (items.iter())
            .map(|(a, b)| match a {
                Some(a) => serde_json::json!({"a": a, "b": b}),
                None => serde_json::json!({"b": b}),
            })
            .collect();
        let sonic: Vec<sonic_rs::Value> = (docs.iter())
            .map(|v| sonic_rs::from_str(&v.to_string()).unwrap())
            .collect();
        // Members by name (a default where missing), then elements by index, of either type.
        let a: Vec<serde_json::Value> = items.iter().map(|(a, _)| a.map_or(Null, Into::into)).collect();
        let b0: Vec<serde_json::Value> = (items.iter())
            .map(|(_, b)| b.first().map_or(Null, |x| (*x).into()))
            .collect();
        let text = |v: Vec<sonic_rs::Value>| -> Vec<String> {
            v.iter().map(|v| sonic_rs::to_string(v).unwrap()).collect()
        };
        let texts = |v: &[serde_json::Value]| -> Vec<String> { v.iter().map(|v| v.to_string()).collect() };
        let docs = Bag::from_sequence(docs, n);
        let sonic = Bag::from_sequence(sonic, n);
        prop_assert_eq!(everywhere(&docs.pluck_or("a", Null)), a.clone());
        prop_assert_eq!(text(everywhere(&sonic.pluck_or("a", sonic_rs::json!(null)))), texts(&a));
        prop_assert_eq!(everywhere(&docs.pluck("b").pluck_or(0, Null)), b0.clone());
        prop_assert_eq!(text(everywhere(&sonic.pluck("b").pluck_or(0, sonic_rs::json!(null)))), texts(&b0));
    }

    #[test]
    fn pipelines_and_reductions_match_the_whole_vec(
        items in prop::collection::vec(-100i64..100, 0..120),
        n in 1usize..7,
    ) {
        let b = Bag::from_sequence(items.clone(), n);
        prop_assert_eq!(b.npartitions(), n.min(items.len().max(1)));
        // By partition size: full partitions, the last holding the rest.
        let sized = Bag::from_sequence_by_size(items.clone(), n);
        let lens = everywhere(&sized.map_partitions(part_lens));
        let mut want_lens: Vec<u64> = items.chunks(n).map(|c| c.len() as u64).collect();
        if want_lens.is_empty() {
            want_lens.push(0);
        }
        prop_assert_eq!(lens, want_lens);
        prop_assert_eq!(everywhere(&sized), items.clone());
        prop_assert_eq!(everywhere(&sized.sum()), items.iter().sum::<i64>());
        // One pass per partition: map, filter, flat_map, remove.
        let chain = b.map(double).filter(small).flat_map(digits).remove(is_odd);
        let want: Vec<i64> = items.iter().map(|x| x * 2).filter(|x| x.abs() < 50)
            .flat_map(|x| digits(&x)).filter(|x| x % 2 == 0).collect();
        prop_assert_eq!(everywhere(&chain), want.clone());
        prop_assert_eq!(everywhere(&chain.count()), want.len() as u64);
        prop_assert_eq!(everywhere(&b.count()), items.len() as u64);
        prop_assert_eq!(everywhere(&b.sum()), items.iter().sum::<i64>());
        prop_assert_eq!(everywhere(&b.fold(0, add, add)), items.iter().sum::<i64>());
        prop_assert_eq!(everywhere(&b.frequencies()), frequencies_of(&items));
        let mut distinct: Vec<i64> = frequencies_of(&items).into_iter().map(|(x, _)| x).collect();
        prop_assert_eq!(everywhere(&b.distinct()), distinct.clone());
        distinct.sort_unstable_by(|a, b| b.cmp(a));
        let mut sorted = items.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        prop_assert_eq!(everywhere(&b.topk(3)), sorted.iter().take(3).copied().collect::<Vec<_>>());
        sorted.reverse();
        prop_assert_eq!(everywhere(&b.bottomk(2)), sorted.iter().take(2).copied().collect::<Vec<_>>());
        // By key: a stable sort on the key (first seen first among equal keys).
        let mut by_key = items.clone();
        by_key.sort_by_key(|x| std::cmp::Reverse(last_digit(x)));
        prop_assert_eq!(everywhere(&b.topk_by(4, last_digit)), by_key.iter().take(4).copied().collect::<Vec<_>>());
        let firsts: Vec<i64> = { let mut v = items.clone(); v.sort_by_key(last_digit); v };
        prop_assert_eq!(everywhere(&b.bottomk_by(3, last_digit)), firsts.iter().take(3).copied().collect::<Vec<_>>());
        // foldby: sums by last digit, keys in first-seen order.
        let mut by: Vec<(i64, i64)> = Vec::new();
        for x in &items {
            match by.iter_mut().find(|(k, _)| *k == x.rem_euclid(10)) {
                Some((_, s)) => *s += x,
                None => by.push((x.rem_euclid(10), *x)),
            }
        }
        prop_assert_eq!(everywhere(&b.foldby(last_digit, add, 0, add, 0)), by);
        // Whole partitions.
        let parts = everywhere(&b.map_partitions(part_lens));
        prop_assert_eq!(parts.len(), b.npartitions());
        prop_assert_eq!(parts.iter().sum::<u64>(), items.len() as u64);
        let mut each_sorted = everywhere(&b.map_partitions(sort_part));
        let mut all_sorted = items.clone();
        all_sorted.sort_unstable();
        prop_assert!(each_sorted.is_sorted() || b.npartitions() > 1);
        each_sorted.sort_unstable();
        prop_assert_eq!(each_sorted, all_sorted);
        prop_assert_eq!(everywhere(&b.reduction(part_len, total)), items.len() as u64);
        prop_assert_eq!(everywhere(&b.reduction(part_len, most)), parts.iter().copied().max().unwrap_or(0));
        // Repartitioned: the same items in order, in as many partitions as asked.
        for m in [1, 2, n + 3] {
            let r = b.repartition(m);
            prop_assert_eq!(r.npartitions(), m);
            prop_assert_eq!(everywhere(&r), items.clone());
            prop_assert_eq!(everywhere(&r.map(double).sum()), items.iter().map(|x| x * 2).sum::<i64>());
        }
        // Zipped with itself doubled, and every item with every one of a small bag.
        let zipped = b.zip(&b.map(double)).unwrap();
        prop_assert_eq!(everywhere(&zipped), items.iter().map(|x| (*x, x * 2)).collect::<Vec<_>>());
        let small_bag = Bag::from_sequence(vec![1i64, -1], 2);
        let prod = b.product(&small_bag);
        prop_assert_eq!(prod.npartitions(), b.npartitions() * 2);
        let mut want_prod: Vec<(i64, i64)> = Vec::new();
        for part in 0..b.npartitions() {
            let n = b.npartitions();
            let (base, extra) = (items.len() / n, items.len() % n);
            let start = part * base + part.min(extra);
            let len = base + usize::from(part < extra);
            for y in [1i64, -1] {
                want_prod.extend(items[start..start + len].iter().map(|x| (*x, y)));
            }
        }
        prop_assert_eq!(everywhere(&prod), want_prod);
        // About as many distinct items as there are (nearly exact at these counts).
        let approx = everywhere(&b.count_distinct_approx()) as f64;
        let exact = frequencies_of(&items).len() as f64;
        prop_assert!((approx - exact).abs() <= 2.0 + exact * 0.02, "{} vs {}", approx, exact);
        // Trees of any width give the same results.
        for every in [2, 3] {
            let narrow = b.split_every(every);
            prop_assert_eq!(everywhere(&narrow.sum()), items.iter().sum::<i64>());
            prop_assert_eq!(everywhere(&narrow.frequencies()), frequencies_of(&items));
            prop_assert_eq!(everywhere(&narrow.foldby(last_digit, add, 0, add, 0)), everywhere(&b.foldby(last_digit, add, 0, add, 0)));
        }
        // Grouped by a shuffle: every key once, in one partition, its items in bag order.
        let mut want_groups: Vec<(i64, Vec<i64>)> = Vec::new();
        for x in &items {
            match want_groups.iter_mut().find(|(k, _)| *k == last_digit(x)) {
                Some((_, g)) => g.push(*x),
                None => want_groups.push((last_digit(x), vec![*x])),
            }
        }
        want_groups.sort();
        for n_out in [1, 3] {
            let grouped = b.groupby_to(last_digit, n_out);
            prop_assert_eq!(grouped.npartitions(), n_out);
            let mut got = everywhere(&grouped);
            got.sort();
            prop_assert_eq!(&got, &want_groups);
            let mut seen = std::collections::HashSet::new();
            for part in grouped.to_delayed() {
                for (k, _) in everywhere(&part).0 {
                    prop_assert!(seen.insert(k), "key {} in two partitions", k);
                }
            }
        }
        // Through delayed values and back.
        let parts = b.map(double).to_delayed();
        prop_assert_eq!(parts.len(), b.npartitions());
        let back: Vec<i64> = parts.iter().flat_map(|p| everywhere(p).0).collect();
        prop_assert_eq!(&back, &items.iter().map(|x| x * 2).collect::<Vec<_>>());
        prop_assert_eq!(everywhere(&Bag::from_delayed(&parts)), back.clone());
        // As JSON lines, one text per partition, after the pipeline's stages.
        let texts = b.map(double).to_json_lines();
        prop_assert_eq!(texts.len(), b.npartitions());
        let text: String = texts.iter().map(everywhere).collect();
        let want: String = back.iter().map(|x| format!("{x}\n")).collect();
        prop_assert_eq!(text, want);
        // Pairs through starmap.
        let pairs = b.map(with_square).starmap(difference);
        prop_assert_eq!(everywhere(&pairs), items.iter().map(|x| x * x - x).collect::<Vec<_>>());
        if items.is_empty() {
            prop_assert!(message(b.max().compute_with(&rask_local::SyncScheduler)).contains("the bag is empty"));
            prop_assert!(message(b.mean().compute_with(&rask_local::SyncScheduler)).contains("empty"));
        } else {
            prop_assert_eq!(everywhere(&b.max()), *items.iter().max().unwrap());
            prop_assert_eq!(everywhere(&b.min()), *items.iter().min().unwrap());
            let mean = items.iter().sum::<i64>() as f64 / items.len() as f64;
            let var = items.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / items.len() as f64;
            let got = everywhere(&b.mean());
            prop_assert!((got - mean).abs() < 1e-9, "{} vs {}", got, mean);
            let got = everywhere(&b.var());
            prop_assert!((got - var).abs() < 1e-6 * var.max(1.0), "{} vs {}", got, var);
        }
    }
}

#[named(crate = rask_graph)]
fn halve(x: &i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[test]
fn fallible_functions_fail_their_task_with_their_error_everywhere() {
    let evens = Bag::from_sequence(vec![2i64, 4, 6], 2);
    assert_eq!(everywhere(&evens.try_map(halve)), [1, 2, 3]);
    let some_odd = Bag::from_sequence(vec![2i64, 3, 6], 2);
    for (name, s) in schedulers() {
        let err = message(some_odd.try_map(halve).compute_with(s));
        assert!(
            err.contains("3 is odd") && err.contains("halve"),
            "{name}: {err}"
        );
    }
    // A closure too, in this process.
    let err = message(
        some_odd
            .try_map(|x: &i64| if *x < 3 { Ok(*x) } else { Err("too big") })
            .compute_with(&rask_local::SyncScheduler),
    );
    assert!(err.contains("too big"), "{err}");
}

#[test]
fn approximate_distinct_counts_are_within_their_error() {
    // 0.8% relative standard error: 3% is nearly four of them.
    for (n, parts) in [(20_000u64, 3usize), (300_000, 7)] {
        let b = rask_bag::range(n * 3, parts).map(move |x| x % n);
        let got = b
            .count_distinct_approx()
            .compute_with(&rask_local::SyncScheduler)
            .unwrap();
        let err = (got as f64 - n as f64).abs() / n as f64;
        assert!(err < 0.03, "{n}: {got} ({:.2}%)", err * 100.0);
    }
}

#[test]
fn long_and_short_words_are_counted_in_first_seen_order() {
    let long = "x".repeat(30);
    let edge = "z".repeat(16); // one past the packed words (ASCII: the file's words are split by mask)
    let fits = "y".repeat(15);
    let lines = vec![
        format!("{long} a {fits}"),
        format!("{edge} {long} a a\0"),
        format!("b {edge} {fits} {long}"),
    ];
    let want = [
        (long, 3),
        ("a".into(), 2),
        (fits, 2),
        (edge, 2),
        ("a\0".into(), 1),
        ("b".into(), 1),
    ];
    // Items one line at a time, and the words of a file counted from its blocks.
    let b = Bag::from_sequence(lines.clone(), 2);
    assert_eq!(
        everywhere(&b.str().split(None).flatten().frequencies()),
        want
    );
    let dir = crate::Scratch::new("words");
    let path = dir.file("words.txt", lines.join("\n").as_bytes());
    let b = rask_bag::read_text(&[&path], Default::default()).unwrap();
    assert_eq!(
        everywhere(&b.str().split(None).flatten().frequencies()),
        want
    );
}

#[test]
fn a_shuffle_past_its_memory_budget_spills_to_disk_and_cleans_up() {
    let scratch = crate::Scratch::new("spill");
    let spill_dir = scratch.0.join("spill");
    let items: Vec<i64> = (0..20_000).map(|i| (i * 7919) % 10_007).collect();
    let b = Bag::from_sequence(items, 4);
    let shuffle = rask_bag::Shuffle {
        npartitions: Some(3),
        memory_budget: Some(8 * 1024),
        spill_dir: Some(spill_dir.clone()),
    };
    let spilled = b.groupby_with(last_digit, shuffle);
    let mut want = b
        .groupby_to(last_digit, 3)
        .compute_with(&rask_local::SyncScheduler)
        .unwrap();
    want.sort();
    assert!(!spill_dir.exists(), "nothing spilled without a budget");
    for (name, s) in schedulers() {
        let mut got = spilled
            .compute_with(s)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        got.sort();
        assert_eq!(got, want, "{name}");
        assert!(spill_dir.exists(), "{name}: the splits went to disk");
        // Each file is removed once its last bucket is taken, by the process that wrote it
        // (a worker's copy of spilled buckets is a file of its own): none is left.
        let left = || std::fs::read_dir(&spill_dir).unwrap().count();
        rask_testing::eventually(|| left() == 0);
        assert_eq!(left(), 0, "{name}");
    }
}

#[test]
fn reductions_differing_above_their_partitions_get_keys_of_their_own() {
    let b = Bag::from_sequence((1..=20i64).collect(), 4);
    // The same per-partition step, different aggregates or initial values.
    let longest = b.reduction(part_len, most);
    let total = b.reduction(part_len, total);
    assert_ne!(longest.output_keys(), total.output_keys());
    let (l, t) =
        rask_graph::compute_all_with((&longest, &total), &rask_local::SyncScheduler).unwrap();
    assert_eq!((l, t), (5, 20));
    let from0 = b.fold(0, add, add);
    let from10 = b.fold(10, add, add);
    assert_ne!(from0.output_keys(), from10.output_keys());
    assert_eq!(everywhere(&from10), 210 + 40);
    // The tree's width survives later steps.
    let narrow = b.split_every(2).map(double).sum();
    let wide = b.map(double).sum();
    assert!(narrow.graph().len() > wide.graph().len());
    // take reads past an empty first partition.
    let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    let gaps = Bag::from_sequence((1..=20i64).collect(), 4).filter(|x| *x > 5);
    assert_eq!(gaps.take(3).unwrap(), [6, 7, 8]);
}

#[test]
fn zipped_bags_must_match_in_partitions_and_lengths() {
    let a = Bag::from_sequence(vec![1i64, 2, 3, 4], 2);
    let e = a
        .zip(&Bag::from_sequence(vec![1i64, 2, 3, 4], 3))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot zip a bag of 2 partitions with one of 3"
    );
    let uneven = a.zip(&a.filter(small).filter(is_odd)).unwrap();
    let err = message(uneven.compute_with(&rask_local::SyncScheduler));
    assert!(
        err.contains("zipped partitions differ in length: 2 and 1 items"),
        "{err}"
    );
}

#[test]
fn closures_in_reductions_get_keys_of_their_own() {
    let b = Bag::from_sequence(vec![1i64, 2, 3, 4], 2);
    let sum = b.fold(0, |a, x| a + x, |a, x| a + x);
    let product = b.fold(1, |a, x| a * x, |a, x| a * x);
    assert_ne!(sum.output_keys(), product.output_keys());
    assert_eq!(everywhere_here(&sum), 10);
    assert_eq!(everywhere_here(&product), 24);
    let small = b.topk_by(1, |x| -x);
    let large = b.topk_by(1, |x| *x);
    assert_ne!(small.output_keys(), large.output_keys());
    assert_eq!(
        (everywhere_here(&small), everywhere_here(&large)),
        (vec![1], vec![4])
    );
    // Named functions hash by path: the same key twice.
    assert_eq!(
        b.topk_by(1, last_digit).output_keys(),
        b.topk_by(1, last_digit).output_keys()
    );
}

#[test]
fn closures_work_here_and_are_refused_by_processes_naming_the_task() {
    let b = Bag::from_sequence((0..10i64).collect(), 3);
    let c = b.map(|x| x + 1).filter(|x| x % 3 == 0);
    assert_eq!(
        c.compute_with(&rask_local::SyncScheduler).unwrap(),
        [3, 6, 9]
    );
    let [_, (_, threaded), (_, pool)] = schedulers();
    assert_eq!(c.compute_with(threaded).unwrap(), [3, 6, 9]);
    let err = message(c.compute_with(pool));
    assert!(err.contains("closure"), "{err}");
    assert!(err.contains("map"), "names the function's role: {err}");
}

#[test]
fn unregistered_item_types_work_here_and_are_named_when_sent() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Unlisted(i64);
    let b = Bag::from_sequence(vec![Unlisted(1), Unlisted(2)], 2);
    assert_eq!(
        b.compute_with(&rask_local::SyncScheduler).unwrap(),
        [Unlisted(1), Unlisted(2)]
    );
    let [.., (_, pool)] = schedulers();
    let err = message(b.compute_with(pool));
    assert!(err.contains("Unlisted"), "{err}");
}

#[test]
fn a_panicking_function_is_an_error_naming_its_task_everywhere() {
    let b = Bag::from_sequence((0..20i64).collect(), 4).map(boom);
    for (name, s) in schedulers() {
        let err = message(b.compute_with(s));
        assert!(err.contains("seven is unlucky"), "{name}: {err}");
        assert!(
            err.contains("boom"),
            "{name}: the key names the function: {err}"
        );
    }
}

#[test]
fn take_computes_only_the_partitions_it_needs() {
    // Partition 1 would panic: taking from partition 0 alone never runs it.
    let b = Bag::from_sequence((0..20i64).collect(), 4).map(boom);
    let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    assert_eq!(b.take(3).unwrap(), [0, 1, 2]);
    assert_eq!(b.take(5).unwrap(), [0, 1, 2, 3, 4]);
    assert!(message(b.take(9)).contains("seven is unlucky"));
    let all = Bag::from_sequence((0..5i64).collect(), 2);
    assert_eq!(all.take(100).unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn reprs_and_keys() {
    let b = Bag::from_sequence((0..10i64).collect(), 3);
    assert_eq!(b.to_string(), "rask.bag<from_sequence, npartitions=3>");
    let m = b.map(double);
    assert_eq!(m.to_string(), "rask.bag<double, npartitions=3>");
    assert_eq!(
        m.frequencies().to_string(),
        "rask.bag<frequencies, npartitions=1>"
    );
    // The same chain built twice has the same keys; one task per partition for the chain.
    let again = Bag::from_sequence((0..10i64).collect(), 3).map(double);
    assert_eq!(m.output_keys(), again.output_keys());
    let chain = m.filter(small).flat_map(digits);
    assert_eq!(
        chain.graph().len(),
        3,
        "one task per partition for the whole chain"
    );
    assert!(chain.output_keys()[0].to_string().contains("digits"));
    // Bools and JSON.
    let flags = Bag::from_sequence(vec![true, false, true], 2);
    assert!(!everywhere(&flags.all()));
    assert!(everywhere(&flags.any()));
    assert!(everywhere(&Bag::<bool>::from_sequence(vec![], 2).all()));
    let docs = Bag::from_sequence(
        vec![
            serde_json::json!({"a": 1, "b": [1, 2]}),
            serde_json::json!({"a": 2}),
        ],
        2,
    );
    assert_eq!(
        everywhere(&docs.pluck("a")),
        [serde_json::json!(1), serde_json::json!(2)]
    );
    assert_eq!(
        everywhere(&docs.pluck_or("b", serde_json::json!([])).map(json_len)),
        [2, 0]
    );
    let err = message(docs.pluck("b").compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("no member \"b\" in {\"a\":2}"), "{err}");
    // The same with sonic-rs's values, which cross processes as JSON text too.
    let docs = Bag::from_sequence(
        vec![
            sonic_rs::json!({"a": 1, "b": [1, 2]}),
            sonic_rs::json!({"a": 2}),
            sonic_rs::json!([7, {"a": 3}]),
        ],
        2,
    );
    assert_eq!(
        everywhere(&docs.pluck_or("a", sonic_rs::json!(null))),
        [
            sonic_rs::json!(1),
            sonic_rs::json!(2),
            sonic_rs::json!(null)
        ]
    );
    assert_eq!(
        everywhere(&docs.pluck_or("b", sonic_rs::json!([])).map(sonic_len)),
        [2, 0, 0]
    );
    assert_eq!(
        everywhere(
            &docs
                .pluck_or(1, sonic_rs::json!({}))
                .pluck_or("a", sonic_rs::json!(0))
        ),
        [sonic_rs::json!(0), sonic_rs::json!(0), sonic_rs::json!(3)]
    );
    let err = message(docs.pluck("b").compute_with(&rask_local::SyncScheduler));
    assert!(err.contains("no member \"b\" in {\"a\":2}"), "{err}");
    let nested = Bag::from_sequence(
        vec![vec!["a".to_string()], vec![], vec!["b".into(), "c".into()]],
        2,
    );
    assert_eq!(everywhere(&nested.flatten()), ["a", "b", "c"]);
    assert_eq!(everywhere(&rask_bag::range(10, 3).map(twice).sum()), 90);
}
