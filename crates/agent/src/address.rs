//! MAC and PCI addresses, parsed once and normalised, so "0A:1B:…" from EC2 and "0a:1b:…" from
//! netlink compare equal, and "00:06.0" from a spec and "0000:00:06.0" from sysfs do too.

use std::fmt;
use std::str::FromStr;

/// An Ethernet MAC address. Displayed lower-case, colon-separated (what `ip link` prints).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The MAC in a netlink `IFLA_ADDRESS` attribute; `None` for non-Ethernet lengths
    /// (loopback has six zero bytes and is rejected by [`MacAddr::is_unicast_assigned`] instead).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    /// Whether this could be an ENI's address: not all-zero (loopback, tunnels) and not multicast.
    pub fn is_unicast_assigned(&self) -> bool {
        self.0 != [0; 6] && self.0[0] & 1 == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not a MAC or PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid")]
pub struct AddressError {
    what: &'static str,
    value: String,
}

impl AddressError {
    fn new(what: &'static str, value: &str) -> Self {
        AddressError {
            what,
            value: value.to_owned(),
        }
    }
}

/// Exactly `len` hex digits. Checked before `from_str_radix`, which also takes a leading `+`.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit())
}

impl FromStr for MacAddr {
    type Err = AddressError;

    /// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressError::new("MAC address", s);
        let mut out = [0u8; 6];
        let mut parts = s.trim().split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if !is_hex(part, 2) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// A PCI address in sysfs form, `dddd:bb:dd.f`, lower-case. The domain defaults to `0000` when a
/// spec leaves it out (the CRD allows `00:06.0`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddr(String);

impl PciAddr {
    /// The sysfs form, as written to `unbind`/`drivers_probe` and listed in the SR-IOV config.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PciAddr {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressError::new("PCI address", s);
        let s = s.trim().to_ascii_lowercase();
        let (domain, rest) = match s.matches(':').count() {
            1 => ("0000", s.as_str()),
            2 => s.split_once(':').ok_or_else(err)?,
            _ => return Err(err()),
        };
        let (bus, devfn) = rest.split_once(':').ok_or_else(err)?;
        let (dev, func) = devfn.split_once('.').ok_or_else(err)?;
        let dev_ok = is_hex(dev, 2) && u8::from_str_radix(dev, 16).is_ok_and(|d| d < 0x20);
        let func_ok = func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7');
        if !(is_hex(domain, 4) && is_hex(bus, 2) && dev_ok && func_ok) {
            return Err(err());
        }
        Ok(PciAddr(format!("{domain}:{bus}:{dev}.{func}")))
    }
}

impl serde::Serialize for PciAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PciAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_any_case_and_prints_lower_case() {
        let m: MacAddr = "0A:1B:2c:3D:4e:5F".parse().expect("valid");
        assert_eq!(m.to_string(), "0a:1b:2c:3d:4e:5f");
        assert_eq!("0a-1b-2c-3d-4e-5f".parse::<MacAddr>(), Ok(m));
        for bad in [
            "",
            "0a:1b:2c:3d:4e",
            "0a:1b:2c:3d:4e:5f:00",
            "0a:1b:2c:3d:4e:5",
            "zz:1b:2c:3d:4e:5f",
            "+a:1b:2c:3d:4e:5f",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn loopback_and_multicast_macs_are_never_eni_macs() {
        assert!(!MacAddr([0; 6]).is_unicast_assigned());
        assert!(!MacAddr([1, 0, 0x5e, 0, 0, 1]).is_unicast_assigned());
        assert!(MacAddr([2, 0, 0, 0, 0, 1]).is_unicast_assigned());
    }

    #[test]
    fn pci_address_gets_a_domain_and_lower_case() {
        assert_eq!(
            "00:06.0".parse::<PciAddr>().expect("valid").as_str(),
            "0000:00:06.0"
        );
        assert_eq!(
            "0000:0A:1F.7".parse::<PciAddr>().expect("valid").as_str(),
            "0000:0a:1f.7"
        );
        for bad in [
            "",
            "00:06",
            "00:20.0",
            "00:06.8",
            "0000:00:06.0:1",
            "g000:00:06.0",
        ] {
            assert!(bad.parse::<PciAddr>().is_err(), "{bad:?} must be rejected");
        }
    }
}
