//! SUBSCRIBE and UNSUBSCRIBE: options, identifiers, overlaps, shared subscriptions, retained
//! messages.

mod common;

use std::time::Duration;

use common::{QoS, V5, v5_options};
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet as P, PublishProperties, RetainForwardRule, SubscribeProperties,
    SubscribeReasonCode, UnsubAckReason,
};

fn filter(path: &str, qos: QoS) -> Filter {
    Filter::new(path, qos)
}

async fn subscribe_with(
    c: &mut V5,
    filters: Vec<Filter>,
    id: Option<usize>,
) -> Vec<SubscribeReasonCode> {
    let props = SubscribeProperties {
        id,
        user_properties: vec![],
    };
    c.client
        .subscribe_many_with_properties(filters, props)
        .await
        .unwrap();
    match c.control().await {
        P::SubAck(a) => a.return_codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn sub_ids(p: &rumqttc::v5::mqttbytes::v5::Publish) -> Vec<usize> {
    p.properties
        .as_ref()
        .map(|p| p.subscription_identifiers.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn suback_grants_the_requested_qos() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "granted").await;
    let codes = subscribe_with(
        &mut c,
        vec![
            filter("a", QoS::AtMostOnce),
            filter("b/+", QoS::AtLeastOnce),
            filter("c/#", QoS::ExactlyOnce),
        ],
        None,
    )
    .await;
    assert_eq!(
        codes,
        [
            SubscribeReasonCode::Success(QoS::AtMostOnce),
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Success(QoS::ExactlyOnce)
        ]
    );
}

#[tokio::test]
async fn no_local_skips_the_publishers_own_messages() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "echo").await;
    let mut f = filter("talk", QoS::AtMostOnce);
    f.nolocal = true;
    subscribe_with(&mut c, vec![f], None).await;
    c.client
        .publish("talk", QoS::AtMostOnce, false, "mine")
        .await
        .unwrap();
    c.no_publish().await;
    let other = V5::simple(s.mqtt, "other").await;
    other
        .client
        .publish("talk", QoS::AtMostOnce, false, "theirs")
        .await
        .unwrap();
    assert_eq!(c.publish().await.payload, "theirs");
}

#[tokio::test]
async fn retain_as_published_keeps_the_flag_on_forwarded_messages() {
    let s = common::start().await;
    let mut keep = V5::simple(s.mqtt, "keep").await;
    let mut f = filter("flag", QoS::AtMostOnce);
    f.preserve_retain = true;
    subscribe_with(&mut keep, vec![f], None).await;
    let mut plain = V5::simple(s.mqtt, "plain").await;
    plain.subscribe("flag", QoS::AtMostOnce).await;
    let p = V5::simple(s.mqtt, "p").await;
    p.client
        .publish("flag", QoS::AtMostOnce, true, "r")
        .await
        .unwrap();
    assert!(keep.publish().await.retain);
    assert!(
        !plain.publish().await.retain,
        "live messages lose the flag by default [MQTT-3.3.1-12]"
    );
}

#[tokio::test]
async fn retain_handling_0_1_2() {
    let s = common::start().await;
    let mut p = V5::simple(s.mqtt, "p").await;
    p.publish_acked("state/door", "open", true).await;
    let mut c = V5::simple(s.mqtt, "rh").await;
    c.subscribe("state/door", QoS::AtMostOnce).await;
    let got = c.publish().await;
    assert!(got.retain, "retained messages arrive with RETAIN set");
    assert_eq!(got.payload, "open");
    // 0: again at every subscribe.
    c.subscribe("state/door", QoS::AtMostOnce).await;
    assert_eq!(c.publish().await.payload, "open");
    // 1: only for a new subscription.
    let mut f = filter("state/door", QoS::AtMostOnce);
    f.retain_forward_rule = RetainForwardRule::OnNewSubscribe;
    subscribe_with(&mut c, vec![f.clone()], None).await;
    c.no_publish().await;
    f.path = "state/+".into();
    subscribe_with(&mut c, vec![f], None).await;
    assert_eq!(c.publish().await.payload, "open");
    // 2: never.
    let mut f = filter("state/#", QoS::AtMostOnce);
    f.retain_forward_rule = RetainForwardRule::Never;
    subscribe_with(&mut c, vec![f], None).await;
    c.no_publish().await;
}

#[tokio::test]
async fn retained_message_is_cleared_by_an_empty_payload() {
    let s = common::start().await;
    let mut p = V5::simple(s.mqtt, "p").await;
    p.publish_acked("r/x", "v", true).await;
    p.publish_acked("r/x", "", true).await;
    p.publish_acked("r/y", vec![0u8, 255, 0], true).await;
    let mut c = V5::simple(s.mqtt, "late").await;
    c.subscribe("r/#", QoS::AtMostOnce).await;
    let got = c.publish().await;
    assert_eq!(
        (got.topic.as_ref(), got.payload.as_ref()),
        (&b"r/y"[..], &[0u8, 255, 0][..])
    );
    c.no_publish().await;
    assert_eq!(s.metric("pubzub_retained_messages"), 1);
}

#[tokio::test]
async fn retained_message_expires_and_forwards_its_remaining_time() {
    let s = common::start().await;
    let mut p = V5::simple(s.mqtt, "p").await;
    let expiring = |secs| PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    };
    p.publish_acked_with("e/short", "s", true, expiring(1))
        .await;
    p.publish_acked_with("e/long", "l", true, expiring(100))
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut c = V5::simple(s.mqtt, "late").await;
    c.subscribe("e/#", QoS::AtMostOnce).await;
    let got = c.publish().await;
    assert_eq!(got.topic, "e/long");
    let left = got
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry");
    assert!((97..100).contains(&left), "remaining expiry {left}");
    c.no_publish().await;
}

#[tokio::test]
async fn overlapping_subscriptions_give_one_message_with_every_identifier() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "overlap").await;
    subscribe_with(&mut c, vec![filter("o/+", QoS::AtMostOnce)], Some(1)).await;
    subscribe_with(&mut c, vec![filter("o/#", QoS::AtLeastOnce)], Some(2)).await;
    let p = V5::simple(s.mqtt, "p").await;
    p.client
        .publish("o/x", QoS::AtLeastOnce, false, "m")
        .await
        .unwrap();
    let got = c.publish().await;
    assert_eq!(got.qos, QoS::AtLeastOnce, "the highest QoS of the matches");
    let mut ids = sub_ids(&got);
    ids.sort();
    assert_eq!(ids, [1, 2]);
    c.no_publish().await;
}

#[tokio::test]
async fn shared_subscriptions_take_turns() {
    let s = common::start().await;
    let mut a = V5::simple(s.mqtt, "worker-a").await;
    let mut b = V5::simple(s.mqtt, "worker-b").await;
    let mut all = V5::simple(s.mqtt, "audit").await;
    a.subscribe("$share/workers/jobs/#", QoS::AtMostOnce).await;
    b.subscribe("$share/workers/jobs/#", QoS::AtMostOnce).await;
    all.subscribe("jobs/#", QoS::AtMostOnce).await;
    let p = V5::simple(s.mqtt, "p").await;
    for i in 0..4 {
        p.client
            .publish(format!("jobs/{i}"), QoS::AtMostOnce, false, "j")
            .await
            .unwrap();
    }
    let mut got_a = vec![a.publish().await.topic, a.publish().await.topic];
    let mut got_b = vec![b.publish().await.topic, b.publish().await.topic];
    a.no_publish().await;
    b.no_publish().await;
    got_a.append(&mut got_b);
    got_a.sort();
    assert_eq!(
        got_a,
        ["jobs/0", "jobs/1", "jobs/2", "jobs/3"],
        "each job once"
    );
    for i in 0..4 {
        assert_eq!(all.publish().await.topic, format!("jobs/{i}"));
    }
}

#[tokio::test]
async fn shared_subscriptions_get_no_retained_messages() {
    let s = common::start().await;
    let mut p = V5::simple(s.mqtt, "p").await;
    p.publish_acked("jobs/old", "r", true).await;
    let mut a = V5::simple(s.mqtt, "worker").await;
    a.subscribe("jobs/old", QoS::AtMostOnce).await;
    assert!(a.publish().await.retain);
    a.subscribe("$share/g/jobs/#", QoS::AtMostOnce).await;
    a.no_publish().await;
}

#[tokio::test]
async fn unsubscribe_answers_per_filter_and_stops_delivery() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "leaver").await;
    c.subscribe("u/a", QoS::AtMostOnce).await;
    c.client.unsubscribe("u/a").await.unwrap();
    match c.control().await {
        P::UnsubAck(a) => assert_eq!(a.reasons, [UnsubAckReason::Success]),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    c.client.unsubscribe("u/never").await.unwrap();
    match c.control().await {
        P::UnsubAck(a) => assert_eq!(a.reasons, [UnsubAckReason::NoSubscriptionExisted]),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    let p = V5::simple(s.mqtt, "p").await;
    p.client
        .publish("u/a", QoS::AtMostOnce, false, "x")
        .await
        .unwrap();
    c.no_publish().await;
}

#[tokio::test]
async fn subscription_limits_answer_in_the_suback() {
    let s = common::start_with(|c| {
        c.limits.max_subscriptions_per_client = 2;
        c.limits.max_topic_levels = 4;
    })
    .await;
    let mut c = V5::connect(v5_options(s.mqtt, "greedy")).await.0;
    let codes = subscribe_with(
        &mut c,
        vec![
            filter("l/1", QoS::AtMostOnce),
            filter("a/b/c/d/e", QoS::AtMostOnce),
            filter("l/2", QoS::AtMostOnce),
            filter("l/3", QoS::AtMostOnce),
        ],
        None,
    )
    .await;
    assert_eq!(
        codes,
        [
            SubscribeReasonCode::Success(QoS::AtMostOnce),
            SubscribeReasonCode::TopicFilterInvalid,
            SubscribeReasonCode::Success(QoS::AtMostOnce),
            SubscribeReasonCode::QuotaExceeded
        ]
    );
}
