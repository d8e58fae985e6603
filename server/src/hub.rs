//! What every connection shares: the sites (each with its broker behind a lock), the metrics,
//! the limits, the clock and the record of failed logins. A background task ticks every
//! site's broker for wills, expiries and retained messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use pubzub_core::Timestamp;
use tokio_rustls::TlsAcceptor;

use crate::acl::Acl;
use crate::auth::Failures;
use crate::broker::Broker;
use crate::broker::HeldAck;
use crate::budget::Budget;
use crate::config::Durability;
use crate::config::{Config, DEFAULT_SITE, Limits, SiteConfig};
use crate::listen;
use crate::metrics::{Metrics, SiteMetrics};
use crate::store::{Change, Kind, Store, StoreError, WallClock};

/// How often the brokers' timers are checked. Will delays and expiries are whole seconds, so a
/// tenth of a second is precise enough and costs one uncontended lock per site.
const TICK: Duration = Duration::from_millis(100);

/// How a client reached the server: anonymous access differs for pages and other clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Tls,
    WebSocket,
}

/// One site: its own pool of sessions, subscriptions, retained messages and wills.
pub struct Site {
    pub name: Arc<str>,
    broker: Mutex<Broker>,
    pub(crate) metrics: SiteMetrics,
    /// Who may log in; replaced whole by a reload (read once per CONNECT).
    logins: RwLock<Logins>,
    /// A development broker: a user name that is not configured counts as anonymous.
    pub development: bool,
}

/// A site's users and whether anonymous clients may connect.
struct Logins {
    /// User name to argon2 PHC string.
    passwords: HashMap<String, String>,
    allow_anonymous: bool,
    allow_anonymous_pages: bool,
}

impl Logins {
    fn of(site: &SiteConfig, config: &Config) -> Logins {
        Logins {
            passwords: site
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password_hash.clone()))
                .collect(),
            allow_anonymous: site.allow_anonymous.unwrap_or(!config.from_file),
            allow_anonymous_pages: site.allow_anonymous_pages.unwrap_or(true),
        }
    }
}

impl Site {
    /// The site's broker, locked. A panic while holding the lock poisons it; the broker's
    /// state is still consistent enough to keep serving the other clients, so the poison is
    /// ignored.
    pub fn broker(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn logins(&self) -> std::sync::RwLockReadGuard<'_, Logins> {
        self.logins.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn password_hash(&self, user: &str) -> Option<String> {
        self.logins().passwords.get(user).cloned()
    }

    pub fn allows_anonymous(&self, transport: Transport) -> bool {
        let logins = self.logins();
        match transport {
            Transport::WebSocket => logins.allow_anonymous_pages,
            Transport::Tcp | Transport::Tls => logins.allow_anonymous,
        }
    }

    /// Takes the users, anonymous access and rules of `site` from a reloaded configuration.
    fn reload(&self, site: &SiteConfig, config: &Config) {
        *self.logins.write().unwrap_or_else(|e| e.into_inner()) = Logins::of(site, config);
        self.broker().set_rules(site.rules.clone());
    }
}

pub struct Hub {
    sites: HashMap<Arc<str>, Arc<Site>>,
    by_host: HashMap<String, Arc<Site>>,
    default_site: Arc<Site>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub failures: Failures,
    /// Sockets open over every listener, taken at accept.
    pub(crate) budget: Budget,
    /// The MQTT/TLS listeners' certificate, replaced by a reload.
    tls: RwLock<Option<TlsAcceptor>>,
    /// The embedded store, with `durability = "batched"` and a `data_dir`.
    persistence: Option<Persistence>,
    epoch: Instant,
}

/// The store, and the changes taken from the brokers that have not reached it yet.
struct Persistence {
    store: Arc<Store>,
    /// Wall-clock time of the hub's time 0: the store keeps wall-clock times.
    start: WallClock,
    /// Held from taking changes to writing them, so that commits land in the order taken;
    /// holds what a failed write left for the next commit.
    unwritten: tokio::sync::Mutex<Vec<Change>>,
    /// `durability = "sync"`: a publication waits for its acknowledgement, so commit now.
    sync: bool,
    wake: tokio::sync::Notify,
}

impl Hub {
    /// The hub, with the retained messages `store` kept put back into their sites' brokers.
    pub fn new(config: &Config, store: Option<Store>) -> Result<Arc<Hub>, StoreError> {
        let metrics = Arc::new(Metrics::new());
        let mut sites = HashMap::new();
        let mut by_host = HashMap::new();
        for (name, site) in config.all_sites() {
            let built = Arc::new(build_site(&name, &site, config, &metrics));
            for host in &site.hostnames {
                by_host.insert(host.to_ascii_lowercase(), built.clone());
            }
            sites.insert(built.name.clone(), built);
        }
        let default_site = sites
            .get(DEFAULT_SITE)
            .cloned()
            .expect("all_sites always has the default site");
        let epoch = Instant::now();
        let persistence = match store {
            Some(store) => {
                let start = WallClock::now();
                for site in sites.values() {
                    let retained = store.records(Kind::Retained, &site.name)?;
                    let sessions = store.records(Kind::Session, &site.name)?;
                    let mut broker = site.broker();
                    broker.track_changes(config.durability == Durability::Sync);
                    let r = broker.restore_retained(retained, start, Timestamp(0));
                    let s = broker.restore_sessions(sessions, start, Timestamp(0));
                    tracing::info!(
                        site = %site.name,
                        "{r} retained messages and {s} sessions from {}",
                        store.path().display()
                    );
                }
                Some(Persistence {
                    store: Arc::new(store),
                    start,
                    unwritten: tokio::sync::Mutex::new(Vec::new()),
                    sync: config.durability == Durability::Sync,
                    wake: tokio::sync::Notify::new(),
                })
            }
            None => None,
        };
        Ok(Arc::new(Hub {
            sites,
            by_host,
            default_site,
            metrics,
            limits: config.limits.clone(),
            failures: Failures::default(),
            budget: Budget::new(config.limits.max_connections),
            tls: RwLock::new(None),
            persistence,
            epoch,
        }))
    }

    /// Writes what changed in the brokers since the last commit to the store, on disk when
    /// it returns, then sends the acknowledgements that waited for it. A write that fails (a
    /// full disk) is logged and its changes are tried again with the next commit; its
    /// acknowledgements go out as 0x97, and so do those of new QoS 1/2 publications until a
    /// write succeeds.
    pub(crate) async fn commit(&self) {
        let Some(p) = &self.persistence else {
            return;
        };
        let mut unwritten = p.unwritten.lock().await;
        let now = self.now();
        let mut acks: Vec<(Arc<Site>, Vec<HeldAck>)> = Vec::new();
        for site in self.sites.values() {
            let commit = site.broker().take_changes(p.start, now);
            unwritten.extend(commit.changes);
            acks.push((site.clone(), commit.acks));
        }
        let waiting = acks.iter().any(|(_, a)| !a.is_empty());
        if unwritten.is_empty() && !waiting {
            return;
        }
        let (store, changes) = (p.store.clone(), unwritten.clone());
        let written = if changes.is_empty() {
            // Acknowledgements of messages that changed nothing kept: no fsync for them.
            true
        } else {
            match tokio::task::spawn_blocking(move || store.write(changes)).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::error!("{e}; the changes are kept for the next commit");
                    false
                }
                Err(e) => {
                    tracing::error!("the store's writer failed: {e}");
                    false
                }
            }
        };
        if written {
            unwritten.clear();
        }
        for (site, acks) in acks {
            site.broker().committed(acks, written);
        }
    }

    /// `durability = "sync"`: a publication's acknowledgement waits, so the committer runs
    /// now (the acknowledgements waiting meanwhile share its fsync).
    pub(crate) fn wake_committer(&self) {
        if let Some(p) = self.persistence.as_ref().filter(|p| p.sync) {
            p.wake.notify_one();
        }
    }

    /// Commits every `interval` until `stop`; the last commit is [`Server::shutdown`]'s.
    pub(crate) fn spawn_committer(
        self: &Arc<Hub>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.persistence.as_ref()?;
        let hub = self.clone();
        Some(tokio::spawn(async move {
            // The first commit is one interval after the start, not at once: a commit at
            // start would race the first clients' changes and write them early.
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // notify_one keeps a permit for a wake that came while a commit ran.
                let woken = async {
                    match &hub.persistence {
                        Some(p) => p.wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                let stopping = tokio::select! {
                    _ = tick.tick() => false,
                    () = woken => false,
                    stopped = stop.wait_for(|s| *s) => { drop(stopped); true }
                };
                if stopping {
                    return;
                }
                hub.commit().await;
            }
        }))
    }

    /// Milliseconds since the hub started: the brokers' clock.
    pub fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    pub fn site(&self, name: &str) -> Option<&Arc<Site>> {
        self.sites.get(name)
    }

    pub fn sites(&self) -> impl Iterator<Item = &Arc<Site>> {
        self.sites.values()
    }

    /// The site a host name selects, if any (case-insensitive, without a port).
    pub fn site_for_host(&self, host: &str) -> Option<&Arc<Site>> {
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        self.by_host.get(&host.to_ascii_lowercase())
    }

    pub fn default_site(&self) -> &Arc<Site> {
        &self.default_site
    }

    /// The TLS acceptor for the next MQTT/TLS connection.
    pub(crate) fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_tls(&self, tls: Option<TlsAcceptor>) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = tls;
    }

    /// Takes users, anonymous access, access rules and the TLS certificate from `config`;
    /// connections stay. Everything or nothing: a certificate that cannot be read changes
    /// nothing. What differs but takes a restart (TLS turned on or off, sites added or removed,
    /// `[limits]`) is named in the returned list.
    pub(crate) fn reload(&self, config: &Config) -> Result<Vec<String>, listen::TlsError> {
        let tls = listen::tls_from(&config.tls)?;
        let mut needs_restart = Vec::new();
        match (self.tls().is_some(), tls) {
            (true, Some(tls)) => self.set_tls(Some(tls)),
            (false, Some(_)) => needs_restart.push("a TLS listener where there was none".into()),
            (true, None) => needs_restart.push("turning the TLS listener off".into()),
            (false, None) => {}
        }
        let sites = config.all_sites();
        for (name, site) in &sites {
            match self.sites.get(name.as_str()) {
                Some(running) => running.reload(site, config),
                None => needs_restart.push(format!("the new site {name}")),
            }
        }
        for name in self.sites.keys() {
            if !sites.contains_key(&**name) {
                needs_restart.push(format!("removing the site {name}"));
            }
        }
        if config.limits != self.limits {
            needs_restart.push("[limits]".into());
        }
        Ok(needs_restart)
    }

    /// Runs the brokers' timers until the hub is dropped by everyone else, and gives memory
    /// back to the system after connections have closed.
    pub fn spawn_ticker(self: &Arc<Hub>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut trim = Trim::default();
            loop {
                interval.tick().await;
                let Some(hub) = weak.upgrade() else { break };
                let now = hub.now();
                for site in hub.sites.values() {
                    site.broker().tick(now);
                }
                trim.after_closes(&hub.metrics, now);
            }
        });
    }
}

/// Hands freed heap memory back to the system once connections have closed. glibc's malloc
/// keeps what a thread freed in that thread's arena: a server that had held a stalled
/// subscriber's 1,000 messages stayed about 1 MB (twice its idle heap) above its baseline
/// after the clients left; `malloc_trim` returns it (measured by `loadgen`'s stalled workload).
#[derive(Default)]
struct Trim {
    closed_seen: u64,
    next: Timestamp,
}

impl Trim {
    /// How often at most: a trim walks every arena under its lock.
    const EVERY_MS: u64 = 1000;

    fn after_closes(&mut self, metrics: &Metrics, now: Timestamp) {
        let closed = metrics.closed_connections();
        if closed == self.closed_seen || now < self.next {
            return;
        }
        self.closed_seen = closed;
        self.next = Timestamp(now.0 + Self::EVERY_MS);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        tokio::task::spawn_blocking(|| {
            // SAFETY: malloc_trim only releases free pages; it is safe to call at any time.
            unsafe { libc::malloc_trim(0) };
        });
    }
}

fn build_site(name: &str, site: &SiteConfig, config: &Config, metrics: &Arc<Metrics>) -> Site {
    let name: Arc<str> = name.into();
    let mut acl = Acl::new(site.rules.clone());
    acl.set_development(config.development);
    let metrics = metrics.site(&name);
    Site {
        broker: Mutex::new(Broker::new(
            name.clone(),
            config.limits.clone(),
            metrics.clone(),
            acl,
        )),
        metrics,
        name,
        logins: RwLock::new(Logins::of(site, config)),
        development: config.development,
    }
}
