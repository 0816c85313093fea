//! The federation listener served from one thread per core.
//!
//! Each thread runs a single-threaded runtime, so a connection's requests, and everything they allocate, stay on
//! the thread that serves it. On the multi-threaded runtime a request woken by the signature batch or the verdict
//! writer went on on whichever worker woke it, and the allocator took a seventh of the workers' time, much of it
//! on memory freed by another thread than the one that took it; closed loop on 2 cores, against that runtime:
//! 6–11% more throughput in three series of alternating pairs (`docs/performance.md`).
//!
//! Without work stealing, how connections are spread is the balance between the threads. One listener accepts
//! them all (on the process's multi-threaded runtime) and hands each to the thread with the fewest open: with a
//! listener per thread on a shared port (`SO_REUSEPORT`), the kernel's hash of each connection's addresses had
//! decided, and under the load test one thread had been busy 79% of the time and the other 59% while the
//! machine idled. Everything else (the verdict writer, background jobs, the metrics listener) stays
//! on the multi-threaded runtime.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

use axum::{Router, serve::Listener};
use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, mpsc, watch},
};

use crate::{
    connection_limit::{self, Limited, LimitedListener, MAX_CONNECTIONS},
    tls::TlsListener,
};

/// The federation listener and how many threads will serve its connections.
#[derive(Debug)]
pub struct ConnectionThreads {
    listener: LimitedListener<TcpListener>,
    threads: usize,
}

impl ConnectionThreads {
    /// Binds `address` for `threads` serving threads (at least one). Must be called on a runtime, the one that
    /// will run [`Self::serve`].
    pub fn bind(address: SocketAddr, threads: usize) -> io::Result<Self> {
        let listener = LimitedListener::new(connection_limit::bind(address)?, MAX_CONNECTIONS);
        Ok(Self { listener, threads: threads.max(1) })
    }

    /// The address bound (with port 0, the port the kernel picked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Listener::local_addr(&self.listener)
    }

    /// Serves `router` (over TLS with `tls`) on every thread until `shutdown` completes, then lets each thread
    /// finish its requests in progress. At most [`MAX_CONNECTIONS`] are open at once across the threads. A thread
    /// that stops early (its runtime could not start) stops the others and its error is returned.
    pub async fn serve(
        mut self,
        router: Router,
        tls: Option<Arc<ServerConfig>>,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let local_addr = self.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let (finished, mut results) = mpsc::unbounded_channel();
        let mut threads = Vec::with_capacity(self.threads);
        for index in 0..self.threads {
            let (handing_over, handed_over) = mpsc::unbounded_channel();
            let listener = HandedOver { connections: handed_over, local_addr };
            let (router, tls, stopping, finished) =
                (router.clone(), tls.clone(), stopping.clone(), finished.clone());
            let spawned = thread::Builder::new().name(format!("http-{index}")).spawn(move || {
                let _ = finished.send(serve_on_this_thread(listener, router, tls, stopping));
            });
            if let Err(error) = spawned {
                let _ = stop.send(true);
                return Err(error);
            }
            threads.push(ServingThread { connections: handing_over, open: Arc::default() });
        }
        drop(finished);
        tokio::pin!(shutdown);
        let mut outcome = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                // A thread ended before the shutdown: it could not start its runtime.
                Some(ended) = results.recv() => {
                    break Err(ended.err().unwrap_or_else(|| io::Error::other("a serving thread stopped")));
                }
                (connection, peer) = self.listener.accept() => hand_over(&threads, connection, peer),
            }
        };
        drop(threads);
        let _ = stop.send(true);
        // Every thread holds a sender until it ends, so this waits for the last one.
        while let Some(ended) = results.recv().await {
            if let (Ok(()), Err(error)) = (&outcome, ended) {
                outcome = Err(error);
            }
        }
        outcome
    }
}

/// Gives the connection to the thread with the fewest open.
fn hand_over(threads: &[ServingThread], connection: Limited<TcpStream>, peer: SocketAddr) {
    let Some(thread) = threads.iter().min_by_key(|thread| thread.open.load(Ordering::Relaxed)) else {
        return;
    };
    let (stream, slot) = connection.into_parts();
    // Taken off this runtime's reactor, to be registered with the serving thread's.
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(error) => return tracing::warn!(%error, %peer, "could not hand over a connection"),
    };
    thread.open.fetch_add(1, Ordering::Relaxed);
    let slot = ThreadSlot { _permit: slot, open: Arc::clone(&thread.open) };
    // A thread that has stopped is reported by its result; the connection closes with the dropped message.
    let _ = thread.connections.send(HandedOverConnection { stream, peer, slot });
}

/// A serving thread as the accepting side sees it.
struct ServingThread {
    connections: mpsc::UnboundedSender<HandedOverConnection>,
    /// Connections open on the thread.
    open: Arc<AtomicUsize>,
}

struct HandedOverConnection {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    slot: ThreadSlot,
}

/// A connection's place in the limit and in its thread's count, given back when the connection closes.
#[derive(Debug)]
struct ThreadSlot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The listener of a serving thread: the connections handed to it.
struct HandedOver {
    connections: mpsc::UnboundedReceiver<HandedOverConnection>,
    local_addr: SocketAddr,
}

impl Listener for HandedOver {
    type Io = Limited<TcpStream, ThreadSlot>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // The sender goes only at shutdown, when no more connections are wanted.
            let Some(HandedOverConnection { stream, peer, slot }) = self.connections.recv().await else {
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (Limited::new(stream, slot), peer),
                Err(error) => tracing::warn!(%error, %peer, "could not take over a connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// One thread's runtime, serving the connections handed to it until `stopping` turns true.
fn serve_on_this_thread(
    listener: HandedOver,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    // Tasks woken from other threads (a request whose verdict the writer committed) run before the thread's own
    // queue: under overload that queue holds every connection being answered `429`, and at tokio's default of
    // one remote task per 31 local ones, admitted requests waited 14 ms on average for their commit instead of 3.
    let runtime =
        tokio::runtime::Builder::new_current_thread().global_queue_interval(1).enable_all().build()?;
    runtime.block_on(async move {
        let stop = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        match tls {
            Some(config) => {
                let listener = TlsListener::new(listener, config)?;
                axum::serve(listener, router).with_graceful_shutdown(stop).await
            }
            None => axum::serve(listener, router).with_graceful_shutdown(stop).await,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{collections::HashMap, time::Duration};

    use axum::routing::get;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// Answers with the name of the thread that served the request.
    fn router() -> Router {
        Router::new()
            .route("/thread", get(|| async { thread::current().name().unwrap_or_default().to_owned() }))
    }

    /// Asks on a keep-alive connection which thread serves it.
    async fn serving_thread(connection: &mut BufReader<TcpStream>) -> String {
        connection.get_mut().write_all(b"GET /thread HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
        let mut length = None;
        loop {
            let mut line = String::new();
            connection.read_line(&mut line).await.unwrap();
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("content-length:") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a content length")];
        connection.read_exact(&mut body).await.unwrap();
        String::from_utf8(body).unwrap()
    }

    /// Port 0 is a port the kernel picks; connections open at once are shared evenly between the threads, and the
    /// shutdown ends them all.
    #[tokio::test]
    async fn open_connections_are_shared_evenly_until_shutdown() {
        let threads = ConnectionThreads::bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let address = threads.local_addr().unwrap();
        assert_ne!(address.port(), 0);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(threads.serve(router(), None, async {
            let _ = stop.await;
        }));
        let mut clients = Vec::new();
        let mut served_by = HashMap::<String, usize>::new();
        for _ in 0..10 {
            let mut client = BufReader::new(TcpStream::connect(address).await.unwrap());
            *served_by.entry(serving_thread(&mut client).await).or_default() += 1;
            clients.push(client);
        }
        assert_eq!(served_by, HashMap::from([("http-0".to_owned(), 5), ("http-1".to_owned(), 5)]));
        // A connection stays on its thread.
        assert_eq!(serving_thread(&mut clients[0]).await, serving_thread(&mut clients[0]).await);
        drop(clients);
        shutdown.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving).await.unwrap().unwrap().unwrap();
        assert!(TcpStream::connect(address).await.is_err(), "nothing listens after the shutdown");
    }

    /// A second server started on a port in use fails to bind it instead of sharing it.
    #[tokio::test]
    async fn a_port_in_use_is_not_shared() {
        let threads = ConnectionThreads::bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let address = threads.local_addr().unwrap();
        assert!(ConnectionThreads::bind(address, 1).is_err());
        assert!(std::net::TcpListener::bind(address).is_err());
    }
}
