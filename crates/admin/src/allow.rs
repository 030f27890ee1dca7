//! Which hosts `POST /admin/nodes` may point the bot at (`admin.node_hosts`): a holder of the admin
//! token must not be able to make the bot connect to any host it can reach (cloud metadata
//! services, other internal APIs).
//!
//! The default allows the hosts of the configured nodes, loopback (`127.0.0.0/8`, `::1`,
//! `localhost`) and the private ranges (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
//! `fc00::/7`). Link-local addresses (`169.254.0.0/16`, where cloud metadata services answer) are
//! not private ranges and are refused unless listed. Host names are compared as written (never
//! resolved): a name is allowed only when listed or when a configured node uses it.

use std::fmt;
use std::net::IpAddr;

use url::Host;

/// One entry of `admin.node_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// A host name, lower case, compared as written.
    Name(String),
    /// An address range (a single address is a /32 or /128).
    Net(IpAddr, u8),
}

impl Rule {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("is empty".into());
        }
        if let Some((addr, prefix)) = entry.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an address range like 10.0.0.0/8"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{entry:?}: the prefix length must be 0 to {max}"))?;
            return Ok(Self::Net(addr, prefix));
        }
        if let Ok(addr) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Ok(Self::Net(addr, prefix));
        }
        match Host::parse(entry) {
            Ok(Host::Domain(name)) if !name.contains(['/', ':', '@']) => Ok(Self::Name(name)),
            _ => Err(format!(
                "{entry:?} is not a host name, an address or an address range"
            )),
        }
    }

    fn allows(&self, host: &Host<String>) -> bool {
        match (self, host) {
            (Self::Name(name), Host::Domain(domain)) => name.eq_ignore_ascii_case(domain),
            (Self::Net(net, prefix), Host::Ipv4(addr)) => in_net(*net, *prefix, IpAddr::V4(*addr)),
            (Self::Net(net, prefix), Host::Ipv6(addr)) => in_net(*net, *prefix, IpAddr::V6(*addr)),
            _ => false,
        }
    }
}

fn in_net(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    match (net, addr) {
        (IpAddr::V4(net), IpAddr::V4(addr)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(net) & mask == u32::from(addr) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(addr)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(net) & mask == u128::from(addr) & mask
        }
        _ => false,
    }
}

/// Loopback and the private ranges: the default's fixed part.
const DEFAULT_RULES: [&str; 7] = [
    "localhost",
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// The hosts node URLs given to the admin API may name.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeHosts {
    rules: Vec<Rule>,
    explicit: bool,
}

impl NodeHosts {
    /// The default: the hosts of `configured` node URLs, loopback and the private ranges.
    pub fn default_for<'a>(configured: impl IntoIterator<Item = &'a str>) -> Self {
        let mut rules: Vec<Rule> = DEFAULT_RULES
            .iter()
            .filter_map(|entry| Rule::parse(entry).ok())
            .collect();
        for url in configured {
            match url::Url::parse(url)
                .ok()
                .and_then(|u| u.host().map(|h| h.to_owned()))
            {
                Some(Host::Domain(name)) => rules.push(Rule::Name(name)),
                Some(Host::Ipv4(addr)) => rules.push(Rule::Net(IpAddr::V4(addr), 32)),
                Some(Host::Ipv6(addr)) => rules.push(Rule::Net(IpAddr::V6(addr), 128)),
                None => {}
            }
        }
        Self {
            rules,
            explicit: false,
        }
    }

    /// Exactly the listed hosts, addresses and ranges (`admin.node_hosts`); the error names the
    /// entry that is not one.
    pub fn listed(entries: &[String]) -> Result<Self, (usize, String)> {
        let rules = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| Rule::parse(entry).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules,
            explicit: true,
        })
    }

    /// Whether the bot may connect to `url`'s host; the error says why not, in words.
    pub fn check(&self, url: &str) -> Result<(), NotAllowed> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
            .ok_or_else(|| NotAllowed {
                host: lavalink::redact_url(url),
                explicit: self.explicit,
            })?;
        if self.rules.iter().any(|rule| rule.allows(&host)) {
            Ok(())
        } else {
            Err(NotAllowed {
                host: host.to_string(),
                explicit: self.explicit,
            })
        }
    }
}

impl fmt::Debug for NodeHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeHosts")
            .field("rules", &self.rules.len())
            .field("explicit", &self.explicit)
            .finish()
    }
}

/// A node host outside `admin.node_hosts`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node host {host} is not allowed: admin.node_hosts {}; add the host to admin.node_hosts to allow it",
    if *explicit { "does not list it" } else { "is unset, which allows only the configured nodes' hosts, loopback and private addresses" }
)]
pub struct NotAllowed {
    /// The host that was refused.
    pub host: String,
    /// Whether `admin.node_hosts` was set (rather than the default).
    pub explicit: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_configured_loopback_and_private_hosts_only() {
        let hosts =
            NodeHosts::default_for(["http://lava-1.internal:2333", "http://203.0.113.9:2333"]);
        for allowed in [
            "http://lava-1.internal:2333",
            "http://LAVA-1.internal:9999",
            "http://203.0.113.9:1",
            "http://127.0.0.1:2333",
            "http://127.9.9.9:2333",
            "http://localhost:2333",
            "http://[::1]:2333",
            "http://10.1.2.3:2333",
            "http://172.31.255.255:2333",
            "http://192.168.0.10:2333",
            "https://[fd00::1]:443",
            "http://[::ffff:10.0.0.1]:2333",
        ] {
            assert_eq!(hosts.check(allowed), Ok(()), "{allowed}");
        }
        for refused in [
            "http://169.254.169.254/latest/meta-data",
            "http://203.0.113.10:2333",
            "http://172.32.0.1:2333",
            "http://lava-2.internal:2333",
            "http://example.com",
            "http://[fe80::1]:2333",
            "http://[::ffff:169.254.169.254]:80",
            "http://8.8.8.8:53",
        ] {
            let error = hosts.check(refused).expect_err(refused);
            assert!(error.to_string().contains("admin.node_hosts"), "{error}");
        }
    }

    #[test]
    fn a_listed_set_allows_exactly_its_entries() {
        let hosts = NodeHosts::listed(&[
            "lava.example".to_owned(),
            "198.51.100.0/24".to_owned(),
            "2001:db8::7".to_owned(),
        ])
        .expect("valid");
        assert_eq!(hosts.check("https://lava.example"), Ok(()));
        assert_eq!(hosts.check("http://198.51.100.77:2333"), Ok(()));
        assert_eq!(hosts.check("http://[2001:db8::7]:2333"), Ok(()));
        assert!(hosts.check("http://127.0.0.1:2333").is_err());
        assert!(hosts.check("http://198.51.101.1:2333").is_err());
        assert!(hosts.check("http://user:pw@evil.example").is_err());
        for bad in ["", "10.0.0.0/33", "http://x/", "a b"] {
            assert!(NodeHosts::listed(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }
}
