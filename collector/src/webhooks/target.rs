//! Where a webhook may go: addresses on loopback, private or link-local networks (and the like)
//! are refused unless the collector runs with `--allow-private-webhooks`, checked on the
//! addresses a name resolves to, which are then the only ones connected to (so a name cannot
//! resolve to a public address for the check and a private one for the connection).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address a webhook must not reach without `--allow-private-webhooks`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || first & 0xfe00 == 0xfc00 // unique local
                    || first & 0xffc0 == 0xfe80 // link-local
                    || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)
            }
        },
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
}

/// Resolves names for the webhook client, refusing private addresses unless allowed.
#[derive(Debug, Clone, Copy)]
pub struct Resolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || !is_private(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address (loopback, private and link-local ones are refused without --allow-private-webhooks)"
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why `url` may not be posted to before any name is resolved: an address written in the URL
/// itself that is private.
pub fn refuse_literal(url: &reqwest::Url, allow_private: bool) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    (!allow_private && is_private(ip)).then(|| {
        format!("{ip} is a loopback, private or link-local address, refused without --allow-private-webhooks")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_told() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().expect("ip")), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111"] {
            assert!(!is_private(public.parse().expect("ip")), "{public}");
        }
    }

    /// A name is checked on what it resolves to: `localhost` is loopback.
    #[test]
    fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        use reqwest::dns::Resolve as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let resolve = |allow_private: bool| {
            let name: reqwest::dns::Name = "localhost".parse().expect("a name");
            runtime.block_on(Resolver { allow_private }.resolve(name))
        };
        let refused = resolve(false).err().expect("refused");
        assert!(
            refused.to_string().contains("--allow-private-webhooks"),
            "{refused}"
        );
        let allowed: Vec<SocketAddr> = resolve(true).expect("allowed").collect();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }

    #[test]
    fn a_private_address_in_the_url_is_refused_unless_allowed() {
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(refuse_literal(&url("http://127.0.0.1:9/hook"), false).is_some());
        assert!(refuse_literal(&url("http://[::1]:9/hook"), false).is_some());
        assert!(refuse_literal(&url("http://127.0.0.1:9/hook"), true).is_none());
        assert!(refuse_literal(&url("https://hooks.example.com/"), false).is_none());
    }
}
