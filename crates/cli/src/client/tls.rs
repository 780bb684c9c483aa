//! Client-side TLS for `tcp://` daemons (rustls with the ring provider): `--tlsverify` checks the
//! daemon's certificate against `--tlscacert`; `--tlscert`/`--tlskey` present a client
//! certificate (mutual TLS); `--tls` alone encrypts without verifying, as Docker's `--tls` does.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::ClientError;

/// TLS settings from the global flags.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Verify the daemon's certificate (`--tlsverify`).
    pub verify: bool,
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl Tls {
    pub(crate) fn new(opts: &TlsOptions, host: &str) -> Result<Tls, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::TlsConfig(format!("TLS setup failed: {e}")))?;
        let builder = if opts.verify {
            let ca = opts.ca_cert.as_deref().ok_or_else(|| {
                ClientError::TlsConfig("--tlsverify needs a CA certificate (--tlscacert)".into())
            })?;
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "CA certificate")? {
                roots.add(cert).map_err(|e| {
                    ClientError::TlsConfig(format!(
                        "failed to append certificates from PEM file: \"{}\": {e}",
                        ca.display()
                    ))
                })?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        };
        let config = match (&opts.cert, &opts.key) {
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert, "certificate")?;
                let key = read_key(key)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    ClientError::TlsConfig(format!("could not load X509 key pair: {e}"))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(ClientError::TlsConfig(
                    "--tlscert and --tlskey must be given together".into(),
                ))
            }
        };
        let server_name = ServerName::try_from(host.to_string()).map_err(|e| {
            ClientError::TlsConfig(format!("invalid TLS server name {host:?}: {e}"))
        })?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    pub(crate) async fn connect(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let file = File::open(path).map_err(|e| {
        ClientError::TlsConfig(format!("could not read {what} \"{}\": {e}", path.display()))
    })?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            ClientError::TlsConfig(format!("could not read {what} \"{}\": {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(ClientError::TlsConfig(format!(
            "failed to append certificates from PEM file: \"{}\"",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ClientError> {
    let file = File::open(path).map_err(|e| {
        ClientError::TlsConfig(format!("could not read key \"{}\": {e}", path.display()))
    })?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| {
            ClientError::TlsConfig(format!("could not read key \"{}\": {e}", path.display()))
        })?
        .ok_or_else(|| {
            ClientError::TlsConfig(format!("no private key found in \"{}\"", path.display()))
        })
}

/// `--tls` without `--tlsverify`: encrypt, accept any server certificate (signatures on the
/// handshake are still checked).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
