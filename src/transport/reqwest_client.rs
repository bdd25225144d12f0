//! [`ReqwestTransport`]: the transport on reqwest (feature `reqwest`).

use std::sync::Arc;

use super::{
    too_long, BoxFuture, LastParsed, Outgoing, Reply, Transport, TransportError, MAX_REPLY_BYTES,
};

/// A transport on a pooled `reqwest` client with rustls (feature `reqwest`): for an egress proxy,
/// or a client configured by hand ([`ReqwestTransport::new`]). The default is `HyperTransport`.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    last_url: Arc<LastParsed<reqwest::Url>>,
}

impl ReqwestTransport {
    /// A transport around a client of your own (proxy settings, TLS roots, …).
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestTransport {
            client,
            last_url: Default::default(),
        }
    }

    /// The default client: keeps connections alive, `TCP_NODELAY`, a 5 s connect timeout.
    pub fn default_client(max_idle_per_host: usize) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(max_idle_per_host)
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(5))
            .user_agent(concat!("tower-ga/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::new(e.without_url().to_string()))?;
        Ok(ReqwestTransport::new(client))
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let url = match self.last_url.get(request.url, reqwest::Url::parse) {
            Ok(url) => url,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let pending = self
            .client
            .post(url)
            .header(http::header::CONTENT_TYPE, request.content_type)
            .body(request.body)
            .send();
        Box::pin(async move {
            // reqwest's errors name the URL, which holds the API secret: strip it.
            let clean = |e: reqwest::Error| TransportError::new(e.without_url().to_string());
            let mut response = pending.await.map_err(clean)?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = bytes::BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(clean)? {
                if body.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(too_long());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Reply {
                status,
                headers,
                body: body.freeze(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqwest_urls_parse_and_stay_hidden() {
        let t = ReqwestTransport::default_client(1).unwrap();
        let a: Arc<str> = "http://127.0.0.1:9/mp/collect?api_secret=hunter2".into();
        assert_eq!(
            t.last_url
                .get(a.clone(), reqwest::Url::parse)
                .unwrap()
                .as_str(),
            &*a
        );
        let err = t
            .last_url
            .get(
                "http://[::1/?api_secret=hunter2".into(),
                reqwest::Url::parse,
            )
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
