//! Webhook targets and secrets. SSRF protection: a target must be http(s) on an allowed port and, unless
//! `notify.allow_private_targets`, reach only public addresses. Checked when an endpoint is registered,
//! and again when it is sent to, by the resolver the webhook client connects through (the
//! notifier's `PublicResolver`, built on [`vetted_addrs`]): the addresses checked are the addresses connected to, so a DNS answer that
//! changes between check and connect (rebinding) reaches nothing internal.
//!
//! Refusals name the rule, never an address the name resolved to: the delivery log is the tenant's to read,
//! and it must not map the inside of the network. Secrets have the Standard Webhooks form `whsec_<base64>`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::Engine;
use rand::RngCore;

/// A new signing secret in the Standard Webhooks form.
pub fn new_secret() -> String {
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What the rules allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Loopback, private and other internal addresses (and any port) allowed: development only.
    pub allow_private: bool,
    /// Ports a public target may use.
    pub ports: Vec<u16>,
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [0, ..] => "\"this network\" (0.0.0.0/8)",
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => "private",
        [127, ..] => "loopback",
        [169, 254, ..] => "link-local",
        [100, 64..=127, ..] => "carrier-grade NAT",
        [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18..=19, ..] => "benchmarking (198.18.0.0/15)",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved (240.0.0.0/4) or broadcast",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4);
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        // Deprecated IPv4-compatible addresses (::a.b.c.d) reach IPv4 hosts.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        [0x64, 0xff9b, ..] => "NAT64 (64:ff9b::/96 and /48)",
        [0x2002, ..] => "6to4 (2002::/16)",
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x100, 0, 0, 0, ..] => "discard (100::/64)",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// The kind of internal or special range `ip` lies in, if any.
pub fn internal_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

/// Checks the URL's form and port; returns (host, port).
pub fn check_url(url: &str, policy: &Policy) -> Result<(String, u16), Refused> {
    let u = url::Url::parse(url).map_err(|e| Refused(format!("not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Refused(format!("scheme {:?} is not http or https", u.scheme())));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Refused("credentials in the URL are not allowed".into()));
    }
    let host = u.host_str().ok_or_else(|| Refused("no host".into()))?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default().unwrap_or(443);
    if !policy.allow_private && !policy.ports.contains(&port) {
        return Err(Refused(format!("port {port} is not allowed (notify.allowed_ports: {:?})", policy.ports)));
    }
    if let (Ok(ip), false) = (host.parse::<IpAddr>(), policy.allow_private) {
        if let Some(kind) = internal_range(ip) {
            return Err(Refused(format!("{host} is a {kind} address (notify.allow_private_targets is off)")));
        }
    }
    Ok((host, port))
}

/// Resolves `host` and keeps only the addresses the policy allows; an error when none is left. The error
/// names the host and the rule, not what it resolved to.
pub async fn vetted_addrs(host: &str, port: u16, policy: &Policy) -> Result<Vec<SocketAddr>, Refused> {
    let all: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refused(format!("cannot resolve {host}")))?
            .collect(),
    };
    if all.is_empty() {
        return Err(Refused(format!("{host} resolves to no address")));
    }
    if policy.allow_private {
        return Ok(all);
    }
    // Any internal answer refuses the whole name: a name that mixes public and internal answers is a trap.
    if all.iter().any(|a| internal_range(a.ip()).is_some()) {
        return Err(Refused(format!(
            "{host} resolves to an internal address (loopback, private, link-local or reserved; \
             notify.allow_private_targets is off)"
        )));
    }
    Ok(all)
}

/// Checks a target fully: its form and port, then every address its host resolves to.
pub async fn check(url: &str, policy: &Policy) -> Result<(), Refused> {
    let (host, port) = check_url(url, policy)?;
    vetted_addrs(&host, port, policy).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Policy {
        Policy { allow_private: false, ports: vec![80, 443] }
    }

    #[tokio::test]
    async fn private_and_odd_targets_are_refused() {
        for u in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost/",
            "http://100.64.0.1/",
            // Ranges that reach internal hosts through translation, or are not unicast at all.
            "http://[64:ff9b::a00:1]/",
            "http://[2002:a00:1::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://224.0.0.1/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://[::10.0.0.1]/",
            "http://192.0.0.8/",
        ] {
            assert!(check(u, &strict()).await.is_err(), "{u} accepted");
        }
        let lenient = Policy { allow_private: true, ports: vec![] };
        for u in ["file:///etc/passwd", "gopher://x/", "http://user:pw@example.com/", "not a url", "http:///"] {
            assert!(check(u, &lenient).await.is_err(), "{u} accepted");
        }
        assert!(check("http://127.0.0.1:9/hook", &lenient).await.is_ok(), "allowed by config");
        assert!(check("https://93.184.216.34/hook", &strict()).await.is_ok(), "a public literal address");
    }

    #[tokio::test]
    async fn only_allowed_ports_reach_public_hosts() {
        let e = check("https://93.184.216.34:6379/", &strict()).await.unwrap_err();
        assert!(e.0.contains("port 6379") && e.0.contains("notify.allowed_ports"), "{e}");
        assert!(check("http://93.184.216.34:80/", &strict()).await.is_ok());
    }

    #[tokio::test]
    async fn refusals_of_names_never_print_the_internal_address() {
        // `localhost` resolves on every machine; what it resolves to must not reach the message.
        let e = check("http://localhost/hook", &strict()).await.unwrap_err().0;
        assert!(e.contains("localhost") && e.contains("internal address"), "{e}");
        assert!(!e.contains("127.0.0.1") && !e.contains("::1"), "{e}");
    }
}
