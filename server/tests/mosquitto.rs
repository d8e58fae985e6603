//! Debian's mosquitto_pub and mosquitto_sub against the server: MQTT v5 and 3.1.1, over TCP
//! and over TLS with a certificate made for the test.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

/// The mosquitto client options that reach `addr`, with TLS when a CA file is given.
fn target(addr: SocketAddr, cafile: Option<&PathBuf>) -> Vec<String> {
    let mut args = vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ];
    if let Some(ca) = cafile {
        args.extend(["--cafile".into(), ca.display().to_string()]);
    }
    args
}

/// Subscribes with mosquitto_sub (waiting for `count` messages), publishes each message with
/// mosquitto_pub, and returns what the subscriber printed.
async fn round_trip(
    addr: SocketAddr,
    cafile: Option<&PathBuf>,
    version: &str,
    messages: &[(&str, &str, u8)],
) -> String {
    let sub = Command::new("mosquitto_sub")
        .args(target(addr, cafile))
        .args(["-V", version, "-t", "mq/#", "-v", "-q", "2", "-C"])
        .arg(messages.len().to_string())
        .args(["-W", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub runs (apt-get install mosquitto-clients)");
    // mosquitto_sub prints nothing on SUBACK; wait until the server knows the subscription.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for (topic, payload, qos) in messages {
        let status = Command::new("mosquitto_pub")
            .args(target(addr, cafile))
            .args([
                "-V",
                version,
                "-t",
                topic,
                "-m",
                payload,
                "-q",
                &qos.to_string(),
            ])
            .status()
            .await
            .expect("mosquitto_pub runs");
        assert!(status.success(), "mosquitto_pub {topic} failed");
    }
    let out = sub.wait_with_output().await.expect("mosquitto_sub ends");
    assert!(
        out.status.success(),
        "mosquitto_sub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

const MESSAGES: &[(&str, &str, u8)] =
    &[("mq/a", "zero", 0), ("mq/b", "one", 1), ("mq/c", "two", 2)];
const EXPECTED: &str = "mq/a zero\nmq/b one\nmq/c two\n";

#[tokio::test]
async fn mosquitto_clients_over_tcp_v5_and_v311() {
    let s = common::start().await;
    assert_eq!(round_trip(s.mqtt, None, "mqttv5", MESSAGES).await, EXPECTED);
    assert_eq!(
        round_trip(s.mqtt, None, "mqttv311", MESSAGES).await,
        EXPECTED
    );
}

#[tokio::test]
async fn mosquitto_clients_over_tls_v5_and_v311() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let s = common::start_with(|c| {
        c.tls.cert = Some(cert_path.clone());
        c.tls.key = Some(key_path.clone());
    })
    .await;
    let tls = s.mqtts.expect("TLS listener");
    assert_eq!(
        round_trip(tls, Some(&cert_path), "mqttv5", MESSAGES).await,
        EXPECTED
    );
    assert_eq!(
        round_trip(tls, Some(&cert_path), "mqttv311", MESSAGES).await,
        EXPECTED
    );
}

#[tokio::test]
async fn mosquitto_sub_gets_retained_messages_from_rumqttc() {
    let s = common::start().await;
    let mut p = common::V5::simple(s.mqtt, "retainer").await;
    p.publish_acked("mq/state", "on", true).await;
    let out = Command::new("mosquitto_sub")
        .args(target(s.mqtt, None))
        .args([
            "-V", "mqttv5", "-t", "mq/#", "-v", "-C", "1", "-W", "5", "-F", "%t %p %r",
        ])
        .output()
        .await
        .expect("mosquitto_sub runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mq/state on 1\n");
}
