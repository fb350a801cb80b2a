//! Limits on the token endpoint, the one route anyone can call without a token: a token bucket
//! per client address (checked by [`limit_token_requests`] before the body is read) and one
//! per `client_id` (checked by [`crate::services::tokens::application_token`] before storage
//! is read or a secret checked), each answering 429 `rate_limited` with `Retry-After`.
//!
//! The client address is the socket peer, or, when the peer is one of `--trusted-proxies`, the
//! right-most address of `X-Forwarded-For` that is not a trusted proxy (every hop left of it
//! could have been written by the client). IPv6 clients are counted per /64, the block one
//! host usually holds. Buckets are bounded: a bucket that has refilled is the same as none and
//! is dropped on the next sweep, and past `capacity` keys the least recently used half goes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use switchboard_core::ErrorCode;

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Settings};

/// The paths of the token endpoint (the route and its alias).
pub const TOKEN_PATHS: [&str; 2] = ["/api/v1/account/applications/token", "/api/v1/applications/token"];

/// Fewest keys kept before the first sweep of refilled buckets.
const MIN_SWEEP: usize = 1024;

/// An address block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u32::from(net).into(), 32, self.prefix) == mask(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(net), 128, self.prefix) == mask(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `bits`-bit number.
fn mask(v: u128, bits: u8, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= bits => v,
        p => v >> (bits - p),
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an address or an address block like 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The address a request comes from: the socket `peer` (loopback when unknown, as for a router
/// called in process), or, when the peer is a trusted proxy, the right-most hop of
/// `X-Forwarded-For` that is not one. A hop that does not parse ends the walk at the proxy
/// that passed it on.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut current = peer.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |p| p.ip()).to_canonical();
    if !is_trusted(current) {
        return current;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else { return current };
        current = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    current
}

/// `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1` or `[2001:db8::1]:567`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    IpAddr::from_str(hop).ok().or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip())).map(|ip| ip.to_canonical())
}

/// The key an address is counted under: IPv4 as it is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct BucketMap<K> {
    entries: HashMap<K, Bucket>,
    /// Size at which the next new key sweeps first.
    sweep_at: usize,
}

/// A token bucket per key: `rate` tokens a second up to `burst`, at most `capacity` keys.
pub struct Buckets<K> {
    map: Mutex<BucketMap<K>>,
    rate: f64,
    burst: f64,
    capacity: usize,
}

impl<K> std::fmt::Debug for Buckets<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets").field("rate", &self.rate).field("burst", &self.burst).finish_non_exhaustive()
    }
}

impl<K: Hash + Eq> Buckets<K> {
    /// Buckets of `rate` per second and `burst`, for at most `capacity` keys (at least 2).
    pub fn new(rate: f64, burst: f64, capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            map: Mutex::new(BucketMap { entries: HashMap::new(), sweep_at: MIN_SWEEP.min(capacity) }),
            rate: if rate.is_finite() && rate > 0.0 { rate } else { f64::MIN_POSITIVE },
            burst: burst.max(1.0),
            capacity,
        }
    }

    /// Takes one token for `key`; `Err(seconds)` says when one will be there.
    pub fn take(&self, key: K) -> Result<(), f64> {
        self.take_at(key, Instant::now())
    }

    /// [`Buckets::take`] at `now`.
    pub fn take_at(&self, key: K, now: Instant) -> Result<(), f64> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if !m.entries.contains_key(&key) && m.entries.len() >= m.sweep_at {
            self.sweep(&mut m, now);
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = m.entries.entry(key).or_insert(Bucket { tokens: burst, last: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).max(0.001))
        }
    }

    /// Drops the buckets that have refilled (they are the same as none); past the capacity,
    /// also the least recently used half. The next sweep waits until the map has doubled, so
    /// sweeping costs O(1) per new key, amortised.
    fn sweep(&self, m: &mut BucketMap<K>, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        m.entries.retain(|_, b| b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst);
        if m.entries.len() >= self.capacity {
            let mut ages: Vec<Instant> = m.entries.values().map(|b| b.last).collect();
            let half = ages.len() / 2;
            let (_, cutoff, _) = ages.select_nth_unstable(half);
            let cutoff = *cutoff;
            m.entries.retain(|_, b| b.last > cutoff);
        }
        m.sweep_at = (m.entries.len() * 2).clamp(MIN_SWEEP.min(self.capacity), self.capacity);
    }

    /// How many keys have a bucket.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The token endpoint's buckets and the proxies whose `X-Forwarded-For` is believed.
#[derive(Debug)]
pub struct TokenLimits {
    /// By the first 16 bytes of the SHA-256 of the client id (any length sends a fixed-size key).
    per_client: Buckets<[u8; 16]>,
    per_address: Buckets<IpAddr>,
    trusted_proxies: Vec<Cidr>,
}

fn too_fast(wait: f64, what: &str) -> ApiError {
    let mut e = ApiError::new(ErrorCode::RateLimited, format!("too many token requests for this {what}; retry later"))
        .with_details(json!({"reason": "token_rate_limit", "limit": what}));
    e.retry_after = Some(wait);
    e
}

impl TokenLimits {
    /// The limits the settings name.
    pub fn new(s: &Settings) -> Self {
        Self {
            per_client: Buckets::new(s.token_rate_per_client, s.token_burst_per_client, s.token_limit_keys),
            per_address: Buckets::new(s.token_rate_per_address, s.token_burst_per_address, s.token_limit_keys),
            trusted_proxies: s.trusted_proxies.clone(),
        }
    }

    /// Takes a token from the bucket of `client_id`.
    pub fn check_client(&self, client_id: &str) -> ApiResult<()> {
        let digest = Sha256::digest(client_id.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        self.per_client.take(key).map_err(|wait| too_fast(wait, "client_id"))
    }

    /// Takes a token from the bucket of the address a request comes from.
    pub fn check_address(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> ApiResult<()> {
        let ip = client_address(peer, headers, &self.trusted_proxies);
        self.per_address.take(address_key(ip)).map_err(|wait| too_fast(wait, "address"))
    }

    /// How many client ids and addresses have a bucket.
    pub fn keys(&self) -> (usize, usize) {
        (self.per_client.len(), self.per_address.len())
    }
}

/// The per-address limit of the token endpoint, before its body is read. The peer address comes
/// from `ConnectInfo` when the server provides it (`switchboard serve` does).
pub async fn limit_token_requests(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match st.token_limits.check_address(peer, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::time::Duration;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{e}"))).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip(s), 40000))
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c = cidrs(&["10.0.0.0/8", "192.0.2.7", "fd00::/8", "0.0.0.0/0"]);
        assert!(c[0].contains(ip("10.200.1.1")) && !c[0].contains(ip("11.0.0.1")));
        assert!(c[0].contains(ip("::ffff:10.1.2.3")), "IPv4-mapped IPv6 is IPv4");
        assert!(c[1].contains(ip("192.0.2.7")) && !c[1].contains(ip("192.0.2.8")));
        assert!(c[2].contains(ip("fd12::1")) && !c[2].contains(ip("fe80::1")) && !c[2].contains(ip("10.0.0.1")));
        assert!(c[3].contains(ip("203.0.113.9")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let h = xff(&["198.51.100.1, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(client_address(peer("10.0.0.1"), &h, &trusted), ip("203.0.113.5"), "right-most untrusted hop");
        assert_eq!(client_address(peer("198.51.100.9"), &h, &trusted), ip("198.51.100.9"), "untrusted peer");
        assert_eq!(client_address(peer("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"), "no header");
        assert_eq!(client_address(peer("10.0.0.1"), &xff(&["10.0.0.3, 10.0.0.2"]), &trusted), ip("10.0.0.3"));
        assert_eq!(client_address(peer("10.0.0.1"), &xff(&["junk, 10.0.0.2"]), &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(peer("10.0.0.1"), &xff(&["[2001:db8::1]:80"]), &trusted), ip("2001:db8::1"));
        assert_eq!(client_address(None, &h, &[]), ip("127.0.0.1"), "no ConnectInfo: loopback");
        assert_eq!(client_address(None, &h, &cidrs(&["127.0.0.1"])), ip("10.0.0.2"), "one trusted hop");
        assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"), "IPv6 per /64");
    }

    #[test]
    fn buckets_refill_and_say_when() {
        let b = Buckets::new(10.0, 20.0, 100);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert!(b.take_at("a", t0).is_ok());
        }
        let wait = b.take_at("a", t0).err().unwrap_or_default();
        assert!((0.09..=0.11).contains(&wait), "{wait}");
        assert!(b.take_at("b", t0).is_ok(), "keys are independent");
        assert!(b.take_at("a", t0 + Duration::from_millis(110)).is_ok(), "refilled at the rate");
    }

    #[test]
    fn buckets_stay_bounded() {
        let t0 = Instant::now();
        let at = |micros: u32| t0 + Duration::from_micros(u64::from(micros));
        // Past the capacity, the least recently used half goes.
        let b = Buckets::new(1.0, 2.0, 4000);
        for i in 0..100_000u32 {
            let _ = b.take_at(i, at(i));
            assert!(b.len() <= 4000);
        }
        assert!(b.take_at(99_999, at(100_000)).is_ok(), "recent keys are kept");
        assert!(b.take_at(99_999, at(100_000)).is_err());
        // Refilled buckets are the same as none: a sweep drops them all.
        let b = Buckets::new(1.0, 2.0, 100_000);
        for i in 0..MIN_SWEEP as u32 {
            let _ = b.take_at(i, at(i));
        }
        assert_eq!(b.len(), MIN_SWEEP);
        let _ = b.take_at(u32::MAX, t0 + Duration::from_secs(60));
        assert_eq!(b.len(), 1, "idle keys were swept");
        // A key still being limited survives a sweep.
        let b = Buckets::new(1.0, 1.0, 100_000);
        assert!(b.take_at(u32::MAX, t0).is_ok());
        for i in 0..2 * MIN_SWEEP as u32 {
            let _ = b.take_at(i, at(i));
        }
        assert!(b.take_at(u32::MAX, at(2 * MIN_SWEEP as u32)).is_err(), "its bucket was kept, empty");
    }
}
