//! Operating the binary: refusals logged with the rule that decided them, and SIGHUP reloading
//! users, rules and the TLS certificate without dropping connections.

mod common;

use common::binary::{LOOPBACK_PORTS, run};
use common::{QoS, V5};
use pubzub_core::ReasonCode;
use rumqttc::v5::mqttbytes::v5::PubAckReason;

/// A configuration file with these `[[sites.default.rules]]` (TOML) and anonymous MQTT.
fn config_with(dir: &std::path::Path, rules: &str) -> std::path::PathBuf {
    let path = dir.join("pubzub.toml");
    std::fs::write(
        &path,
        format!("[sites.default]\nallow_anonymous = true\n{rules}"),
    )
    .unwrap();
    path
}

fn args(config: &std::path::Path) -> Vec<&str> {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(&LOOPBACK_PORTS);
    args
}

#[tokio::test]
async fn refusals_name_the_rule_that_decided_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        "[[sites.default.rules]]\naction = \"deny\"\naccess = \"publish\"\n\
         filter = \"shared/secret/#\"\n\
         [[sites.default.rules]]\naction = \"allow\"\nfilter = \"shared/#\"\n",
    );
    let r = run(&args(&config), &[]).await;
    let mut c = V5::simple(r.mqtt, "refused-one").await;
    assert_eq!(
        c.puback("shared/secret/x", "psst").await,
        PubAckReason::NotAuthorized
    );
    let line = r
        .log_line(&["publish refused", "refused-one", "shared/secret/x"])
        .await;
    assert!(
        line.contains("rule 1 (deny publish shared/secret/# for all)"),
        "{line}"
    );
    c.subscribe("private/#", QoS::AtMostOnce).await;
    let line = r.log_line(&["subscribe refused", "private/#"]).await;
    assert!(
        line.contains("no rule allows it (deny by default)"),
        "{line}"
    );
    c.subscribe("user/alice/#", QoS::AtMostOnce).await;
    let line = r.log_line(&["subscribe refused", "user/alice/#"]).await;
    assert!(line.contains("no rule allows it"), "{line}");
    // A will on a topic the client may not publish on is refused when it is registered.
    assert_eq!(
        c.puback(
            "$client/refused-one/will/1",
            r#"{"topic": "shared/secret/gone", "payload": "bye"}"#
        )
        .await,
        PubAckReason::NotAuthorized
    );
    let line = r.log_line(&["will refused", "shared/secret/gone"]).await;
    assert!(line.contains("rule 1 (deny publish"), "{line}");
    r.signal("-TERM");
}

/// A TOML users entry for `name` with `password`.
fn user(name: &str, password: &str) -> String {
    let hash = pubzub_server::auth::hash_password(password).unwrap();
    format!("[[sites.default.users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\n")
}

fn rule(action: &str, access: &str, filter: &str, who: &str) -> String {
    format!(
        "[[sites.default.rules]]\naction = \"{action}\"\naccess = \"{access}\"\n\
         filter = \"{filter}\"\nwho = \"{who}\"\n"
    )
}

/// The CONNACK reason for a v5 login as `user` with `password`.
async fn login(addr: std::net::SocketAddr, user: &str, password: &str) -> ReasonCode {
    let mut connect = common::connect_packet(&format!("{user}-probe"));
    connect.username = Some(user.into());
    connect.password = Some(password.as_bytes().to_vec().into());
    common::Raw::connect_with(addr, connect).await.1.reason_code
}

/// alice's rumqttc client, logged in.
async fn alice(addr: std::net::SocketAddr) -> V5 {
    let mut options = common::v5_options(addr, "alice-1");
    options.set_credentials("alice", "wonderland");
    let (c, ack) = V5::connect(options).await;
    assert_eq!(
        ack.code,
        rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success
    );
    c
}

#[tokio::test]
async fn sighup_reloads_users_and_rules_without_dropping_connections_and_a_bad_file_changes_nothing()
 {
    let dir = tempfile::tempdir().unwrap();
    let alice_only = format!(
        "{}{}",
        user("alice", "wonderland"),
        rule("allow", "all", "shared/#", "alice")
    );
    let config = config_with(dir.path(), &alice_only);
    let r = run(&args(&config), &[]).await;
    let mut a = alice(r.mqtt).await;
    a.subscribe("shared/#", QoS::AtMostOnce).await;
    assert_eq!(
        login(r.mqtt, "bob", "builder").await,
        ReasonCode::BadUserNameOrPassword
    );

    // bob joins; alice may no longer read shared/secret/.
    let with_bob = format!(
        "{}{}{}{}",
        user("alice", "wonderland"),
        user("bob", "builder"),
        rule("deny", "subscribe", "shared/secret/#", "alice"),
        rule("allow", "all", "shared/#", "all"),
    );
    config_with(dir.path(), &with_bob);
    r.signal("-HUP");
    r.log_line(&["reloaded", "users, access rules"]).await;
    assert_eq!(login(r.mqtt, "bob", "builder").await, ReasonCode::Success);
    let mut options = common::v5_options(r.mqtt, "bob-1");
    options.set_credentials("bob", "builder");
    let (mut b, _) = V5::connect(options).await;
    // alice's connection and subscription lived through the reload...
    b.publish_acked("shared/news", "hello", false).await;
    let p = a.publish().await;
    assert_eq!(&p.topic[..], b"shared/news");
    // ...and the new deny rule holds for it from now on (attack: her shared/# subscription was
    // granted under the old rules).
    b.publish_acked("shared/secret/plan", "psst", false).await;
    a.no_publish().await;

    // A file that does not parse changes nothing: bob still logs in.
    config_with(dir.path(), "[[sites.default.rules]]\naction = ");
    r.signal("-HUP");
    let line = r.log_line(&["reload failed"]).await;
    assert!(line.contains("pubzub.toml"), "{line}");
    assert_eq!(login(r.mqtt, "bob", "builder").await, ReasonCode::Success);

    // Rules that no longer let alice subscribe to shared/# revoke her subscription.
    let without_alice = format!(
        "{}{}{}",
        user("alice", "wonderland"),
        user("bob", "builder"),
        rule("allow", "all", "shared/#", "bob"),
    );
    config_with(dir.path(), &without_alice);
    r.signal("-HUP");
    r.log_line(&["subscription revoked by the reload", "alice-1", "shared/#"])
        .await;
    b.publish_acked("shared/news", "after", false).await;
    a.no_publish().await;
    r.signal("-TERM");
}

#[tokio::test]
async fn sighup_reloads_the_tls_certificate_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let write_cert = |name: &str| {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let ca = dir.path().join(format!("{name}-ca.pem"));
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        ca
    };
    let first = write_cert("first");
    let config = config_with(dir.path(), &rule("allow", "all", "#", "all"));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n[mqtts]\nport = 0\nip6 = \"none\"\n{text}"),
    )
    .unwrap();
    let mut all_args = vec!["--config", config.to_str().unwrap()];
    all_args.extend_from_slice(&LOOPBACK_PORTS[..8]); // HTTP and MQTT; MQTT/TLS as in the file
    let r = run(&all_args, &[]).await;
    let listening = r.log_line(&["mqtts listening on"]).await;
    let mqtts: std::net::SocketAddr = listening
        .split("mqtts listening on ")
        .nth(1)
        .and_then(|a| a.trim().parse().ok())
        .expect("the mqtts address in the log");
    let publish_with = |ca: std::path::PathBuf| async move {
        tokio::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &mqtts.port().to_string()])
            .arg("--cafile")
            .arg(&ca)
            .args(["-V", "mqttv5", "-q", "1", "-t", "tls/x", "-m", "hi"])
            .stderr(std::process::Stdio::null()) // "A TLS error occurred" when refused
            .status()
            .await
            .expect("mosquitto_pub runs")
            .success()
    };
    assert!(publish_with(first.clone()).await, "the first certificate");
    // A TLS connection made before the reload stays.
    let held = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &mqtts.port().to_string()])
        .arg("--cafile")
        .arg(&first)
        .args([
            "-V", "mqttv5", "-i", "held-sub", "-t", "tls/#", "-C", "1", "-W", "20",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    r.log_line(&["connected", "held-sub", "transport=Tls"])
        .await;
    tokio::time::sleep(common::QUIET).await; // its SUBSCRIBE follows the CONNECT

    let second = write_cert("second");
    r.signal("-HUP");
    r.log_line(&["reloaded"]).await;
    assert!(!publish_with(first).await, "the first certificate is gone");
    assert!(
        publish_with(second).await,
        "the second certificate is served"
    );
    let out = held.wait_with_output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "the held subscriber got it"
    );

    // A key that cannot be read keeps the certificate in use.
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    r.signal("-HUP");
    r.log_line(&["reload failed", "key.pem"]).await;
    let second_again = dir.path().join("second-ca.pem");
    assert!(
        publish_with(second_again).await,
        "still the second certificate"
    );
    r.signal("-TERM");
}
