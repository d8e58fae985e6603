//! The `pubzub-server` command: built-in defaults, `--config pubzub.toml`, then flags and
//! `PUBZUB_*` environment variables on top.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pubzub_server::config::{Config, Durability, Setting};
use pubzub_server::store::StoreError;
use pubzub_server::{Server, ServerError};
use tracing_subscriber::EnvFilter;

/// pubzub's central MQTT v5 / 3.1.1 broker: WebSocket for pages, TCP and TLS for the rest.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Logging: RUST_LOG sets what is logged (default \"info\"; e.g. \
                  \"warn,pubzub_server=debug\"), NO_COLOR=1 turns colours off (they are off \
                  anyway when the output is not a terminal)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Subcommand>,
    /// The configuration file (TOML; see pubzub.example.toml).
    #[arg(long, env = "PUBZUB_CONFIG")]
    config: Option<PathBuf>,
    /// IPv4 address of the HTTP/WebSocket listener, "any" or "none".
    #[arg(long, env = "PUBZUB_HTTP_IP")]
    http_ip: Option<Setting<Ipv4Addr>>,
    /// IPv6 address of the HTTP/WebSocket listener, "any" or "none".
    #[arg(long, env = "PUBZUB_HTTP_IP6")]
    http_ip6: Option<Setting<Ipv6Addr>>,
    /// Port of the HTTP/WebSocket listener (default 8080), or "none".
    #[arg(long, env = "PUBZUB_HTTP_PORT")]
    http_port: Option<Setting<u16>>,
    /// IPv4 address of the MQTT/TCP listener, "any" or "none".
    #[arg(long, env = "PUBZUB_MQTT_IP")]
    mqtt_ip: Option<Setting<Ipv4Addr>>,
    /// IPv6 address of the MQTT/TCP listener, "any" or "none".
    #[arg(long, env = "PUBZUB_MQTT_IP6")]
    mqtt_ip6: Option<Setting<Ipv6Addr>>,
    /// Port of the MQTT/TCP listener (default 1883), or "none".
    #[arg(long, env = "PUBZUB_MQTT_PORT")]
    mqtt_port: Option<Setting<u16>>,
    /// IPv4 address of the MQTT/TLS listener, "any" or "none".
    #[arg(long, env = "PUBZUB_MQTTS_IP")]
    mqtts_ip: Option<Setting<Ipv4Addr>>,
    /// IPv6 address of the MQTT/TLS listener, "any" or "none".
    #[arg(long, env = "PUBZUB_MQTTS_IP6")]
    mqtts_ip6: Option<Setting<Ipv6Addr>>,
    /// Port of the MQTT/TLS listener (default 8883), or "none".
    #[arg(long, env = "PUBZUB_MQTTS_PORT")]
    mqtts_port: Option<Setting<u16>>,
    /// PEM certificate chain for MQTT/TLS.
    #[arg(long, env = "PUBZUB_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for MQTT/TLS.
    #[arg(long, env = "PUBZUB_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Folder served at / (the demo pages).
    #[arg(long, env = "PUBZUB_WWW_DIR")]
    www_dir: Option<PathBuf>,
    /// The npm package folder, served at /pkg/.
    #[arg(long, env = "PUBZUB_PKG_DIR")]
    pkg_dir: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Run the demo's simulated truck fleet (public/truck/...); `--demo=false` turns off what
    /// the file turned on.
    #[arg(long, env = "PUBZUB_DEMO", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    demo: Option<bool>,
    /// The store's folder: retained messages survive restarts (default without --config: the
    /// repository's .pubzub-data/).
    #[arg(long, env = "PUBZUB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// "batched" (group commit every --commit-interval-ms) or "off" (memory only).
    #[arg(long, env = "PUBZUB_DURABILITY")]
    durability: Option<Durability>,
    /// Milliseconds between group commits.
    #[arg(long, env = "PUBZUB_COMMIT_INTERVAL_MS")]
    commit_interval_ms: Option<u64>,
    /// A damaged store file is moved aside and the server starts empty.
    #[arg(long, env = "PUBZUB_MOVE_DAMAGED_STORE")]
    move_damaged_store: bool,
    /// How log lines look: "text" (default) or "json" (one object per line).
    #[arg(long, env = "PUBZUB_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// Every `[limits]` setting of the file, as a flag and a `PUBZUB_*` variable (see
/// pubzub.example.toml for what each means).
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Largest packet accepted (bytes).
    #[arg(long, env = "PUBZUB_MAX_PACKET_SIZE")]
    max_packet_size: Option<u32>,
    /// Sockets open at once over every listener.
    #[arg(long, env = "PUBZUB_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a new connection has to send CONNECT.
    #[arg(long, env = "PUBZUB_CONNECT_TIMEOUT")]
    connect_timeout: Option<u64>,
    /// Seconds an HTTP client has to send a request's headers.
    #[arg(long, env = "PUBZUB_HTTP_HEADER_TIMEOUT")]
    http_header_timeout: Option<u64>,
    /// The longest keep alive a client may ask for (seconds).
    #[arg(long, env = "PUBZUB_MAX_KEEP_ALIVE")]
    max_keep_alive: Option<u16>,
    /// Unacknowledged QoS 1/2 messages a client may send.
    #[arg(long, env = "PUBZUB_RECEIVE_MAXIMUM")]
    receive_maximum: Option<u16>,
    /// Topic aliases a client may use.
    #[arg(long, env = "PUBZUB_TOPIC_ALIAS_MAXIMUM")]
    topic_alias_maximum: Option<u16>,
    /// Levels of a topic or filter.
    #[arg(long, env = "PUBZUB_MAX_TOPIC_LEVELS")]
    max_topic_levels: Option<usize>,
    /// Bytes of a topic or filter.
    #[arg(long, env = "PUBZUB_MAX_TOPIC_LENGTH")]
    max_topic_length: Option<usize>,
    /// Subscriptions of one session.
    #[arg(long, env = "PUBZUB_MAX_SUBSCRIPTIONS_PER_CLIENT")]
    max_subscriptions_per_client: Option<usize>,
    /// Messages per second a client may publish (0: unlimited).
    #[arg(long, env = "PUBZUB_MAX_PUBLISH_RATE")]
    max_publish_rate: Option<u32>,
    /// Messages kept for a session while offline or its window is full.
    #[arg(long, env = "PUBZUB_MAX_QUEUED_MESSAGES")]
    max_queued_messages: Option<usize>,
    /// QoS 0 messages waiting for one slow connection.
    #[arg(long, env = "PUBZUB_MAX_OUTGOING_QOS0")]
    max_outgoing_qos0: Option<usize>,
    /// The longest session expiry granted (seconds).
    #[arg(long, env = "PUBZUB_MAX_SESSION_EXPIRY")]
    max_session_expiry: Option<u32>,
    /// $client/<id>/will/<willId> wills of one session.
    #[arg(long, env = "PUBZUB_MAX_WILLS_PER_CLIENT")]
    max_wills_per_client: Option<usize>,
}

impl LimitArgs {
    fn apply(&self, l: &mut pubzub_server::config::Limits) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { l.$field = v; } )* };
        }
        set!(
            max_packet_size,
            max_connections,
            connect_timeout,
            http_header_timeout,
            max_keep_alive,
            receive_maximum,
            topic_alias_maximum,
            max_topic_levels,
            max_topic_length,
            max_subscriptions_per_client,
            max_publish_rate,
            max_queued_messages,
            max_outgoing_qos0,
            max_session_expiry,
            max_wills_per_client
        );
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logging to stdout: RUST_LOG's filter (an invalid one is reported, and "info" used), colours
/// only on a terminal and without NO_COLOR, text or JSON lines.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let (filter, invalid) = match std::env::var("RUST_LOG") {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new("info"),
                Some(format!("invalid RUST_LOG \"{spec}\": {e}; logging at info")),
            ),
        },
        Err(_) => (EnvFilter::new("info"), None),
    };
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Some(why) = invalid {
        tracing::warn!("{why}");
    }
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Reads a password from stdin (one line) and prints its argon2 hash for a site's
    /// `users` table.
    HashPassword,
}

/// `hash-password`: stdin to a PHC string on stdout.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("pubzub-server: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("pubzub-server: empty password");
        return ExitCode::FAILURE;
    }
    match pubzub_server::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pubzub-server: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Args {
    /// The flags and variables over the file's settings (again after each reload).
    fn apply(&self, c: &mut Config) {
        c.http.ip = self.http_ip.or(c.http.ip);
        c.http.ip6 = self.http_ip6.or(c.http.ip6);
        c.http.port = self.http_port.or(c.http.port);
        c.mqtt.ip = self.mqtt_ip.or(c.mqtt.ip);
        c.mqtt.ip6 = self.mqtt_ip6.or(c.mqtt.ip6);
        c.mqtt.port = self.mqtt_port.or(c.mqtt.port);
        c.mqtts.ip = self.mqtts_ip.or(c.mqtts.ip);
        c.mqtts.ip6 = self.mqtts_ip6.or(c.mqtts.ip6);
        c.mqtts.port = self.mqtts_port.or(c.mqtts.port);
        c.tls.cert = self.tls_cert.clone().or(c.tls.cert.take());
        c.tls.key = self.tls_key.clone().or(c.tls.key.take());
        if let Some(d) = &self.www_dir {
            c.www_dir = d.clone();
        }
        if let Some(d) = &self.pkg_dir {
            c.pkg_dir = d.clone();
        }
        self.limits.apply(&mut c.limits);
        if let Some(d) = &self.data_dir {
            c.data_dir = Some(d.clone());
        }
        if let Some(d) = self.durability {
            c.durability = d;
        }
        if let Some(ms) = self.commit_interval_ms {
            c.commit_interval_ms = ms;
        }
        c.move_damaged_store |= self.move_damaged_store;
        if let Some(demo) = self.demo {
            c.demo = demo;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    if let Some(Subcommand::HashPassword) = args.command {
        return hash_password();
    }
    let mut config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("pubzub-server: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            tracing::warn!(
                "no configuration file: a development broker. Anyone may connect, and every \
                 topic outside bridge/, user/, $client/ and reply/ is open to every client \
                 (give --config for access rules and users)"
            );
            Config {
                development: true,
                data_dir: Some(pubzub_server::config::development_data_dir()),
                ..Config::default()
            }
        }
    };
    args.apply(&mut config);
    // Named threads: `top -H` and a profiler tell the broker's workers from other programs'.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("pubzub-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pubzub-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // The repository's store of a development broker is a convenience: when another
        // server holds it, this one keeps its data in memory.
        let implicit_store = args.config.is_none() && args.data_dir.is_none();
        let started = match Server::start(config.clone()).await {
            Err(ServerError::Store(e @ StoreError::InUse { .. })) if implicit_store => {
                tracing::warn!("{e}: this server keeps its data in memory");
                Server::start(Config {
                    durability: Durability::Off,
                    ..config
                })
                .await
            }
            started => started,
        };
        let server = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pubzub-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        serve_until_stopped(&server, &args).await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Returns on SIGINT or SIGTERM; on SIGHUP reads the configuration file again and reloads.
async fn serve_until_stopped(server: &Server, args: &Args) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return,
                    _ = term.recv() => return,
                    _ = hup.recv() => reload(server, args),
                }
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// SIGHUP: users, rules and the TLS certificate from the configuration file, as Mosquitto
/// does. A file that cannot be read or parsed, or a certificate that cannot, changes nothing.
fn reload(server: &Server, args: &Args) {
    let Some(path) = &args.config else {
        tracing::warn!("SIGHUP: no configuration file to reload (running without --config)");
        return;
    };
    let failed = |why: &dyn std::fmt::Display| {
        tracing::error!("reload failed, the configuration in use stays: {why}");
    };
    let mut config = match Config::from_file(path) {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    args.apply(&mut config);
    match server.reload(&config) {
        Ok(needs_restart) => {
            tracing::info!(
                "reloaded {}: users, access rules and the TLS certificate",
                path.display()
            );
            if !needs_restart.is_empty() {
                tracing::warn!(
                    "not changed by a reload, these take a restart: {}",
                    needs_restart.join(", ")
                );
            }
        }
        Err(e) => failed(&e),
    }
}
