//! A minimal executor for futures that never wait on I/O (in-memory handles, offline checks). It polls with a
//! no-op waker and yields the thread between polls, so a future that does wait on something still completes, just
//! without an efficient wake-up; production code runs the engine on the server's async runtime instead.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs `future` to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}
