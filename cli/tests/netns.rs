//! Two "hosts" on this machine: network namespaces joined by a bridge (as root, with `ip
//! netns`; skipped with a message where the machine refuses). The stock `rask scheduler` runs
//! in one namespace, two workers (this test binary, which has rask-testing's `Slow` op) in two others,
//! and the client in the scheduler's. One worker is then cut off (its link taken down): it is
//! declared dead within the scheduler's TTL and its work is redone on the other. Traffic stays
//! inside those namespaces.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rask::distributed::Client;
use rask::graph::{Arg, Scheduler, Task, Value, ops::Sum};
use rask_testing::ops::Slow;

/// Runs `ip ARGS`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The namespaces, the bridge and the processes in them; all removed when dropped.
struct Hosts {
    names: Vec<String>,
    procs: Vec<Child>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for n in &self.names {
            ip(&["netns", "del", n]);
        }
    }
}

/// A switch namespace with a bridge, and `hosts` namespaces each linked to it by a veth
/// pair, with addresses `{net}.{i+1}/24`. `None` when the machine refuses.
fn make_hosts(tag: &str, net: &str, hosts: usize) -> Option<Hosts> {
    let sw = format!("rask-sw-{tag}");
    let mut h = Hosts {
        names: vec![sw.clone()],
        procs: Vec::new(),
    };
    if !ip(&["netns", "add", &sw]) {
        return None;
    }
    let ok = ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])
        && ip(&["-n", &sw, "link", "set", "br0", "up"])
        && ip(&["-n", &sw, "link", "set", "lo", "up"]);
    if !ok {
        return None;
    }
    for i in 0..hosts {
        let ns = format!("rask-h{i}-{tag}");
        if !ip(&["netns", "add", &ns]) {
            return None;
        }
        h.names.push(ns.clone());
        let (a, b) = (format!("vh{i}"), format!("vs{i}"));
        let addr = format!("{net}.{}/24", i + 1);
        let ok = ip(&[
            "-n", &ns, "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &sw,
        ]) && ip(&["-n", &sw, "link", "set", &b, "master", "br0"])
            && ip(&["-n", &sw, "link", "set", &b, "up"])
            && ip(&["-n", &ns, "addr", "add", &addr, "dev", &a])
            && ip(&["-n", &ns, "link", "set", &a, "up"])
            && ip(&["-n", &ns, "link", "set", "lo", "up"]);
        if !ok {
            return None;
        }
    }
    Some(h)
}

/// Runs `f` on a thread inside network namespace `ns` (threads it starts stay there too).
fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns(2) on an open namespace file; it changes this thread's network
        // namespace only.
        let rc = unsafe { setns(file.as_raw_fd(), 0x4000_0000) };
        assert_eq!(rc, 0, "setns {path}");
        f()
    })
    .join()
    .unwrap()
}

unsafe extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

#[test]
fn a_worker_cut_off_is_declared_dead_within_the_ttl_and_its_work_redone() {
    let pid = std::process::id();
    let tag = format!("{pid}");
    let net = format!("10.{}.{}", 100 + pid % 100, (pid / 100) % 250);
    let Some(mut hosts) = make_hosts(&tag, &net, 3) else {
        eprintln!("skipped: this machine refuses network namespaces (needs root and `ip netns`)");
        return;
    };
    let (s_ns, w0_ns, w1_ns) = (
        hosts.names[1].clone(),
        hosts.names[2].clone(),
        hosts.names[3].clone(),
    );
    let sched = format!("{net}.1:8786");
    hosts.procs.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &s_ns,
                env!("CARGO_BIN_EXE_rask"),
                "scheduler",
            ])
            .args([
                "--host",
                &format!("{net}.1"),
                "--port",
                "8786",
                "--dashboard-port",
                "8787",
            ])
            .args(["--worker-ttl", "3"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let me = std::env::current_exe().unwrap();
    for (ns, name) in [(&w0_ns, "w0"), (&w1_ns, "w1")] {
        hosts.procs.push(
            Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(&me)
                .env(rask::distributed::WORKER_ENV, &sched)
                .env("RASK_DISTRIBUTED_NAME", name)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let cut = w1_ns.clone();
    let (value, seconds, metrics) = in_namespace(&s_ns, move || {
        // The scheduler may take a moment to listen.
        let start = Instant::now();
        let client = loop {
            match Client::connect(&sched) {
                Ok(c) => break c,
                Err(e) if start.elapsed() > Duration::from_secs(30) => panic!("{e}"),
                Err(_) => std::thread::yield_now(),
            }
        };
        let workers = client.wait_for_workers(2, Duration::from_secs(60)).unwrap();
        let mut names: Vec<String> = workers.iter().map(|w| w.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["w0", "w1"]);
        // 20 leaves of 400 ms on 2 workers, summed; w1 is cut off while they run.
        let (g, total) = rask_testing::leaves_and_total(
            20,
            |i| Task::new(Slow(400), [Arg::Value(Value::new(i64::from(i)))]),
            Sum,
        );
        let cutter = std::thread::spawn(move || {
            #[allow(clippy::disallowed_methods)] // lets the leaves start
            std::thread::sleep(Duration::from_millis(600));
            assert!(ip(&["-n", &cut, "link", "set", "vh2", "down"]), "link down");
        });
        let t = Instant::now();
        let v = client.scheduler().get(&g, &[total], &[]).unwrap();
        let seconds = t.elapsed().as_secs_f64();
        cutter.join().unwrap();
        // The scheduler's own view: one worker left.
        let mut body = String::new();
        {
            use std::io::{Read, Write};
            let host = format!("{}:8787", sched.rsplit_once(':').unwrap().0);
            let mut s = std::net::TcpStream::connect(&host).unwrap();
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            s.read_to_string(&mut body).unwrap();
        }
        (*v[0].get::<i64>().unwrap(), seconds, body)
    });
    assert_eq!(value, (0..20).sum::<i64>());
    // w1 was declared dead within the 3 s TTL (plus a tick), and its leaves redone on w0:
    // 20 × 0.4 s on one worker at worst, plus the TTL.
    assert!(seconds < 8.0 + 3.0 + 2.0, "{seconds} s");
    assert!(metrics.contains("rask_scheduler_workers 1\n"), "{metrics}");
}
