//! The store under `data_dir`, through the binary: retained messages survive a SIGTERM and, in
//! `batched` mode, a kill -9 after the commit window; `off` keeps nothing; expiry counts the
//! downtime; a second server on the same folder and a damaged file are refused by name.

mod common;

use std::time::Duration;

use common::binary::{LOOPBACK_PORTS, Running, run};
use common::{QoS, V5};
use rumqttc::v5::mqttbytes::v5::PublishProperties;

/// The binary (a development broker) with its store in `dir`, in `durability` mode, committing
/// every 50 ms unless `extra` flags say otherwise.
async fn server(dir: &std::path::Path, durability: &str, extra: &[&str]) -> Running {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(&LOOPBACK_PORTS);
    args.extend_from_slice(extra);
    let env = [
        ("PUBZUB_DURABILITY", durability),
        ("PUBZUB_COMMIT_INTERVAL_MS", "50"),
    ];
    run(&args, &env).await
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

/// A rumqttc client with clean start off and a 300 s session.
async fn persistent(addr: std::net::SocketAddr, id: &str) -> (V5, bool) {
    let mut options = common::v5_options(addr, id);
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(300));
    let (c, ack) = V5::connect(options).await;
    (c, ack.session_present)
}

/// Publishes `n` QoS 1 messages `0`..`n` on `topic`, each acknowledged.
async fn publish_numbered(addr: std::net::SocketAddr, topic: &str, n: usize) {
    let mut p = V5::simple(addr, "numbers").await;
    for i in 0..n {
        p.publish_acked(topic, i.to_string(), false).await;
    }
    p.disconnect().await;
}

/// The next `n` payloads `c` receives, acknowledged.
async fn numbers(c: &mut V5, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let p = c.publish().await;
        got.push(String::from_utf8(p.payload.to_vec()).unwrap());
    }
    got
}

#[tokio::test]
async fn a_persistent_session_and_its_queue_survive_sigterm_and_kill_after_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let (mut sub, present) = persistent(r.mqtt, "away").await;
    assert!(!present);
    sub.subscribe("queue/#", QoS::AtLeastOnce).await;
    sub.kill(); // gone without DISCONNECT: the session waits 300 s
    tokio::time::sleep(common::QUIET).await;
    publish_numbered(r.mqtt, "queue/a", 100).await;
    stop(r).await;

    let mut r = server(dir.path(), "batched", &[]).await;
    let (mut sub, present) = persistent(r.mqtt, "away").await;
    assert!(present, "the session came back from the store");
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(
        numbers(&mut sub, 100).await,
        expected,
        "100 of 100, in order"
    );
    sub.kill();
    tokio::time::sleep(common::QUIET).await;

    // kill -9 after the commit window: what was acknowledged before it is kept.
    publish_numbered(r.mqtt, "queue/b", 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.child.kill().await.unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let (mut sub, present) = persistent(r.mqtt, "away").await;
    assert!(present);
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(numbers(&mut sub, 20).await, expected);
    sub.no_publish().await;
    stop(r).await;
}

#[tokio::test]
async fn a_session_that_expired_while_the_server_was_down_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let mut options = common::v5_options(r.mqtt, "brief");
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(1));
    let (mut c, _) = V5::connect(options).await;
    c.subscribe("brief/#", QoS::AtLeastOnce).await;
    c.kill();
    stop(r).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = server(dir.path(), "batched", &[]).await;
    let (_c, present) = persistent(r.mqtt, "brief").await;
    assert!(!present, "its 1 s ran out while the server was down");
    stop(r).await;
}

#[tokio::test]
async fn a_delayed_will_outlives_the_restart_and_fires_at_its_time() {
    use rumqttc::v5::mqttbytes::v5::{LastWill, LastWillProperties};
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let mut options = common::v5_options(r.mqtt, "leaver");
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(300));
    let props = LastWillProperties {
        delay_interval: Some(3),
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: vec![],
    };
    options.set_last_will(LastWill::new(
        "gone/leaver",
        "bye",
        QoS::AtLeastOnce,
        false,
        Some(props),
    ));
    let (_leaver, _) = V5::connect(options).await;
    // The restart is a lost connection for the leaver: its will is due 3 s after the stop.
    let stopped = std::time::Instant::now();
    stop(r).await;
    let r = server(dir.path(), "batched", &[]).await;
    let mut watcher = V5::simple(r.mqtt, "watcher").await;
    watcher.subscribe("gone/#", QoS::AtLeastOnce).await;
    let will = watcher.publish().await;
    let after = stopped.elapsed();
    assert_eq!(&will.payload[..], b"bye");
    assert!(
        after >= Duration::from_millis(2800) && after < Duration::from_secs(5),
        "fired {after:?} after the stop, the downtime counted"
    );
    stop(r).await;
}

#[tokio::test]
async fn in_sync_mode_an_acknowledged_message_survives_kill_9_at_once() {
    // A 10 s commit interval: only the acknowledgements' own commits make it to disk in time.
    for (mode, all_kept) in [("sync", true), ("batched", false)] {
        let dir = tempfile::tempdir().unwrap();
        let extra = ["--commit-interval-ms", "10000"];
        let r = server(dir.path(), mode, &extra).await;
        let (mut sub, _) = persistent(r.mqtt, "away").await;
        sub.subscribe("queue/#", QoS::AtLeastOnce).await;
        sub.kill();
        tokio::time::sleep(common::QUIET).await;
        let mut r = r;
        // The session itself reached the disk with the first commit after the subscription
        // (sync mode) or not at all (batched, 10 s): publish, then kill -9 at once.
        publish_numbered(r.mqtt, "queue/a", 50).await;
        r.child.kill().await.unwrap();
        let r = server(dir.path(), mode, &extra).await;
        let (mut sub, present) = persistent(r.mqtt, "away").await;
        if all_kept {
            assert!(present, "{mode}: the session was on disk");
            let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
            assert_eq!(numbers(&mut sub, 50).await, expected, "{mode}: 50 of 50");
        } else {
            // Batched with a window longer than the test: the crash took what was acknowledged.
            assert!(!present, "{mode}: nothing committed within the window");
        }
        stop(r).await;
    }
}

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop (the test runs as root, as
/// CI does: mount needs it).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs (needs root) failed");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_refuses_qos_1_with_0x97_keeps_qos_0_flowing_and_recovers() {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    let disk = Tmpfs::mount("3m");
    let filler = disk.0.path().join("filler");
    let r = server(disk.0.path(), "sync", &[]).await;
    // Take the room the store would grow into.
    std::fs::write(&filler, vec![0u8; 1024 * 1024]).unwrap();
    let mut p = V5::simple(r.mqtt, "filler-up").await;
    let mut refused = false;
    for i in 0..40 {
        let reason = p
            .puback_retained(&format!("store/big/{i}"), vec![7u8; 200 * 1024])
            .await;
        if reason == PubAckReason::QuotaExceeded {
            refused = true;
            break;
        }
        assert_eq!(reason, PubAckReason::NoMatchingSubscribers, "message {i}");
    }
    assert!(
        refused,
        "the disk filled up and a QoS 1 publication got 0x97"
    );
    // QoS 1 stays refused while the disk is full; QoS 0 flows.
    assert_eq!(
        p.puback("store/small", "x").await,
        PubAckReason::QuotaExceeded
    );
    let mut sub = V5::simple(r.mqtt, "qos0-reader").await;
    sub.subscribe("live/#", QoS::AtMostOnce).await;
    p.client
        .publish("live/x", QoS::AtMostOnce, false, "still flowing")
        .await
        .unwrap();
    assert_eq!(&sub.publish().await.payload[..], b"still flowing");
    // Room again: the waiting changes are written and QoS 1 is taken again.
    std::fs::remove_file(&filler).unwrap();
    let mut accepted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if p.puback("store/small", "x").await == PubAckReason::NoMatchingSubscribers {
            accepted = true;
            break;
        }
    }
    assert!(accepted, "QoS 1 accepted again once there is room");
    stop(r).await;
}

#[tokio::test]
async fn a_clean_start_removes_the_stored_session() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "batched", &[]).await;
    let (mut c, _) = persistent(r.mqtt, "cleaner").await;
    c.subscribe("clean/#", QoS::AtLeastOnce).await;
    c.kill();
    stop(r).await;
    let r = server(dir.path(), "batched", &[]).await;
    // Clean start, no session expiry: the stored session ends.
    let (c, _) = V5::connect(common::v5_options(r.mqtt, "cleaner")).await;
    c.disconnect().await;
    stop(r).await;
    let r = server(dir.path(), "batched", &[]).await;
    let (_c, present) = persistent(r.mqtt, "cleaner").await;
    assert!(!present, "the clean start deleted it from the store");
    stop(r).await;
}

#[tokio::test]
async fn after_kill_9_in_the_middle_of_qos_2_a_released_message_is_not_sent_again() {
    use pubzub_core::{Ack, Packet, PacketId, SubscribeFilter, SubscriptionOptions};
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--commit-interval-ms", "10000"];
    let mut r = server(dir.path(), "sync", &extra).await;
    // A raw subscriber: clean start off, a 300 s session, QoS 2.
    let connect = |addr| async move {
        let mut c = common::connect_packet("q2-sub");
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(300);
        common::Raw::connect_with(addr, c).await
    };
    let (mut sub, _) = connect(r.mqtt).await;
    sub.send(Packet::Subscribe(pubzub_core::Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        properties: Default::default(),
        filters: vec![SubscribeFilter {
            filter: "q2/#".try_into().unwrap(),
            options: SubscriptionOptions {
                qos: pubzub_core::QoS::ExactlyOnce,
                ..Default::default()
            },
        }],
    }))
    .await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    let mut p = V5::simple(r.mqtt, "q2-pub").await;
    for i in 0..6 {
        p.client
            .publish(format!("q2/{i}"), QoS::ExactlyOnce, false, i.to_string())
            .await
            .unwrap();
    }
    // The subscriber gets the six and answers PUBREC for the first three only.
    let mut ids = Vec::new();
    while ids.len() < 6 {
        if let Some(Packet::Publish(m)) = sub.recv().await {
            ids.push(m.packet_id.unwrap());
        }
    }
    for id in &ids[..3] {
        sub.send(Packet::PubRec(Ack::new(*id))).await;
        assert!(matches!(sub.recv().await, Some(Packet::PubRel(_))));
    }
    // A QoS 1 publication makes a commit, with the PUBRECs' state; then kill -9.
    p.publish_acked("q2-other", "commit", false).await;
    r.child.kill().await.unwrap();
    drop(sub);

    let r = server(dir.path(), "sync", &extra).await;
    let (mut sub, ack) = connect(r.mqtt).await;
    assert!(ack.session_present);
    // Resumed: PUBREL for the released three, the other three again with DUP and their ids.
    let mut rel = Vec::new();
    let mut again = Vec::new();
    while rel.len() + again.len() < 6 {
        match sub.recv().await {
            Some(Packet::PubRel(a)) => rel.push(a.packet_id),
            Some(Packet::Publish(m)) => {
                assert!(m.dup, "a resend carries DUP");
                again.push(m.packet_id.unwrap());
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(rel, ids[..3], "released ones get PUBREL, not a new PUBLISH");
    assert_eq!(again, ids[3..], "unreleased ones come again with their ids");
    stop(r).await;
}

#[tokio::test]
async fn sigterm_loses_nothing_in_sync_mode_either() {
    let dir = tempfile::tempdir().unwrap();
    let r = server(dir.path(), "sync", &["--commit-interval-ms", "10000"]).await;
    publish_three(&r).await;
    let (mut sub, _) = persistent(r.mqtt, "away").await;
    sub.subscribe("queue/#", QoS::AtLeastOnce).await;
    sub.kill();
    tokio::time::sleep(common::QUIET).await;
    publish_numbered(r.mqtt, "queue/a", 10).await;
    stop(r).await;
    let r = server(dir.path(), "sync", &[]).await;
    assert_eq!(retained(&r).await, both_kept());
    let (mut sub, present) = persistent(r.mqtt, "away").await;
    assert!(present);
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(numbers(&mut sub, 10).await, expected);
    stop(r).await;
}

#[tokio::test]
async fn in_sync_mode_kill_9_in_the_middle_of_a_qos_1_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--commit-interval-ms", "10000"];
    let mut r = server(dir.path(), "sync", &extra).await;
    let (mut sub, _) = persistent(r.mqtt, "away").await;
    sub.subscribe("stream/#", QoS::AtLeastOnce).await;
    sub.kill();
    tokio::time::sleep(common::QUIET).await;
    // A publisher that goes on until the server dies; it keeps what was acknowledged.
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut p = V5::simple(r.mqtt, "streamer").await;
    let streaming = tokio::spawn(async move {
        for i in 0.. {
            let reason = p.puback("stream/x", i.to_string()).await;
            if acked_tx.send((i, reason)).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.child.kill().await.unwrap();
    // The publisher's next PUBACK never comes: it panics in its task, which is fine.
    let _ = streaming.await;
    let mut acked = Vec::new();
    while let Ok((i, _)) = acked_rx.try_recv() {
        acked.push(i.to_string());
    }
    assert!(
        acked.len() > 10,
        "the stream ran: {} acknowledged",
        acked.len()
    );

    let r = server(dir.path(), "sync", &extra).await;
    let (mut sub, present) = persistent(r.mqtt, "away").await;
    assert!(present);
    // Every acknowledged message, in order; one in flight at the kill may come as well.
    let mut got = numbers(&mut sub, acked.len()).await;
    got.dedup();
    assert_eq!(
        got[..acked.len().min(got.len())],
        acked[..],
        "in order, none lost"
    );
    stop(r).await;
}
