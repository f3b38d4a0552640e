//! TLS on the front doors (rustls, with ring): the server's certificate chain and key, from
//! PEM files or made self-signed for the host names given and kept in the data folder, and
//! reloaded on SIGHUP: new connections get the new certificate, open ones keep theirs.
//!
//! The handshake happens before a connection reaches its door: one that fails, sends
//! garbage, or takes longer than [`HANDSHAKE_TIMEOUT`] is closed, logged at debug and counted
//! (`tls_handshake_failures`), and the hub never hears of it. Once it is done, the connection
//! is a [`Transport::Tls`](crate::net::transport::Transport), driven like a plain one.

use crate::metrics::DoorMetrics;
use crate::Config;
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// How long a TLS client has to finish its handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate comes from.
enum Source {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Made for these names, kept in this folder, and reused while the names are the same.
    SelfSigned {
        names: Vec<String>,
        dir: PathBuf,
    },
}

/// The server's TLS configuration, as loaded last.
pub(crate) struct Tls {
    source: Source,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// The TLS configuration `config` asks for: `tls_cert` and `tls_key`, or `tls_self_signed`
    /// (not both); `None` if neither.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Tls>> {
        let source = match (&config.tls_cert, &config.tls_key, config.tls_self_signed.is_empty()) {
            (None, None, true) => return Ok(None),
            (Some(cert), Some(key), true) => Source::Files { cert: cert.clone(), key: key.clone() },
            (None, None, false) => {
                Source::SelfSigned { names: config.tls_self_signed.clone(), dir: config.data_dir.join("tls") }
            }
            (Some(_), None, _) | (None, Some(_), _) => anyhow::bail!("TLS needs both tls_cert and tls_key"),
            (Some(_), Some(_), false) => anyhow::bail!("give tls_cert and tls_key, or tls_self_signed, not both"),
        };
        let current = RwLock::new(Arc::new(source.load()?));
        Ok(Some(Tls { source, current }))
    }

    /// Loads the certificate and key again (SIGHUP). On failure the one in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(self.source.load()?);
        *self.current.write().expect("tls lock") = fresh;
        Ok(())
    }

    /// Takes a new connection through the handshake, with the certificate in use now. A
    /// failure is logged at debug and counted, and the connection dropped.
    pub async fn handshake(&self, tcp: TcpStream, metrics: &DoorMetrics) -> Option<(TcpStream, ServerConnection)> {
        let acceptor = TlsAcceptor::from(self.current.read().expect("tls lock").clone());
        let peer = tcp.peer_addr().ok();
        let failure = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => return Some(stream.into_inner()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        metrics.tls_handshake_failures.inc();
        tracing::debug!(?peer, %failure, "TLS handshake failed");
        None
    }
}

impl Source {
    fn load(&self) -> anyhow::Result<ServerConfig> {
        let (chain, key) = match self {
            Source::Files { cert, key } => (read_chain(cert)?, read_key(key)?),
            Source::SelfSigned { names, dir } => self_signed(names, dir)?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the TLS certificate and key do not go together")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading the TLS certificate {}", path.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", path.display());
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).with_context(|| format!("reading the TLS key {}", path.display()))
}

/// A self-signed certificate for `names`, made once and kept in `dir` (the key readable by
/// its owner only); made anew if the names change.
fn self_signed(names: &[String], dir: &Path) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let (cert, key, kept) = (dir.join("self-signed.crt"), dir.join("self-signed.key"), dir.join("self-signed.names"));
    let wanted = names.join("\n");
    if std::fs::read_to_string(&kept).ok().as_deref() != Some(wanted.as_str()) || !cert.exists() || !key.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let made = rcgen::generate_simple_self_signed(names.to_vec()).context("making a self-signed certificate")?;
        write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&cert, made.cert.pem()).with_context(|| format!("writing {}", cert.display()))?;
        std::fs::write(&kept, wanted).with_context(|| format!("writing {}", kept.display()))?;
        tracing::info!(names = ?names, cert = %cert.display(), "made a self-signed TLS certificate");
    }
    Ok((read_chain(&cert)?, read_key(&key)?))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// How the server's clients (NL Chat's XMPP session) and `switchboard`'s check a server's
/// certificate: against the CA in `ca` (PEM) alone, or the Mozilla roots.
pub fn client_config(ca: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let cas = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .with_context(|| format!("reading the CA {}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(cas);
            anyhow::ensure!(added > 0, "no CA certificate in {}", path.display());
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
