//! Operating the binary: refusals logged with the rule that decided them, and SIGHUP reloading
//! users, rules and the TLS certificate without dropping connections.

mod common;

use common::binary::{LOOPBACK_PORTS, run};
use common::{QoS, V5};
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
