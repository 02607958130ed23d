//! Console sessions: signing in once with a key's token, finding the session a cookie names
//! on any node, ending it at sign-out or when it goes idle, and pruning ended ones. The cookie
//! value is a random 256-bit secret that only the browser holds; the store keeps its session
//! under an id derived from its SHA-256. A session names its key by the token's SHA-256, so a
//! revoked or expired key ends every session it signed in (`Authenticator::authenticate_sha256`
//! finds nothing). Pages and cookies are the console's.

use std::sync::Arc;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::model::{Session, Timestamp, now};
use crate::store::{Refused, StoreError};

/// A session whose last use is older than this is written back with the new time; newer
/// uses are not, so that reading pages does not write to the store on every request. The idle
/// timeout is therefore exact to within this.
const TOUCH_AFTER: time::Duration = time::Duration::minutes(1);

/// A signed-in session as a request finds it.
pub struct SignedIn {
    pub session: Session,
    pub principal: Arc<Principal>,
}

impl Registry {
    /// Signs in with a key's token: a new session, and the cookie value that names it.
    pub async fn sign_in(&self, token: &str) -> RegistryResult<(String, SignedIn)> {
        let principal = self
            .auth
            .authenticate(token)
            .ok_or_else(|| RegistryError::Forbidden("this token is not a valid key".into()))?;
        let cookie = random_hex();
        let at = now();
        let session = Session {
            id: session_id(&cookie),
            version: 1,
            token_sha256: hex::encode(crate::auth::hash_token(token)),
            csrf: random_hex(),
            created_at: at,
            last_seen: at,
        };
        self.store
            .put_session(&session, 0)
            .await
            .map_err(RegistryError::Store)?;
        Ok((cookie, SignedIn { session, principal }))
    }

    /// The session a cookie names, if it is signed in: not signed out, not idle past
    /// `console.idle_minutes`, and its key still valid. An ended session is deleted.
    pub async fn signed_in(&self, cookie: &str) -> RegistryResult<Option<SignedIn>> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id = session_id(cookie);
        let Some(mut session) = self.store.session(id).await.map_err(RegistryError::Store)? else {
            return Ok(None);
        };
        let at = now();
        let principal = self.auth.authenticate_sha256(&session.token_sha256);
        let (Some(principal), false) = (principal, self.idle(&session, at)) else {
            self.store
                .delete_session(id)
                .await
                .map_err(RegistryError::Store)?;
            return Ok(None);
        };
        if at - session.last_seen > TOUCH_AFTER {
            let expect = session.version;
            session.version += 1;
            session.last_seen = at;
            match self.store.put_session(&session, expect).await {
                // Another request of the same browser touched it first: as good.
                Ok(()) | Err(StoreError::Refused(Refused::CaseChanged)) => {}
                Err(e) => return Err(RegistryError::Store(e)),
            }
        }
        Ok(Some(SignedIn { session, principal }))
    }

    /// Ends the session a cookie names; ending one that has already ended is not an error.
    pub async fn sign_out(&self, cookie: &str) -> RegistryResult<()> {
        self.store
            .delete_session(session_id(cookie))
            .await
            .map_err(RegistryError::Store)
    }

    /// Deletes the sessions that have ended (idle, or their key revoked); run by the sweeper.
    pub async fn prune_sessions(&self) -> RegistryResult<usize> {
        let at = now();
        let mut pruned = 0;
        for session in self.store.sessions().await.map_err(RegistryError::Store)? {
            if self.idle(&session, at)
                || self
                    .auth
                    .authenticate_sha256(&session.token_sha256)
                    .is_none()
            {
                self.store
                    .delete_session(session.id)
                    .await
                    .map_err(RegistryError::Store)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    fn idle(&self, session: &Session, at: Timestamp) -> bool {
        let idle = time::Duration::minutes(self.settings.console.idle_minutes as i64);
        at - session.last_seen > idle
    }
}

/// Whether a form token is the session's, compared in constant time.
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    bool::from(session.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

/// The store id of the session a cookie value names: the first 16 bytes of its SHA-256.
fn session_id(cookie: &str) -> Uuid {
    let digest = Sha256::digest(cookie.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
