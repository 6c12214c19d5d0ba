//! Client addresses: the one anonymizer (used by redaction and by the HTTP request recorder)
//! and the client address of a request seen through proxies.
//!
//! Addresses are parsed, never cut as strings: `2001:db8::1` anonymizes to `2001:db8::`,
//! `::1` to `::`, and an IPv4-mapped IPv6 address keeps its form with the IPv4 rule applied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Zeroes the host part: IPv4 keeps its /24, IPv6 its /48; an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) is treated as the IPv4 address it carries.
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(anonymize_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(anonymize_v4(v4).to_ipv6_mapped()),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
    }
}

fn anonymize_v4(v4: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = v4.octets();
    Ipv4Addr::new(a, b, c, 0)
}

/// Parses one hop as proxies write it: a bare address, `a.b.c.d:port`, `[v6]`, `[v6]:port`,
/// optionally quoted (RFC 7239). `None` for obfuscated identifiers (`unknown`, `_hidden`) and
/// anything else that is not an address.
pub fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"').trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // `a.b.c.d:port`: exactly one colon, so not an IPv6 address.
    let (host, port) = text.split_once(':')?;
    if port.contains(':') || port.parse::<u16>().is_err() {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The `for=` hops of an RFC 7239 `Forwarded` header, in order (`None` for a hop that is not
/// an address).
fn forwarded_hops(header: &str) -> Vec<Option<IpAddr>> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(value))
            })
        })
        .collect()
}

/// Which hops of a forwarded chain are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedProxies {
    /// Forwarding headers are ignored: the client is the peer of the connection.
    None,
    /// This many proxies in front of the app are trusted: the client is the rightmost hop
    /// that is not one of them.
    Count(usize),
    /// Every hop is trusted: the client is the leftmost (the origin the first proxy saw).
    All,
}

impl TrustedProxies {
    /// Whether forwarding headers are ignored (no proxy is believed).
    pub fn ignores_forwarding(self) -> bool {
        matches!(self, Self::None | Self::Count(0))
    }
}

/// The client address of a request: the rightmost hop that is not a trusted proxy, where the
/// chain is the `Forwarded` header's `for=` hops (or, without one, `X-Forwarded-For`'s) and
/// then the connection's peer. `None` when that hop is not an address, or when the chain is
/// shorter than the trusted proxies (never a guess).
pub fn client_address(
    peer: Option<&str>,
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: TrustedProxies,
) -> Option<IpAddr> {
    let peer_ip = peer.and_then(parse_hop);
    if trusted.ignores_forwarding() {
        return peer_ip;
    }
    let mut chain: Vec<Option<IpAddr>> = match (forwarded, x_forwarded_for) {
        (Some(f), _) if !f.trim().is_empty() => forwarded_hops(f),
        (_, Some(x)) => x
            .split(',')
            .filter(|h| !h.trim().is_empty())
            .map(parse_hop)
            .collect(),
        _ => Vec::new(),
    };
    chain.push(peer_ip);
    let hop = match trusted {
        // Fewer hops than trusted proxies: no hop is known to be the client.
        TrustedProxies::Count(n) => chain.len().checked_sub(n + 1).and_then(|i| chain.get(i)),
        _ => chain.first(),
    };
    hop.copied().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(text: &str) -> String {
        anonymize(text.parse().unwrap()).to_string()
    }

    #[test]
    fn anonymizes_by_prefix_not_by_string_cutting() {
        assert_eq!(anon("203.0.113.77"), "203.0.113.0");
        assert_eq!(anon("2001:db8::1"), "2001:db8::");
        assert_eq!(anon("::1"), "::");
        assert_eq!(anon("2001:db8:1:2:3:4:5:6"), "2001:db8:1::");
        assert_eq!(anon("::ffff:198.51.100.9"), "::ffff:198.51.100.0");
    }

    #[test]
    fn hops_in_every_written_form() {
        for (text, want) in [
            ("192.0.2.60", Some("192.0.2.60")),
            ("192.0.2.60:8080", Some("192.0.2.60")),
            ("\"[2001:db8:cafe::17]:4711\"", Some("2001:db8:cafe::17")),
            ("[::1]", Some("::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("unknown", None),
            ("_hidden", None),
            ("1.2.3.4:99999", None),
        ] {
            assert_eq!(
                parse_hop(text).map(|ip| ip.to_string()).as_deref(),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn rightmost_untrusted_hop() {
        let xff = Some("203.0.113.77, 10.0.0.1");
        let at = |t| client_address(Some("127.0.0.1"), None, xff, t).map(|i| i.to_string());
        assert_eq!(at(TrustedProxies::None).as_deref(), Some("127.0.0.1"));
        assert_eq!(at(TrustedProxies::Count(1)).as_deref(), Some("10.0.0.1"));
        assert_eq!(
            at(TrustedProxies::Count(2)).as_deref(),
            Some("203.0.113.77")
        );
        assert_eq!(at(TrustedProxies::Count(9)), None);
        assert_eq!(at(TrustedProxies::All).as_deref(), Some("203.0.113.77"));
        let fwd = Some("for=192.0.2.60;proto=http, for=\"[2001:db8::17]:80\"");
        let got = client_address(Some("10.0.0.2"), fwd, xff, TrustedProxies::Count(1));
        assert_eq!(got.map(|i| i.to_string()).as_deref(), Some("2001:db8::17"));
        let hidden = client_address(Some("10.0.0.2"), Some("for=_x"), None, TrustedProxies::All);
        assert_eq!(hidden, None);
    }
}
