//! The server's configuration: built-in defaults, overridden by a TOML file, overridden by
//! flags and `PUBZUB_*` environment variables (see `main.rs`).
//!
//! Listener settings follow Mosquitto and Zotonic: every listener has an IPv4 address, an IPv6
//! address and a port, and each of them may be `"none"` to switch that part off.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod sites;
pub use sites::{DEFAULT_SITE, Rule, RuleAccess, RuleAction, SiteConfig, UserConfig};

/// The whole configuration file. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP: the demo pages, the npm package, `/healthz`, `/metrics` and the MQTT WebSocket
    /// endpoint `/mqtt-transport`.
    pub http: Listener,
    /// MQTT over plain TCP.
    pub mqtt: Listener,
    /// MQTT over TLS; only started when `tls.cert` and `tls.key` are set.
    pub mqtts: Listener,
    pub tls: Tls,
    /// Folder served at `/`. In a file, a relative path is relative to the file; by default
    /// the repository's `www/`, wherever the binary runs from.
    pub www_dir: PathBuf,
    /// The npm package folder, served at `/pkg/` (its `dist/` and `wasm/`); by default the
    /// repository's `pkg-js/`.
    pub pkg_dir: PathBuf,
    pub limits: Limits,
    /// `[sites.<name>]`; a site named "default" always exists and takes every connection no
    /// other site claims.
    pub sites: std::collections::BTreeMap<String, SiteConfig>,
    /// Runs the demo's data source: a simulated truck fleet on `public/truck/...`.
    pub demo: bool,
    /// The folder of the embedded store (`pubzub.redb`), which keeps retained messages across
    /// restarts; relative to the file. Unset: memory only (without a configuration file the
    /// binary uses `.pubzub-data/` in the repository).
    pub data_dir: Option<PathBuf>,
    /// When a change is on disk: `"sync"` (before the PUBACK/PUBREC of the message that made
    /// it), `"batched"` (group commit every `commit_interval_ms`; a crash loses at most that
    /// window) or `"off"` (memory only, also with a `data_dir`).
    pub durability: Durability,
    /// Milliseconds between group commits with `durability = "batched"`.
    pub commit_interval_ms: u64,
    /// A damaged store file is moved aside and the server starts empty (a flag, not in the
    /// file: a damaged store otherwise stops the server from starting).
    #[serde(skip)]
    pub move_damaged_store: bool,
    /// Set when the configuration came from a file: anonymous MQTT over TCP/TLS is then off
    /// unless a site allows it.
    #[serde(skip)]
    pub from_file: bool,
    /// A development broker, as `pubzub-server` runs without `--config` (like Mosquitto 2 on
    /// loopback): anyone may connect, also with a user name that is not configured (it then
    /// counts as anonymous), and every topic outside the protected namespaces (`bridge/`,
    /// `user/`, `$client/`, `reply/`) is open to publish and subscribe, `#` included.
    #[serde(skip)]
    pub development: bool,
}

/// The ports listeners use when the configuration names none.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
pub const DEFAULT_MQTT_PORT: u16 = 1883;
pub const DEFAULT_MQTTS_PORT: u16 = 8883;

impl Default for Config {
    fn default() -> Self {
        Config {
            http: Listener::default(),
            mqtt: Listener::default(),
            mqtts: Listener::default(),
            tls: Tls::default(),
            www_dir: in_repository("www"),
            pkg_dir: in_repository("pkg-js"),
            limits: Limits::default(),
            sites: Default::default(),
            demo: false,
            data_dir: None,
            durability: Durability::default(),
            commit_interval_ms: 100,
            move_damaged_store: false,
            from_file: false,
            development: false,
        }
    }
}

/// When a change reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Durability {
    /// A QoS 1/2 publication is acknowledged only once what it changed (a retained message,
    /// a queue of a persistent session) is on disk: an acknowledged message survives kill -9.
    /// Commits are grouped: the acknowledgements that wait share one fsync.
    Sync,
    /// Group commit every `commit_interval_ms`: a crash (kill -9, power loss) loses at most
    /// the changes of that window; a clean stop (SIGTERM) loses nothing.
    #[default]
    Batched,
    /// Memory only: a restart forgets everything.
    Off,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(Durability::Sync),
            "batched" => Ok(Durability::Batched),
            "off" => Ok(Durability::Off),
            other => Err(format!(
                "{other:?}: expected \"sync\", \"batched\" or \"off\""
            )),
        }
    }
}

/// The store folder of the binary without a configuration file: ignored by git.
pub fn development_data_dir() -> PathBuf {
    in_repository(".pubzub-data")
}

/// `name` in the repository this binary was built from (an absolute path).
fn in_repository(name: &str) -> PathBuf {
    let server = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    server.parent().unwrap_or(server).join(name)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key or value the server does not know.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

impl Config {
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        config.from_file = true;
        // The file's paths are the file's: found wherever the binary runs from.
        if let Some(base) = path.parent() {
            let tls = [config.tls.cert.as_mut(), config.tls.key.as_mut()];
            let files = [
                Some(&mut config.www_dir),
                Some(&mut config.pkg_dir),
                config.data_dir.as_mut(),
            ];
            for p in files.into_iter().chain(tls).flatten() {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(config)
    }

    /// Every site, the default one included.
    pub fn all_sites(&self) -> std::collections::BTreeMap<String, SiteConfig> {
        sites::with_default(self.sites.clone())
    }

    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.http.addrs(DEFAULT_HTTP_PORT)
    }

    pub fn mqtt_addrs(&self) -> Vec<SocketAddr> {
        self.mqtt.addrs(DEFAULT_MQTT_PORT)
    }

    /// Empty unless a certificate and a key are configured.
    pub fn mqtts_addrs(&self) -> Vec<SocketAddr> {
        if self.tls.cert.is_none() || self.tls.key.is_none() {
            return Vec::new();
        }
        self.mqtts.addrs(DEFAULT_MQTTS_PORT)
    }
}

/// One listener: where it binds. `ip`/`ip6`/`port` may each be "none"; an unset part takes
/// its default (127.0.0.1, ::1, the listener's usual port).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Listener {
    pub ip: Option<Setting<Ipv4Addr>>,
    pub ip6: Option<Setting<Ipv6Addr>>,
    pub port: Option<Setting<u16>>,
}

impl Listener {
    /// The addresses to bind, IPv4 first; empty when the listener is off.
    pub fn addrs(&self, default_port: u16) -> Vec<SocketAddr> {
        let Setting::On(port) = self.port.unwrap_or(Setting::On(default_port)) else {
            return Vec::new();
        };
        let v4 = self.ip.unwrap_or(Setting::On(Ipv4Addr::LOCALHOST));
        let v6 = self.ip6.unwrap_or(Setting::On(Ipv6Addr::LOCALHOST));
        v4.get()
            .map(IpAddr::V4)
            .into_iter()
            .chain(v6.get().map(IpAddr::V6))
            .map(|ip| SocketAddr::new(ip, port))
            .collect()
    }
}

/// A value, or `"none"` for "switched off". `"any"` is accepted for the unspecified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting<T> {
    /// This value.
    On(T),
    /// `"none"`: this part of the listener is off.
    Off,
}

impl<T: Copy> Setting<T> {
    pub fn get(&self) -> Option<T> {
        match self {
            Setting::On(v) => Some(*v),
            Setting::Off => None,
        }
    }
}

/// How a setting is written: a value, "none", or (for addresses) "any".
pub trait SettingValue: Sized {
    fn parse_setting(s: &str) -> Result<Self, String>;
}

impl SettingValue for Ipv4Addr {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s == "any" {
            return Ok(Ipv4Addr::UNSPECIFIED);
        }
        s.parse().map_err(|e| format!("{s:?}: {e}"))
    }
}

impl SettingValue for Ipv6Addr {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s == "any" {
            return Ok(Ipv6Addr::UNSPECIFIED);
        }
        s.parse().map_err(|e| format!("{s:?}: {e}"))
    }
}

impl SettingValue for u16 {
    fn parse_setting(s: &str) -> Result<Self, String> {
        s.parse().map_err(|e| format!("{s:?}: {e}"))
    }
}

impl<T: SettingValue> FromStr for Setting<T> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            Ok(Setting::Off)
        } else {
            T::parse_setting(s).map(Setting::On)
        }
    }
}

impl<'de, T: SettingValue> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The TLS certificate chain and private key (PEM files) for the `mqtts` listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Protection against clients that take too much.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest packet accepted and announced in CONNACK (bytes).
    pub max_packet_size: u32,
    /// Sockets open at once over every listener (MQTT, TLS, HTTP and WebSocket alike), taken
    /// at accept: past it a new socket is closed before anything is read from it.
    pub max_connections: usize,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout: u64,
    /// Seconds an HTTP client has to send a request's headers; a slower one is closed.
    pub http_header_timeout: u64,
    /// The longest keep alive (seconds) a client may ask for; longer or 0 is answered with
    /// this value as Server Keep Alive (v5).
    pub max_keep_alive: u16,
    /// QoS 1 and 2 messages a client may have unacknowledged towards the server.
    pub receive_maximum: u16,
    /// Topic aliases a client may use towards the server.
    pub topic_alias_maximum: u16,
    pub max_topic_levels: usize,
    /// Bytes.
    pub max_topic_length: usize,
    pub max_subscriptions_per_client: usize,
    /// Messages per second a client may publish (a burst of as many is allowed);
    /// 0 turns the limit off.
    pub max_publish_rate: u32,
    /// Messages kept for a session while its client is offline or its window is full.
    pub max_queued_messages: usize,
    /// QoS 0 messages waiting to be written to one connection; more are dropped for that
    /// subscriber only.
    pub max_outgoing_qos0: usize,
    /// The longest session expiry interval granted (seconds); also the expiry of a 3.1.1
    /// persistent session.
    pub max_session_expiry: u32,
    /// Wills a session may register on `$client/<id>/will/<willId>` (each up to a packet);
    /// past it the registration gets 0x97 (quota exceeded).
    pub max_wills_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet_size: 1024 * 1024,
            max_connections: 10_000,
            connect_timeout: 10,
            http_header_timeout: 10,
            max_keep_alive: 300,
            receive_maximum: 100,
            topic_alias_maximum: 64,
            max_topic_levels: 32,
            max_topic_length: 1024,
            max_subscriptions_per_client: 1000,
            max_publish_rate: 1000,
            max_queued_messages: 1000,
            max_outgoing_qos0: 1000,
            max_session_expiry: 24 * 3600,
            max_wills_per_client: 16,
        }
    }
}

impl Limits {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }

    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(
            c.mqtt_addrs(),
            vec![
                "127.0.0.1:1883".parse().unwrap(),
                "[::1]:1883".parse().unwrap()
            ]
        );
        assert!(c.mqtts_addrs().is_empty(), "no TLS without a certificate");
        assert_eq!(c.limits.max_packet_size, 1024 * 1024);
    }

    #[test]
    fn listener_parts_can_be_switched_off() {
        let c = Config::from_toml(
            r#"
            [mqtt]
            ip = "any"
            ip6 = "none"
            port = 1884
            [mqtts]
            port = "none"
            "#,
        )
        .unwrap();
        assert_eq!(c.mqtt_addrs(), vec!["0.0.0.0:1884".parse().unwrap()]);
        assert!(c.mqtts.addrs(DEFAULT_MQTTS_PORT).is_empty());
        assert_eq!(
            c.http_addrs().len(),
            2,
            "an absent section keeps its defaults"
        );
    }

    #[test]
    fn the_example_file_states_the_defaults() {
        let example = Config::from_toml(include_str!("../../pubzub.example.toml")).unwrap();
        let defaults = Config::default();
        assert_eq!(example.http_addrs(), defaults.http_addrs());
        assert_eq!(example.mqtt_addrs(), defaults.mqtt_addrs());
        assert_eq!(
            format!("{:?}", example.limits),
            format!("{:?}", defaults.limits)
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("[mqtt]\nprot = 1\n").unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }
}
