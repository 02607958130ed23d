//! Pure domain values, parsed and normalised once at the edge: domain names, scopes,
//! categories, provinces, roles, decisions, unified social credit codes and ICP numbers. No I/O happens here; storage and HTTP shapes
//! are left to `store` and `api`.

mod category;
mod cidr;
mod decision;
mod icp;
mod name;
mod province;
mod role;
mod scope;
mod uscc;

pub use category::Category;
pub use cidr::{Cidr, CidrError};
pub use decision::{Decision, DecisionError, DecisionInput, today_in_china};
pub use icp::{IcpError, IcpLicence, IcpLicenceError, IcpNormalisation, IcpNumber};
pub use name::{DomainError, DomainName};
pub use province::{Province, ProvinceError};
pub use role::Role;
pub use scope::Scope;
pub use uscc::{Uscc, UsccError};

/// Shortens user input quoted in an error message: echoing a whole oversized value back
/// helps nobody and bloats logs.
fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 16;
    match input.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}
