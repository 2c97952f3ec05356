//! A lingering close. When ingest answers before reading a whole request body (a body cut at its bound, a 413),
//! closing the socket with the unread bytes still queued makes the kernel send a reset, and a reset can destroy
//! the answer on its way: the client sees a dropped connection instead of the 413 that says which limit it hit.
//! So a connection's socket is not closed at once when hyper is done with it: its sending side is shut, and what
//! the client still sends is read and discarded for a short while; past a byte bound it is no longer read but
//! stays open until that while is over, then it is closed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How long a closing connection keeps reading what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// How much it reads at most while lingering.
const LINGER_BYTES: usize = 4 << 20;

/// A TCP stream that closes by lingering (see the module docs). Present until dropped.
pub struct LingeringStream(Option<TcpStream>);

impl LingeringStream {
    /// Wraps an accepted connection.
    pub fn new(s: TcpStream) -> LingeringStream {
        LingeringStream(Some(s))
    }

    fn inner(self: Pin<&mut Self>) -> io::Result<Pin<&mut TcpStream>> {
        match self.get_mut().0.as_mut() {
            Some(s) => Ok(Pin::new(s)),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "connection already closed")),
        }
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(s) => s.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(s) => s.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(s) => s.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(s) => s.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(s) = self.0.take() else { return };
        // Outside a runtime (the process is ending) there is nobody to linger: the socket just closes.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(s));
        }
    }
}

async fn linger(mut s: TcpStream) {
    if s.shutdown().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while read < LINGER_BYTES {
            match s.read(&mut buf).await {
                // The client closed: nothing is left unread, so closing sends no reset.
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
        // Over the byte bound, reading stops, but closing now would reset the answer just as closing at once
        // would (a client streaming over loopback sends the bound in milliseconds). The socket stays open,
        // unread, for the rest of the time: the client's sending stalls on the full window, costing nothing
        // here, while it reads the answer.
        std::future::pending::<()>().await;
    })
    .await;
}
