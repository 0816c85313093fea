//! `palisade`: a Matrix policy server (MSC4284).

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};
use palisade_server::{
    commands::{check, keygen, pdu_inspect, serve},
    config,
};

#[derive(Parser, Debug)]
#[command(name = "palisade", version, about = "A Matrix policy server (MSC4284)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from: defaults, then the TOML file, then the env-file, then the environment.
#[derive(Args, Debug)]
struct ConfigSource {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "PALISADE_CONFIG")]
    config: Option<PathBuf>,
    /// A `KEY=VALUE` file of `PS_*` variables (for example a policyserv deployment's env file).
    #[arg(long)]
    env_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the policy server (zero configuration: keys and an SQLite database under ./data).
    Serve(ConfigSource),
    /// Write a new federation key and a new policy key to the configured paths.
    Keygen {
        #[command(flatten)]
        source: ConfigSource,
        /// Replace existing key files (rooms naming the old policy key stop being protected).
        #[arg(long)]
        overwrite: bool,
    },
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Judge one event offline with a community configuration and print the verdict with its trace.
    Check {
        /// Community configuration JSON (policyserv's community config keys, optionally with `filter_modes`).
        #[arg(long)]
        config: PathBuf,
        /// Room state: a JSON array of state events (members, power levels, create, policy rules).
        #[arg(long)]
        room_state: Option<PathBuf>,
        /// The event to judge.
        event: PathBuf,
    },
    /// Work with PDUs.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate the configuration and print the effective result with secrets masked.
    Check(ConfigSource),
}

#[derive(Subcommand, Debug)]
enum PduCommand {
    /// Print a PDU's event ID, content-hash check, redacted form and policy signing input as JSON.
    Inspect {
        /// The room version the PDU belongs to (1-12).
        #[arg(long)]
        room_version: String,
        /// A file holding the PDU JSON, or `-` for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(source) => run_serve(&source),
        Command::Keygen { source, overwrite } => load(&source).and_then(|loaded| {
            keygen::run(&loaded.config, overwrite).map(|report| print!("{report}")).map_err(|e| e.to_string())
        }),
        Command::Config { command: ConfigCommand::Check(source) } => {
            config::check_command(source.config.as_deref(), source.env_file.as_deref())
                .map(|rendered| print!("{rendered}"))
                .map_err(|e| e.to_string())
        }
        Command::Check { config, room_state, event } => check::run(&config, room_state.as_deref(), &event)
            .map(|verdict| println!("{}", serde_json::to_string_pretty(&verdict).unwrap_or_default())),
        Command::Pdu { command: PduCommand::Inspect { room_version, file } } => {
            run_pdu_inspect(&room_version, &file)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(source: &ConfigSource) -> Result<config::Loaded, String> {
    config::load_for_process(source.config.as_deref(), source.env_file.as_deref()).map_err(|e| e.to_string())
}

fn run_serve(source: &ConfigSource) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let loaded = load(source)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(serve::run(loaded)).map_err(|e| e.to_string())
}

fn run_pdu_inspect(room_version: &str, file: &Path) -> Result<(), String> {
    let bytes = read_input(file)?;
    let inspection = pdu_inspect::inspect(&bytes, room_version)?;
    println!("{}", serde_json::to_string_pretty(&inspection.report).unwrap_or_default());
    inspection.error.map_or(Ok(()), Err)
}

fn read_input(file: &Path) -> Result<Vec<u8>, String> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("reading standard input: {e}"))?;
        return Ok(bytes);
    }
    std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))
}
