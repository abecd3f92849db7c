//! One keep-alive HTTP/1.1 connection to `cairnd` (hyper's client connection).

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An open connection.
pub struct Conn {
    authority: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connect to `authority` (`host:port`).
    pub async fn open(authority: &str) -> Result<Conn> {
        let stream = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; an error shows in the next request.
            let _ = connection.await;
        });
        Ok(Conn {
            authority: authority.to_owned(),
            sender,
        })
    }

    /// POST `body` to `path`; the status and the whole answer.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes)> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))?;
        self.send(request).await
    }

    /// GET `path`; the status and the whole answer.
    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes)> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, &self.authority)
            .body(Full::new(Bytes::new()))?;
        self.send(request).await
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
