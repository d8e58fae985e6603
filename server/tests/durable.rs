//! The store under `data_dir`, through the binary: retained messages survive a SIGTERM and, in
//! `batched` mode, a kill -9 after the commit window; `off` keeps nothing; expiry counts the
//! downtime; a second server on the same folder and a damaged file are refused by name.

mod common;

use std::time::Duration;

use common::binary::{LOOPBACK_PORTS, Running, run};
use common::{QoS, V5};
use rumqttc::v5::mqttbytes::v5::PublishProperties;

/// The binary (a development broker) with its store in `dir`, in `durability` mode.
async fn server(dir: &std::path::Path, durability: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "--data-dir",
        dir.to_str().unwrap(),
        "--commit-interval-ms",
        "50",
    ];
    args.extend_from_slice(&LOOPBACK_PORTS);
    args.extend_from_slice(extra);
    run(&args, &[("PUBZUB_DURABILITY", durability)]).await
}

async fn stop(mut r: Running) {
    r.signal("-TERM");
    let status = tokio::time::timeout(common::WAIT, r.child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// The retained messages under `store/#` a new subscriber gets: topic, payload, content type.
async fn retained(r: &Running) -> Vec<(String, String, Option<String>)> {
    let mut c = V5::simple(r.mqtt, "reader").await;
    c.subscribe("store/#", QoS::AtLeastOnce).await;
    let mut got = Vec::new();
    loop {
        let p = tokio::select! {
            p = c.publish() => p,
            () = tokio::time::sleep(common::QUIET) => break,
        };
        let props = p.properties.unwrap_or_default();
        got.push((
            String::from_utf8(p.topic.to_vec()).unwrap(),
            String::from_utf8(p.payload.to_vec()).unwrap(),
            props.content_type,
        ));
    }
    got.sort();
    got
}

async fn publish_three(r: &Running) {
    let mut c = V5::simple(r.mqtt, "writer").await;
    let typed = PublishProperties {
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    c.publish_acked_with("store/a", "kept", true, typed).await;
    c.publish_acked("store/b", "cleared", true).await;
    c.publish_acked("store/b", "", true).await; // an empty payload clears it
    c.publish_acked("store/c/d", "also kept", true).await;
}

fn both_kept() -> Vec<(String, String, Option<String>)> {
    vec![
        ("store/a".into(), "kept".into(), Some("text/plain".into())),
        ("store/c/d".into(), "also kept".into(), None),
    ]
}

#[tokio::test]
async fn retained_messages_survive_sigterm_and_a_kill_after_the_commit_window() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    publish_three(&r).await;
    stop(r).await;
    let mut r = server(dir.path(), "batched", &[]).await;
    assert_eq!(retained(&r).await, both_kept(), "after SIGTERM");

    let mut c = V5::simple(r.mqtt, "writer-2").await;
    c.publish_acked("store/e", "before the crash", true).await;
    // Past the 50 ms commit window, then kill -9: nothing runs at exit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.child.kill().await.unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let mut expected = both_kept();
    expected.push(("store/e".into(), "before the crash".into(), None));
    assert_eq!(retained(&r).await, expected, "after kill -9");
    stop(r).await;
}

#[tokio::test]
async fn durability_off_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "off", &[]).await;
    publish_three(&r).await;
    stop(r).await;
    let r = server(dir.path(), "off", &[]).await;
    assert_eq!(retained(&r).await, []);
    stop(r).await;
}

#[tokio::test]
async fn message_expiry_counts_the_time_the_server_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let mut c = V5::simple(r.mqtt, "writer").await;
    let expiring = |secs| PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    };
    c.publish_acked_with("store/short", "2 s", true, expiring(2))
        .await;
    c.publish_acked_with("store/long", "1 h", true, expiring(3600))
        .await;
    stop(r).await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // down longer than 2 s
    let r = server(dir.path(), "batched", &[]).await;
    let mut sub = V5::simple(r.mqtt, "reader").await;
    sub.subscribe("store/#", QoS::AtLeastOnce).await;
    let p = sub.publish().await;
    assert_eq!(
        &p.topic[..],
        b"store/long",
        "the 2 s message expired while down"
    );
    let left = p.properties.and_then(|p| p.message_expiry_interval);
    assert!(left.is_some_and(|s| s < 3600 && s > 3590), "{left:?}");
    sub.no_publish().await;
    stop(r).await;
}

#[tokio::test]
async fn a_second_server_on_the_same_folder_and_a_damaged_store_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let first = server(dir.path(), "batched", &[]).await;
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(LOOPBACK_PORTS)
        .output()
        .await
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("pubzub.redb") && said.contains("in use"),
        "{said}"
    );
    stop(first).await;

    let file = dir.path().join("pubzub.redb");
    std::fs::write(&file, vec![0x5A; 20_000]).unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_pubzub-server"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(LOOPBACK_PORTS)
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(&file.display().to_string()) && said.contains("--move-damaged-store"),
        "{said}"
    );
    // The flag moves it aside and starts empty.
    let r = server(dir.path(), "batched", &["--move-damaged-store"]).await;
    assert_eq!(retained(&r).await, []);
    stop(r).await;
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("damaged"));
    assert!(aside, "the damaged file is kept aside");
}
