//! `palisade-loadgen`: drives a running Palisade's `/sign` endpoint and prints one line of numbers per run.
//!
//! It plays one or more origin servers whose keys it writes into Palisade's store (so no key fetch happens),
//! seeds a protected v12 room there, pre-builds every signed PDU and X-Matrix header before the clock starts,
//! then sends them over keep-alive HTTP, closed-loop at a concurrency or open-loop at a rate. In the same run it
//! measures the bare crypto bound (2 ed25519 verifies + 1 sign per request on all cores, before and after the
//! load, the higher counting) so the throughput can be read as a fraction of what the hardware allows. It is a
//! tool that prints numbers, not a test that asserts them.

mod crypto_bound;
mod drive;
mod http1;
mod report;
mod requests;
mod rss;
mod seed;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

/// What the requests look like.
/// The same allocator as the server, so the client's share of the machine is no larger than it must be.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Every request asks about a different event.
    Distinct,
    /// Each event is asked about by `--servers` different servers (the dedup path).
    Dedup,
    /// Distinct events, 10% of them spam.
    Mix,
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Palisade's federation listener.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Palisade's database (the same URL it runs with): the room and the origin keys are written there.
    #[arg(long, default_value = "sqlite:data/palisade.db")]
    database: String,
    /// Request shape.
    #[arg(long, value_enum, default_value_t = Mode::Distinct)]
    mode: Mode,
    /// Requests to send.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight at once (closed loop); Palisade sheds past 48 per core, 96 on two cores.
    #[arg(long, default_value_t = 96)]
    concurrency: usize,
    /// Open loop: send at this many requests per second instead, whatever the answers do.
    #[arg(long)]
    rate: Option<u32>,
    /// Open loop: keep-alive connections the requests share, opened before the clock starts (a request waits for
    /// a free one, and that wait counts in its latency).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Origin servers asking: in `dedup` mode each event is asked about by all of them, otherwise they take turns
    /// (one homeserver alone would meet Palisade's per-origin rate limit, which is not what is measured).
    #[arg(long, default_value_t = 100)]
    servers: usize,
    /// Palisade's process ID, to report its resident memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Stored verdicts to add before the run (for memory under a large verdict table).
    #[arg(long, default_value_t = 0)]
    preload_verdicts: usize,
    /// Seconds the crypto bound is measured for.
    #[arg(long, default_value_t = 2.0)]
    crypto_seconds: f64,
    /// A label printed at the start of the result line (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
}

/// One thread sends and receives everything: on a small machine shared with the server, a second client thread
/// only competed with the server's threads for the cores and woke them more often (closed loop on 2 cores: 5.5%
/// more throughput with one, in eight alternating pairs), and one thread keeps up with every mode's rate.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    // For discovering the target only; the measured requests go through `http1`.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;

    let target = seed::discover(&http, &args.target).await?;
    let origins = seed::origins(args.servers.max(1));
    let mut room = seed::protected_room(&args.database, &target, &origins, args.preload_verdicts).await?;
    let authority = http1::authority(&args.target)?;
    let prepared = requests::build(&target, authority, &mut room, &origins, args.mode, args.requests)?;
    eprintln!(
        "prepared {} requests ({} distinct events) for {}",
        prepared.len(),
        room.events,
        target.server_name
    );

    let crypto_time = Duration::from_secs_f64(args.crypto_seconds);
    let bound_before = crypto_bound::measure(crypto_time);
    let sampler = args.pid.map(rss::Sampler::start);
    let run = match args.rate {
        Some(rate) => drive::open_loop(authority, prepared, rate, args.connections).await,
        None => drive::closed_loop(authority, prepared, args.concurrency).await,
    };
    let memory = sampler.map(rss::Sampler::finish);
    // On a shared machine a neighbour can slow one measurement; the higher of the two is the machine's bound, so
    // the ratio is never flattered by a bound measured while the machine was slowed.
    let bound = bound_before.max(crypto_bound::measure(crypto_time));
    println!("{}", report::line(&args.label, args.mode, &run, bound, memory, args.rate, args.concurrency));
    Ok(())
}
