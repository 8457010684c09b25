//! RTMPS: TLS towards the client (`--listen-tls`) and towards the upstream
//! (`rtmps://` upstreams), so that pushes to TLS-only ingests can be
//! inspected in clear text. The proxy terminates TLS on each side; what it
//! records and decodes is the RTMP inside.

use std::io;
use std::net::TcpStream as StdTcpStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where the listening side's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsIdentity {
    /// A PEM certificate chain and a PEM private key.
    Files {
        /// The certificate chain (leaf first).
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A self-signed certificate made at start for these names (`localhost`, addresses).
    SelfSigned(Vec<String>),
}

/// A ready TLS listener configuration, with the certificate's fingerprint.
#[derive(Clone)]
pub struct TlsListen {
    pub(crate) acceptor: TlsAcceptor,
    /// SHA-256 of the leaf certificate (DER), as `AB:CD:…`, for the user to compare.
    pub fingerprint: String,
    /// Whether the certificate was made at start.
    pub self_signed: bool,
}

impl std::fmt::Debug for TlsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListen")
            .field("fingerprint", &self.fingerprint)
            .field("self_signed", &self.self_signed)
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read_pem(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl TlsListen {
    /// Loads or makes the certificate and builds the server configuration.
    pub fn new(identity: &TlsIdentity) -> io::Result<TlsListen> {
        let (chain, key, self_signed) = match identity {
            TlsIdentity::Files { cert, key } => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(&read_pem(cert)?)
                        .collect::<Result<_, _>>()
                        .map_err(|e| {
                            bad(format!("{}: not a PEM certificate: {e}", cert.display()))
                        })?;
                if chain.is_empty() {
                    return Err(bad(format!("{}: no certificate in it", cert.display())));
                }
                let k = PrivateKeyDer::from_pem_slice(&read_pem(key)?)
                    .map_err(|e| bad(format!("{}: no usable private key: {e}", key.display())))?;
                (chain, k, false)
            }
            TlsIdentity::SelfSigned(names) => {
                let made = rcgen::generate_simple_self_signed(names.clone())
                    .map_err(|e| bad(format!("cannot make a self-signed certificate: {e}")))?;
                let der = made.cert.der().clone();
                let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
                    .map_err(|e| bad(format!("self-signed key: {e}")))?;
                (vec![der], key, true)
            }
        };
        let fingerprint = chain.first().map(fingerprint).unwrap_or_default();
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| bad(format!("the certificate and key do not go together: {e}")))?;
        Ok(TlsListen {
            acceptor: TlsAcceptor::from(Arc::new(cfg)),
            fingerprint,
            self_signed,
        })
    }
}

/// Connects to `rtmps://` upstreams: the platform's roots, or no checks at all (`insecure`).
#[derive(Clone)]
pub(crate) struct TlsUpstream {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl std::fmt::Debug for TlsUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsUpstream")
            .field("name", &self.name)
            .finish()
    }
}

impl TlsUpstream {
    pub(crate) fn new(host: &str, insecure: bool) -> io::Result<TlsUpstream> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| bad(format!("{host}: not a TLS server name: {e}")))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS: {e}")))?;
        let cfg = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A broken certificate in the system store is skipped, as browsers do.
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(bad(
                    "no trusted root certificates on this system (install ca-certificates, or use --insecure for a test server)".into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(TlsUpstream {
            connector: TlsConnector::from(Arc::new(cfg)),
            name,
        })
    }

    pub(crate) async fn connect(&self, tcp: TcpStream) -> io::Result<Conn> {
        let s = self.connector.connect(self.name.clone(), tcp).await?;
        Ok(Conn::TlsClient(Box::new(s)))
    }
}

/// Accepts any certificate: `--insecure`, for test servers only.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One side of a session: plain TCP, or TLS over it.
pub(crate) enum Conn {
    Plain(TcpStream),
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    /// The TCP socket underneath (for resets and half-closes).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::TlsServer(s) => s.get_ref().0,
            Conn::TlsClient(s) => s.get_ref().0,
        }
    }

    /// A duplicate of the socket's descriptor, for SO_LINGER and shutdown
    /// after the stream itself was split and moved into the forwarding loops.
    pub(crate) fn socket(&self) -> io::Result<StdTcpStream> {
        let s = socket2::SockRef::from(self.tcp()).try_clone()?;
        Ok(s.into())
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::TlsServer(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::TlsClient(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::TlsServer(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::TlsClient(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::TlsServer(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::TlsClient(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::TlsServer(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::TlsClient(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_identity_has_a_sha256_fingerprint() {
        let t = TlsListen::new(&TlsIdentity::SelfSigned(vec!["localhost".into()])).unwrap();
        assert!(t.self_signed);
        assert_eq!(t.fingerprint.len(), 32 * 3 - 1);
        assert!(t.fingerprint.split(':').all(|b| b.len() == 2));
    }

    #[test]
    fn missing_or_wrong_files_are_named_in_the_error() {
        let e = TlsListen::new(&TlsIdentity::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "hello").unwrap();
        let e = TlsListen::new(&TlsIdentity::Files {
            cert: cert.clone(),
            key: cert.clone(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("no certificate"), "{e}");
    }
}
