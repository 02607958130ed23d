//! Protected names: sites that must never be cut off (government portals, the registry's own
//! names). A listing that touches one is refused unless a national telecom key overrides the
//! protection with a justification.

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::domain::{DomainName, Role};
use crate::model::{ProtectedName, ProtectionOverride};

/// Longest accepted justification of an override, in characters.
const MAX_JUSTIFICATION: usize = 2000;
/// Longest kept note of a protected name, in characters.
const MAX_NOTE: usize = 500;

impl Registry {
    /// Every protected name, from configuration and from the store.
    pub async fn protected_names(&self) -> RegistryResult<Vec<ProtectedName>> {
        let mut names: Vec<ProtectedName> = self
            .configured_protection
            .iter()
            .map(|domain| ProtectedName {
                domain: domain.clone(),
                note: "configured in protection.names".into(),
                added_by: None,
                added_at: None,
            })
            .collect();
        names.extend(self.store.protected().await?);
        Ok(names)
    }

    /// Refuses a listing that touches a protected name (equal, above or below it), unless a
    /// national telecom key overrides the protection with a justification.
    pub(crate) async fn check_protection(
        &self,
        by: &Principal,
        domain: &DomainName,
        justification: Option<&str>,
    ) -> RegistryResult<Option<ProtectionOverride>> {
        let protected = self.protected_names().await?;
        let Some(hit) = protected
            .iter()
            .find(|p| domain.is_within(&p.domain) || p.domain.is_within(domain))
        else {
            return Ok(None);
        };
        let Some(justification) = justification else {
            return Err(RegistryError::invalid(
                "protected_domain",
                format!(
                    "{domain} touches the protected name {}: it must never be cut off",
                    hit.domain
                ),
            ));
        };
        if by.role != Role::Telecom || by.province.is_some() {
            return Err(RegistryError::Forbidden(
                "only a national telecom key may override the protection of a name".into(),
            ));
        }
        let justification = justification.trim();
        if justification.is_empty() || justification.chars().count() > MAX_JUSTIFICATION {
            return Err(RegistryError::invalid(
                "invalid_override",
                format!(
                    "override_protection needs a justification of 1 to {MAX_JUSTIFICATION} characters"
                ),
            ));
        }
        Ok(Some(ProtectionOverride {
            justification: justification.to_string(),
            protected: hit.domain.clone(),
        }))
    }

    /// Protects `domain` (and everything below it) for `by`.
    pub async fn protect(
        &self,
        by: &Principal,
        domain: DomainName,
        note: &str,
    ) -> RegistryResult<ProtectedName> {
        let name = ProtectedName {
            domain,
            note: note.trim().chars().take(MAX_NOTE).collect(),
            added_by: Some(by.actor()),
            added_at: Some(crate::model::now()),
        };
        if self.configured_protection.contains(&name.domain)
            || !self.store.protect(name.clone()).await?
        {
            return Err(RegistryError::Conflict {
                code: "already_protected",
                message: format!("{} is already protected", name.domain),
            });
        }
        Ok(name)
    }

    /// Removes a name protected through the API.
    pub async fn unprotect(&self, domain: &DomainName) -> RegistryResult<()> {
        if !self.store.unprotect(domain).await? {
            let why = if self.configured_protection.contains(domain) {
                "is protected by configuration (protection.names), not through the API"
            } else {
                "is not protected"
            };
            return Err(RegistryError::NotFound(format!("{domain} {why}")));
        }
        Ok(())
    }
}
