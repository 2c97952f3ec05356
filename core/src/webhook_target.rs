//! Webhook targets and secrets. SSRF protection: a target must be http(s) and, unless allowed in config,
//! resolve only to public addresses; checked when an endpoint is registered and again before every send
//! (DNS answers can change). Secrets have the Standard Webhooks form `whsec_<base64>`.

use std::net::IpAddr;

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

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) // carrier-grade NAT
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (seg & 0xfe00) == 0xfc00 || (seg & 0xffc0) == 0xfe80
        }
    }
}

/// Checks the URL's form; returns (host, port).
pub fn check_url(url: &str) -> Result<(String, u16), Refused> {
    let u = url::Url::parse(url).map_err(|e| Refused(format!("not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Refused(format!("scheme {:?} is not http or https", u.scheme())));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Refused("credentials in the URL are not allowed".into()));
    }
    let host = u.host_str().ok_or_else(|| Refused("no host".into()))?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default().unwrap_or(443);
    Ok((host, port))
}

/// Checks a target fully: its form, then every address its host resolves to.
pub async fn check(url: &str, allow_private: bool) -> Result<(), Refused> {
    let (host, port) = check_url(url)?;
    if allow_private {
        return Ok(());
    }
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Refused(format!("cannot resolve {host}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused(format!("{host} resolves to no address")));
    }
    if let Some(ip) = addrs.into_iter().find(|ip| private(*ip)) {
        return Err(Refused(format!(
            "{host} resolves to {ip}, a loopback, private or link-local address (notify.allow_private_targets is off)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_and_odd_targets_are_refused() {
        for u in [
            "http://127.0.0.1/hook", "http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fd00::1]/", "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/", "http://localhost:9/", "http://100.64.0.1/",
        ] {
            assert!(check(u, false).await.is_err(), "{u} accepted");
        }
        for u in ["file:///etc/passwd", "gopher://x/", "http://user:pw@example.com/", "not a url", "http:///"] {
            assert!(check(u, true).await.is_err(), "{u} accepted");
        }
        assert!(check("http://127.0.0.1/hook", true).await.is_ok(), "allowed by config");
        assert!(check("https://93.184.216.34/hook", false).await.is_ok(), "a public literal address");
    }
}
