//! The bare crypto bound: how many `/sign` requests per second the machine could answer if checking the X-Matrix
//! signature, checking the event's signature and signing it were all there was to do.

use std::{
    hint::black_box,
    thread,
    time::{Duration, Instant},
};

use ed25519_dalek::{Signer, SigningKey, Verifier};

/// A typical canonical-JSON message event is about this long.
const MESSAGE_BYTES: usize = 900;

/// Requests per second at 2 verifies + 1 sign each, on every core, measured for `duration`.
pub(crate) fn measure(duration: Duration) -> f64 {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let handles: Vec<_> = (0..cores).map(|core| thread::spawn(move || one_core(core, duration))).collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

fn one_core(core: usize, duration: Duration) -> f64 {
    let seed = [u8::try_from(core % 250).unwrap_or(0) + 1; 32];
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    let message = vec![b'x'; MESSAGE_BYTES];
    let signature = key.sign(&message);
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < duration {
        for _ in 0..16 {
            let verified =
                public.verify(&message, &signature).is_ok() && public.verify(&message, &signature).is_ok();
            black_box(verified);
            black_box(key.sign(black_box(&message)));
        }
        done += 16;
    }
    done as f64 / start.elapsed().as_secs_f64()
}
