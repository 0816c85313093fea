//! `palisade`: a Matrix policy server (MSC4284).

use std::{
    future::Future,
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};
use palisade_server::{
    commands::{check, community, db, keygen, pdu_inspect, room, serve},
    config,
};

/// mimalloc: `/sign` allocates many small, short-lived JSON values across worker threads, where glibc's allocator
/// took a sixth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Work with the configured database: migrate it, back it up.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Copy communities, configs, rooms, keyword templates and trust data from a policyserv database into the
    /// configured one (idempotent; verdicts are not copied).
    ImportPolicyserv {
        #[command(flatten)]
        source: ConfigSource,
        /// The policyserv PostgreSQL database, `postgres://USER:PASSWORD@HOST/DB`.
        postgres_url: String,
    },
    /// Manage communities in the configured store (create, list, show, set a config key, rotate the API token).
    Community {
        #[command(subcommand)]
        command: CommunityCommand,
    },
    /// Print the stored verdicts on an event, with the trace of which filters fired and why.
    Verdict {
        #[command(flatten)]
        source: ConfigSource,
        /// The event ID.
        event_id: String,
    },
    /// Look at the rooms the store knows (read-only; works while the server runs).
    Room {
        #[command(subcommand)]
        command: RoomCommand,
    },
}

#[derive(Subcommand, Debug)]
enum RoomCommand {
    /// Print every stored room as JSON.
    List(ConfigSource),
    /// Print a room's stored state (members, topic, power levels, policy, ACL, policy-list rules) as JSON.
    State {
        #[command(flatten)]
        source: ConfigSource,
        /// The room ID.
        room_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum CommunityCommand {
    /// Create a community and print it (with its ID).
    Create {
        #[command(flatten)]
        source: ConfigSource,
        /// Its name (4-254 bytes).
        name: String,
    },
    /// Print every community.
    List(ConfigSource),
    /// Print a community and its rooms.
    Show {
        #[command(flatten)]
        source: ConfigSource,
        /// The community ID.
        community_id: String,
    },
    /// Set one config key (VALUE is JSON, or a plain string; `null` removes the key).
    Set {
        #[command(flatten)]
        source: ConfigSource,
        /// The community ID.
        community_id: String,
        /// A community config key, e.g. `keyword_filter_keywords`.
        key: String,
        /// The value, e.g. `'["buy now"]'` or `5`.
        value: String,
    },
    /// Issue a new community API token and print it once (the old token stops working).
    RotateToken {
        #[command(flatten)]
        source: ConfigSource,
        /// The community ID.
        community_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Apply pending schema migrations (as `serve` does at start-up) and exit.
    Migrate(ConfigSource),
    /// Copy the SQLite database to FILE while the server may be running (PostgreSQL: use pg_dump).
    Backup {
        #[command(flatten)]
        source: ConfigSource,
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
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
        Command::Room { command } => run_room(command),
        Command::Community { command } => run_community(command),
        Command::Verdict { source, event_id } => run_store_report(&source, move |config| {
            Box::pin(async move { community::verdict(&config, &event_id).await })
        }),
        Command::Db { command } => run_db(command),
        Command::ImportPolicyserv { source, postgres_url } => run_db_command(&source, |config, runtime| {
            runtime.block_on(db::import_policyserv(config, &postgres_url))
        }),
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
    // Loaded first: it says how to log. Its warnings are collected and logged by `serve`.
    let loaded = load(source)?;
    // Colours only on a terminal: escape codes would clutter log files and journald.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(colours).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    );
    match loaded.config.log_format {
        config::LogFormat::Text => logs.init(),
        config::LogFormat::Json => logs.json().init(),
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(serve::run(loaded)).map_err(|e| e.to_string())
}

fn run_room(command: RoomCommand) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    let report = match command {
        RoomCommand::List(source) => {
            let loaded = load(&source)?;
            runtime.block_on(room::list(&loaded.config))?
        }
        RoomCommand::State { source, room_id } => {
            let loaded = load(&source)?;
            runtime.block_on(room::state(&loaded.config, &room_id))?
        }
    };
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}

fn run_community(command: CommunityCommand) -> Result<(), String> {
    match command {
        CommunityCommand::Create { source, name } => run_store_report(&source, move |config| {
            Box::pin(async move { community::create(&config, &name).await })
        }),
        CommunityCommand::List(source) => {
            run_store_report(&source, |config| Box::pin(async move { community::list(&config).await }))
        }
        CommunityCommand::Show { source, community_id } => run_store_report(&source, move |config| {
            Box::pin(async move { community::show(&config, &community_id).await })
        }),
        CommunityCommand::Set { source, community_id, key, value } => {
            run_store_report(&source, move |config| {
                Box::pin(async move { community::set_config(&config, &community_id, &key, &value).await })
            })
        }
        CommunityCommand::RotateToken { source, community_id } => run_store_report(&source, move |config| {
            Box::pin(async move { community::rotate_token(&config, &community_id).await })
        }),
    }
}

/// Loads the configuration, runs one store command and prints its JSON report.
fn run_store_report(
    source: &ConfigSource,
    command: impl FnOnce(
        config::Config,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<serde_json::Value, String>>>>,
) -> Result<(), String> {
    let loaded = load(source)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    let report = runtime.block_on(command(loaded.config))?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}

fn run_db(command: DbCommand) -> Result<(), String> {
    match command {
        DbCommand::Migrate(source) => {
            run_db_command(&source, |config, runtime| runtime.block_on(db::migrate(config)))
        }
        DbCommand::Backup { source, file } => {
            run_db_command(&source, |config, runtime| runtime.block_on(db::backup(config, &file)))
        }
    }
}

/// Loads the configuration as `serve` would, runs one database command and prints its report.
fn run_db_command(
    source: &ConfigSource,
    command: impl FnOnce(&config::Config, &tokio::runtime::Runtime) -> Result<String, db::DbError>,
) -> Result<(), String> {
    let loaded = load(source)?;
    for warning in &loaded.warnings {
        eprintln!("warning: config: {warning}");
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting the async runtime: {e}"))?;
    let report = command(&loaded.config, &runtime).map_err(|e| e.to_string())?;
    print!("{report}");
    Ok(())
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
