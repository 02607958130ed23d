//! Address ranges in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`), as access providers
//! declare the addresses they host. Parsed once at the edge; matching is pure arithmetic.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One address range: a network address with no host bits set, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an address range such as 203.0.113.0/24 or 2001:db8::/32")]
    Malformed(String),
    #[error("{0:?} has a prefix longer than its address family allows")]
    PrefixTooLong(String),
    #[error("{0:?} has host bits set; write the network address ({1})")]
    HostBitsSet(String, String),
}

fn mask_v4(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask_v6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Cidr {
    /// Parses `address/prefix`; a bare address is a single-host range. Host bits must be
    /// clear, so that a typo such as `10.1.2.3/8` is caught instead of silently widened.
    pub fn parse(input: &str) -> Result<Cidr, CidrError> {
        let text = input.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network =
            IpAddr::from_str(address).map_err(|_| CidrError::Malformed(input.to_string()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .map_err(|_| CidrError::Malformed(input.to_string()))?,
            Some(_) => return Err(CidrError::Malformed(input.to_string())),
        };
        if prefix > max {
            return Err(CidrError::PrefixTooLong(input.to_string()));
        }
        let masked = Cidr { network, prefix }.masked();
        if masked != network {
            return Err(CidrError::HostBitsSet(
                input.to_string(),
                format!("{masked}/{prefix}"),
            ));
        }
        Ok(Cidr { network, prefix })
    }

    fn masked(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_v4(self.prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_v6(self.prefix)).into()),
        }
    }

    /// Whether `address` lies in this range. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// matches the IPv4 range it maps to.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask_v4(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask_v6(self.prefix) == u128::from(n),
            _ => false,
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_matches_both_families() {
        let cases: &[(&str, &str, bool)] = &[
            ("203.0.113.0/24", "203.0.113.7", true),
            ("203.0.113.0/24", "203.0.114.7", false),
            ("203.0.113.0/24", "2001:db8::1", false),
            ("203.0.113.0/24", "::ffff:203.0.113.9", true),
            ("0.0.0.0/0", "198.51.100.1", true),
            ("198.51.100.7", "198.51.100.7", true),
            ("198.51.100.7", "198.51.100.8", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("2001:db8::1/128", "2001:db8::1", true),
        ];
        for (range, address, inside) in cases {
            let cidr = Cidr::parse(range).unwrap();
            assert_eq!(
                cidr.contains(address.parse().unwrap()),
                *inside,
                "{range} contains {address}"
            );
        }
        assert_eq!(
            Cidr::parse(" 10.0.0.0/8 ").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            Cidr::parse("2001:DB8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
    }

    #[test]
    fn rejects_malformed_ranges() {
        for input in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/+8",
            "10.0.0/8",
            "example.cn/24",
            "10.1.2.3/8",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(Cidr::parse(input).is_err(), "{input:?}");
        }
        assert!(matches!(
            Cidr::parse("10.1.2.3/8"),
            Err(CidrError::HostBitsSet(_, suggestion)) if suggestion == "10.0.0.0/8"
        ));
    }

    proptest! {
        #[test]
        fn a_range_contains_exactly_the_addresses_sharing_its_prefix(
            network in any::<u32>(), prefix in 0u8..=32, address in any::<u32>()
        ) {
            let net = network & mask_v4(prefix);
            let cidr = Cidr::parse(&format!("{}/{prefix}", std::net::Ipv4Addr::from(net))).unwrap();
            let inside = address & mask_v4(prefix) == net;
            prop_assert_eq!(cidr.contains(IpAddr::V4(address.into())), inside);
            prop_assert_eq!(Cidr::parse(&cidr.to_string()).unwrap(), cidr);
        }
    }
}
