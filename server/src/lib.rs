//! pubzub-server: the central MQTT v5 / 3.1.1 broker of pubzub.
//!
//! Browsers connect over WebSocket (`/mqtt-transport`, binary frames, subprotocol `mqtt`),
//! every other MQTT client over TCP or TLS; all three share one connection handler and one
//! broker. The codec and the subscription tree are pubzub-core's.
//!
//! # Layout
//! The public API is [`Server`], [`api`] (the broker for Rust code), [`acl::AccessControl`]
//! (custom access rules), [`config`], [`auth::hash_password`], [`metrics::Metrics`] and
//! [`store::StoreError`]; the rest is the crate's own:
//! - [`config`]: the configuration file, its defaults and listener settings.
//! - [`acl`]: who may publish and subscribe where.
//! - [`api`]: the broker for Rust code in the same process (subscribe, publish, call).
//! - [`auth`]: password hashes and the slow-down after failures.
//! - [`metrics`]: what `/metrics` shows, through prometheus-client.
//! - [`store`]: the embedded store under `data_dir` (redb) and its record layouts.
//! - `broker`: sessions, routing, retained messages, wills; synchronous and socket-free.
//! - `connection`: one client connection: decode, hand to the broker, write what it queues.
//! - `writer`: a connection's writer task: batching, encoding, server-to-client topic aliases.
//! - `transport`: TCP/TLS streams and WebSockets as plain byte pipes.
//! - `listen`: accept loops and the HTTP application.
//! - `budget`: the connection budget every listener takes a permit from at accept.
//! - `hub`: the state every connection shares, and the broker's timer.
//! - `outbox`: the queue from the broker to a connection's writer.
//! - `demo`: the demo's truck fleet and echo responder.
//!
//! # Example
//!
//! README.md's "The broker from Rust" runs a Rust handler answering requests; every Rust
//! example of the README is a doctest of this crate (`ReadmeExamples` below), so that the
//! README cannot drift from the code.

/// The README's Rust examples, run as doctests (`cargo test --doc -p pubzub-server`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

/// The internals stay internal: each of these fails to compile.
///
/// ```compile_fail
/// use pubzub_server::outbox::outbox;
/// ```
/// ```compile_fail
/// use pubzub_server::hub::Hub;
/// ```
/// ```compile_fail
/// use pubzub_server::broker::Session;
/// ```
/// ```compile_fail
/// use pubzub_server::connection::serve;
/// ```
/// ```compile_fail
/// use pubzub_server::transport::Inbound;
/// ```
#[cfg(doctest)]
pub struct Internals;

pub mod acl;
pub mod api;
pub mod auth;
mod broker;
mod budget;
pub mod config;
mod connection;
mod demo;
mod hub;
mod listen;
pub mod metrics;
mod outbox;
pub mod store;
mod transport;
mod writer;

pub use listen::TlsError;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::hub::Hub;

/// Why the server could not start or reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener's address is taken, or not this machine's.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be read or used.
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
    /// The configuration file cannot be read or parsed.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store under `data_dir` is in use, damaged or cannot be written.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// A running server. Dropping it without [`shutdown`](Server::shutdown) leaves the listeners
/// running until the runtime ends.
pub struct Server {
    hub: Arc<Hub>,
    http: Vec<SocketAddr>,
    mqtt: Vec<SocketAddr>,
    mqtts: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds every configured listener and starts serving. Port 0 picks a free port; the
    /// addresses actually bound are in [`http_addrs`](Server::http_addrs) and friends.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        let store = match (&config.data_dir, config.durability) {
            (Some(dir), config::Durability::Batched | config::Durability::Sync) => {
                let (dir, move_damaged) = (dir.clone(), config.move_damaged_store);
                let opened =
                    tokio::task::spawn_blocking(move || store::Store::open(&dir, move_damaged))
                        .await;
                Some(opened.map_err(|e| store::StoreError::Io {
                    path: config.data_dir.clone().unwrap_or_default(),
                    why: e.to_string(),
                })??)
            }
            _ => None,
        };
        let hub = Hub::new(&config, store)?;
        hub.spawn_ticker();
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let interval = Duration::from_millis(config.commit_interval_ms.max(1));
        if let Some(committer) = hub.spawn_committer(interval, stop_rx.clone()) {
            tasks.spawn(async move {
                let _ = committer.await;
            });
        }

        let tls = listen::tls_from(&config.tls)?;
        let has_tls = tls.is_some();
        hub.set_tls(tls);
        for (what, dir) in [("www_dir", &config.www_dir), ("pkg_dir", &config.pkg_dir)] {
            if !dir.is_dir() {
                tracing::warn!(
                    "{what} {} is not a folder: nothing is served from it",
                    dir.display()
                );
            }
        }
        let app = listen::http_app(hub.clone(), &config.www_dir, &config.pkg_dir);

        let mut http = Vec::new();
        for listener in bind(&config.http_addrs()).await? {
            http.push(local_addr(&listener)?);
            tasks.spawn(listen::http(
                listener,
                app.clone(),
                hub.clone(),
                stop_rx.clone(),
            ));
        }
        let mut mqtt = Vec::new();
        for listener in bind(&config.mqtt_addrs()).await? {
            mqtt.push(local_addr(&listener)?);
            tasks.spawn(listen::mqtt(listener, hub.clone(), false, stop_rx.clone()));
        }
        let mut mqtts = Vec::new();
        if has_tls {
            for listener in bind(&config.mqtts_addrs()).await? {
                mqtts.push(local_addr(&listener)?);
                tasks.spawn(listen::mqtt(listener, hub.clone(), true, stop_rx.clone()));
            }
        }
        if config.demo {
            tasks.spawn(demo::truck_fleet(
                api::Api::new(hub.clone()),
                std::time::Duration::from_secs(1),
                stop_rx.clone(),
            ));
            tasks.spawn(demo::echo_responder(
                api::Api::new(hub.clone()),
                stop_rx.clone(),
            ));
        }
        for (name, addrs) in [("http", &http), ("mqtt", &mqtt), ("mqtts", &mqtts)] {
            for addr in addrs {
                tracing::info!("{name} listening on {addr}");
            }
        }
        Ok(Server {
            hub,
            http,
            mqtt,
            mqtts,
            stop,
            tasks,
        })
    }

    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http
    }

    pub fn mqtt_addrs(&self) -> &[SocketAddr] {
        &self.mqtt
    }

    pub fn mqtts_addrs(&self) -> &[SocketAddr] {
        &self.mqtts
    }

    /// The broker for Rust code in this process.
    pub fn api(&self) -> api::Api {
        api::Api::new(self.hub.clone())
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.hub.metrics
    }

    /// Takes users, anonymous access, access rules and the TLS certificate from `config`
    /// (a configuration file read again, as on SIGHUP) without dropping a connection.
    /// Existing subscriptions are granted again under the new rules. A certificate that cannot
    /// be read changes nothing and is the error. Returns what differs but takes a restart: TLS
    /// turned on or off, sites added or removed, `[limits]` (listeners and host names are not
    /// compared).
    pub fn reload(&self, config: &Config) -> Result<Vec<String>, ServerError> {
        Ok(self.hub.reload(config)?)
    }

    /// Stops accepting, sends DISCONNECT 0x8B to v5 clients, fires the wills that must fire,
    /// waits (up to 5 s) for the connections to close, and commits what changed to the store.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let now = self.hub.now();
        for site in self.hub.sites() {
            site.broker().shutdown(now);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.hub.metrics.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        // Everything that changed, wills included, is on disk before the process exits.
        self.hub.commit().await;
    }
}

/// Binds every address; an IPv6 address the machine lacks is skipped with a warning, any other
/// failure is an error.
async fn bind(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, ServerError> {
    let mut listeners = Vec::new();
    for &addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(l) => listeners.push(l),
            Err(e) if addr.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                tracing::warn!("skipping {addr}: {e}");
            }
            Err(source) => return Err(ServerError::Bind { addr, source }),
        }
    }
    Ok(listeners)
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, ServerError> {
    l.local_addr().map_err(|source| ServerError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}
