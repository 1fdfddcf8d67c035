//! TLS between every peer of a cluster (rustls), as Dask's `--tls-ca-file --tls-cert
//! --tls-key`: both ends present a certificate signed by the cluster's CA (mutual TLS), and a
//! peer whose certificate the CA did not sign is refused during the handshake, before any
//! frame is read. As in Dask, the CA is what is checked, not host names: workers are reached
//! at whatever address they report.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::DistributedError;

/// A cluster's TLS: its CA, and this peer's certificate and key (PEM).
///
/// ```no_run
/// let tls = rask_distributed::TlsConfig::from_files("ca.pem", "node.pem", "node-key.pem")?;
/// # let _ = tls;
/// # Ok::<(), rask_distributed::DistributedError>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    pem: Arc<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// From PEM files: the CA's certificate, this peer's certificate (chain) and its key.
    pub fn from_files(
        ca: impl AsRef<Path>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, DistributedError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| DistributedError::Io {
                what: format!("read {}", p.display()),
                source,
            })
        };
        Self::from_pem(
            &read(ca.as_ref())?,
            &read(cert.as_ref())?,
            &read(key.as_ref())?,
        )
    }

    /// From PEM text: the CA's certificate, this peer's certificate (chain) and its key.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Self, DistributedError> {
        let key_pem = key;
        let bad =
            |what: &str, e: &dyn std::fmt::Display| DistributedError::Tls(format!("{what}: {e}"));
        // ring's provider (no post-quantum key exchange: aws-lc-rs, which has it, needs cmake
        // and a long C build on our machines).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca) {
            let c = c.map_err(|e| bad("the CA file", &e))?;
            roots.add(c).map_err(|e| bad("the CA certificate", &e))?;
        }
        if roots.is_empty() {
            return Err(DistributedError::Tls(
                "the CA file holds no certificate".into(),
            ));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .map_err(|e| bad("the certificate file", &e))?;
        if chain.is_empty() {
            return Err(DistributedError::Tls(
                "the certificate file holds no certificate".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("the key file", &e))?;
        let roots = Arc::new(roots);
        let clients =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|e| bad("the CA", &e))?;
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS versions", &e))?
            .with_client_cert_verifier(clients)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad("the certificate and key", &e))?;
        let verifier = Arc::new(SignedByCa {
            roots,
            algorithms: provider.signature_verification_algorithms,
        });
        let client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS versions", &e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("the certificate and key", &e))?;
        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
            pem: Arc::new((ca.to_vec(), cert.to_vec(), key_pem.to_vec())),
        })
    }
}

/// Checks that a server's certificate was signed by the cluster's CA (not its host name).
#[derive(Debug)]
struct SignedByCa {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SignedByCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A connection, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A blocking connection, plain or TLS.
pub(crate) trait SyncIo: io::Read + io::Write + Send {}
impl<T: io::Read + io::Write + Send> SyncIo for T {}

/// The name given to the peer during the handshake (certificates are checked against the
/// CA, not names).
fn peer_name() -> ServerName<'static> {
    ServerName::try_from("rask").unwrap_or_else(|_| unreachable!("a valid DNS name"))
}

/// How long a connection may take to open.
const CONNECT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a data connection may stay silent in the middle of a transfer.
const DATA_SILENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a TLS handshake may take.
const HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// The server side of an accepted connection: TLS when the cluster has it.
pub(crate) async fn accept(stream: TcpStream, tls: Option<&TlsConfig>) -> io::Result<Box<dyn Io>> {
    let _ = stream.set_nodelay(true);
    match tls {
        None => Ok(Box::new(stream)),
        Some(t) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&t.server));
            let s = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
            Ok(Box::new(s))
        }
    }
}

/// A connection to `addr` (TLS when the cluster has it), and its local address.
pub(crate) async fn dial(
    addr: &str,
    tls: Option<&TlsConfig>,
) -> io::Result<(Box<dyn Io>, std::net::SocketAddr)> {
    let stream = tokio::time::timeout(CONNECT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr}")))??;
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr()?;
    match tls {
        None => Ok((Box::new(stream), local)),
        Some(t) => {
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&t.client));
            let s = tokio::time::timeout(HANDSHAKE, connector.connect(peer_name(), stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
            Ok((Box::new(s), local))
        }
    }
}

/// `addr` without its scheme (`tcp://` or `tls://`).
pub(crate) fn host_port(addr: &str) -> &str {
    addr.trim_start_matches("tcp://")
        .trim_start_matches("tls://")
}

/// A blocking connection to `addr`: TLS when the cluster has it.
pub(crate) fn dial_blocking(addr: &str, tls: Option<&TlsConfig>) -> io::Result<Box<dyn SyncIo>> {
    use std::net::ToSocketAddrs;
    let to = (addr.to_socket_addrs()?.next())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address {addr}")))?;
    // A worker cut off answers nothing: a connection or a read that waits is given up.
    let stream = std::net::TcpStream::connect_timeout(&to, CONNECT)?;
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(DATA_SILENCE))?;
    stream.set_write_timeout(Some(DATA_SILENCE))?;
    match tls {
        None => Ok(Box::new(stream)),
        Some(t) => {
            let conn = rustls::ClientConnection::new(Arc::clone(&t.client), peer_name())
                .map_err(io::Error::other)?;
            Ok(Box::new(rustls::StreamOwned::new(conn, stream)))
        }
    }
}

/// The environment variables that hand a cluster's TLS (PEM text) to the workers it starts.
pub(crate) const TLS_ENV: [&str; 3] = [
    "RASK_DISTRIBUTED_TLS_CA",
    "RASK_DISTRIBUTED_TLS_CERT",
    "RASK_DISTRIBUTED_TLS_KEY",
];

impl TlsConfig {
    /// The PEM texts, for a worker started with them in its environment.
    pub(crate) fn env(&self) -> [(&'static str, String); 3] {
        let (ca, cert, key) = &*self.pem;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        [
            (TLS_ENV[0], text(ca)),
            (TLS_ENV[1], text(cert)),
            (TLS_ENV[2], text(key)),
        ]
    }

    /// The TLS handed to this process by the cluster that started it, if any.
    pub(crate) fn from_env() -> Option<Result<Self, DistributedError>> {
        let [ca, cert, key] = TLS_ENV.map(|k| std::env::var(k).ok());
        Some(Self::from_pem(
            ca?.as_bytes(),
            cert?.as_bytes(),
            key?.as_bytes(),
        ))
    }
}
