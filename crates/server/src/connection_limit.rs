//! A cap on open client connections.
//!
//! Load shedding answers excess `/sign` requests with `429`, but every open connection still holds buffers in
//! the process. A client that opens connections faster than they are answered (a spam wave's retries, or an
//! attacker) would otherwise grow memory without bound: an open-loop load test at three times the sustainable
//! rate held 19 000 connections and 1 GB. Past the cap, new connections wait in the kernel's accept queue, which
//! costs the process nothing, until one closes.
//!
//! That queue must be deep enough for a burst. At the 128 entries a plain bind gives, a burst of new
//! connections while the process was busy (a load test opening its pool at three times the sustainable rate)
//! overflowed it: the kernel dropped their SYNs, and each such client waited for its 1 s retransmission.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpSocket},
    sync::{OwnedSemaphorePermit, Semaphore},
};

/// Client connections open at once at most. Homeservers keep a few keep-alive connections each, so this is
/// room for hundreds of servers; the buffers of this many connections under overload are about 140 MB.
pub const MAX_CONNECTIONS: usize = 2048;

/// Connections the kernel queues for accepting: as many again as may be open (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default).
const ACCEPT_QUEUE: u32 = 2048;

/// A TCP listener on `address` with an accept queue of [`ACCEPT_QUEUE`].
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As a plain bind does: a restarted server can bind again while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

/// A listener that accepts a connection only while fewer than its limit are open.
#[derive(Debug)]
pub struct LimitedListener<L> {
    inner: L,
    slots: Arc<Semaphore>,
}

impl<L> LimitedListener<L> {
    /// `inner`, accepting at most `limit` connections open at once.
    pub fn new(inner: L, limit: usize) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(limit.max(1))) }
    }
}

impl<L: Listener> Listener for LimitedListener<L> {
    type Io = Limited<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only waits.
        let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return std::future::pending().await;
        };
        let (io, addr) = self.inner.accept().await;
        (Limited::new(io, slot), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding one slot of a limit (a semaphore's permit, or whatever else counts it) until it is
/// dropped.
#[derive(Debug)]
pub struct Limited<Io, Slot = OwnedSemaphorePermit> {
    io: Io,
    slot: Slot,
}

impl<Io, Slot> Limited<Io, Slot> {
    /// `io`, holding `slot` while it is open.
    pub fn new(io: Io, slot: Slot) -> Self {
        Self { io, slot }
    }

    /// The connection and its slot, apart (to move the connection elsewhere with its slot).
    pub fn into_parts(self) -> (Io, Slot) {
        (self.io, self.slot)
    }
}

impl<Io: AsyncRead + Unpin, Slot: Unpin> AsyncRead for Limited<Io, Slot> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin, Slot: Unpin> AsyncWrite for Limited<Io, Slot> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };

    use super::*;

    /// With a limit of 2, a third client is accepted only once one of the first two has gone.
    #[tokio::test]
    async fn a_connection_past_the_limit_waits_until_one_closes() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let mut listener = LimitedListener::new(tcp, 2);
        let first_client = TcpStream::connect(address).await.unwrap();
        let _second_client = TcpStream::connect(address).await.unwrap();
        let (first, _) = listener.accept().await;
        let (mut second, _) = listener.accept().await;
        let mut third_client = TcpStream::connect(address).await.unwrap();

        let third = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(third.is_err(), "a third connection was accepted past the limit");

        drop(first);
        drop(first_client);
        let (mut third, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.unwrap();
        // The accepted connections still carry data both ways.
        third_client.write_all(b"ping").await.unwrap();
        let mut received = [0u8; 4];
        third.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, b"ping");
        second.write_all(b"pong").await.unwrap();
    }

    /// 300 clients connect while nothing accepts: every one is queued by the kernel (a plain bind queues 128,
    /// and the others' SYNs are dropped until their retransmission a second later).
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_accept_queue() {
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap_or_default();
        if somaxconn.trim().parse::<u32>().is_ok_and(|cap| cap < 300) {
            eprintln!("skipped: net.core.somaxconn ({}) caps every accept queue below 300", somaxconn.trim());
            return;
        }
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..300).map(|_| tokio::spawn(TcpStream::connect(address))).collect();
        let queued = tokio::time::timeout(Duration::from_millis(500), async {
            let mut streams = Vec::new();
            for client in clients {
                streams.push(client.await.unwrap().unwrap());
            }
            streams
        })
        .await
        .expect("every connect completed at once: none waited for a retransmitted SYN");
        assert_eq!(queued.len(), 300);
        for _ in 0..300 {
            let _ = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
        }
    }
}
