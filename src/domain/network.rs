//! Where a webhook may be sent (issue 20 §5): an endpoint is a URL a tenant chooses and the
//! server then calls, so without these rules any key with the `webhooks` scope could make the
//! server reach its own loopback, the plant LAN or the cloud metadata service. Public
//! addresses over `https` only; every other range is refused unless the operator opens its
//! network with `ERYXON_WEBHOOK_ALLOWED_NETWORKS`, and plain `http` only goes to those opened
//! networks. No I/O: saving checks literal addresses here, each attempt checks the resolved
//! ones here (`src/webhooks/ssrf.rs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The variable (and `--webhook-allowed-networks` flag) that opens networks.
pub const ALLOWED_NETWORKS_VAR: &str = "ERYXON_WEBHOOK_ALLOWED_NETWORKS";

/// Networks the operator opened to webhooks, e.g. the plant LAN where the ERP runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<IpNet>);

impl AllowedNetworks {
    /// `10.0.0.0/8,127.0.0.1/32,fd00::/8`; a bare address opens only itself; empty opens none.
    pub fn parse(text: &str) -> Result<AllowedNetworks, String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!(
                            "{item:?} is not a network in CIDR notation such as 10.0.0.0/8 \
                             or fd00::/8 ({ALLOWED_NETWORKS_VAR})"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedNetworks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address as its IPv4 one) lies in an opened network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The kind of range `ip` belongs to when it is not a public unicast address.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_unspecified() => "unspecified",
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Addresses that carry an IPv4 one reach it: NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return special_v4(v4);
    }
    // The local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215) translates to whatever IPv4
    // network its operator chose, at a place in the address its prefix length decides: not
    // a public address, whatever it carries.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some("local-use NAT64");
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return special_v4(v4);
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "private",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        // IETF protocol assignments (Teredo among them, which tunnels to an IPv4 address).
        0x2001 if s[1] < 0x0200 => "reserved",
        // ::/96 (IPv4-compatible, deprecated) and 100::/64 (discard).
        0 if s[1..6] == [0; 5] => "reserved",
        0x0100 if s[1..4] == [0; 3] => "reserved",
        _ => return None,
    })
}

/// Why an attempt may not go to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A non-public range not opened by the operator.
    Range { ip: IpAddr, kind: &'static str },
    /// Plain `http` to an address outside the opened networks.
    PlainHttp { ip: IpAddr },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Range { ip, kind } => write!(
                f,
                "{kind} address {ip}, not in a network opened with {ALLOWED_NETWORKS_VAR}"
            ),
            Refusal::PlainHttp { ip } => write!(
                f,
                "public address {ip} over plain http; public endpoints must be https \
                 (http goes only to networks opened with {ALLOWED_NETWORKS_VAR})"
            ),
        }
    }
}

/// Whether an attempt may connect to `ip`, over `https` or plain http.
pub fn check_address(ip: IpAddr, https: bool, allowed: &AllowedNetworks) -> Result<(), Refusal> {
    if allowed.contains(ip) {
        return Ok(());
    }
    if let Some(kind) = special_range(ip) {
        return Err(Refusal::Range {
            ip: ip.to_canonical(),
            kind,
        });
    }
    if !https {
        return Err(Refusal::PlainHttp { ip });
    }
    Ok(())
}

/// The check when an endpoint is saved, without resolving names (a server with no DNS for the
/// name can still save it): a literal address must pass [`check_address`]; a name over plain
/// http is only accepted when some network is opened, and each attempt then requires it to
/// resolve into one (`webhook_ssrf::ssrf_refuses_literal_addresses_and_plain_http_when_saved`).
pub fn check_target<S>(
    host: &url::Host<S>,
    https: bool,
    allowed: &AllowedNetworks,
) -> Result<(), String> {
    let ip = match host {
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
        url::Host::Domain(_) if https || !allowed.is_empty() => return Ok(()),
        url::Host::Domain(_) => {
            return Err(format!(
                "must be https: plain http is allowed only to networks opened with \
                 {ALLOWED_NETWORKS_VAR}, and none is"
            ))
        }
    };
    check_address(ip, https, allowed).map_err(|refusal| {
        let refusal = refusal.to_string();
        let article = match refusal.chars().next() {
            Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
            _ => "a",
        };
        format!("may not go to {article} {refusal}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn non_public_ranges_are_named() {
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.31.255.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd12::1", "private"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:10.0.0.5", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b:1::a00:5", "local-use NAT64"),
            ("2002:a00:1::", "private"),
        ] {
            assert_eq!(special_range(ip(address)), Some(kind), "{address}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(special_range(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn opened_networks_let_an_address_through_over_http() {
        let allowed = AllowedNetworks::parse(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8").unwrap();
        assert_eq!(check_address(ip("10.1.2.3"), false, &allowed), Ok(()));
        assert_eq!(
            check_address(ip("::ffff:10.1.2.3"), false, &allowed),
            Ok(())
        );
        assert_eq!(check_address(ip("127.0.0.1"), false, &allowed), Ok(()));
        assert_eq!(
            check_address(ip("127.0.0.2"), true, &allowed),
            Err(Refusal::Range {
                ip: ip("127.0.0.2"),
                kind: "loopback"
            })
        );
        assert_eq!(
            check_address(ip("8.8.8.8"), false, &allowed),
            Err(Refusal::PlainHttp { ip: ip("8.8.8.8") })
        );
        assert_eq!(check_address(ip("8.8.8.8"), true, &allowed), Ok(()));
    }

    #[test]
    fn bad_networks_are_named() {
        assert_eq!(
            AllowedNetworks::parse("").unwrap(),
            AllowedNetworks::default()
        );
        let error = AllowedNetworks::parse("10.0.0.0/8,10.0.0.0/33").unwrap_err();
        assert!(error.contains("\"10.0.0.0/33\"") && error.contains(ALLOWED_NETWORKS_VAR));
        assert!(AllowedNetworks::parse("plant-lan").is_err());
    }

    #[test]
    fn saving_judges_literals_and_never_resolves_names() {
        let none = AllowedNetworks::default();
        let lan = AllowedNetworks::parse("10.0.0.0/8").unwrap();
        let host = |text: &str| url::Host::parse(text).unwrap();
        assert!(check_target(&host("erp.example"), true, &none).is_ok());
        assert!(check_target(&host("erp.example"), false, &none)
            .unwrap_err()
            .contains("must be https"));
        assert!(check_target(&host("erp.plant"), false, &lan).is_ok());
        assert!(check_target(&host("169.254.169.254"), true, &lan)
            .unwrap_err()
            .contains("link-local address 169.254.169.254"));
        assert!(check_target(&host("10.1.2.3"), false, &lan).is_ok());
        assert!(check_target(&host("[::ffff:a01:203]"), true, &none)
            .unwrap_err()
            .contains("private address 10.1.2.3"));
    }
}
