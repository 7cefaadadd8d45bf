//! Primitives for inbound webhooks: HMAC-SHA256 signatures over `timestamp.body` with a replay
//! window (and a memory of signatures already accepted inside it), and IP allow-lists (CIDR).

use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Why a webhook was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature is missing, malformed or wrong.
    #[error("bad signature")]
    BadSignature,
    /// The timestamp is outside the replay window.
    #[error("timestamp outside the replay window")]
    Stale,
    /// This exact request was already accepted.
    #[error("replayed request")]
    Replayed,
    /// The sender's address is not allowed.
    #[error("address {0} is not in the allow-list")]
    NotAllowed(IpAddr),
}

/// The hex HMAC-SHA256 of `timestamp.body` under `secret` (what a sender puts in its header).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Verifies signatures and refuses replays within `window_secs` of now.
#[derive(Debug)]
pub struct SignatureVerifier {
    secret: Vec<u8>,
    window_secs: i64,
    seen: Mutex<HashMap<String, i64>>,
}

impl SignatureVerifier {
    /// A verifier for `secret` with a replay window of `window_secs` either side of now.
    pub fn new(secret: &[u8], window_secs: i64) -> SignatureVerifier {
        SignatureVerifier {
            secret: secret.to_vec(),
            window_secs,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the signature (constant time) over the raw body, the timestamp against `now`
    /// (Unix seconds) and that the same signature was not accepted before.
    pub fn verify(
        &self,
        timestamp: i64,
        body: &[u8],
        signature_hex: &str,
        now: i64,
    ) -> Result<(), WebhookError> {
        if now.abs_diff(timestamp) > self.window_secs.unsigned_abs() {
            return Err(WebhookError::Stale);
        }
        let signature =
            hex::decode(signature_hex.trim()).map_err(|_| WebhookError::BadSignature)?;
        mac(&self.secret, timestamp, body)
            .verify_slice(&signature)
            .map_err(|_| WebhookError::BadSignature)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| now.abs_diff(*at) <= self.window_secs.unsigned_abs());
        if seen
            .insert(signature_hex.trim().to_lowercase(), timestamp)
            .is_some()
        {
            return Err(WebhookError::Replayed);
        }
        Ok(())
    }
}

/// Addresses allowed to call (CIDR blocks; a bare address is a /32 or /128).
#[derive(Clone, Debug, Default)]
pub struct IpAllowList {
    nets: Vec<IpNet>,
}

impl IpAllowList {
    /// Parses CIDR blocks or bare addresses; the error names the bad entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpAllowList, String> {
        let nets = entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{e}` is not an IP address or CIDR block"))
            })
            .collect::<Result<_, _>>()?;
        Ok(IpAllowList { nets })
    }

    /// Whether `ip` may call; IPv4-mapped IPv6 addresses count as their IPv4 form.
    pub fn check(&self, ip: IpAddr) -> Result<(), WebhookError> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if self.nets.iter().any(|n| n.contains(&ip)) {
            Ok(())
        } else {
            Err(WebhookError::NotAllowed(ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_once_within_the_window() {
        let v = SignatureVerifier::new(b"shh", 300);
        let body = br#"{"alerts":[]}"#;
        let sig = sign(b"shh", 1_000, body);
        assert_eq!(v.verify(1_000, body, &sig, 1_100), Ok(()));
        assert_eq!(
            v.verify(1_000, body, &sig, 1_100),
            Err(WebhookError::Replayed)
        );
        assert_eq!(
            v.verify(1_000, b"{}", &sig, 1_100),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify(1_000, body, &sign(b"other", 1_000, body), 1_100),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify(1_000, body, "zz", 1_100),
            Err(WebhookError::BadSignature)
        );
        let late = sign(b"shh", 1_000, b"x");
        assert_eq!(
            v.verify(1_000, b"x", &late, 1_400),
            Err(WebhookError::Stale)
        );
        // Absurd timestamps are stale, not a panic.
        assert_eq!(
            v.verify(i64::MIN, body, &sig, i64::MAX),
            Err(WebhookError::Stale)
        );
        // A signature for another timestamp does not carry over.
        assert_eq!(
            v.verify(1_001, body, &sig, 1_100),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn allow_lists_match_cidr_blocks_and_mapped_addresses() {
        let list = IpAllowList::parse(&["10.0.0.0/8", "192.168.1.5", "::1"]).expect("parse");
        for ok in ["10.1.2.3", "192.168.1.5", "::1", "::ffff:10.9.9.9"] {
            assert!(list.check(ok.parse().expect("ip")).is_ok(), "{ok}");
        }
        for bad in ["11.0.0.1", "192.168.1.6", "::2"] {
            assert!(list.check(bad.parse().expect("ip")).is_err(), "{bad}");
        }
        assert!(IpAllowList::parse(&["10.0.0.0/33"]).is_err());
        assert!(
            IpAllowList::default()
                .check("127.0.0.1".parse().expect("ip"))
                .is_err()
        );
    }
}
