//! The `pubzub-server` binary: configuration file, flags and environment, health and metrics
//! endpoints, and a clean exit on SIGTERM.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::binary::{LOOPBACK_PORTS, get, run, run_in, sigterm};
use common::{QoS, Raw, V5};
use pubzub_core::{Packet, ReasonCode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn config_file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pubzub.toml");
    // The file says port 1 for MQTT (privileged: would fail); the environment overrides it
    // with 0, and the flag turns IPv6 off.
    std::fs::write(
        &config,
        "[mqtt]\nport = 1\nip6 = \"::1\"\n[http]\nport = 0\nip6 = \"none\"\n\
         [sites.default]\nallow_anonymous = true\n",
    )
    .unwrap();
    let mut r = run(
        &["--config", config.to_str().unwrap(), "--mqtt-ip6", "none"],
        &[("PUBZUB_MQTT_PORT", "0"), ("PUBZUB_MQTTS_PORT", "none")],
    )
    .await;
    assert_ne!(r.mqtt.port(), 1);
    let (status, body) = get(r.http, "/healthz").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    let mut c = V5::simple(r.mqtt, "cli").await;
    c.subscribe("public/cli", QoS::AtMostOnce).await;
    c.publish_acked("public/cli", "to myself", false).await;
    let _ = c.publish().await;
    // prometheus-client's text: per listener, per site, a latency histogram, the process.
    let (_, metrics) = get(r.http, "/metrics").await;
    for line in [
        "pubzub_connections{listener=\"mqtt\"} 1\n",
        "pubzub_connections{listener=\"http\"} 0\n",
        "# TYPE pubzub_messages_in_total counter",
        "pubzub_messages_in_total{site=\"default\"} 1\n",
        "pubzub_messages_out_total{site=\"default\"} 1\n",
        "# TYPE pubzub_publish_to_delivery_seconds histogram",
        "pubzub_publish_to_delivery_seconds_count 1\n",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_cpu_seconds_total counter",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    r.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[mqtt]\nprot = 1883\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("prot"), "{err}");
}

#[tokio::test]
async fn sigterm_disconnects_clients_fires_wills_and_exits_0() {
    let r = run(
        &[
            "--mqtt-port",
            "0",
            "--http-port",
            "0",
            "--mqtt-ip6",
            "none",
            "--http-ip6",
            "none",
            "--mqtts-port",
            "none",
        ],
        &[],
    )
    .await;
    let (mut watcher, _) = Raw::connect(r.mqtt, "watcher").await;
    watcher
        .send(Packet::Subscribe(pubzub_core::Subscribe {
            packet_id: pubzub_core::PacketId::new(1).unwrap(),
            properties: Default::default(),
            filters: vec![pubzub_core::SubscribeFilter {
                filter: "public/will/#".try_into().unwrap(),
                options: Default::default(),
            }],
        }))
        .await;
    assert!(matches!(watcher.recv().await, Some(Packet::SubAck(_))));
    let mut o = common::v5_options(r.mqtt, "with-will");
    o.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
        "public/will/x",
        "server went away",
        QoS::AtLeastOnce,
        false,
        None,
    ));
    let (_with_will, _) = V5::connect(o).await;

    let mut child = r.child;
    sigterm(&child);
    // The will first, while everyone is still there to hear it; then DISCONNECT 0x8B.
    match watcher.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(
            (p.topic.as_str(), &p.payload[..]),
            ("public/will/x", &b"server went away"[..])
        ),
        other => panic!("expected the will, got {other:?}"),
    }
    match watcher.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    assert!(watcher.recv().await.is_none());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn serves_the_pages_and_the_package() {
    let www = tempfile::tempdir().unwrap();
    let pkg = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(pkg.path().join("package.json"), r#"{"name":"pubzub"}"#).unwrap();
    let (www_dir, pkg_dir) = (www.path().to_owned(), pkg.path().to_owned());
    let s = common::start_with(move |c| {
        c.www_dir = www_dir;
        c.pkg_dir = pkg_dir;
    })
    .await;
    assert_eq!(
        get(s.http, "/").await,
        ("HTTP/1.1 200 OK".into(), "<h1>demo</h1>".into())
    );
    assert_eq!(
        get(s.http, "/pkg/package.json").await,
        ("HTTP/1.1 200 OK".into(), r#"{"name":"pubzub"}"#.into())
    );
    assert_eq!(get(s.http, "/missing").await.0, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn no_log_line_shows_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pubzub.toml");
    let hash = pubzub_server::auth::hash_password("correct-horse").unwrap();
    std::fs::write(
        &config,
        format!(
            "[mqtt]\nport = 0\nip6 = \"none\"\n[http]\nport = \"none\"\n[mqtts]\nport = \"none\"\n\
             [[sites.default.users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .args(["--config", config.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut mqtt = None;
    while mqtt.is_none() {
        let line = lines.next_line().await.unwrap().expect("a line");
        mqtt = line
            .split_once("mqtt listening on ")
            .and_then(|(_, a)| a.trim().parse::<SocketAddr>().ok());
    }
    let mqtt = mqtt.unwrap();
    for password in ["correct-horse", "wrong-battery-staple"] {
        let mut o = common::v5_options(mqtt, "logger");
        o.set_credentials("alice", password);
        let (client, mut events) = rumqttc::v5::AsyncClient::new(o, 10);
        let _ = tokio::time::timeout(common::WAIT, events.poll()).await;
        drop(client);
    }
    sigterm(&child);
    let _ = child.wait().await;
    let mut log = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(
        log.contains("login failed"),
        "the failure is logged:\n{log}"
    );
    assert!(
        !log.contains("correct-horse") && !log.contains("wrong-battery-staple"),
        "{log}"
    );
}

#[tokio::test]
async fn without_a_configuration_file_it_is_a_development_broker_and_says_so_first() {
    let r = run(&LOOPBACK_PORTS, &[]).await;
    assert!(
        r.first_line.contains("development broker"),
        "{}",
        r.first_line
    );
    // What a first-time user of a standard client does: everything, with any user name.
    let mut o = common::v5_options(r.mqtt, "first-steps");
    o.set_credentials("me", "anything");
    let (mut c, _) = common::V5::connect(o).await;
    c.subscribe("#", common::QoS::AtLeastOnce).await;
    c.publish_acked("TopicA", "hello", false).await;
    assert_eq!(c.publish().await.topic, "TopicA");
    sigterm(&r.child);
}

/// Every line the binary logs while a client connects and disconnects, for `args` and `env`
/// (RUST_LOG and NO_COLOR are left as given: the output is a pipe, not a terminal).
async fn logs_of(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut all_args = vec![
        "--http-port",
        "none",
        "--mqtt-port",
        "0",
        "--mqtt-ip6",
        "none",
        "--mqtts-port",
        "none",
    ];
    all_args.extend_from_slice(args);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .args(&all_args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("PUBZUB_DURABILITY", "off") // tests run at once; none shares the repository's store
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mqtt = loop {
        let line = tokio::time::timeout(common::WAIT, lines.next_line())
            .await
            .expect("logs in time")
            .unwrap()
            .expect("a line before exit");
        seen.push(line.clone());
        // `... listening on 127.0.0.1:1883`, as text or inside a JSON string.
        let addr = line.split("listening on ").nth(1).map(|a| {
            a.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect::<String>()
        });
        if let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok()) {
            break addr;
        }
    };
    let c = V5::simple(mqtt, "log-watcher").await;
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sigterm(&child);
    while let Ok(Ok(Some(line))) = tokio::time::timeout(common::WAIT, lines.next_line()).await {
        seen.push(line);
    }
    let _ = child.wait().await;
    seen
}

#[tokio::test]
async fn logs_like_a_broker_without_colours_in_a_pipe_as_text_or_json() {
    let text = logs_of(&[], &[]).await;
    assert!(
        !text.iter().any(|l| l.contains('\x1b')),
        "no ANSI codes in a pipe: {text:?}"
    );
    let connected = text
        .iter()
        .find(|l| l.contains("connected") && l.contains("log-watcher"))
        .expect("a connect line");
    for part in [
        "user=(anonymous)",
        "site=default",
        "version=V5",
        "transport=Tcp",
        "peer=127.0.0.1:",
    ] {
        assert!(connected.contains(part), "{part} in {connected}");
    }
    assert!(
        text.iter()
            .any(|l| l.contains("log-watcher") && l.contains("disconnected")),
        "{text:?}"
    );

    let json = logs_of(&["--log-format", "json"], &[]).await;
    for line in &json {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        json.iter()
            .any(|l| l.contains("\"client\":\"log-watcher\"")),
        "{json:?}"
    );

    let invalid = logs_of(&[], &[("RUST_LOG", "pubzub_server=loud")]).await;
    assert!(invalid[0].contains("invalid RUST_LOG"), "{}", invalid[0]);

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("RUST_LOG") && help.contains("--log-format"),
        "{help}"
    );
}

#[tokio::test]
async fn the_pages_are_found_from_another_folder_and_a_missing_one_is_a_warning() {
    let elsewhere = tempfile::tempdir().unwrap();
    // Without a file: the repository's www/ and pkg-js/, whatever the working directory.
    let r = run_in(Some(elsewhere.path()), &LOOPBACK_PORTS, &[]).await;
    let repo_index =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../www/index.html")).unwrap();
    assert_eq!(
        get(r.http, "/").await,
        ("HTTP/1.1 200 OK".into(), repo_index)
    );
    assert_eq!(get(r.http, "/pkg/package.json").await.0, "HTTP/1.1 200 OK");
    sigterm(&r.child);
    // In a file, relative to the file; a folder that is not there is a warning.
    let conf = tempfile::tempdir().unwrap();
    std::fs::create_dir(conf.path().join("site")).unwrap();
    std::fs::write(
        conf.path().join("site/index.html"),
        "<h1>from the file's folder</h1>",
    )
    .unwrap();
    let file = conf.path().join("pubzub.toml");
    std::fs::write(&file, "www_dir = \"site\"\npkg_dir = \"no-such-folder\"\n").unwrap();
    let mut args = vec!["--config", file.to_str().unwrap()];
    args.extend_from_slice(&LOOPBACK_PORTS);
    let r = run_in(Some(elsewhere.path()), &args, &[]).await;
    assert_eq!(
        get(r.http, "/").await,
        (
            "HTTP/1.1 200 OK".into(),
            "<h1>from the file's folder</h1>".into()
        )
    );
    assert!(
        r.early.iter().any(|l| l.contains("pkg_dir")
            && l.contains("no-such-folder")
            && l.contains("not a folder")),
        "{:?}",
        r.early
    );
    sigterm(&r.child);
}

#[tokio::test]
async fn every_limit_has_a_flag_and_a_variable_and_a_flag_turns_off_what_the_file_turned_on() {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pubzub.toml");
    std::fs::write(
        &config,
        "demo = true\n[limits]\nmax_topic_levels = 3\nmax_connections = 100\n\
         [mqtt]\nport = 0\nip6 = \"none\"\n[http]\nport = 0\nip6 = \"none\"\n[mqtts]\nport = \"none\"\n\
         [sites.default]\nallow_anonymous = true\n\
         [[sites.default.rules]]\naction = \"allow\"\nfilter = \"#\"\n",
    )
    .unwrap();
    let r = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "--demo=false",
            "--max-topic-levels",
            "5",
        ],
        &[("PUBZUB_MAX_CONNECTIONS", "2")],
    )
    .await;
    // --demo=false: no truck fleet (its readings are retained, so they would come at once).
    let mut c = V5::simple(r.mqtt, "watcher").await;
    c.subscribe("public/truck/#", QoS::AtLeastOnce).await;
    c.no_publish().await;
    // --max-topic-levels 5 over the file's 3.
    for (topic, expected) in [
        ("a/b/c/d/e", PubAckReason::NoMatchingSubscribers),
        ("a/b/c/d/e/f", PubAckReason::TopicNameInvalid),
    ] {
        assert_eq!(c.puback(topic, "x").await, expected, "{topic}");
    }
    // PUBZUB_MAX_CONNECTIONS=2 over the file's 100: the third socket is closed at accept.
    let _second = V5::simple(r.mqtt, "second").await;
    let mut third = Raw::open(r.mqtt).await;
    third
        .send(pubzub_core::Packet::Connect(Box::new(
            common::connect_packet("third"),
        )))
        .await;
    assert!(third.recv().await.is_none(), "no CONNACK past the budget");
    sigterm(&r.child);
}
