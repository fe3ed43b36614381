//! The client's IP address, which keys the per-IP sign-in rate limit and is written to the
//! audit log.
//!
//! Behind proxies, `X-Forwarded-For` lists the hops, each proxy appending the address it
//! received the request from. Only the entries our own proxies appended can be believed;
//! anything to their left, the left-most entry above all, is whatever the client sent. So,
//! as crates.io's backend does: when the peer is a trusted proxy (`TRUSTED_PROXIES`), walk
//! the list from the right past the trusted proxies and take the first address that is
//! not one; otherwise the peer's own address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address for a request from `peer` carrying `headers`.
pub fn resolve(headers: &HeaderMap, peer: SocketAddr, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Several headers are one list, in order (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        // An entry that is not an address cannot have been appended by a proxy of ours:
        // stop at the last hop we could believe.
        let Some(ip) = parse(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it: bare, or with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(headers: &[&str], peer: &str, trusted: &[&str]) -> String {
        let mut map = HeaderMap::new();
        for h in headers {
            map.append("x-forwarded-for", HeaderValue::from_str(h).unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        let peer: IpAddr = peer.parse().unwrap();
        resolve(&map, SocketAddr::new(peer, 1234), &trusted).to_string()
    }

    #[test]
    fn the_peer_without_trusted_proxies() {
        assert_eq!(ip(&["1.1.1.1"], "203.0.113.9", &[]), "203.0.113.9");
        assert_eq!(
            ip(&["1.1.1.1"], "203.0.113.9", &["10.0.0.0/8"]),
            "203.0.113.9",
            "an untrusted peer's header is ignored"
        );
    }

    #[test]
    fn the_right_most_untrusted_entry() {
        let trusted = ["10.0.0.0/8", "fd00::/8"];
        // (X-Forwarded-For headers, peer, the client it resolves to, why): one case a line.
        #[rustfmt::skip]
        let cases: &[(&[&str], &str, &str, &str)] = &[
            (&["6.6.6.6, 198.51.100.7"], "10.1.2.3", "198.51.100.7", "a spoofed left-most entry changes nothing"),
            (&["6.6.6.6, 198.51.100.7, 10.9.9.9"], "10.1.2.3", "198.51.100.7", "past a chain of trusted proxies"),
            (&["6.6.6.6", "198.51.100.7:4711"], "10.1.2.3", "198.51.100.7", "several headers are one list; ports are dropped"),
            (&[], "10.1.2.3", "10.1.2.3", "no header"),
            (&["10.4.4.4, 10.5.5.5"], "10.1.2.3", "10.4.4.4", "every hop trusted: the furthest one"),
            (&["198.51.100.7, garbage, 10.5.5.5"], "10.1.2.3", "10.5.5.5", "not past an entry no proxy of ours wrote"),
            (&["2001:db8::1"], "::ffff:10.1.2.3", "2001:db8::1", "a v4-mapped peer is its v4 address"),
        ];
        for (headers, peer, client, why) in cases {
            assert_eq!(ip(headers, peer, &trusted), *client, "{why}");
        }
    }
}
