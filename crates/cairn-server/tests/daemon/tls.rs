//! HTTPS with a certificate and key from PEM files.

use cairn_server::{Daemon, Settings};

use crate::support::{config, decision, launch, new_ledger_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let dir = new_ledger_dir();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let settings = Settings {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..Settings::default()
    };
    let daemon = Daemon::open(config(dir.path(), settings)).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut d = launch(dir, daemon, Some(client)).await;
    let plain = d.base.clone();
    d.base = d.base.replace("http://127.0.0.1", "https://localhost");

    let r = d.post_json(&decision(1)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["seq"], 0);
    let over_plain_http = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(
        over_plain_http.is_err(),
        "plain HTTP must not be served: {over_plain_http:?}"
    );
    d.stop().await;
}

#[test]
fn a_key_that_is_not_a_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, "not a key\n").unwrap();
    let err = cairn_server::tls::acceptor(&cert, &key)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("key.pem"), "{err}");
    let err = cairn_server::tls::acceptor(&dir.path().join("missing.pem"), &key)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
}
