//! The monitor's operator endpoints need rights: resetting a breaker or pinning a
//! reference takes a token with the `admin` right (write rights to the stream
//! are not enough); reading needs none.

use cairn_server::auth::hash_token;
use cairn_server::config::TokenConfig;
use cairn_server::Settings;
use std::time::{Duration, Instant};

use crate::support::{decision, start, TestDaemon};

fn token(name: &str, write: &[&str], admin: bool) -> TokenConfig {
    TokenConfig {
        name: Some(name.into()),
        sha256: hash_token(name),
        write_streams: write.iter().map(|s| s.to_string()).collect(),
        read_streams: Vec::new(),
        read: false,
        admin,
    }
}

async fn post(d: &TestDaemon, path: &str, bearer: Option<&str>, body: &str) -> (u16, String) {
    let mut req = d.client.post(d.url(path)).body(body.to_owned());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn reset_and_pin_need_an_admin_token() {
    let d = start(Settings {
        tokens: Some(vec![
            token("fraud-team", &["payments.*"], false),
            token("chat-team", &["support.*"], false),
            token("on-call", &[], true),
        ]),
        ..Settings::default()
    })
    .await;
    let r = d
        .client
        .post(d.url("/v1/decisions"))
        .bearer_auth("fraud-team")
        .header("content-type", "application/json")
        .body(decision(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The monitor counts it (asynchronously); reading needs no token.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = d.get("/v1/monitor/streams").await.json();
        if v["streams"][0]["versions"][0]["total"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reset = "/v1/monitor/breakers/payments.fraud/reset";
    assert_eq!(post(&d, reset, None, "").await.0, 401);
    assert_eq!(post(&d, reset, Some("not-a-token"), "").await.0, 401);
    for writer in ["chat-team", "fraud-team"] {
        let (status, body) = post(&d, reset, Some(writer), "").await;
        assert_eq!(status, 403, "{writer}: {body}");
        assert!(body.contains("may not reset the breaker"), "{body}");
        assert!(body.contains("admin"), "{body}");
    }
    assert_eq!(post(&d, reset, Some("on-call"), "").await.0, 200);
    let (status, body) = post(
        &d,
        "/v1/monitor/breakers/payments.other/reset",
        Some("on-call"),
        "",
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let pin = "/v1/monitor/streams/payments.fraud/reference";
    let body = r#"{"model":"fraud","version":"7"}"#;
    assert_eq!(post(&d, pin, None, body).await.0, 401);
    let (status, answer) = post(&d, pin, Some("fraud-team"), body).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("may not pin the reference"), "{answer}");
    assert_eq!(post(&d, pin, Some("on-call"), body).await.0, 200);
    // A body is read only for an operator, and only a small one.
    let big = format!(r#"{{"model":"fraud","version":"{}"}}"#, "7".repeat(1 << 20));
    assert_eq!(post(&d, pin, None, &big).await.0, 401);
    let (status, answer) = post(&d, pin, Some("on-call"), &big).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("at most 8192 bytes"), "{answer}");
    // The admin token has no stream rights: it cannot append.
    let r = d
        .client
        .post(d.url("/v1/decisions"))
        .bearer_auth("on-call")
        .header("content-type", "application/json")
        .body(decision(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    d.stop().await;
}

#[tokio::test]
async fn with_the_monitor_off_its_routes_say_so() {
    let d = start(Settings {
        monitor: cairn_server::monitor::MonitorSettings {
            enabled: Some(false),
            ..Default::default()
        },
        ..Settings::default()
    })
    .await;
    let r = d.get("/v1/monitor/breakers").await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("the monitor is off"), "{}", r.text);
    assert!(!d.get("/metrics").await.text.contains("cairn_monitor_"));
    d.stop().await;
}

#[tokio::test]
async fn an_operator_action_that_cannot_be_saved_is_answered_503() {
    let d = start(Settings::default()).await;
    assert_eq!(d.post_json(&decision(1)).await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.get("/v1/monitor/streams").await.json()["streams"][0]["versions"][0]["total"] != 1 {
        assert!(Instant::now() < deadline, "never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The state is written to a temporary file first: make that impossible.
    std::fs::create_dir(d.dir.path().join("monitor-state.json.tmp")).unwrap();
    let pin = "/v1/monitor/streams/payments.fraud/reference";
    let (status, answer) = post(&d, pin, None, r#"{"model":"fraud","version":"7"}"#).await;
    assert_eq!(status, 503, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["code"], "not_saved");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("took effect but could not be saved")
            && error.contains("monitor-state.json"),
        "{error}"
    );
    // Once the cause is gone, sending it again saves it.
    std::fs::remove_dir(d.dir.path().join("monitor-state.json.tmp")).unwrap();
    let (status, answer) = post(&d, pin, None, r#"{"model":"fraud","version":"7"}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert!(d.dir.path().join("monitor-state.json").exists());
    d.stop().await;
}
