//! `--demo`: the simulated truck fleet publishes retained, typed readings through the Rust API.

mod common;

use common::{QoS, V5};

#[tokio::test]
async fn the_truck_fleet_keeps_retained_typed_readings() {
    let s = common::start_with(|c| c.demo = true).await;
    // The first readings go out as the server starts; a later subscriber gets them retained.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut sub = V5::simple(s.mqtt, "dashboard").await;
    sub.subscribe("public/truck/+/temperature", QoS::AtMostOnce)
        .await;
    let mut trucks = Vec::new();
    for _ in 0..5 {
        let p = sub.publish().await;
        assert!(p.retain, "a retained reading");
        let props = p.properties.unwrap_or_default();
        assert_eq!(props.content_type.as_deref(), Some("text/x-number"));
        let celsius: f64 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
        assert!((60.0..=110.0).contains(&celsius), "{celsius}");
        trucks.push(String::from_utf8(p.topic.to_vec()).unwrap());
    }
    trucks.sort();
    assert_eq!(
        trucks,
        (1..=5)
            .map(|i| format!("public/truck/truck-{i}/temperature"))
            .collect::<Vec<_>>()
    );
    // And they keep coming, about once a second.
    let next = sub.publish().await;
    assert!(!next.retain, "a live reading");
}
