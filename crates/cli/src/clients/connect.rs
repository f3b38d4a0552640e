//! How a client reaches its server: plain TCP, or TLS (`--tls`), the server's certificate
//! checked against the Mozilla roots, or against one CA given with `--ca`, and its name
//! against the host of `--addr`. A certificate that does not pass is refused with a message
//! that says why.

use anyhow::{bail, Context};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A connection to the server, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Stream = Box<dyn Io>;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct Connect {
    /// Connect with TLS, checking the server's certificate and that it is the host's of
    /// --addr.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: trust only this CA (PEM) for the server's certificate [default: the
    /// Mozilla roots].
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,
}

impl Connect {
    /// Connects to `addr` (`HOST:PORT`), plain or with TLS; also says from which local
    /// address.
    pub async fn connect(&self, addr: &str) -> anyhow::Result<(Stream, std::net::SocketAddr)> {
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let local = tcp.local_addr()?;
        if !self.tls {
            return Ok((Box::new(tcp), local));
        }
        let host = host(addr);
        let name = ServerName::try_from(host.to_owned()).with_context(|| format!("{host} is no host name"))?;
        let connector = TlsConnector::from(self.config()?);
        match connector.connect(name, tcp).await {
            Ok(tls) => Ok((Box::new(tls), local)),
            Err(e) => bail!("TLS with {addr}: {}", why(&e, host)),
        }
    }

    fn config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        server::tls_client_config(self.ca.as_deref())
    }
}

/// The host of `HOST:PORT` (`[::1]:7700` too).
fn host(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Why a handshake failed, in words a person acts on.
fn why(e: &std::io::Error, host: &str) -> String {
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
            format!("the server's certificate is not for {host}")
        }
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "the server's certificate is signed by no CA this client trusts (give it with --ca FILE)".into()
        }
        Some(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => "the server's certificate has expired".into(),
        Some(other) => format!("the server's certificate is refused: {other}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_of_an_address() {
        assert_eq!(super::host("example.org:7700"), "example.org");
        assert_eq!(super::host("127.0.0.1:7700"), "127.0.0.1");
        assert_eq!(super::host("[::1]:7700"), "::1");
    }
}
