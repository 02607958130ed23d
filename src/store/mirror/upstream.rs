//! The registry a mirror follows, over its HTTP API: long-polls of `GET /v1/feed` and the
//! whole `GET /v1/snapshot`, with the provider key of `mirror.token_file`. The token is read
//! once at start and never logged.

use std::time::Duration;

use serde::Deserialize;

use crate::model::Event;
use crate::settings::MirrorSettings;
use crate::store::{ActiveSet, StoreError, StoreResult};

/// The largest page asked of the upstream's feed.
const PAGE: usize = 10_000;

pub struct Upstream {
    /// The base URL, without a trailing `/`.
    url: String,
    token: String,
    /// For the feed's long-polls: one kept-alive connection.
    http: reqwest::Client,
    /// For snapshots: a connection of its own, closed after each, so that the registry keeps
    /// no buffer sized for a snapshot beside every mirror's long-poll.
    bulk: reqwest::Client,
    wait: u64,
}

/// One answer of the upstream's feed.
pub struct FeedAnswer {
    pub events: Vec<Event>,
    /// Whether the page was full: more events wait upstream.
    pub full: bool,
    /// The upstream's own index sequence (`X-Blacklist-Seq`).
    pub head: u64,
}

#[derive(Deserialize)]
struct FeedPage {
    events: Vec<Event>,
}

impl Upstream {
    pub fn new(settings: &MirrorSettings) -> anyhow::Result<Upstream> {
        use anyhow::Context;
        let path = settings
            .token_file
            .as_ref()
            .context("mirror.token_file is not set")?;
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read mirror.token_file {}", path.display()))?
            .trim()
            .to_string();
        anyhow::ensure!(
            !token.is_empty(),
            "mirror.token_file {} is empty",
            path.display()
        );
        crate::notices::install_crypto_provider();
        let certificates = match &settings.ca_file {
            Some(ca) => {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("cannot read mirror.ca_file {}", ca.display()))?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("mirror.ca_file {} is not PEM", ca.display()))?;
                anyhow::ensure!(
                    !certificates.is_empty(),
                    "mirror.ca_file {} holds no certificate",
                    ca.display()
                );
                certificates
            }
            None => Vec::new(),
        };
        let client = |pooled: bool| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                // Redirects could carry the key to another host; the registry never redirects.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("siteban-mirror/", env!("CARGO_PKG_VERSION")))
                .tcp_keepalive(Duration::from_secs(30));
            if !pooled {
                builder = builder.pool_max_idle_per_host(0);
            }
            for certificate in &certificates {
                builder = builder.add_root_certificate(certificate.clone());
            }
            builder
                .build()
                .context("cannot build the upstream's client")
        };
        Ok(Upstream {
            url: settings.upstream.trim_end_matches('/').to_string(),
            token,
            http: client(true)?,
            bulk: client(false)?,
            wait: settings.wait_seconds,
        })
    }

    /// Events after `after`, waiting up to `mirror.wait_seconds` for one.
    pub async fn feed(&self, after: u64) -> StoreResult<FeedAnswer> {
        let url = format!(
            "{}/v1/feed?after={after}&limit={PAGE}&wait={}",
            self.url, self.wait
        );
        // The upstream holds a long-poll for `wait` seconds; past that and a margin, the
        // connection is taken for dead.
        let response = self
            .get(&self.http, &url, Duration::from_secs(self.wait + 15))
            .await?;
        let head = seq_header(&response);
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable("the feed", e))?;
        let page: FeedPage = serde_json::from_slice(&body).map_err(|e| {
            StoreError::Unavailable(format!("the upstream's feed is unreadable: {e}"))
        })?;
        let head = head
            .unwrap_or(0)
            .max(page.events.last().map_or(0, |e| e.seq));
        Ok(FeedAnswer {
            full: page.events.len() >= PAGE,
            events: page.events,
            head,
        })
    }

    /// The upstream's whole active set.
    pub async fn snapshot(&self) -> StoreResult<ActiveSet> {
        let url = format!("{}/v1/snapshot", self.url);
        let response = self.get(&self.bulk, &url, Duration::from_secs(600)).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable("the snapshot", e))?;
        let (seq, records) =
            tokio::task::spawn_blocking(move || crate::index::snapshot::read_json(&body))
                .await
                .map_err(StoreError::unavailable)?
                .map_err(|e| {
                    StoreError::Unavailable(format!("the upstream's snapshot is unreadable: {e}"))
                })?;
        tracing::info!(
            seq,
            entries = records.len(),
            "snapshot loaded from the upstream"
        );
        Ok(ActiveSet {
            seq,
            records,
            age: None,
        })
    }

    /// A read of the upstream's transparency log at `path` (`/v1/log/…`): the body and the
    /// `X-Log-Size` header; none when the upstream answers `404` (no checkpoint yet, no such
    /// tile, or a registry without the log).
    pub async fn log(&self, path: &str) -> StoreResult<Option<(Option<u64>, bytes::Bytes)>> {
        let url = format!("{}{path}", self.url);
        let Some(response) = self.send(&self.http, &url, Duration::from_secs(30)).await? else {
            return Ok(None);
        };
        let size = header_u64(&response, "x-log-size");
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(path, e))?;
        Ok(Some((size, body)))
    }

    /// A `GET` with the key; any answer but `200` is an error that says what to do.
    async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> StoreResult<reqwest::Response> {
        self.send(http, url, timeout).await?.ok_or_else(|| {
            StoreError::Unavailable(format!("the upstream {} answered 404", self.url))
        })
    }

    /// A `GET` with the key: the answer if `200`, none if `404`; any other answer is an error
    /// that says what to do.
    async fn send(
        &self,
        http: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> StoreResult<Option<reqwest::Response>> {
        let response = http
            .get(url)
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(url, e))?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            410 => Err(StoreError::SnapshotRequired { oldest: 0 }),
            status @ (401 | 403) => {
                let message = format!(
                    "the upstream {} refused the mirror's key ({status}): mirror.token_file must hold the token of an access_provider or dns_provider key of the registry",
                    self.url
                );
                tracing::error!("{message}");
                Err(StoreError::Unavailable(message))
            }
            status => Err(StoreError::Unavailable(format!(
                "the upstream {} answered {status}",
                self.url
            ))),
        }
    }

    fn unreachable(&self, what: &str, e: reqwest::Error) -> StoreError {
        StoreError::Unavailable(format!("the upstream {} ({what}): {e}", self.url))
    }
}

fn seq_header(response: &reqwest::Response) -> Option<u64> {
    header_u64(response, "x-blacklist-seq")
}

fn header_u64(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}
