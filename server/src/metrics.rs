//! Counters and gauges, read by `/metrics` in the Prometheus text format. Plain atomics: the
//! hot path pays one relaxed add per event.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections: AtomicI64,
    pub sessions: AtomicI64,
    pub retained: AtomicI64,
    pub connections_total: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub dropped: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub refused_connections: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let gauges = [
            ("connections", "Open client connections", &self.connections),
            ("sessions", "Sessions, connected or not", &self.sessions),
            (
                "retained_messages",
                "Stored retained messages",
                &self.retained,
            ),
        ];
        let counters = [
            (
                "connections_total",
                "Connections accepted",
                &self.connections_total,
            ),
            (
                "messages_in_total",
                "PUBLISH packets received",
                &self.messages_in,
            ),
            (
                "messages_out_total",
                "PUBLISH packets sent",
                &self.messages_out,
            ),
            (
                "bytes_in_total",
                "Bytes received from clients",
                &self.bytes_in,
            ),
            ("bytes_out_total", "Bytes sent to clients", &self.bytes_out),
            (
                "dropped_messages_total",
                "Messages dropped: queue full, expired, rate limited",
                &self.dropped,
            ),
            (
                "protocol_errors_total",
                "Connections closed for malformed or invalid packets",
                &self.protocol_errors,
            ),
            (
                "refused_connections_total",
                "Connections refused at CONNECT",
                &self.refused_connections,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP pubzub_{name} {help}\n# TYPE pubzub_{name} gauge\npubzub_{name} {}",
                value.load(Relaxed)
            );
        }
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP pubzub_{name} {help}\n# TYPE pubzub_{name} counter\npubzub_{name} {}",
                value.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_help_and_type() {
        let m = Metrics::default();
        Metrics::add(&m.bytes_in, 42);
        m.connections.fetch_add(2, Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE pubzub_bytes_in_total counter\npubzub_bytes_in_total 42\n"));
        assert!(text.contains("pubzub_connections 2\n"));
        assert_eq!(text.matches("# HELP").count(), 11);
    }
}
