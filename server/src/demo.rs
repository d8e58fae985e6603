//! The demo's data source (`--demo`): a simulated truck fleet, published once a second through
//! the Rust API as retained messages, so a dashboard opened later shows the latest values:
//!
//! - `public/truck/<id>/temperature`: engine temperature, °C (`text/x-number`)
//! - `public/truck/<id>/speed`: km/h (`text/x-integer`)
//! - `public/truck/<id>/position`: `{"lat": .., "lon": ..}` (`application/json`)
//!
//! and a responder for the README's examples: a request on `public/rpc/echo` is answered on
//! its response topic with its own payload, content type and correlation data.

use std::time::Duration;

use pubzub_core::{PublishProperties, QoS};
use tokio::sync::watch;

use crate::acl::Context;
use crate::api::{Api, PublishOptions};

/// Trucks in the fleet, `truck-1` to `truck-5`.
pub const TRUCKS: u32 = 5;
const SITE: &str = "default";

/// One truck's state; it drifts a little every tick.
struct Truck {
    temperature: f64,
    speed: i64,
    lat: f64,
    lon: f64,
}

/// A small xorshift generator: the demo needs variety, not unpredictability.
struct Wobble(u64);

impl Wobble {
    /// A value in -1.0..1.0.
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 2001) as f64 / 1000.0 - 1.0
    }
}

/// Answers `public/rpc/echo` until `stop` turns true.
pub async fn echo_responder(api: Api, mut stop: watch::Receiver<bool>) {
    let answering = api.clone();
    let subscribed = api.subscribe(
        SITE,
        "public/rpc/echo",
        &Context::server(SITE),
        move |req| {
            let request = &req.message.publish;
            let Some(reply_to) = request.properties.response_topic.clone() else {
                return;
            };
            let options = PublishOptions {
                properties: PublishProperties {
                    content_type: request.properties.content_type.clone(),
                    correlation_data: request.properties.correlation_data.clone(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let ctx = Context::server(SITE);
            let payload = request.payload.clone();
            if let Err(e) = answering.publish(SITE, &reply_to, payload, options, &ctx) {
                tracing::debug!(%reply_to, "the echo responder cannot answer: {e}");
            }
        },
    );
    match subscribed {
        Ok(_subscription) => {
            let _ = stop.changed().await;
        }
        Err(e) => tracing::warn!("the echo responder cannot subscribe: {e}"),
    }
}

/// Publishes the fleet every `period` until `stop` turns true.
pub async fn truck_fleet(api: Api, period: Duration, mut stop: watch::Receiver<bool>) {
    let ctx = Context::server(SITE);
    let mut wobble = Wobble(0x9e37_79b9_7f4a_7c15);
    let mut trucks: Vec<Truck> = (0..TRUCKS)
        .map(|i| Truck {
            temperature: 80.0 + f64::from(i) * 2.5,
            speed: 60 + i64::from(i) * 7,
            lat: 52.37 + f64::from(i) * 0.01,
            lon: 4.89 + f64::from(i) * 0.01,
        })
        .collect();
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        for (i, truck) in trucks.iter_mut().enumerate() {
            truck.temperature = (truck.temperature + wobble.next()).clamp(60.0, 110.0);
            truck.speed = (truck.speed + (wobble.next() * 5.0) as i64).clamp(0, 120);
            truck.lat += wobble.next() * 0.001;
            truck.lon += wobble.next() * 0.001;
            let id = i + 1;
            let readings = [
                (
                    "temperature",
                    format!("{:.1}", truck.temperature),
                    "text/x-number",
                ),
                ("speed", truck.speed.to_string(), "text/x-integer"),
                (
                    "position",
                    format!(r#"{{"lat":{:.5},"lon":{:.5}}}"#, truck.lat, truck.lon),
                    "application/json",
                ),
            ];
            for (what, payload, content_type) in readings {
                let options = PublishOptions {
                    qos: QoS::AtMostOnce,
                    retain: true,
                    properties: PublishProperties {
                        content_type: Some(content_type.into()),
                        ..Default::default()
                    },
                };
                let topic = format!("public/truck/truck-{id}/{what}");
                if let Err(e) = api.publish(SITE, &topic, payload, options, &ctx) {
                    tracing::warn!(%topic, "the demo cannot publish: {e}");
                }
            }
        }
    }
}
