//! Graceful shutdown: requests in flight finish with receipts, new connections
//! are refused, and afterwards every receipt is in the ledger under a final
//! checkpoint.

use std::time::Duration;

use cairn_server::Settings;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{decision, reopen, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight_and_everything_acknowledged_is_durable() {
    let mut d = start(Settings::default()).await;
    let addr = d.base.trim_start_matches("http://").to_owned();

    // A request whose body is half sent when the shutdown signal comes.
    let body = decision(7);
    let (head, tail) = body.split_at(body.len() / 2);
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /v1/decisions HTTP/1.1\r\nhost: cairn\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{head}",
        body.len()
    );
    slow.write_all(request.as_bytes()).await.unwrap();

    // And a burst of ordinary requests around the signal.
    let mut burst = Vec::new();
    for i in 100..130 {
        let req = d
            .client
            .post(d.url("/v1/decisions"))
            .header("content-type", "application/json")
            .body(decision(i));
        burst.push(tokio::spawn(async move {
            let r = req.send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json::<Value>().await.ok()
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.signal_stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "a stopping daemon accepts no new connection"
    );

    slow.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    slow.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let receipt: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();

    let mut acknowledged = vec![receipt];
    for t in burst {
        acknowledged.extend(t.await.unwrap());
    }
    let dir = d.stop().await;
    let ledger = reopen(dir.path());
    for r in &acknowledged {
        let entry = ledger.entry(r["seq"].as_u64().unwrap()).unwrap();
        assert_eq!(
            hex::encode(entry.leaf_hash()),
            r["leaf_hash"].as_str().unwrap()
        );
    }
    assert_eq!(
        ledger.size(),
        acknowledged.len() as u64,
        "nothing unacknowledged either"
    );
    let (size, _) = ledger.latest_checkpoint().unwrap().unwrap();
    assert_eq!(
        size,
        ledger.size(),
        "the last checkpoint covers every entry"
    );
}
