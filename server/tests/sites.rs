//! Sites and logins: two sites that cannot see each other, site selection by `host:user` and
//! by the WebSocket Host header, passwords, anonymous access per transport, the slow-down
//! after failed logins.

mod common;

use std::time::{Duration, Instant};

use common::{QoS, Raw, V5, v5_options};
use pubzub_core::ReasonCode;
use pubzub_server::auth::hash_password;
use pubzub_server::config::{Config, DEFAULT_SITE, SiteConfig, UserConfig};
use tokio::process::Command;

fn user(name: &str) -> UserConfig {
    UserConfig {
        name: name.into(),
        password_hash: hash_password(&format!("pw-{name}")).unwrap(),
    }
}

/// Two sites: the default one (host localhost) with alice, and shop.example with bob; as
/// with a configuration file, anonymous MQTT over TCP is off.
fn two_sites(c: &mut Config) {
    c.from_file = true;
    c.sites.insert(
        DEFAULT_SITE.into(),
        SiteConfig {
            hostnames: vec!["localhost".into()],
            users: vec![user("alice")],
            ..Default::default()
        },
    );
    c.sites.insert(
        "shop".into(),
        SiteConfig {
            hostnames: vec!["shop.example".into()],
            users: vec![user("bob")],
            ..Default::default()
        },
    );
}

fn login(
    addr: std::net::SocketAddr,
    id: &str,
    username: &str,
    password: &str,
) -> rumqttc::v5::MqttOptions {
    let mut o = v5_options(addr, id);
    o.set_credentials(username, password);
    o
}

/// A raw CONNECT with these credentials; returns the CONNACK's reason.
async fn connack(
    addr: std::net::SocketAddr,
    version: pubzub_core::ProtocolVersion,
    username: Option<&str>,
    password: &str,
) -> ReasonCode {
    let mut connect = common::connect_packet("raw");
    connect.protocol = version;
    connect.username = username.map(Into::into);
    connect.password = username.map(|_| password.as_bytes().to_vec().into());
    Raw::connect_with(addr, connect).await.1.reason_code
}

#[tokio::test]
async fn sites_do_not_see_each_others_topics() {
    let s = common::start_secured(two_sites).await;
    let (mut alice, _) = V5::connect(login(s.mqtt, "a", "alice", "pw-alice")).await;
    // host:user selects the site.
    let (mut bob, _) = V5::connect(login(s.mqtt, "b", "shop.example:bob", "pw-bob")).await;
    alice.subscribe("public/#", QoS::AtLeastOnce).await;
    bob.subscribe("public/#", QoS::AtLeastOnce).await;
    alice
        .publish_acked("public/news", "from the default site", true)
        .await;
    bob.publish_acked("public/news", "from the shop", false)
        .await;
    // Each hears its own site only (the publishers are subscribed themselves).
    assert_eq!(alice.publish().await.payload, "from the default site");
    assert_eq!(bob.publish().await.payload, "from the shop");
    alice.no_publish().await;
    bob.no_publish().await;
    // Retained messages too.
    let (mut bob2, _) = V5::connect(login(s.mqtt, "b2", "shop.example:bob", "pw-bob")).await;
    bob2.subscribe("public/news", QoS::AtLeastOnce).await;
    bob2.no_publish().await;
    // A user of one site is unknown in the other.
    assert_eq!(
        connack(
            s.mqtt,
            pubzub_core::ProtocolVersion::V5,
            Some("shop.example:alice"),
            "pw-alice"
        )
        .await,
        ReasonCode::BadUserNameOrPassword
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_in_both_versions_and_slowed_down() {
    let s = common::start_secured(two_sites).await;
    assert_eq!(
        connack(
            s.mqtt,
            pubzub_core::ProtocolVersion::V5,
            Some("alice"),
            "pw-alice"
        )
        .await,
        ReasonCode::Success
    );
    let mut took = Vec::new();
    for version in [
        pubzub_core::ProtocolVersion::V5,
        pubzub_core::ProtocolVersion::V311,
        pubzub_core::ProtocolVersion::V5,
    ] {
        let started = Instant::now();
        // 3.1.1 return code 4 reads back as "bad user name or password".
        assert_eq!(
            connack(s.mqtt, version, Some("alice"), "wrong").await,
            ReasonCode::BadUserNameOrPassword
        );
        took.push(started.elapsed());
    }
    assert!(
        took[1] >= Duration::from_millis(180),
        "the second failure waits: {took:?}"
    );
    assert!(
        took[2] >= Duration::from_millis(380),
        "the third waits longer: {took:?}"
    );
    assert_eq!(
        connack(
            s.mqtt,
            pubzub_core::ProtocolVersion::V5,
            Some("nobody"),
            "x"
        )
        .await,
        ReasonCode::BadUserNameOrPassword
    );
}

#[tokio::test]
async fn anonymous_access_differs_by_transport_and_configuration() {
    // With a configuration file: no anonymous MQTT over TCP by default...
    let s = common::start_secured(two_sites).await;
    assert_eq!(
        connack(s.mqtt, pubzub_core::ProtocolVersion::V5, None, "").await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        connack(s.mqtt, pubzub_core::ProtocolVersion::V311, None, "").await,
        ReasonCode::NotAuthorized
    );
    // ...but pages over WebSocket may (covered with MQTT.js in tests/js).
    // Without one, like Mosquitto 2 on loopback, anonymous clients are welcome.
    let s = common::start_secured(|_| {}).await;
    assert_eq!(
        connack(s.mqtt, pubzub_core::ProtocolVersion::V5, None, "").await,
        ReasonCode::Success
    );
}

#[tokio::test]
async fn mosquitto_clients_log_in_to_a_site() {
    let s = common::start_secured(two_sites).await;
    let port = s.mqtt.port().to_string();
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-u",
            "shop.example:bob",
            "-P",
            "pw-bob",
        ])
        .args(["-t", "public/#", "-C", "1", "-W", "10", "-v"])
        .output();
    let publish = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                "mqttv311",
                "-u",
                "shop.example:bob",
                "-P",
                "pw-bob",
            ])
            .args(["-t", "public/hello", "-m", "shop news", "-q", "1"])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    };
    let (out, ()) = tokio::join!(sub, publish);
    assert_eq!(
        String::from_utf8_lossy(&out.unwrap().stdout),
        "public/hello shop news\n"
    );
    let refused = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "bob",
            "-P",
            "pw-bob",
            "-t",
            "public/x",
            "-m",
            "x",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        !refused.status.success(),
        "bob is not a user of the default site"
    );
}
