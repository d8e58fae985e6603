//! What `/metrics` shows, through prometheus-client in the Prometheus text format: per
//! listener, per site, the latency from publish to delivery, and the process.
//!
//! The hot path holds handles made once (a listener's, a site's): one relaxed atomic add per
//! event. Names start with `pubzub_` (the process's with `process_`); counters get `_total`
//! from the library.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::hub::Transport;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    /// `mqtt`, `mqtts`, or `http` (MQTT over WebSocket, and the pages).
    listener: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabel {
    site: String,
}

/// Every metric of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// By [`Transport`]: TCP, TLS, WebSocket.
    listeners: [ListenerMetrics; 3],
    sites: SiteFamilies,
    /// From a message's arrival to its PUBLISH being written to a subscriber.
    pub(crate) latency: Latency,
}

/// One listener's handles.
#[derive(Debug, Clone)]
pub(crate) struct ListenerMetrics {
    /// Open MQTT connections.
    pub connections: Gauge,
    /// MQTT connections served.
    pub accepted: Counter,
    /// Sockets closed at accept (the connection budget) and logins or CONNECTs refused.
    pub refused: Counter,
    /// Connections closed for malformed or forbidden packets.
    pub protocol_errors: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
}

/// One site's handles, held by its broker.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteMetrics {
    /// Sessions, connected or not.
    pub sessions: Gauge,
    /// Stored retained messages.
    pub retained: Gauge,
    /// PUBLISH packets received from clients.
    pub messages_in: Counter,
    /// PUBLISH packets written to clients.
    pub messages_out: Counter,
    /// Messages dropped: a full queue, expired, rate limited, refused.
    pub dropped: Counter,
}

#[derive(Debug, Default)]
struct SiteFamilies {
    sessions: Family<SiteLabel, Gauge>,
    retained: Family<SiteLabel, Gauge>,
    messages_in: Family<SiteLabel, Counter>,
    messages_out: Family<SiteLabel, Counter>,
    dropped: Family<SiteLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // No prefix on the registry: it would reach the `process_*` metrics too.
        let mut registry = Registry::default();
        let families = ListenerFamilies::default();
        let listeners = [Transport::Tcp, Transport::Tls, Transport::WebSocket]
            .map(|transport| families.handles(listener_name(transport)));
        families.register(&mut registry);
        let sites = SiteFamilies::default();
        registry.register(
            "pubzub_sessions",
            "Sessions, connected or not",
            sites.sessions.clone(),
        );
        registry.register(
            "pubzub_retained_messages",
            "Stored retained messages",
            sites.retained.clone(),
        );
        registry.register(
            "pubzub_messages_in",
            "PUBLISH packets received from clients",
            sites.messages_in.clone(),
        );
        registry.register(
            "pubzub_messages_out",
            "PUBLISH packets written to clients",
            sites.messages_out.clone(),
        );
        registry.register(
            "pubzub_dropped_messages",
            "Messages dropped: a full queue, expired, rate limited, refused",
            sites.dropped.clone(),
        );
        let latency = Latency::default();
        registry.register_with_unit(
            "pubzub_publish_to_delivery",
            "From a message's arrival to its PUBLISH being written to a subscriber",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics {
            registry,
            listeners,
            sites,
            latency,
        }
    }

    pub(crate) fn listener(&self, transport: Transport) -> &ListenerMetrics {
        &self.listeners[match transport {
            Transport::Tcp => 0,
            Transport::Tls => 1,
            Transport::WebSocket => 2,
        }]
    }

    /// The handles of site `name` (made on first use).
    pub(crate) fn site(&self, name: &str) -> SiteMetrics {
        let label = SiteLabel { site: name.into() };
        let f = &self.sites;
        SiteMetrics {
            sessions: f.sessions.get_or_create_owned(&label),
            retained: f.retained.get_or_create_owned(&label),
            messages_in: f.messages_in.get_or_create_owned(&label),
            messages_out: f.messages_out.get_or_create_owned(&label),
            dropped: f.dropped.get_or_create_owned(&label),
        }
    }

    /// Open MQTT connections over every listener.
    pub fn open_connections(&self) -> i64 {
        self.listeners.iter().map(|l| l.connections.get()).sum()
    }

    /// MQTT connections closed so far over every listener.
    pub(crate) fn closed_connections(&self) -> u64 {
        let accepted: u64 = self.listeners.iter().map(|l| l.accepted.get()).sum();
        accepted.saturating_sub(u64::try_from(self.open_connections()).unwrap_or(0))
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

fn listener_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Tcp => "mqtt",
        Transport::Tls => "mqtts",
        Transport::WebSocket => "http",
    }
}

/// The per-listener families; each listener's handles are made once and kept.
#[derive(Default)]
struct ListenerFamilies {
    connections: Family<ListenerLabel, Gauge>,
    accepted: Family<ListenerLabel, Counter>,
    refused: Family<ListenerLabel, Counter>,
    protocol_errors: Family<ListenerLabel, Counter>,
    bytes_in: Family<ListenerLabel, Counter>,
    bytes_out: Family<ListenerLabel, Counter>,
}

impl ListenerFamilies {
    /// `listener`'s handles: each shares its atomic with the family's entry.
    fn handles(&self, listener: &'static str) -> ListenerMetrics {
        let label = ListenerLabel { listener };
        ListenerMetrics {
            connections: self.connections.get_or_create_owned(&label),
            accepted: self.accepted.get_or_create_owned(&label),
            refused: self.refused.get_or_create_owned(&label),
            protocol_errors: self.protocol_errors.get_or_create_owned(&label),
            bytes_in: self.bytes_in.get_or_create_owned(&label),
            bytes_out: self.bytes_out.get_or_create_owned(&label),
        }
    }

    fn register(self, registry: &mut Registry) {
        registry.register(
            "pubzub_connections",
            "Open MQTT connections",
            self.connections,
        );
        registry.register(
            "pubzub_connections",
            "MQTT connections served",
            self.accepted,
        );
        registry.register(
            "pubzub_refused_connections",
            "Sockets closed at accept past the connection budget, and refused logins or CONNECTs",
            self.refused,
        );
        registry.register(
            "pubzub_protocol_errors",
            "Connections closed for malformed or invalid packets",
            self.protocol_errors,
        );
        registry.register(
            "pubzub_bytes_in",
            "Bytes received from clients",
            self.bytes_in,
        );
        registry.register("pubzub_bytes_out", "Bytes sent to clients", self.bytes_out);
    }
}

/// A histogram of delivery latency whose observations take no lock (prometheus-client's
/// `Histogram` locks a mutex per observation, and this one is observed per delivery).
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency(std::sync::Arc<LatencyBuckets>);

#[derive(Debug, Default)]
pub(crate) struct LatencyBuckets {
    /// Observations per bucket of [`BOUNDS`], the last for longer ones.
    counts: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// Upper bounds in seconds: from 50 µs (a delivery on loopback) to 10 s (a queue).
const BOUNDS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0,
];

impl Latency {
    /// Adds what `tally` gathered: one update per bucket used, not per observation.
    pub(crate) fn add(&self, tally: &LatencyTally) {
        for (shared, &n) in self.0.counts.iter().zip(&tally.counts) {
            if n > 0 {
                shared.fetch_add(n, Relaxed);
            }
        }
        if tally.sum_nanos > 0 {
            self.0.sum_nanos.fetch_add(tally.sum_nanos, Relaxed);
        }
    }
}

/// Observations gathered by one writer before they go to the shared [`Latency`] at once: every
/// connection's writer adds to the same counters, and an update per message kept their cache
/// line moving between the cores.
#[derive(Debug, Default)]
pub(crate) struct LatencyTally {
    counts: [u64; BOUNDS.len() + 1],
    sum_nanos: u64,
}

impl LatencyTally {
    pub(crate) fn observe(&mut self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BOUNDS.len());
        self.counts[bucket] += 1;
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Observations so far.
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts: Vec<u64> = self.0.counts.iter().map(|c| c.load(Relaxed)).collect();
        let buckets: Vec<(f64, u64)> = BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts.iter().copied())
            .collect();
        let sum = self.0.sum_nanos.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The usual `process_*` metrics, read from `/proc/self` at each scrape (Linux only).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = process::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(p.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu",
            "User and system CPU time",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory",
                p.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory",
                p.virtual_bytes,
            ),
            ("process_open_fds", "Open file descriptors", p.open_fds),
            ("process_threads", "Threads", p.threads),
            (
                "process_start_time_seconds",
                "Start time since the Unix epoch",
                p.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

/// `/proc/self`, as the Prometheus client libraries of other languages read it.
mod process {
    pub struct Process {
        pub cpu_seconds: f64,
        pub resident_bytes: i64,
        pub virtual_bytes: i64,
        pub open_fds: i64,
        pub threads: i64,
        pub start_time_seconds: i64,
    }

    /// Clock ticks per second in `/proc` (USER_HZ): 100 on every Linux architecture but Alpha.
    const TICKS: f64 = 100.0;

    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may hold spaces: the fields start after its closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // Fields 3.. of proc(5), so field n is fields[n - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
        let cpu_ticks = field(14)? + field(15)?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<i64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
        // In kB, so that the page size does not matter.
        let resident_kib: i64 = std::fs::read_to_string("/proc/self/status")
            .ok()?
            .lines()
            .find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .trim()
                    .strip_suffix(" kB")?
                    .trim()
                    .parse()
                    .ok()
            })?;
        Some(Process {
            cpu_seconds: cpu_ticks as f64 / TICKS,
            threads: field(20)?,
            start_time_seconds: boot + field(22)? / TICKS as i64,
            virtual_bytes: field(23)?,
            resident_bytes: resident_kib * 1024,
            open_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_listener_per_site_latency_and_process() {
        let m = Metrics::new();
        m.listener(Transport::Tcp).bytes_in.inc_by(42);
        m.listener(Transport::WebSocket).connections.inc();
        m.site("default").sessions.inc();
        let mut tally = LatencyTally::default();
        tally.observe(Duration::from_micros(300));
        tally.observe(Duration::from_secs(20));
        assert_eq!(tally.count(), 2);
        m.latency.add(&tally);
        let text = m.render();
        for line in [
            "# TYPE pubzub_bytes_in_total counter",
            "pubzub_bytes_in_total{listener=\"mqtt\"} 42",
            "pubzub_connections{listener=\"http\"} 1",
            "pubzub_sessions{site=\"default\"} 1",
            "# TYPE pubzub_publish_to_delivery_seconds histogram",
            "pubzub_publish_to_delivery_seconds_bucket{le=\"0.00025\"} 0",
            "pubzub_publish_to_delivery_seconds_bucket{le=\"0.0005\"} 1",
            "pubzub_publish_to_delivery_seconds_bucket{le=\"+Inf\"} 2",
            "pubzub_publish_to_delivery_seconds_count 2",
            "# TYPE process_cpu_seconds_total counter",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert_eq!(m.open_connections(), 1);
        let resident: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .expect("a resident memory sample");
        assert!(resident > 1024 * 1024, "{resident} bytes");
    }
}
