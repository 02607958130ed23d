//! An organisation's own webhook for its inbox, and what the registry remembers of each inbox
//! item it announced through it. Both are versioned documents of the case store (every write
//! is a compare-and-set on `version`, so nodes never announce one item at once); sending them
//! is the registry's (`registry::announce`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Org;
use crate::model::{Secret, Timestamp};

/// An organisation's inbox webhook. Documents are never deleted: a removed webhook keeps its
/// document with no `url`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgWebhook {
    pub org: Org,
    pub url: Option<String>,
    /// The raw HMAC key (base64); the organisation sees it as `whsec_<base64>`, once.
    pub secret: Secret,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl OrgWebhook {
    /// The document id of `org`'s webhook: derived from the organisation, so that every node
    /// finds the one document.
    pub fn id_of(org: Org) -> Uuid {
        derived_id(&["org_webhook", &org.to_string()])
    }
}

/// Where the announcement of one inbox item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announced {
    /// Being sent by a node, or waiting for its next attempt: nobody takes it before `until`.
    Due,
    /// The organisation's webhook took it.
    Sent,
}

/// One inbox item's announcement to its organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announcement {
    /// Derived from the item ([`Announcement::id_for`]); also the delivery's `webhook-id`.
    pub id: Uuid,
    pub org: Org,
    pub state: Announced,
    pub attempts: u32,
    /// While `due`: the end of the sending node's lease, or the time of the next attempt.
    /// Once `sent`: when it was delivered.
    pub until: Timestamp,
    pub last_error: Option<String>,
    pub version: u64,
}

impl Announcement {
    /// The id of the announcement of what waits for `org`: the kind and id of the case or
    /// referral, the action and since when. A later step that leaves something else waiting
    /// is a new announcement; the same item seen again is the same one.
    pub fn id_for(org: Org, kind: &str, id: Uuid, action: &str, since: Timestamp) -> Uuid {
        derived_id(&[
            "inbox",
            &org.to_string(),
            kind,
            &id.to_string(),
            action,
            &since.to_string(),
        ])
    }

    /// Whether a node may take this announcement at `now`.
    pub fn is_takeable(&self, now: Timestamp) -> bool {
        self.state == Announced::Due && self.until <= now
    }
}

/// A stable id from `parts`: the first 16 bytes of the SHA-256 of the parts joined by NUL,
/// marked as a version 8 (custom) UUID.
fn derived_id(parts: &[&str]) -> Uuid {
    let digest = Sha256::digest(parts.join("\0").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Province;

    #[test]
    fn ids_are_stable_and_tell_items_apart() {
        let org = Org::Ca(Province::parse("11").unwrap());
        let case = Uuid::nil();
        let since = crate::model::now();
        let a = Announcement::id_for(org, "case", case, "accept_or_return", since);
        assert_eq!(
            a,
            Announcement::id_for(org, "case", case, "accept_or_return", since)
        );
        assert_ne!(a, Announcement::id_for(org, "case", case, "forward", since));
        assert_ne!(
            a,
            Announcement::id_for(Org::Miit, "case", case, "accept_or_return", since)
        );
        assert_eq!(a.get_version_num(), 8);
        assert_ne!(OrgWebhook::id_of(org), OrgWebhook::id_of(Org::Miit));
    }
}
