//! API keys and callers: token generation and hashing, the in-memory key cache that answers
//! every authentication without a store round trip, and the role policy of each endpoint.
//! Tokens are never stored or logged; only their SHA-256 is kept.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{Province, Role};
use crate::model::{Actor, KeyRecord};

/// The identity behind a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub province: Option<Province>,
    pub expires_at: Option<crate::model::Timestamp>,
    /// The provider an `access_provider` or `dns_provider` key speaks for.
    pub provider_id: Option<String>,
}

impl Principal {
    /// The principal of work that no key does (the command line, the sweepers): national,
    /// never expiring, bound to no provider.
    pub fn from_actor(actor: Actor) -> Principal {
        Principal {
            key_id: actor.key_id,
            name: actor.name,
            role: actor.role,
            province: actor.province,
            expires_at: None,
            provider_id: None,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            key_id: self.key_id.clone(),
            name: self.name.clone(),
            role: self.role,
            province: self.province,
        }
    }
}

pub type TokenHash = [u8; 32];

type KeyMap = HashMap<TokenHash, Arc<Principal>, foldhash::fast::RandomState>;

/// The token of an `Authorization` header of the Bearer scheme, or `None` for another scheme
/// or an empty token. RFC 9110 (section 11.1) makes the scheme case-insensitive, so `bearer`
/// and `BEARER` are the same scheme, and lets one or more spaces follow it.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token: 256 bits from the OS generator, hex-encoded behind a `sb_` prefix so
/// that leaked tokens are easy to recognise in secret scanners.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sb_{}", hex::encode(bytes))
}

pub fn new_key_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("k_{}", hex::encode(bytes))
}

/// The key cache. Lookups hash the presented token and find it in an immutable map swapped
/// in whole on every change, so authentication never locks and never calls the store.
pub struct Authenticator {
    admin: Option<(TokenHash, Arc<Principal>)>,
    /// Who a request without a token is, on an open mirror (`mirror.open`); none elsewhere.
    anonymous: Option<Arc<Principal>>,
    /// Keyed by token digest. The digest is already uniformly random, so the fast hasher
    /// loses nothing to a hash-flooding attacker, who cannot choose digests.
    keys: ArcSwap<KeyMap>,
    /// The version of the applied set. Replacements hold this lock from the version check to
    /// the swap: two reloads racing (a key's creator and the follower) could otherwise swap in
    /// the older set last, and a key just created would not authenticate until the next change.
    version: std::sync::Mutex<u64>,
    /// Told the version of every key set swapped in, so that a request waiting on behalf of a
    /// key (a feed long-poll) ends when the key is revoked.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Authenticator {
    /// `admin_token` is the bootstrap admin token from configuration, if any.
    pub fn new(admin_token: Option<&str>) -> Authenticator {
        Authenticator {
            admin: admin_token.map(|token| {
                (
                    hash_token(token),
                    Arc::new(Principal {
                        key_id: "admin".into(),
                        name: "bootstrap admin".into(),
                        role: Role::Admin,
                        province: None,
                        expires_at: None,
                        provider_id: None,
                    }),
                )
            }),
            anonymous: None,
            keys: ArcSwap::from_pointee(KeyMap::default()),
            version: std::sync::Mutex::new(0),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Serves requests without a token as a read-only principal: what an open mirror does for
    /// the clients of the network it sits in. Such a principal may check and read the feed,
    /// the snapshot and the RPZ, as an auditor may, and nothing else exists on a mirror.
    pub fn open_to_all(mut self) -> Authenticator {
        self.anonymous = Some(Arc::new(Principal {
            key_id: "anonymous".into(),
            name: "anonymous client of an open mirror".into(),
            role: Role::Auditor,
            province: None,
            expires_at: None,
            provider_id: None,
        }));
        self
    }

    /// Who a request without a token is: nobody, unless this is an open mirror.
    pub fn anonymous(&self) -> Option<Arc<Principal>> {
        self.anonymous.clone()
    }

    pub fn authenticate(&self, token: &str) -> Option<Arc<Principal>> {
        self.authenticate_digest(&hash_token(token))
    }

    /// The key whose token has this SHA-256 (lower-case hex), as a console session names it;
    /// none once the key is revoked or expired.
    pub fn authenticate_sha256(&self, hex_digest: &str) -> Option<Arc<Principal>> {
        let hash: TokenHash = hex::decode(hex_digest).ok()?.try_into().ok()?;
        self.authenticate_digest(&hash)
    }

    fn authenticate_digest(&self, hash: &TokenHash) -> Option<Arc<Principal>> {
        let hash = *hash;
        if let Some((admin, principal)) = &self.admin
            && bool::from(admin.ct_eq(&hash))
        {
            return Some(Arc::clone(principal));
        }
        // The map is keyed by the digest, so a lookup's timing depends only on the digest of
        // what the caller sent, which reveals nothing about any stored token.
        let principal = self.keys.load().get(&hash).cloned()?;
        match principal.expires_at {
            Some(expiry) if expiry <= crate::model::now() => None,
            _ => Some(principal),
        }
    }

    /// Replaces the whole key set, as read from the store at `version`. Older versions than
    /// the one applied are ignored, so a slow reload cannot bring a revoked key back.
    pub fn replace(&self, version: u64, records: &[KeyRecord]) {
        let mut applied = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if version < *applied {
            return;
        }
        let map: KeyMap = records
            .iter()
            .filter_map(|record| {
                let hash: TokenHash = hex::decode(&record.token_sha256).ok()?.try_into().ok()?;
                Some((hash, Arc::new(principal_of(record))))
            })
            .collect();
        self.keys.store(Arc::new(map));
        *applied = version;
        self.changes.send_replace(version);
    }

    /// Resolves when `token` stops authenticating: its key revoked (on this node or, through
    /// the follower, on any other) or its expiry reached. Never resolves for a token that
    /// does not expire and stays.
    pub async fn until_invalid(&self, token: &str) {
        let mut changes = self.changes.subscribe();
        loop {
            let Some(principal) = self.authenticate(token) else {
                return;
            };
            let expiry = principal.expires_at.map(|at| {
                let left = (at - crate::model::now()).max(time::Duration::ZERO);
                tokio::time::Instant::now() + left.unsigned_abs()
            });
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The authenticator is gone with the server; nothing will change.
                        std::future::pending::<()>().await;
                    }
                }
                () = sleep_until(expiry) => {}
            }
        }
    }

    /// The key-change version the cache reflects.
    pub fn version(&self) -> u64 {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn principal_of(record: &KeyRecord) -> Principal {
    Principal {
        key_id: record.id.clone(),
        name: record.name.clone(),
        role: record.role,
        province: record.province,
        expires_at: record.expires_at,
        provider_id: record.provider_id.clone(),
    }
}

/// Which roles may call each endpoint. Every handler names its policy explicitly; the
/// README's role matrix is this table.
pub mod policy {
    use crate::domain::Role::{self, *};

    pub const MANAGE_KEYS: &[Role] = &[Admin];
    pub const WRITE_ENTRIES: &[Role] = &[Agency, Telecom];
    pub const READ_ENTRIES: &[Role] = &[Agency, Telecom, Auditor];
    /// A domain's entries: regulators, and providers for the entries they were sent notices
    /// about (the rest is refused them).
    pub const READ_DOMAIN_ENTRIES: &[Role] =
        &[Agency, Telecom, Auditor, AccessProvider, DnsProvider];
    pub const CHECK: &[Role] = &[Agency, Telecom, AccessProvider, DnsProvider, Auditor];
    pub const FEED: &[Role] = &[Agency, Telecom, AccessProvider, DnsProvider, Auditor];
    /// The transparency log: its key, checkpoints, tiles and proofs, to all who read the feed.
    pub const LOG: &[Role] = FEED;
    pub const RPZ: &[Role] = &[Agency, Telecom, DnsProvider, Auditor];
    pub const READ_PROTECTED: &[Role] = &[Admin, Agency, Telecom, Auditor];
    pub const MANAGE_PROTECTED: &[Role] = &[Admin];
    pub const READ_AUDIT: &[Role] = &[Admin, Auditor];

    // Providers and notices.
    pub const MANAGE_PROVIDERS: &[Role] = &[Admin];
    pub const READ_PROVIDERS: &[Role] = &[Admin, Agency, Telecom, Auditor];
    pub const LOCATE: &[Role] = &[Admin, Agency, Telecom];
    /// Locating a listed site again now.
    pub const RELOCATE: &[Role] = &[Agency, Telecom];
    pub const READ_NOTICES: &[Role] = &[Agency, Telecom, AccessProvider, DnsProvider, Auditor];
    pub const ACK_NOTICES: &[Role] = &[AccessProvider, DnsProvider];
    pub const COMPLIANCE: &[Role] = &[Agency, Telecom, Auditor];

    // Referral cases and referrals: keys act for their organisation (`cases::Org`); the
    // workflow decides which organisation may take which step.
    pub const OPEN_CASES: &[Role] = &[Agency];
    pub const ACT_ON_CASES: &[Role] = &[Agency, Telecom];
    pub const READ_CASES: &[Role] = &[Agency, Telecom, Auditor];
    // Shared records: each side writes its own kind, both sides (and auditors) read both.
    pub const WRITE_REGISTRATIONS: &[Role] = &[Agency];
    pub const WRITE_RECORDALS: &[Role] = &[Telecom];
    pub const READ_RECORDS: &[Role] = &[Agency, Telecom, Auditor];
    pub const VERIFY: &[Role] = &[Agency, Telecom, Auditor];
    // Signed documents: uploaded by the keys that write listings, lifts and case steps (and
    // admins); read by regulators, auditors and admins, and by providers for the entries
    // they were sent notices about (the registry refuses them the rest).
    pub const UPLOAD_DOCUMENTS: &[Role] = &[Admin, Agency, Telecom];
    pub const READ_DOCUMENTS: &[Role] =
        &[Admin, Agency, Telecom, Auditor, AccessProvider, DnsProvider];
}

/// Sleeps until `at`, or forever when there is no such time.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, token: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: "Beijing AMR".into(),
            role: Role::Agency,
            province: Some(Province::parse("11").unwrap()),
            token_sha256: hex::encode(hash_token(token)),
            provider_id: None,
            created_at: crate::model::now(),
            expires_at: None,
        }
    }

    #[test]
    fn an_expired_key_no_longer_authenticates() {
        let auth = Authenticator::new(None);
        let mut expired = record("k_2", "sb_two");
        expired.expires_at = Some(crate::model::now() - time::Duration::seconds(1));
        let mut live = record("k_3", "sb_three");
        live.expires_at = Some(crate::model::now() + time::Duration::hours(1));
        auth.replace(1, &[expired, live]);
        assert!(auth.authenticate("sb_two").is_none());
        assert!(auth.authenticate("sb_three").is_some());
    }

    #[test]
    fn a_racing_older_reload_never_replaces_a_newer_one() {
        let key = record("k_4", "sb_four");
        for _ in 0..300 {
            let auth = Authenticator::new(None);
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    barrier.wait();
                    auth.replace(1, &[]);
                });
                scope.spawn(|| {
                    barrier.wait();
                    auth.replace(2, std::slice::from_ref(&key));
                });
            });
            assert!(auth.authenticate("sb_four").is_some());
            assert_eq!(auth.version(), 2);
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        // RFC 9110 section 11.1: an authentication scheme is a case-insensitive token, and one
        // or more spaces separate it from the credentials.
        let cases = [
            ("Bearer sb_one", Some("sb_one")),
            ("bearer sb_one", Some("sb_one")),
            ("BEARER sb_one", Some("sb_one")),
            ("bEaReR sb_one", Some("sb_one")),
            ("Bearer   sb_one", Some("sb_one")),
            ("Bearer sb_one  ", Some("sb_one")),
            ("Bearer", None),
            ("Bearer ", None),
            ("BEARER    ", None),
            ("Bearersb_one", None),
            ("Bearer\tsb_one", None),
            (" Bearer sb_one", None),
            ("Basic c2Jfb25lOg==", None),
            ("Token sb_one", None),
            ("Bearers sb_one", None),
            ("Bear sb_one", None),
            ("sb_one", None),
            ("", None),
            ("Béarer sb_one", None),
        ];
        for (header, token) in cases {
            assert_eq!(bearer_token(header), token, "{header:?}");
        }
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert!(a.starts_with("sb_"));
    }

    #[test]
    fn admin_token_and_keys_authenticate_others_do_not() {
        let auth = Authenticator::new(Some("root-secret"));
        assert_eq!(auth.authenticate("root-secret").unwrap().role, Role::Admin);
        assert!(auth.authenticate("root-secreT").is_none());
        auth.replace(1, &[record("k_1", "sb_one")]);
        assert_eq!(auth.authenticate("sb_one").unwrap().key_id, "k_1");
        auth.replace(2, &[]);
        assert!(auth.authenticate("sb_one").is_none());
    }

    #[test]
    fn an_older_key_set_does_not_replace_a_newer_one() {
        let auth = Authenticator::new(None);
        auth.replace(2, &[]);
        auth.replace(1, &[record("k_1", "sb_one")]);
        assert!(auth.authenticate("sb_one").is_none());
        auth.replace(3, &[record("k_1", "sb_one")]);
        assert!(auth.authenticate("sb_one").is_some());
    }
}
