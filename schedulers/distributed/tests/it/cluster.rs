//! A LocalCluster computes what the sync oracle computes, survives a killed worker, and
//! names what fails.

use std::sync::Arc;

use rask_distributed::{Client, DistributedError, LocalCluster};
use rask_graph::{
    Arg, ComputeError, Graph, Key, Layer, Scheduler, Task, Value, ops::AddConst, ops::Sum,
};
use rask_local::SyncScheduler;

use crate::{Crash, Fail, Slow};

fn ints(vs: Vec<Value>) -> Vec<i64> {
    vs.iter().map(|v| *v.get::<i64>().unwrap()).collect()
}

fn cluster(n: usize) -> LocalCluster {
    LocalCluster::builder()
        .n_workers(n)
        .threads_per_worker(1)
        .build()
        .unwrap()
}

#[test]
fn workloads_match_the_oracle() {
    rask_testing::within(120, || {
        let cluster = cluster(2);
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        let inc: Arc<dyn rask_graph::Op> = Arc::new(AddConst(1));
        let sum: Arc<dyn rask_graph::Op> = Arc::new(Sum);
        for (g, key) in [
            rask_testing::independent(500, Arc::clone(&inc), Arc::clone(&sum)),
            rask_testing::chain(300, Arc::clone(&inc)),
            rask_testing::tree(257, Arc::clone(&inc), Arc::clone(&sum)),
        ] {
            let keys = [key];
            assert_eq!(
                ints(s.get(&g, &keys, &[]).unwrap()),
                ints(SyncScheduler.get(&g, &keys, &[]).unwrap())
            );
        }
    });
}

#[test]
fn the_summary_names_the_workers() {
    rask_testing::within(60, || {
        let cluster = LocalCluster::builder()
            .n_workers(2)
            .threads_per_worker(2)
            .memory_limit(1 << 30)
            .build()
            .unwrap();
        let client = Client::new(&cluster).unwrap();
        assert_eq!(
            client.to_string(),
            format!(
                "<Client: '{}' processes=2 threads=4, memory=2.00 GiB>",
                cluster.address()
            )
        );
        assert_eq!(
            cluster.to_string(),
            format!(
                "LocalCluster('{}', workers=2, threads=4, memory=2.00 GiB)",
                cluster.address()
            )
        );
        let summary = client.summary().unwrap();
        for needle in [
            "Workers: 2",
            "Total threads: 4  Total memory: 2.00 GiB",
            "Worker: worker-0",
            "Worker: worker-1",
            "Total threads: 2",
            "Memory: 1.00 GiB  Local directory: ",
        ] {
            assert!(summary.contains(needle), "{needle} not in {summary}");
        }
        let mut pids: Vec<u32> = client.workers().unwrap().iter().map(|w| w.pid).collect();
        pids.sort_unstable();
        let mut started = cluster.worker_pids();
        started.sort_unstable();
        assert_eq!(pids, started);
    });
}

#[test]
fn task_errors_and_panics_name_the_task() {
    rask_testing::within(60, || {
        let cluster = cluster(2);
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        for panic in [false, true] {
            let mut l = Layer::new("bad");
            l.insert([0], Task::new(Fail { panic }, []));
            let mut reader = Layer::new("reader");
            reader.insert(
                [0],
                Task::new(AddConst(1), [Arg::Key(Key::new("bad", [0]))]),
            );
            let mut g = Graph::new();
            g.add_layer(l);
            g.add_layer(reader);
            let err = s.get(&g, &[Key::new("reader", [0])], &[]).unwrap_err();
            match (panic, &err) {
                (false, ComputeError::Task { key, op, .. }) => {
                    assert_eq!((key, op.as_str()), (&Key::new("bad", [0]), "fail"));
                    assert!(err.to_string().contains("worker-side error"), "{err}");
                }
                (true, ComputeError::Panic { key, message, .. }) => {
                    assert_eq!(key, &Key::new("bad", [0]));
                    assert_eq!(message, "worker-side panic");
                }
                _ => panic!("{err:?}"),
            }
        }
        // The cluster still works.
        let (g, key) = rask_testing::chain(20, Arc::new(AddConst(1)));
        assert_eq!(ints(s.get(&g, &[key], &[]).unwrap()), [20]);
    });
}

#[test]
fn a_killed_worker_is_survived_and_its_results_recomputed() {
    rask_testing::within(120, || {
        let cluster = cluster(3);
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        // 40 slow leaves summed; one worker is killed while they run.
        let (g, total) = rask_testing::leaves_and_total(
            40,
            |i| Task::new(Slow(50), [Arg::Value(Value::new(i64::from(i)))]),
            Sum,
        );
        let victim = cluster.worker_pids()[0];
        let killer = std::thread::spawn(move || {
            #[allow(clippy::disallowed_methods)] // lets the leaves start
            std::thread::sleep(std::time::Duration::from_millis(300));
            // SAFETY: kill(2) on a child process this test started.
            unsafe { libc_kill(victim as i32, 9) };
        });
        let v = s.get(&g, &[total], &[]).unwrap();
        killer.join().unwrap();
        assert_eq!(ints(v), [(0..40).sum::<i64>()]);
        // The nanny started the killed worker again.
        assert_eq!(
            cluster.wait_for_workers(3, std::time::Duration::from_secs(30)),
            3
        );
        assert!(cluster.restarts() >= 1);
        assert!(!cluster.worker_pids().contains(&victim));
    });
}

#[test]
fn a_task_that_kills_three_workers_is_marked_bad() {
    rask_testing::within(120, || {
        let cluster = cluster(4);
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        let marker = std::env::temp_dir().join(format!("rask-crash-{}", std::process::id()));
        let mut l = Layer::new("job");
        l.insert(
            [0],
            Task::new(
                Crash {
                    marker: marker.display().to_string(),
                    always: true,
                },
                [Arg::Value(Value::new(1i64))],
            ),
        );
        let mut g = Graph::new();
        g.add_layer(l);
        let err = s.get(&g, &[Key::new("job", [0])], &[]).unwrap_err();
        let e = err.downcast_ref::<DistributedError>();
        assert!(
            matches!(e, Some(DistributedError::Scheduler { .. })),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the distributed scheduler failed: task ('job', 0) failed: task ('job', 0) killed 3 workers"
        );
        let _ = std::fs::remove_file(marker);
    });
}

#[test]
fn a_wrong_token_is_refused() {
    rask_testing::within(60, || {
        let cluster = LocalCluster::builder()
            .n_workers(1)
            .token("secret")
            .build()
            .unwrap();
        let e = Client::connect_with(&cluster.address(), Some("guess")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the scheduler refused the connection: wrong or missing token"
        );
        let e = Client::connect(&cluster.address()).unwrap_err();
        assert!(matches!(e, DistributedError::Refused(_)), "{e}");
        let client = Client::new(&cluster).unwrap();
        let (g, key) = rask_testing::chain(5, Arc::new(AddConst(2)));
        assert_eq!(ints(client.scheduler().get(&g, &[key], &[]).unwrap()), [10]);
        // A worker's data port answers only peers with the token: asked for result 0, it
        // says it has none to a peer of the cluster, and hangs up on one without the token.
        let data = client.workers().unwrap()[0].address.clone();
        let ask = |token: &str| -> Vec<u8> {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&data).unwrap();
            // DataHello { protocol, token: Some(token) }, then Get { ids: [0] }, as postcard
            // frames.
            let mut hello = vec![rask_distributed::PROTOCOL as u8, 1, token.len() as u8];
            hello.extend_from_slice(token.as_bytes());
            let mut bytes = (hello.len() as u32).to_le_bytes().to_vec();
            bytes.extend_from_slice(&hello);
            bytes.extend_from_slice(&[3, 0, 0, 0, 0, 1, 0]);
            s.write_all(&bytes).unwrap();
            let mut reply = Vec::new();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut chunk = [0u8; 64];
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
                if reply.len() >= 6 {
                    break;
                }
            }
            reply
        };
        // DataReply::Missing { id: 0 }: a 2-byte frame.
        assert_eq!(ask("secret"), [2, 0, 0, 0, 1, 0]);
        assert_eq!(ask("guess"), Vec::<u8>::new());
    });
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Counts what a computation's callbacks are told.
#[derive(Debug, Default)]
struct Count {
    starts: std::sync::atomic::AtomicUsize,
    finishes: std::sync::atomic::AtomicUsize,
    workers: std::sync::Mutex<std::collections::BTreeSet<String>>,
    done: std::sync::atomic::AtomicUsize,
}

impl rask_graph::Callback for Count {
    fn on_task_start(&self, e: &rask_graph::TaskStart) {
        self.starts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.workers
            .lock()
            .unwrap()
            .insert(e.worker.as_str().to_string());
    }
    fn on_task_finish(&self, e: &rask_graph::TaskFinish) {
        assert!(e.error.is_none());
        assert_eq!(e.nbytes, 8);
        self.finishes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_compute_finish(&self, e: &rask_graph::ComputeFinish) {
        self.done
            .store(e.tasks_done, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn callbacks_hear_what_the_workers_did() {
    let c = rask_testing::within(60, || {
        let cluster = cluster(2);
        let client = Client::new(&cluster).unwrap();
        let (g, key) = rask_testing::independent(200, Arc::new(AddConst(1)), Arc::new(Sum));
        let c = Count::default();
        let v = client.scheduler().get(&g, &[key], &[&c]).unwrap();
        assert_eq!(ints(v), [(1..=200).sum::<i64>()]);
        c
    });
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(c.starts.load(SeqCst), 201);
    assert_eq!(c.finishes.load(SeqCst), 201);
    assert_eq!(c.done.load(SeqCst), 201);
    let workers = c.workers.lock().unwrap().clone();
    assert_eq!(
        workers.into_iter().collect::<Vec<_>>(),
        ["worker-0", "worker-1"]
    );
}

/// `GET path` on `addr` (`http://HOST:PORT`): the status line and the body.
pub(crate) fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let host = addr.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
fn metrics_and_status_describe_the_cluster() {
    rask_testing::within(60, || {
        let cluster = LocalCluster::builder()
            .n_workers(2)
            .threads_per_worker(2)
            .memory_limit(1 << 30)
            .build()
            .unwrap();
        let client = Client::new(&cluster).unwrap();
        let dashboard = cluster.dashboard_address().unwrap();
        assert_eq!(client.dashboard_address().unwrap(), Some(dashboard.clone()));
        assert!(
            client
                .summary()
                .unwrap()
                .contains(&format!("Metrics: {dashboard}/metrics"))
        );
        // Something held: a computation's result, kept by a client that wants it... here the
        // workers hold nothing between computations, so the counts start at zero.
        let (g, key) = rask_testing::tree(64, Arc::new(AddConst(1)), Arc::new(Sum));
        client.scheduler().get(&g, &[key], &[]).unwrap();
        let (status, body) = http_get(&dashboard, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        for needle in [
            "# TYPE rask_scheduler_workers gauge\nrask_scheduler_workers 2\n",
            "rask_scheduler_tasks{state=\"erred\"} 0\n",
            "rask_worker_threads{worker=\"worker-0\"} 2\n",
            "rask_worker_memory_limit_bytes{worker=\"worker-1\"} 1073741824\n",
            "rask_worker_spilled_bytes{worker=\"worker-0\"} 0\n",
            "# TYPE rask_scheduler_transfers_total counter\n",
        ] {
            assert!(body.contains(needle), "{needle} not in\n{body}");
        }
        let (status, body) = http_get(&dashboard, "/api/status");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["address"], cluster.address());
        let workers = j["workers"].as_array().unwrap();
        assert_eq!(workers.len(), 2);
        assert_eq!(workers[0]["name"], "worker-0");
        assert_eq!(workers[1]["nthreads"], 2);
        assert_eq!(j["tasks"]["processing"], 0);
        let (status, _) = http_get(&dashboard, "/nothing-here");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
    });
}

#[test]
fn a_cluster_equals_sync_on_random_dags() {
    let cluster = cluster(2);
    let client = Client::new(&cluster).unwrap();
    rask_testing::random_dags_agree(&SyncScheduler, &client.scheduler(), 24);
}

#[test]
fn a_worker_that_joins_late_steals_queued_work() {
    rask_testing::within(120, || {
        // One worker gets 16 tasks of 250 ms (its thread and its queue); a second joins: it
        // steals from the queue, so the whole takes about half of 16 × 0.25 s.
        let cluster = cluster(1);
        let client = Client::new(&cluster).unwrap();
        let (g, total) = rask_testing::leaves_and_total(
            16,
            |i| Task::new(Slow(250), [Arg::Value(Value::new(i64::from(i)))]),
            Sum,
        );
        let address = cluster.address();
        let late = std::thread::spawn(move || {
            #[allow(clippy::disallowed_methods)] // the first worker has its queue by then
            std::thread::sleep(std::time::Duration::from_millis(200));
            std::process::Command::new(std::env::current_exe().unwrap())
                .env(rask_distributed::WORKER_ENV, address)
                .env("RASK_DISTRIBUTED_NAME", "late")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        });
        let t = std::time::Instant::now();
        let v = client.scheduler().get(&g, &[total], &[]).unwrap();
        let seconds = t.elapsed().as_secs_f64();
        let mut late = late.join().unwrap();
        let _ = late.kill();
        let _ = late.wait();
        assert_eq!(ints(v), [(0..16).sum::<i64>()]);
        assert!(seconds < 3.2, "{seconds} s: nothing was stolen");
    });
}
