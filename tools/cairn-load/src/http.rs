//! One keep-alive HTTP/1.1 connection to the daemon (hyper's client
//! connection, no pool: the load tool decides how many connections there are).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the daemon is: `host:port` and the path its routes hang under.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// Base path without a trailing slash (usually empty).
    pub base: String,
    /// `Bearer <token>`, if any.
    pub auth: Option<HeaderValue>,
}

impl Target {
    /// Parse `http://host:port[/base]`.
    pub fn parse(url: &str, token: Option<&str>) -> Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("--url {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => bail!(
                "--url {url:?}: cairn-load speaks plain HTTP only; point it at a listener without TLS"
            ),
            _ => bail!("--url {url:?}: expected http://host:port"),
        }
        let Some(authority) = uri.authority() else {
            bail!("--url {url:?}: no host");
        };
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        let auth = match token {
            Some(t) => Some(
                HeaderValue::from_str(&format!("Bearer {t}"))
                    .context("--token holds characters a header cannot")?,
            ),
            None => None,
        };
        Ok(Target {
            authority,
            base: uri.path().trim_end_matches('/').to_owned(),
            auth,
        })
    }
}

/// What the daemon answered.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Whether a `Retry-After` header came with it.
    pub retry_after: bool,
    /// The body.
    pub body: Bytes,
}

/// A connection, opened on first use and again after it broke.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `target`, not yet opened.
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            sender: None,
        }
    }

    /// Open the connection if it is not open.
    pub async fn connect(&mut self) -> Result<()> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.sender = None;
        let stream = TcpStream::connect(&self.target.authority)
            .await
            .with_context(|| format!("connecting to {}", self.target.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; its error, if any, shows up in
            // the next request on it.
            let _ = connection.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Send one request and read the whole answer, within `timeout`. On any
    /// error the connection is dropped, to be opened again by the next call.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer> {
        let result =
            tokio::time::timeout(timeout, self.exchange(method, path, content_type, body)).await;
        let outcome = match result {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "no answer within {} ms",
                timeout.as_millis()
            )),
        };
        if outcome.is_err() {
            self.sender = None;
        }
        outcome
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> Result<Answer> {
        self.connect().await?;
        let Some(sender) = self.sender.as_mut() else {
            bail!("not connected");
        };
        sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.target.base))
            .header(HOST, &self.target.authority);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        if let Some(auth) = &self.target.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key(RETRY_AFTER);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets_are_plain_http_with_a_port() {
        let t = Target::parse("http://127.0.0.1:7070/", None).unwrap();
        assert_eq!(
            (t.authority.as_str(), t.base.as_str()),
            ("127.0.0.1:7070", "")
        );
        let t = Target::parse("http://h.example/cairn", Some("tok")).unwrap();
        assert_eq!(
            (t.authority.as_str(), t.base.as_str()),
            ("h.example:80", "/cairn")
        );
        assert_eq!(t.auth.unwrap(), "Bearer tok");
        assert!(Target::parse("https://h:1", None).is_err());
    }
}
