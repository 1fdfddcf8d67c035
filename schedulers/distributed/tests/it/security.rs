//! Refusals before anything is read: TLS with the cluster's CA (mutual), another protocol
//! version. (Tokens: `cluster::a_wrong_token_is_refused`.)

use std::io::{Read, Write};
use std::sync::Arc;

use rask_distributed::{Client, DistributedError, LocalCluster, TlsConfig};
use rask_graph::{Scheduler, ops::AddConst};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

/// A CA, and one certificate and key it signed: (ca, cert, key) as PEM.
fn pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut node = CertificateParams::new(vec!["rask-node".to_string()]).unwrap();
    node.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = node.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn tls((ca, cert, key): &(String, String, String)) -> TlsConfig {
    TlsConfig::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap()
}

#[test]
fn a_tls_cluster_computes_and_refuses_plain_tcp_and_strangers() {
    rask_testing::within(120, || {
        let ours = pki();
        let cluster = LocalCluster::builder()
            .n_workers(2)
            .tls(tls(&ours))
            .build()
            .unwrap();
        assert!(
            cluster.address().starts_with("tls://"),
            "{}",
            cluster.address()
        );
        let client = Client::new(&cluster).unwrap();
        let (g, key) = rask_testing::chain(50, Arc::new(AddConst(1)));
        let v = client.scheduler().get(&g, &[key], &[]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), 50);
        // Plain TCP to the TLS scheduler: the handshake fails; nothing is read.
        let e = Client::connect(&cluster.address()).unwrap_err();
        assert!(
            matches!(
                e,
                DistributedError::Refused(_) | DistributedError::Io { .. }
            ),
            "{e}"
        );
        // A certificate of another CA: refused during the TLS handshake.
        let theirs = pki();
        let e = Client::connect_tls(&cluster.address(), None, Some(&tls(&theirs))).unwrap_err();
        assert!(
            matches!(
                e,
                DistributedError::Refused(_) | DistributedError::Io { .. }
            ),
            "{e}"
        );
        // A worker's data port too: plain TCP gets nothing.
        let data = client.workers().unwrap()[0].address.clone();
        let mut s = std::net::TcpStream::connect(&data).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let _ = s.write_all(&[3, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 1, 0]);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        // Whatever came back is a TLS alert, never a frame of ours (a 2-byte `Missing`).
        assert_ne!(reply, [2, 0, 0, 0, 1, 0]);
    });
}

#[test]
fn bad_pem_is_a_clear_error() {
    let e = TlsConfig::from_pem(b"not a pem", b"", b"").unwrap_err();
    assert_eq!(e.to_string(), "TLS: the CA file holds no certificate");
    let (ca, cert, _) = pki();
    let e = TlsConfig::from_pem(ca.as_bytes(), cert.as_bytes(), b"nope").unwrap_err();
    assert!(e.to_string().starts_with("TLS: the key file"), "{e}");
    let e = TlsConfig::from_files("/nonexistent/ca.pem", "c", "k").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("could not read /nonexistent/ca.pem"),
        "{e}"
    );
}

#[test]
fn another_protocol_version_is_refused_before_anything_is_read() {
    rask_testing::within(60, || {
        let cluster = LocalCluster::builder().n_workers(1).build().unwrap();
        let addr = cluster.address().trim_start_matches("tcp://").to_string();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        // Hello { protocol: 999, token: None, peer: Client { name: "x" } } as postcard.
        let hello = [0xe7, 0x07, 0, 1, 1, b'x'];
        let mut frame = (hello.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&hello);
        s.write_all(&frame).unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.contains("protocol 999 is not this scheduler's"),
            "{text}"
        );
    });
}

#[test]
fn a_worker_with_another_version_of_an_op_is_not_given_it() {
    rask_testing::within(60, || {
        // The only worker has every op at version 9.9.9: a task of this build's ops (their
        // crate's version) has no worker, and says which op and version it needs.
        let cluster = LocalCluster::builder()
            .n_workers(1)
            .worker_env(rask_distributed::FAKE_OP_VERSION_ENV, "9.9.9")
            .build()
            .unwrap();
        let client = Client::new(&cluster).unwrap();
        let (g, key) = rask_testing::chain(3, Arc::new(AddConst(1)));
        let e = client.scheduler().get(&g, &[key], &[]).unwrap_err();
        let name = rask_graph::registry::op_type_name(&AddConst(1)).unwrap();
        let version = rask_graph::registry::op_version(name).unwrap();
        assert_eq!(
            version,
            env!("CARGO_PKG_VERSION"),
            "the workspace's version"
        );
        let want = format!("none of them has op `{name}@{version}`");
        assert!(e.to_string().contains(&want), "{e}");
    });
}
