//! Cancelling a running statement, the way libpq does it: send the CancelRequest on a
//! new connection, then wait for the server (or pooler) to close that connection before
//! closing ours, without half-closing it first. tokio-postgres closes straight after sending, and PgBouncer 1.18 crashes
//! on that (`disconnect_client(): bad client state`), taking every client with it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::CancelToken;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where cancel requests go: the host and port the pool connects to.
#[derive(Clone)]
pub struct CancelTarget {
    pub host: String,
    pub port: u16,
    pub tls: Option<MakeRustlsConnect>,
}

impl CancelTarget {
    /// Sends the cancel; the error, if any, is for a log line.
    pub async fn cancel(&self, token: &CancelToken) -> Result<(), String> {
        let socket = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| e.to_string())?;
        let stream = Lingering(socket);
        let sent = match &self.tls {
            Some(tls) => {
                let connect = MakeTlsConnect::<Lingering>::make_tls_connect(&mut tls.clone(), &self.host)
                    .map_err(|e| e.to_string())?;
                token.cancel_query_raw(stream, connect).await
            }
            None => token.cancel_query_raw(stream, tokio_postgres::NoTls).await,
        };
        sent.map_err(|e| e.to_string())
    }
}

/// A socket whose shutdown completes only once the peer has closed the connection.
struct Lingering(TcpStream);

impl AsyncRead for Lingering {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    /// Not a half-close: like libpq, only wait for the peer to close (PgBouncer 1.18 takes
    /// our FIN as the client vanishing mid-cancel). The socket closes when dropped.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}
