//! The federation listener served from one thread per core.
//!
//! Each thread runs a single-threaded runtime with a listener of its own on the shared port (`SO_REUSEPORT`: the
//! kernel spreads new connections over them), so a connection's requests, and everything they allocate, stay on
//! the thread that accepted it. On the multi-threaded runtime a request woken by the signature batch or the
//! verdict writer went on on whichever worker woke it, and the allocator took a seventh of the workers' time,
//! much of it on memory freed by another thread than the one that took it; closed loop on 2 cores, against that
//! runtime: 6–11% more throughput in three series of alternating pairs (`docs/performance.md`). Everything else (the
//! verdict writer, background jobs, the metrics listener) stays on the process's multi-threaded runtime.

use std::{future::Future, io, net::SocketAddr, sync::Arc, thread};

use axum::Router;
use rustls::ServerConfig;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::{
    connection_limit::{self, LimitedListener, MAX_CONNECTIONS},
    tls::TlsListener,
};

/// Listeners bound to one port, one for each serving thread.
#[derive(Debug)]
pub struct ConnectionThreads {
    listeners: Vec<std::net::TcpListener>,
    address: SocketAddr,
}

impl ConnectionThreads {
    /// Binds `threads` listeners (at least one) to `address`; with port 0 the kernel picks one port for all.
    /// Must be called on a runtime (the listeners are bound through tokio, then handed to their threads).
    pub fn bind(address: SocketAddr, threads: usize) -> io::Result<Self> {
        let first = connection_limit::bind(address)?;
        let address = first.local_addr()?;
        let mut listeners = vec![first.into_std()?];
        for _ in 1..threads.max(1) {
            listeners.push(connection_limit::bind(address)?.into_std()?);
        }
        Ok(Self { listeners, address })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves `router` (over TLS with `tls`) on every thread until `shutdown` completes, then lets each thread
    /// finish its requests in progress. At most [`MAX_CONNECTIONS`] are open at once across the threads. A thread
    /// whose listener fails stops the others and its error is returned.
    pub async fn serve(
        self,
        router: Router,
        tls: Option<Arc<ServerConfig>>,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (stop, stopping) = watch::channel(false);
        let (finished, mut results) = mpsc::unbounded_channel();
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let (router, tls, slots) = (router.clone(), tls.clone(), slots.clone());
            let (stopping, finished) = (stopping.clone(), finished.clone());
            let spawned = thread::Builder::new().name(format!("http-{index}")).spawn(move || {
                let served = serve_on_this_thread(listener, router, tls, slots, stopping);
                let _ = finished.send(served);
            });
            if let Err(error) = spawned {
                let _ = stop.send(true);
                return Err(error);
            }
        }
        drop(finished);
        let mut outcome = tokio::select! {
            () = shutdown => Ok(()),
            // A thread ended before the shutdown: its listener failed (or its thread could not start a runtime).
            Some(ended) = results.recv() => Err(ended.err().unwrap_or_else(|| io::Error::other("a listener stopped"))),
        };
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

/// One thread's runtime, serving until `stopping` turns true.
fn serve_on_this_thread(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    slots: Arc<Semaphore>,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let stop = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        match tls {
            Some(config) => {
                let listener = LimitedListener::sharing(TlsListener::new(listener, config)?, slots);
                axum::serve(listener, router).with_graceful_shutdown(stop).await
            }
            None => {
                let listener = LimitedListener::sharing(listener, slots);
                axum::serve(listener, router).with_graceful_shutdown(stop).await
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{collections::HashSet, time::Duration};

    use axum::routing::get;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::*;

    /// Answers with the name of the thread that served the request.
    fn router() -> Router {
        Router::new()
            .route("/thread", get(|| async { thread::current().name().unwrap_or_default().to_owned() }))
    }

    async fn get_thread(address: SocketAddr) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /thread HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer.rsplit("\r\n").next().unwrap().to_owned()
    }

    /// Port 0 gives every listener the same port; connections are spread over the threads, and the shutdown ends
    /// them all.
    #[tokio::test]
    async fn connections_are_spread_over_the_threads_until_shutdown() {
        let threads = ConnectionThreads::bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let address = threads.local_addr();
        assert_ne!(address.port(), 0);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(threads.serve(router(), None, async {
            let _ = stop.await;
        }));
        let mut seen = HashSet::new();
        for _ in 0..64 {
            seen.insert(get_thread(address).await);
        }
        assert_eq!(seen, HashSet::from(["http-0".to_owned(), "http-1".to_owned()]));
        shutdown.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving).await.unwrap().unwrap().unwrap();
        assert!(TcpStream::connect(address).await.is_err(), "nothing listens after the shutdown");
    }

    /// Another socket can bind the port only with `SO_REUSEPORT`, as the serving threads' listeners do.
    #[tokio::test]
    async fn the_shared_port_is_taken_for_a_plain_bind() {
        let threads = ConnectionThreads::bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        assert!(std::net::TcpListener::bind(threads.local_addr()).is_err());
    }
}
