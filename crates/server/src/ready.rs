//! What `switchboard serve` says on stdout once it listens, and how a script, a test or the
//! bench reads it back: one `listening NAME ADDR` line per listener (`chatos`, `chatos-tls`,
//! …, `metrics`), then `ready`. Handy when the hub was asked for port 0.

use crate::Running;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use tokio::io::AsyncBufRead;

impl Running {
    /// Writes the readiness lines to `out`. Errors are ignored: whoever started the hub may
    /// have closed its stdout, which must not stop it.
    pub fn announce(&self, out: &mut impl Write) {
        for listening in &self.listening {
            let _ = writeln!(out, "listening {listening}");
        }
        let _ = writeln!(out, "listening metrics {}", self.metrics_addr);
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
}

/// Where a hub listens, as its readiness lines said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses(BTreeMap<String, SocketAddr>);

impl Addresses {
    /// Reads readiness lines up to `ready`; `None` if the hub's output ended first (it
    /// stopped: its error is on its stderr).
    pub async fn read<R: AsyncBufRead + Unpin>(lines: &mut tokio::io::Lines<R>) -> std::io::Result<Option<Addresses>> {
        let mut addrs = Addresses::default();
        while let Some(line) = lines.next_line().await? {
            if line == "ready" {
                return Ok(Some(addrs));
            }
            let listening = line.strip_prefix("listening ").and_then(|rest| rest.split_once(' '));
            if let Some((name, addr)) = listening.and_then(|(name, addr)| Some((name, addr.parse().ok()?))) {
                addrs.0.insert(name.to_owned(), addr);
            }
        }
        Ok(None)
    }

    /// Where the listener `name` (`chatos`, `chatos-tls`, `metrics`) is, if it is.
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.0.get(name).copied()
    }

    /// Where the listener `name` is; panics if it is not (for tests and the bench, which
    /// asked for it).
    pub fn of(&self, name: &str) -> SocketAddr {
        self.get(name).unwrap_or_else(|| panic!("the hub said nothing of its {name} listener: {self:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    #[tokio::test]
    async fn lines_up_to_ready_are_read_back() {
        let text = "listening chatos 127.0.0.1:7700\nlistening chatos-tls 127.0.0.1:7710\nnoise\n\
                    listening metrics 127.0.0.1:7790\nready\nlistening late 127.0.0.1:1\n";
        let mut lines = tokio::io::BufReader::new(text.as_bytes()).lines();
        let addrs = Addresses::read(&mut lines).await.unwrap().unwrap();
        assert_eq!(addrs.get("chatos"), Some("127.0.0.1:7700".parse().unwrap()));
        assert_eq!(addrs.of("chatos-tls"), "127.0.0.1:7710".parse().unwrap());
        assert_eq!(addrs.get("metrics"), Some("127.0.0.1:7790".parse().unwrap()));
        assert_eq!(addrs.get("late"), None, "nothing after ready");
        let mut cut = tokio::io::BufReader::new("listening chatos 127.0.0.1:1\n".as_bytes()).lines();
        assert_eq!(Addresses::read(&mut cut).await.unwrap(), None, "it stopped before ready");
    }
}
