//! pubzub-server: the central MQTT v5 broker. A skeleton until the broker lands; it already
//! links pubzub-core so that the workspace builds and tests as one.

fn main() {
    println!(
        "pubzub-server {} (pubzub-core codec ready; broker not yet implemented)",
        env!("CARGO_PKG_VERSION")
    );
}
