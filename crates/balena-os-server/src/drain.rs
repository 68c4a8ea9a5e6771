//! Connections that can be cut when a graceful shutdown takes too long.
//!
//! axum's graceful shutdown stops accepting, lets idle connections go and
//! then waits for every connection in flight, however long it takes: a
//! client reading a multi-gigabyte download slowly would hold the process.
//! Connections accepted through [`CuttableListener`] share a [`Cutter`];
//! once it is [cut](Cutter::cut), every read or write of every connection
//! fails, and a connection blocked on a full socket buffer is woken to see
//! it, so hyper drops the connection (and with it the response body and its
//! producer threads).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// One connection's wake-up slot.
#[derive(Debug, Default)]
struct Slot {
    waker: AtomicWaker,
}

/// Cuts every connection accepted through its listener at once.
#[derive(Debug, Default)]
pub(crate) struct Cutter {
    cut: AtomicBool,
    slots: Mutex<Vec<Weak<Slot>>>,
}

impl Cutter {
    /// Makes every read and write of every connection fail from now on,
    /// and wakes the connections so they notice. Returns how many
    /// connections were still open.
    pub(crate) fn cut(&self) -> usize {
        self.cut.store(true, Ordering::Release);
        let slots = self
            .slots
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let mut open = 0;
        for slot in slots.iter().filter_map(Weak::upgrade) {
            open += 1;
            slot.waker.wake();
        }
        open
    }

    fn register(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        if let Ok(mut slots) = self.slots.lock() {
            // Forget connections that are gone now and then, so the list
            // stays about as long as the connections open at once.
            if slots.len() % 64 == 63 {
                slots.retain(|s| s.strong_count() > 0);
            }
            slots.push(Arc::downgrade(&slot));
        }
        slot
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

/// A TCP listener whose connections a [`Cutter`] can cut.
#[derive(Debug)]
pub(crate) struct CuttableListener {
    inner: TcpListener,
    cutter: Arc<Cutter>,
}

impl CuttableListener {
    pub(crate) fn new(inner: TcpListener, cutter: Arc<Cutter>) -> Self {
        CuttableListener { inner, cutter }
    }
}

impl axum::serve::Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let slot = self.cutter.register();
        let stream = CuttableStream {
            io,
            cutter: self.cutter.clone(),
            slot,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails every operation once its [`Cutter`] is cut.
#[derive(Debug)]
pub(crate) struct CuttableStream {
    io: TcpStream,
    cutter: Arc<Cutter>,
    slot: Arc<Slot>,
}

impl CuttableStream {
    /// Registers the task to be woken by a cut; the error once cut.
    fn check(&self, cx: &mut Context<'_>) -> io::Result<()> {
        self.slot.waker.register(cx.waker());
        if self.cutter.is_cut() {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server is shutting down and its drain deadline passed",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Shutting the socket down is always allowed.
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_cut_wakes_a_blocked_writer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cutter = Arc::new(Cutter::default());
        let mut cuttable = CuttableListener::new(listener, cutter.clone());
        // The client connects and never reads.
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server_side, _) = axum::serve::Listener::accept(&mut cuttable).await;
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = server_side.write_all(&chunk).await {
                    return e.kind();
                }
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !writer.is_finished(),
            "the writer is blocked on a full socket"
        );
        assert_eq!(cutter.cut(), 1);
        let kind = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("woken by the cut")
            .expect("task");
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        drop(client);
        // New connections are cut too.
        let mut other = TcpStream::connect(addr).await.expect("connect");
        let (mut server_side, _) = axum::serve::Listener::accept(&mut cuttable).await;
        other.write_all(b"x").await.expect("client write");
        let mut buf = [0u8; 1];
        assert!(server_side.read(&mut buf).await.is_err());
    }
}
