//! The network rules of `domain::network` applied at every attempt. Names are resolved by the
//! webhook client's own resolver, which drops the addresses the rules refuse before the client
//! connects, so the connection goes to exactly a checked address: a name that resolved to a
//! public address when saved and to 10.0.0.5 now (DNS rebinding) gets nothing
//! (`webhook_ssrf::ssrf_refuses_a_name_resolving_to_a_private_address`). Literal addresses never
//! reach a resolver, so they are checked before sending.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::network::{check_address, AllowedNetworks, Refusal};

/// A refused attempt, carried through the client's error chain to the attempt log.
#[derive(Debug)]
pub(super) struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves a name and keeps only the addresses the rules allow for this scheme.
struct Guard {
    allowed: Arc<AllowedNetworks>,
    https: bool,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let https = self.https;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal: Option<Refusal> = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(
                    |address| match check_address(address.ip(), https, &allowed) {
                        Ok(()) => true,
                        Err(why) => {
                            refusal.get_or_insert(why);
                            false
                        }
                    },
                )
                .collect();
            if kept.is_empty() {
                let why = match refusal {
                    Some(refusal) => format!("refused: {host} resolves to {refusal}"),
                    None => format!("{host} resolves to no address"),
                };
                return Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The webhook clients: one per scheme, since plain http may only reach opened networks.
pub(super) struct Clients {
    https: reqwest::Client,
    http: reqwest::Client,
    allowed: Arc<AllowedNetworks>,
}

impl Clients {
    pub(super) fn new(allowed: AllowedNetworks, base: impl Fn() -> reqwest::ClientBuilder) -> Self {
        let allowed = Arc::new(allowed);
        let build = |https: bool| {
            base()
                // A proxy would connect for us, to an address no rule saw.
                .no_proxy()
                .dns_resolver(Arc::new(Guard {
                    allowed: allowed.clone(),
                    https,
                }))
                .build()
                .expect("the webhook client builds")
        };
        Clients {
            https: build(true),
            http: build(false),
            allowed,
        }
    }

    /// The client for `url`, or why it may not be sent to: a literal address is judged here,
    /// a name by the client's resolver.
    pub(super) fn for_url(&self, url: &str) -> Result<&reqwest::Client, Refused> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Refused(format!("bad URL: {e}")))?;
        let https = match parsed.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(Refused(format!("refused: scheme {other} is not http(s)"))),
        };
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            check_address(ip, https, &self.allowed)
                .map_err(|refusal| Refused(format!("refused: {refusal}")))?;
        }
        Ok(if https { &self.https } else { &self.http })
    }
}

/// The refusal somewhere in a send error's causes, if that is why it failed.
pub(super) fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(allowed: &str) -> Clients {
        Clients::new(
            AllowedNetworks::parse(allowed).unwrap(),
            reqwest::Client::builder,
        )
    }

    #[test]
    fn literal_addresses_are_judged_before_sending() {
        let clients = clients("127.0.0.1/32");
        assert!(clients.for_url("http://127.0.0.1:9/x").is_ok());
        let refused = clients
            .for_url("https://169.254.169.254/latest")
            .unwrap_err();
        assert!(
            refused
                .0
                .starts_with("refused: link-local address 169.254.169.254"),
            "{refused}"
        );
        assert!(clients.for_url("http://[::ffff:7f00:2]/").is_err());
        assert!(clients.for_url("http://93.184.215.14/").is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_get_no_connection() {
        // `localhost` resolves to loopback on every machine this runs on.
        let guard = Guard {
            allowed: Arc::new(AllowedNetworks::parse("10.0.0.0/8").unwrap()),
            https: true,
        };
        let error = match guard.resolve("localhost".parse().unwrap()).await {
            Ok(addresses) => panic!("resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert_eq!(
            refusal_in(&*error)
                .as_deref()
                .map(|s| s.split(" address").next()),
            Some(Some("refused: localhost resolves to loopback"))
        );
    }
}
