//! The WebSocket's opening handshake (RFC 6455, section 4.2) and the socket under it.
//!
//! Done here rather than by axum's extractor so that the WebSocket runs over [`Gathered`]:
//! tungstenite writes each frame straight into it (its own write buffer set to nothing), it
//! gathers a batch of frames into one buffer, written out at the flush, and lets the buffer
//! go once written. tungstenite's own buffer kept the largest batch a socket ever wrote (16 KB
//! and more) for as long as the socket lived: an idle web user paid for its busiest moment.

use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket of an accepted upgrade.
pub(crate) type Socket = WebSocketStream<Gathered<TokioIo<hyper::upgrade::Upgraded>>>;

/// Frames gathered past this many unwritten bytes are written out before more are taken.
const GATHER_MAX: usize = 64 * 1024;

/// Checks that `method` and `headers` ask for a WebSocket (version 13), and returns the answer
/// that accepts it (`101 Switching Protocols`); `Err` says what is wrong.
pub(crate) fn accept(method: &Method, headers: &HeaderMap) -> Result<Response<axum::body::Body>, &'static str> {
    if method != Method::GET {
        return Err("a WebSocket opens with a GET");
    }
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has(header::CONNECTION, "upgrade") {
        return Err("Connection header did not include 'upgrade'");
    }
    if !has(header::UPGRADE, "websocket") {
        return Err("`Upgrade` header did not include 'websocket'");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err("`Sec-WebSocket-Version` header did not include '13'");
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("`Sec-WebSocket-Key` header missing")?;
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes())).expect("base64 is a header value");
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

/// The WebSocket, once the answer of [`accept`] went out and the connection is upgraded.
pub(crate) async fn open(on_upgrade: OnUpgrade, config: WebSocketConfig) -> hyper::Result<Socket> {
    let upgraded = on_upgrade.await?;
    // Every frame goes straight to `Gathered`, which joins them until the flush.
    let config = config.write_buffer_size(0);
    let io = Gathered { inner: TokioIo::new(upgraded), out: Vec::new(), written: 0 };
    Ok(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
}

/// A socket whose writes are gathered until the flush, then written in as few writes as it
/// takes; the buffer goes once written, so that an idle socket holds none.
pub(crate) struct Gathered<S> {
    inner: S,
    out: Vec<u8>,
    /// How much of `out` is written.
    written: usize,
}

impl<S: AsyncWrite + Unpin> Gathered<S> {
    /// Writes out what is gathered; ready once all of it is written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        (self.out, self.written) = (Vec::new(), 0);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gathered<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gathered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.out.len() - self.written >= GATHER_MAX {
            ready!(self.poll_drain(cx))?;
        }
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The example of RFC 6455, section 1.3.
    #[test]
    fn the_handshake_of_the_rfc_is_accepted_and_a_request_that_is_not_one_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        let answer = accept(&Method::GET, &headers).unwrap();
        assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(answer.headers()[header::SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(accept(&Method::POST, &headers).is_err());
        let mut old = headers.clone();
        old.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert!(accept(&Method::GET, &old).is_err());
        headers.remove(header::SEC_WEBSOCKET_KEY);
        assert!(accept(&Method::GET, &headers).is_err());
        assert!(accept(&Method::GET, &HeaderMap::new()).is_err());
    }

    #[tokio::test]
    async fn writes_are_gathered_until_the_flush_and_the_buffer_goes_once_written() {
        let (ours, mut peer) = tokio::io::duplex(1 << 20);
        let mut g = Gathered { inner: ours, out: Vec::new(), written: 0 };
        g.write_all(b"one ").await.unwrap();
        g.write_all(b"two").await.unwrap();
        assert_eq!(g.out, b"one two", "nothing written before the flush");
        g.flush().await.unwrap();
        assert_eq!(g.out.capacity(), 0, "the buffer went once written");
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two");
    }
}
