//! The HTTP mode: POST the protocol's object, get the answer as JSON (status 500
//! with `{"error": ...}` for errors). Prints the bound address on the first line of
//! standard output, so that `--serve 127.0.0.1:0` can be used by scripts and tests.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::behaviour::{Behaviour, Responder};
use crate::model::Version;

/// Largest accepted request body.
const BODY_BYTES_MAX: usize = 16 << 20;

/// Serve until killed.
pub fn run(addr: &str, version: Version, noisy: bool, behaviour: Behaviour) -> Result<()> {
    let responder = Arc::new(Responder::new(version, noisy, behaviour)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "http://{local}")?;
        stdout.flush()?;
        drop(stdout);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let responder = responder.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(responder.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn handle(
    responder: Arc<Responder>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match Limited::new(req.into_body(), BODY_BYTES_MAX)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                format!("{{\"error\":{:?}}}", e.to_string()),
            ))
        }
    };
    let reply = responder.answer(&body);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = if reply.error {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    Ok(respond(status, reply.body.to_string()))
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}
