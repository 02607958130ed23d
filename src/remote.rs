//! A running node's HTTP API as the maintenance commands use it (`--url`): pages of the audit
//! log and listings, with a token read from a file or `SITEBAN_TOKEN`. The token travels only
//! in the `Authorization` header; it is never printed, logged or shown by `Debug`. What the
//! commands do with the answers is left to `crate::commands`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::audit::AuditPage;
use crate::api::error::{ApiError, ErrorBody};
use crate::audit::AuditRecord;
use crate::model::Entry;

/// What reading the audit log (and its checkpoint) takes.
pub const AUDIT_KEY: &str = "an admin or auditor token";
/// What reading the feed and the transparency log takes.
pub const FEED_KEY: &str = "a key that reads the feed";

/// The environment variable a token is read from when no `--token-file` is given.
pub const TOKEN_ENV: &str = "SITEBAN_TOKEN";

/// How long one request may take. A listing may spend `index.read_your_writes_ms` waiting for
/// the index (it never waits for locating); that is seconds at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a listing answered `429 rate_limited` is sent again, each time after the
/// `Retry-After` the node asked for (at most `MAX_RETRY_AFTER`).
const RATE_LIMIT_RETRIES: u32 = 10;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("--url needs a token: give --token-file PATH or set {TOKEN_ENV}")]
    NoToken,
    #[error("cannot read the token file {}: {cause}", .path.display())]
    TokenFile {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{0} holds no token")]
    EmptyToken(String),
    #[error("--url {url:?} is not usable: {why}")]
    BadUrl { url: String, why: &'static str },
    #[error("cannot reach the node at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error(
        "the node at {url} refused the token (401 unauthenticated): it is wrong, revoked or \
         expired"
    )]
    Unauthenticated { url: String },
    #[error("the node at {url} refused the token's key (403 forbidden): {what} needs {needs}")]
    Forbidden {
        url: String,
        what: &'static str,
        needs: &'static str,
    },
    #[error("the node at {url} answered {status} {code}: {message}")]
    Answer {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("the node at {url} answered something that is not {what}: {cause}")]
    Unreadable {
        url: String,
        what: &'static str,
        cause: String,
    },
}

/// A bearer token. Its `Debug` shows nothing of it.
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// The token in `file` (surrounding blanks and the final newline dropped), or else the one
    /// in `SITEBAN_TOKEN`. A token is never taken from the command line, where `ps` shows it.
    pub fn read(file: Option<&Path>) -> Result<Token, RemoteError> {
        let (text, from) = match file {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|cause| RemoteError::TokenFile {
                    path: path.to_path_buf(),
                    cause,
                })?,
                path.display().to_string(),
            ),
            None => (
                std::env::var(TOKEN_ENV).map_err(|_| RemoteError::NoToken)?,
                TOKEN_ENV.to_string(),
            ),
        };
        let token = text.trim();
        if token.is_empty() {
            return Err(RemoteError::EmptyToken(from));
        }
        Ok(Token(token.to_string()))
    }
}

/// What a node answered to one listing.
#[derive(Debug)]
pub enum Listed {
    /// `201`: listed, or waiting for review under four-eyes.
    Written(Box<Entry>),
    /// `409 already_listed`.
    AlreadyListed,
    /// Any other refusal or failure of this one line, as `code: message`.
    Failed(String),
}

/// A running node reached over HTTP with one token.
#[derive(Debug)]
pub struct Node {
    /// The base URL as given, without a trailing `/`.
    url: String,
    http: reqwest::Client,
    token: Token,
}

impl Node {
    /// A client of the node at `url` (`http://` or `https://`, optionally with a path prefix,
    /// no credentials, query or fragment). Nothing is sent yet.
    pub fn new(url: &str, token: Token) -> Result<Node, RemoteError> {
        let bad = |why| RemoteError::BadUrl {
            url: url.to_string(),
            why,
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| bad("not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("only http:// and https:// URLs are served"));
        }
        if parsed.host_str().is_none() {
            return Err(bad("it names no host"));
        }
        // Credentials in the URL would show in `ps` and in every message naming the node.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "it carries credentials; give the token with --token-file or SITEBAN_TOKEN",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("it carries a query or fragment"));
        }
        crate::notices::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // A redirect could carry the token to another host; a node never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siteban/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Unreachable {
                url: url.to_string(),
                cause: e.to_string(),
            })?;
        Ok(Node {
            url: parsed.as_str().trim_end_matches('/').to_string(),
            http,
            token,
        })
    }

    /// The node's base URL, as messages name it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to `limit` (1 to 1000) audit records after `after`, oldest first
    /// (`GET /v1/audit`: an admin or auditor token).
    pub async fn audit(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, RemoteError> {
        let body = self
            .read(
                &format!("/v1/audit?after={after}&limit={limit}"),
                "reading the audit log",
                AUDIT_KEY,
            )
            .await?;
        serde_json::from_slice::<AuditPage>(&body)
            .map(|page| page.records)
            .map_err(|e| self.unreadable("a page of the audit log", e))
    }

    /// The body of `GET path` (a path with its query), answered `200`; `what` names the read
    /// and `needs` the key it takes, in messages.
    pub async fn read(
        &self,
        path: &str,
        what: &'static str,
        needs: &'static str,
    ) -> Result<Vec<u8>, RemoteError> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token.0)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
        match status {
            200 => Ok(body.to_vec()),
            _ => Err(self.refusal(status, &body, what, needs)),
        }
    }

    /// Sends one listing request body to `POST /v1/entries` (an agency or telecom token). A
    /// wrong token or role is an error, since every other line would meet it too; a refusal
    /// of this line alone is `Listed::Failed`. Answers of `429` are waited out and sent again.
    pub async fn list(&self, body: String) -> Result<Listed, RemoteError> {
        let mut retries = 0;
        loop {
            let sent = self
                .http
                .post(format!("{}/v1/entries", self.url))
                .bearer_auth(&self.token.0)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                // A request that timed out may still have been written: say so.
                Err(e) if e.is_timeout() => {
                    return Ok(Listed::Failed(format!(
                        "no answer within {}s; the entry may have been listed: read it back",
                        REQUEST_TIMEOUT.as_secs()
                    )));
                }
                Err(e) => return Err(self.unreachable(e)),
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let answer = match response.bytes().await {
                Ok(answer) => answer,
                Err(e) => return Ok(Listed::Failed(format!("the answer broke off: {e}"))),
            };
            match status {
                201 => {
                    return serde_json::from_slice::<Entry>(&answer)
                        .map(|entry| Listed::Written(Box::new(entry)))
                        .map_err(|e| self.unreadable("an entry", e));
                }
                429 if retries < RATE_LIMIT_RETRIES => {
                    retries += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1).max(1));
                    tokio::time::sleep(wait.min(MAX_RETRY_AFTER)).await;
                    continue;
                }
                _ => {}
            }
            return match self.refusal(status, &answer, "listing", "an agency or telecom token") {
                RemoteError::Answer { code, .. } if code == "already_listed" => {
                    Ok(Listed::AlreadyListed)
                }
                RemoteError::Answer { code, message, .. } => {
                    Ok(Listed::Failed(format!("{code}: {message}")))
                }
                fatal => Err(fatal),
            };
        }
    }

    /// The error for a non-success answer: a `401`, or a `403` refusing the key's role, as
    /// such; anything else with the code and message of its body. A role is refused before the
    /// body is read, with the message of `ApiError::Forbidden`; other refusals with the code
    /// `forbidden` (a protection override by a key that may not make one) concern the request.
    fn refusal(
        &self,
        status: u16,
        body: &[u8],
        what: &'static str,
        needs: &'static str,
    ) -> RemoteError {
        let url = self.url.clone();
        let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(answer) => (answer.error.code.to_string(), answer.error.message),
            Err(_) => (
                "unknown".to_string(),
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            ),
        };
        match (status, code.as_str()) {
            (401, _) => RemoteError::Unauthenticated { url },
            (403, "forbidden") if message == ApiError::Forbidden.to_string() => {
                RemoteError::Forbidden { url, what, needs }
            }
            _ => RemoteError::Answer {
                url,
                status,
                code,
                message,
            },
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> RemoteError {
        // reqwest's message names the URL it was sending to, never a header; the reason
        // (refused, a TLS failure) is in its sources.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            cause.push_str(": ");
            cause.push_str(&inner.to_string());
            source = inner.source();
        }
        RemoteError::Unreachable {
            url: self.url.clone(),
            cause,
        }
    }

    fn unreadable(&self, what: &'static str, e: serde_json::Error) -> RemoteError {
        RemoteError::Unreadable {
            url: self.url.clone(),
            what,
            cause: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token("sb_secret".into())
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        for (url, fine) in [
            ("http://127.0.0.1:8080", true),
            ("https://registry.example/siteban/", true),
            ("ftp://127.0.0.1", false),
            ("127.0.0.1:8080", false),
            ("http://admin:secret@127.0.0.1:8080", false),
            ("http://127.0.0.1:8080/?x=1", false),
        ] {
            assert_eq!(Node::new(url, token()).is_ok(), fine, "{url}");
        }
        let node = Node::new("https://registry.example/siteban/", token()).unwrap();
        assert_eq!(node.url(), "https://registry.example/siteban");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let node = Node::new("http://127.0.0.1:8080", token()).unwrap();
        let debug = format!("{node:?}");
        assert!(!debug.contains("sb_secret"), "{debug}");
        assert!(debug.contains("Token(***)"), "{debug}");
    }

    #[test]
    fn a_token_file_is_trimmed_and_may_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  sb_abc\n").unwrap();
        assert_eq!(Token::read(Some(&path)).unwrap().0, "sb_abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            Token::read(Some(&path)),
            Err(RemoteError::EmptyToken(_))
        ));
        assert!(matches!(
            Token::read(Some(&dir.path().join("absent"))),
            Err(RemoteError::TokenFile { .. })
        ));
    }
}
