//! Who may use the API: password hashes, the API token, login sessions, the login
//! lockout, and the `Host` and `Origin` checks that keep web pages on other sites out.
//!
//! Owns: the session table ([`Sessions`]), the failed-login table ([`Lockout`]) and the
//! policy that puts them together ([`Auth::check`], [`Auth::login`]). Depends on
//! [`crate::rng`] for the operating system's random bytes, [`crate::types`] for hex, and
//! the `pbkdf2` and `sha2` crates. Pure: no sockets, no clock reads (every call that
//! ages something takes `now`); the only file I/O is [`write_secret`] and
//! [`load_or_create_token`], which the daemon calls at start.
//!
//! Invariants:
//! - Secrets are compared in constant time ([`constant_time_eq`]); a bearer token is
//!   compared through its SHA-256 so not even its length shows in the timing, and the
//!   session table is keyed by the SHA-256 of each cookie, never the cookie itself.
//! - Memory is bounded whatever clients send: at most [`MAX_SESSIONS`] sessions and
//!   [`MAX_TRACKED`] addresses in the lockout.
//! - A locked-out address gets [`Denied::LockedOut`] before its password or token is
//!   looked at, so a lockout gives a guesser nothing to learn.
//! - Every request passes the `Host` check (against DNS rebinding) and the `Origin` /
//!   `Referer` check (against cross-site request forgery) before any credential is
//!   looked at, the open paths ([`OPEN_PATHS`]) included.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::rng;
use crate::types::{hex, hex_digit};

/// The scheme name at the front of a stored password hash.
pub const HASH_SCHEME: &str = "pbkdf2-sha256";
/// PBKDF2 iterations for new password hashes (stored hashes carry their own count).
pub const PBKDF2_ITERATIONS: u32 = 100_000;
/// Bytes of random salt in a password hash.
pub const SALT_LEN: usize = 16;
/// Bytes of PBKDF2 output in a password hash.
pub const HASH_LEN: usize = 32;

/// The name of the login cookie.
pub const SESSION_COOKIE: &str = "hivebt_session";
/// The name qBittorrent gives its login cookie: the qBittorrent API hands it out, and
/// it names a session of the same table (either name works on every path).
pub const QBT_COOKIE: &str = "SID";
/// How long a login lasts unless configured otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most sessions kept at once; past it, the oldest is dropped.
pub const MAX_SESSIONS: usize = 1024;
/// The most verified credentials (HTTP Basic) remembered at once; past it, the one
/// that expires first is dropped.
pub const MAX_CREDENTIALS: usize = 64;

/// Failed logins (within [`DEFAULT_BLOCK_FOR`]) that block an address, unless
/// configured otherwise.
pub const DEFAULT_MAX_FAILURES: u32 = 5;
/// How long an address stays blocked, and the window its failures are counted in,
/// unless configured otherwise.
pub const DEFAULT_BLOCK_FOR: Duration = Duration::from_secs(3600);
/// The most addresses the lockout tracks at once.
pub const MAX_TRACKED: usize = 10_000;

/// Paths that need no credentials (the `Host` and `Origin` checks still apply).
pub const OPEN_PATHS: [&str; 3] = ["/api/v1/health", "/api/v1/login", "/api/v2/auth/login"];
/// The API token's file name inside the state directory.
pub const TOKEN_FILE: &str = "api_token";

/// The longest session lifetime or block honoured: ten years, so that `now` plus the
/// span is always a representable `Instant`.
const MAX_SPAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What is wrong with a stored password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Not four `$`-separated fields.
    FieldCount {
        /// How many fields the string has.
        got: usize,
    },
    /// The first field names a scheme other than [`HASH_SCHEME`].
    UnknownScheme(String),
    /// The iteration count is not a whole number from 1 to 2^32 − 1.
    BadIterations(String),
    /// The salt or the hash is not hex.
    BadHex {
        /// `"salt"` or `"hash"`.
        field: &'static str,
    },
    /// The salt or the hash has the wrong number of bytes.
    BadLength {
        /// `"salt"` or `"hash"`.
        field: &'static str,
        /// The bytes it must have.
        expected: usize,
        /// The bytes it has.
        got: usize,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::FieldCount { got } => write!(
                f,
                "a password hash is {HASH_SCHEME}$ITERATIONS$SALT_HEX$HASH_HEX \
                 (4 fields separated by '$'), this one has {got} fields"
            ),
            AuthError::UnknownScheme(s) => write!(
                f,
                "password hash scheme {s:?} is not known (expected {HASH_SCHEME})"
            ),
            AuthError::BadIterations(s) => write!(
                f,
                "password hash iteration count {s:?} is not a whole number from 1 to {}",
                u32::MAX
            ),
            AuthError::BadHex { field } => write!(f, "password hash {field} is not hex"),
            AuthError::BadLength {
                field,
                expected,
                got,
            } => write!(
                f,
                "password hash {field} has {got} bytes, expected {expected}"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

// ---------------------------------------------------------------------------------
// Secrets: random bytes, constant-time comparison, password hashes, tokens.

/// `N` random bytes from the operating system (see [`rng::os_u64`]).
fn os_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&rng::os_u64().to_le_bytes()[..chunk.len()]);
    }
    out
}

/// Whether `a` and `b` are equal, taking the same time wherever they differ. Only the
/// lengths may show: unequal lengths return at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Whether two secrets of any length are equal, comparing their SHA-256 in constant
/// time so that neither the contents nor the length of `expected` show.
fn secret_eq(given: &str, expected: &str) -> bool {
    constant_time_eq(&Sha256::digest(given), &Sha256::digest(expected))
}

/// Decodes hex (either case) of exactly `N` bytes.
fn unhex<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], AuthError> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(AuthError::BadHex { field });
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks_exact(2) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(h), Some(l)) => out.push((h << 4) | l),
            _ => return Err(AuthError::BadHex { field }),
        }
    }
    let got = out.len();
    out.try_into().map_err(|_| AuthError::BadLength {
        field,
        expected: N,
        got,
    })
}

/// PBKDF2-HMAC-SHA256 of `password` over `salt`, [`HASH_LEN`] bytes.
fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; HASH_LEN] {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// A password hash: PBKDF2-HMAC-SHA256 with its iteration count and salt. Its
/// `Display` is the stored form `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: u32,
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
}

impl PasswordHash {
    /// The hash of `password` with `salt` and [`PBKDF2_ITERATIONS`].
    pub fn new(password: &str, salt: [u8; SALT_LEN]) -> PasswordHash {
        PasswordHash::with_iterations(password, salt, PBKDF2_ITERATIONS)
    }

    /// The hash of `password` with `salt` and `iterations` (at least 1); tests use a
    /// low count to stay fast.
    pub fn with_iterations(password: &str, salt: [u8; SALT_LEN], iterations: u32) -> PasswordHash {
        let iterations = iterations.max(1);
        PasswordHash {
            iterations,
            salt,
            hash: derive(password.as_bytes(), &salt, iterations),
        }
    }

    /// Parses the stored form, naming what is wrong when it is malformed. Surrounding
    /// whitespace is ignored.
    pub fn parse(stored: &str) -> Result<PasswordHash, AuthError> {
        let fields: Vec<&str> = stored.trim().split('$').collect();
        let [scheme, iterations, salt, hash] = fields[..] else {
            return Err(AuthError::FieldCount { got: fields.len() });
        };
        if scheme != HASH_SCHEME {
            return Err(AuthError::UnknownScheme(scheme.to_owned()));
        }
        let iterations = match iterations.parse::<u32>() {
            Ok(n) if n > 0 && iterations.bytes().all(|c| c.is_ascii_digit()) => n,
            _ => return Err(AuthError::BadIterations(iterations.to_owned())),
        };
        Ok(PasswordHash {
            iterations,
            salt: unhex(salt, "salt")?,
            hash: unhex(hash, "hash")?,
        })
    }

    /// Whether `password` is the one hashed (compared in constant time).
    pub fn verify(&self, password: &str) -> bool {
        let got = derive(password.as_bytes(), &self.salt, self.iterations);
        constant_time_eq(&got, &self.hash)
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{HASH_SCHEME}${}${}${}",
            self.iterations,
            hex(&self.salt),
            hex(&self.hash)
        )
    }
}

impl fmt::Debug for PasswordHash {
    /// Leaves out the salt and hash, which would help an offline guesser if logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The stored form of a new hash of `password`: a fresh random salt and
/// [`PBKDF2_ITERATIONS`].
pub fn hash_password(password: &str) -> String {
    PasswordHash::new(password, os_bytes()).to_string()
}

/// Whether `password` matches the stored form `stored`; an error says what is wrong
/// with a malformed `stored`.
pub fn verify_password(stored: &str, password: &str) -> Result<bool, AuthError> {
    Ok(PasswordHash::parse(stored)?.verify(password))
}

/// A new API token or session cookie: 32 random bytes from the operating system as 64
/// lowercase hex digits.
pub fn new_token() -> String {
    hex(&os_bytes::<32>())
}

/// The token of an `Authorization: Bearer TOKEN` header value: the scheme in any case,
/// any whitespace around and between; `None` for another scheme, no token, or a
/// token with whitespace inside.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
    let token = rest.trim();
    let one_word = !token.is_empty() && !token.contains(|c: char| c.is_ascii_whitespace());
    (scheme.eq_ignore_ascii_case("bearer") && one_word).then_some(token)
}

/// Whether an `Authorization` header value carries `token` as a bearer token
/// (compared in constant time).
pub fn bearer_matches(value: &str, token: &str) -> bool {
    parse_bearer(value).is_some_and(|given| secret_eq(given, token))
}

// ---------------------------------------------------------------------------------
// Sessions and cookies.

/// The table key for a session cookie: its SHA-256, so that a lookup's timing says
/// nothing about the cookies held and the table holds no usable cookie.
fn session_key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie).into()
}

/// The login sessions: each cookie handed out by a login, with the point it expires.
/// Held in memory only, so a restart logs everyone out.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    max: usize,
    expires_at: HashMap<[u8; 32], Instant>,
}

impl Sessions {
    /// An empty table whose sessions last `ttl` (at most ten years), holding at most
    /// [`MAX_SESSIONS`].
    pub fn new(ttl: Duration) -> Sessions {
        Sessions::with_limit(ttl, MAX_SESSIONS)
    }

    /// An empty table holding at most `max` sessions (at least 1).
    pub fn with_limit(ttl: Duration, max: usize) -> Sessions {
        Sessions {
            ttl: ttl.min(MAX_SPAN),
            max: max.max(1),
            expires_at: HashMap::new(),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Sessions held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.expires_at.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.expires_at.is_empty()
    }

    /// A new session, valid until `now + ttl`; returns its cookie value. When the table
    /// is full, expired sessions are purged, and if none had expired the oldest (the
    /// first to expire, every session having the same lifetime) is dropped.
    pub fn create(&mut self, now: Instant) -> String {
        if self.expires_at.len() >= self.max {
            self.expires_at.retain(|_, at| *at > now);
        }
        if self.expires_at.len() >= self.max {
            let oldest = self.expires_at.iter().min_by_key(|(_, at)| **at);
            if let Some((&key, _)) = oldest {
                self.expires_at.remove(&key);
            }
        }
        let cookie = new_token();
        self.expires_at.insert(session_key(&cookie), now + self.ttl);
        cookie
    }

    /// Whether `cookie` names a live session; an expired one is removed.
    pub fn check(&mut self, cookie: &str, now: Instant) -> bool {
        let key = session_key(cookie);
        match self.expires_at.get(&key) {
            Some(&at) if at > now => true,
            Some(_) => {
                self.expires_at.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Ends the session `cookie` names, if any (logout).
    pub fn remove(&mut self, cookie: &str) {
        self.expires_at.remove(&session_key(cookie));
    }
}

/// Credentials sent with every request (HTTP Basic) whose password was verified, so
/// the slow hash runs once per credential rather than once per request: each held as
/// the SHA-256 of the whole `Authorization` value, never the value, until it expires
/// (a session lifetime after it was verified). At most [`MAX_CREDENTIALS`].
#[derive(Debug)]
pub struct Credentials {
    ttl: Duration,
    expires_at: HashMap<[u8; 32], Instant>,
}

impl Credentials {
    /// An empty set whose entries last `ttl` (at most ten years).
    pub fn new(ttl: Duration) -> Credentials {
        Credentials {
            ttl: ttl.min(MAX_SPAN),
            expires_at: HashMap::new(),
        }
    }

    /// The key a credential (an `Authorization` header value) is held under.
    pub fn key(authorization: &str) -> [u8; 32] {
        Sha256::digest(authorization).into()
    }

    /// Remembers `key` as verified until `now + ttl`; when full, drops the entry
    /// that expires first.
    pub fn insert(&mut self, key: [u8; 32], now: Instant) {
        if !self.expires_at.contains_key(&key) && self.expires_at.len() >= MAX_CREDENTIALS {
            self.expires_at.retain(|_, at| *at > now);
            if self.expires_at.len() >= MAX_CREDENTIALS {
                let first = self.expires_at.iter().min_by_key(|(_, at)| **at);
                if let Some((&k, _)) = first {
                    self.expires_at.remove(&k);
                }
            }
        }
        self.expires_at.insert(key, now + self.ttl);
    }

    /// Whether `key` was verified and has not expired; an expired one is removed.
    pub fn contains(&mut self, key: &[u8; 32], now: Instant) -> bool {
        match self.expires_at.get(key) {
            Some(&at) if at > now => true,
            Some(_) => {
                self.expires_at.remove(key);
                false
            }
            None => false,
        }
    }

    /// Credentials held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.expires_at.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.expires_at.is_empty()
    }
}

/// The value of cookie `name` in a `Cookie:` header value (`a=1; b=2`), spaces around
/// names and values ignored and surrounding double quotes taken off; the first one
/// wins. Names are compared exactly (cookie names are case-sensitive).
pub fn parse_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        if n.trim() != name {
            return None;
        }
        let v = v.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        )
    })
}

/// The `Set-Cookie` value that hands a browser session `cookie` for `max_age_secs`.
/// Not `Secure`: the API is usually reached over plain HTTP on loopback or a LAN.
pub fn set_cookie_header(cookie: &str, max_age_secs: u64) -> String {
    format!("{SESSION_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}")
}

/// The `Set-Cookie` value that makes a browser drop its session cookie (logout).
pub fn clear_cookie_header() -> String {
    set_cookie_header("", 0)
}

// ---------------------------------------------------------------------------------
// Lockout.

/// The failures counted against one address (or IPv6 /64).
#[derive(Clone, Copy, Debug)]
struct Failures {
    /// Failures since the window opened.
    count: u32,
    /// When the counting window (opened by the first failure) closes.
    window_end: Instant,
    /// Until when the address is blocked, once `count` reached the limit.
    blocked_until: Option<Instant>,
    /// The latest failure, for evicting the oldest entry.
    last_at: Instant,
}

impl Failures {
    /// Whether this entry no longer counts: its block ran out, or, never blocked, its
    /// window closed.
    fn expired(&self, now: Instant) -> bool {
        self.blocked_until.unwrap_or(self.window_end) <= now
    }
}

/// The address failures are counted under: an IPv4 address as itself (an IPv4-mapped
/// IPv6 address as its IPv4 address), an IPv6 address as its /64, the block a single
/// host or LAN is usually given, so that one host cannot dodge the count by rotating
/// through its addresses.
fn lockout_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// Failed logins (and failed bearer tokens) per address: `max_failures` failures
/// within `block_for` of the first block the address for `block_for`. IPv6 addresses
/// count by their /64. At most [`MAX_TRACKED`] addresses are tracked; when full,
/// expired entries go first, then the one whose latest failure is oldest. Behind a
/// reverse proxy every client shares the proxy's address, so one guesser locks out all.
#[derive(Debug)]
pub struct Lockout {
    max_failures: u32,
    block_for: Duration,
    max_tracked: usize,
    by_addr: HashMap<IpAddr, Failures>,
}

impl Lockout {
    /// A lockout blocking for `block_for` (at most ten years) after `max_failures`
    /// failures; `max_failures` 0 turns the lockout off.
    pub fn new(max_failures: u32, block_for: Duration) -> Lockout {
        Lockout::with_limit(max_failures, block_for, MAX_TRACKED)
    }

    /// As [`Lockout::new`], tracking at most `max_tracked` addresses (at least 1).
    pub fn with_limit(max_failures: u32, block_for: Duration, max_tracked: usize) -> Lockout {
        Lockout {
            max_failures,
            block_for: block_for.min(MAX_SPAN),
            max_tracked: max_tracked.max(1),
            by_addr: HashMap::new(),
        }
    }

    /// Addresses tracked, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// Whether `ip` is blocked at `now`.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.by_addr
            .get(&lockout_key(ip))
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Counts a failed login (or bearer token) from `ip`; the failure that reaches the
    /// limit blocks it. A failure while blocked does not lengthen the block.
    pub fn on_failure(&mut self, ip: IpAddr, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let key = lockout_key(ip);
        if !self.by_addr.contains_key(&key) {
            self.make_room(now);
        }
        let fresh = Failures {
            count: 0,
            window_end: now + self.block_for,
            blocked_until: None,
            last_at: now,
        };
        let entry = self.by_addr.entry(key).or_insert(fresh);
        if entry.expired(now) {
            *entry = fresh;
        }
        entry.last_at = now;
        if entry.blocked_until.is_some() {
            return;
        }
        entry.count += 1;
        if entry.count >= self.max_failures {
            entry.blocked_until = Some(now + self.block_for);
        }
    }

    /// Forgets the failures of `ip` (a successful login).
    pub fn on_success(&mut self, ip: IpAddr) {
        self.by_addr.remove(&lockout_key(ip));
    }

    /// Makes room for one more address: purges expired entries, then if still full
    /// drops the entry whose latest failure is oldest.
    fn make_room(&mut self, now: Instant) {
        if self.by_addr.len() < self.max_tracked {
            return;
        }
        self.by_addr.retain(|_, f| !f.expired(now));
        if self.by_addr.len() >= self.max_tracked {
            let oldest = self.by_addr.iter().min_by_key(|(_, f)| f.last_at);
            if let Some((&key, _)) = oldest {
                self.by_addr.remove(&key);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Host and Origin.

/// A port: one to five digits, at most 65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits a `Host` value or URL authority into host and port: `name`, `name:port`,
/// `1.2.3.4:port`, `[v6]`, `[v6]:port`. A bare IPv6 address (colons without brackets)
/// or an empty host is refused. The brackets are taken off an IPv6 host.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':')?)?),
        };
        return Some((host, port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (s, None),
    };
    (!host.is_empty() && !host.contains(':')).then_some((host, port))
}

/// Whether two hosts (brackets off) are the same: equal addresses when both are IP
/// literals, otherwise equal names ignoring case and one trailing dot.
fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.to_canonical() == y.to_canonical(),
        (Err(_), Err(_)) => a
            .strip_suffix('.')
            .unwrap_or(a)
            .eq_ignore_ascii_case(b.strip_suffix('.').unwrap_or(b)),
        _ => false,
    }
}

/// Whether a `Host` that is the IP literal `ip` may be served: a loopback address, or
/// an address the API listens on. Listening on an unspecified address (0.0.0.0 for
/// every IPv4 address, `::` for every address) admits any literal it covers: a page
/// can only send an IP literal as its `Host` when it was itself loaded from that
/// address, so literals are no DNS-rebinding risk.
fn ip_allowed(ip: IpAddr, listen: &[SocketAddr]) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback()
        || listen.iter().any(|l| {
            let bound = l.ip().to_canonical();
            bound == ip || (bound.is_unspecified() && (bound.is_ipv6() || ip.is_ipv4()))
        })
}

/// Whether the `Host` header names this API, the defence against DNS rebinding (a
/// hostile name made to resolve to this machine): `localhost`, a loopback address, an
/// address the API listens on, or one of `allowed` (names or addresses, a port in them
/// ignored), compared without regard to case or port. A missing or malformed `Host`
/// is refused; HTTP/1.1 requires one.
pub fn host_allowed(host_header: Option<&str>, allowed: &[String], listen: &[SocketAddr]) -> bool {
    let Some((host, _)) = host_header.and_then(split_host_port) else {
        return false;
    };
    if host
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip_allowed(ip, listen))
        || same_host(host, "localhost")
    {
        return true;
    }
    allowed
        .iter()
        .filter_map(|a| split_host_port(a))
        .any(|(a, _)| same_host(host, a))
}

/// The default port and the authority of an `http` or `https` URL; with `whole`, the
/// URL must be the bare origin (nothing after the authority, as in an `Origin`
/// header). Userinfo (`user@`) is refused.
fn url_authority(url: &str, whole: bool) -> Option<(u16, &str)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if (whole && end != rest.len()) || authority.contains('@') {
        return None;
    }
    Some((default_port, authority))
}

/// Whether the origin of `url` is the one the `Host` header names: same host, and the
/// same port, a missing port on either side meaning the URL scheme's default.
fn same_origin(url: &str, whole: bool, host_header: Option<&str>) -> bool {
    let Some((default_port, authority)) = url_authority(url, whole) else {
        return false;
    };
    let (Some((url_host, url_port)), Some((host, port))) = (
        split_host_port(authority),
        host_header.and_then(split_host_port),
    ) else {
        return false;
    };
    same_host(url_host, host) && url_port.unwrap_or(default_port) == port.unwrap_or(default_port)
}

/// Whether a request may change state as far as its origin goes, the defence against
/// cross-site request forgery. Safe methods (`GET`, `HEAD`, `OPTIONS`) always pass.
/// Otherwise an `Origin` must be same-origin with the `Host` (http or https, same host
/// and port) or one of `cors_origins` (compared ignoring case); `Origin: null`
/// (sandboxed frames, some redirects) is refused. Without an `Origin`, a `Referer`
/// must be same-origin. With neither (curl, scripts: browsers send one of them on
/// cross-site writes), the request passes.
pub fn origin_allowed(
    method: &str,
    origin: Option<&str>,
    referer: Option<&str>,
    host_header: Option<&str>,
    cors_origins: &[String],
) -> bool {
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return true;
    }
    if let Some(origin) = origin {
        let origin = origin.trim();
        if origin.eq_ignore_ascii_case("null") {
            return false;
        }
        let listed = cors_origins
            .iter()
            .any(|c| c.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
        return listed || same_origin(origin, true, host_header);
    }
    match referer {
        Some(referer) => same_origin(referer, false, host_header),
        None => true,
    }
}

/// Whether the daemon must have a password to listen on `listen`: true when any
/// address is not loopback, unspecified addresses (0.0.0.0, `::`) included.
pub fn needs_password(listen: &[SocketAddr]) -> bool {
    listen.iter().any(|a| !a.ip().to_canonical().is_loopback())
}

// ---------------------------------------------------------------------------------
// The policy.

/// Why a request was refused; each maps to a status and a contract error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The `Host` header does not name this API (possible DNS rebinding).
    BadHost,
    /// A state-changing request from another site's page.
    CrossOrigin,
    /// Credentials missing or wrong.
    Unauthorized,
    /// Too many failures from this address; try again later.
    LockedOut,
}

impl Denied {
    /// The HTTP status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Denied::BadHost | Denied::CrossOrigin => 403,
            Denied::Unauthorized => 401,
            Denied::LockedOut => 429,
        }
    }

    /// The contract's `code` for the error body.
    pub fn code(self) -> &'static str {
        match self {
            Denied::BadHost | Denied::CrossOrigin => "forbidden",
            Denied::Unauthorized => "unauthorized",
            Denied::LockedOut => "locked_out",
        }
    }
}

impl fmt::Display for Denied {
    /// The human message for the error body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denied::BadHost => "the Host header does not name this server",
            Denied::CrossOrigin => "cross-origin request refused",
            Denied::Unauthorized => "a session cookie or an API token is required",
            Denied::LockedOut => "too many failed attempts from this address; try again later",
        })
    }
}

/// What decides who may use the API, as the configuration file gives it.
#[derive(Clone)]
pub struct AuthConfig {
    /// The stored password hash (see [`hash_password`]); `None` for no password, which
    /// the daemon only allows on loopback (see [`needs_password`]).
    pub password_hash: Option<String>,
    /// The API token accepted as `Authorization: Bearer` (see [`load_or_create_token`]).
    pub token: Option<String>,
    /// Extra names (or addresses) the `Host` header may carry, e.g. a reverse proxy's.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://ui.example`) whose pages may make state-changing requests.
    pub cors_origins: Vec<String>,
    /// Failures that block an address (0: never).
    pub max_failures: u32,
    /// How long a block lasts, and the window failures are counted in.
    pub block_for: Duration,
    /// How long a login session lasts.
    pub session_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            password_hash: None,
            token: None,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            max_failures: DEFAULT_MAX_FAILURES,
            block_for: DEFAULT_BLOCK_FOR,
            session_ttl: DEFAULT_SESSION_TTL,
        }
    }
}

impl fmt::Debug for AuthConfig {
    /// Says whether a password and a token are set, never what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<set>"),
            )
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("allowed_hosts", &self.allowed_hosts)
            .field("cors_origins", &self.cors_origins)
            .field("max_failures", &self.max_failures)
            .field("block_for", &self.block_for)
            .field("session_ttl", &self.session_ttl)
            .finish()
    }
}

/// The parts of a request the policy looks at; header values as received.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The request target's path (a query after `?` is ignored).
    pub path: &'a str,
    /// The peer's address.
    pub peer: IpAddr,
    /// `Host`.
    pub host: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Referer`.
    pub referer: Option<&'a str>,
    /// `Cookie`.
    pub cookie: Option<&'a str>,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
}

/// The API's access policy: the configuration, the sessions and the lockout.
#[derive(Debug)]
pub struct Auth {
    password: Option<PasswordHash>,
    token: Option<String>,
    allowed_hosts: Vec<String>,
    cors_origins: Vec<String>,
    listen: Vec<SocketAddr>,
    sessions: Sessions,
    lockout: Lockout,
    credentials: Credentials,
}

impl Auth {
    /// The policy for `config`, serving on `listen` (the addresses actually bound);
    /// fails when the stored password hash is malformed.
    pub fn new(config: AuthConfig, listen: Vec<SocketAddr>) -> Result<Auth, AuthError> {
        let password = config
            .password_hash
            .as_deref()
            .map(PasswordHash::parse)
            .transpose()?;
        Ok(Auth {
            password,
            token: config.token,
            allowed_hosts: config.allowed_hosts,
            cors_origins: config.cors_origins,
            listen,
            sessions: Sessions::new(config.session_ttl),
            lockout: Lockout::new(config.max_failures, config.block_for),
            credentials: Credentials::new(config.session_ttl),
        })
    }

    /// Whether credentials are required (a password is configured).
    pub fn password_required(&self) -> bool {
        self.password.is_some()
    }

    /// How long a login session lasts (its `Max-Age` in [`set_cookie_header`]).
    pub fn session_ttl(&self) -> Duration {
        self.sessions.ttl()
    }

    /// Whether `req` may proceed. In order: the `Host` check ([`Denied::BadHost`]), the
    /// origin check ([`Denied::CrossOrigin`]); then [`OPEN_PATHS`], and everything when
    /// no password is configured, pass. Otherwise a live session cookie passes (even
    /// from a blocked address: it was earned by a login, and is unguessable); else a
    /// bearer token is needed: from a blocked address [`Denied::LockedOut`] without
    /// looking at it, a wrong one counts as a failure. A missing or expired cookie and
    /// no bearer token are [`Denied::Unauthorized`] without counting: a browser still
    /// holding a cookie from before a restart is no guesser.
    pub fn check(&mut self, req: &AuthRequest<'_>, now: Instant) -> Result<(), Denied> {
        self.check_host(req.host)?;
        if !origin_allowed(
            req.method,
            req.origin,
            req.referer,
            req.host,
            &self.cors_origins,
        ) {
            return Err(Denied::CrossOrigin);
        }
        let path = req.path.split_once('?').map_or(req.path, |(p, _)| p);
        if self.password.is_none() || OPEN_PATHS.contains(&path) {
            return Ok(());
        }
        for name in [SESSION_COOKIE, QBT_COOKIE] {
            let cookie = req.cookie.and_then(|h| parse_cookie(h, name));
            if cookie.is_some_and(|c| self.sessions.check(c, now)) {
                return Ok(());
            }
        }
        let Some(given) = req.authorization.and_then(parse_bearer) else {
            return Err(Denied::Unauthorized);
        };
        self.check_token(req.peer, given, now)
    }

    /// Whether the `Host` header value names this API (see [`host_allowed`]).
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        host_allowed(host, &self.allowed_hosts, &self.listen)
    }

    /// Whether `ip` is blocked by the lockout now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.lockout.is_blocked(ip, now)
    }

    /// Whether `given` (from `ip`) is the API token: from a blocked address
    /// [`Denied::LockedOut`] without looking at it; a wrong one counts as a failure.
    pub fn check_token(&mut self, ip: IpAddr, given: &str, now: Instant) -> Result<(), Denied> {
        if self.lockout.is_blocked(ip, now) {
            return Err(Denied::LockedOut);
        }
        // A right token does not clear the failures: a script polling with it would
        // otherwise reset the count for a guesser sharing its address.
        if self.token.as_deref().is_some_and(|t| secret_eq(given, t)) {
            return Ok(());
        }
        self.lockout.on_failure(ip, now);
        Err(Denied::Unauthorized)
    }

    /// Whether the credential `key` ([`Credentials::key`]) was verified and has not
    /// expired.
    pub fn credential_known(&mut self, key: &[u8; 32], now: Instant) -> bool {
        self.credentials.contains(key, now)
    }

    /// The second half of a Basic-credential check begun with [`Auth::begin_login`]:
    /// when `verified`, the failures of `ip` are cleared and `key` is remembered
    /// (the answer is an empty string: no session is opened).
    pub fn finish_credential(
        &mut self,
        ip: IpAddr,
        key: [u8; 32],
        verified: bool,
        now: Instant,
    ) -> Result<String, Denied> {
        self.verified(ip, verified)?;
        self.credentials.insert(key, now);
        Ok(String::new())
    }

    /// The `Host` check of [`Auth::check`] alone, for what is served to anyone who can
    /// reach the API (the web page's assets hold no data but must not be served
    /// through a rebound name either).
    pub fn check_host(&self, host: Option<&str>) -> Result<(), Denied> {
        if host_allowed(host, &self.allowed_hosts, &self.listen) {
            Ok(())
        } else {
            Err(Denied::BadHost)
        }
    }

    /// A login from `ip`: a new session's cookie value when `password` is right.
    /// A blocked address gets [`Denied::LockedOut`] without the password being checked;
    /// a wrong password is [`Denied::Unauthorized`] and counts as a failure; a right
    /// one clears the failures. With no password configured any login succeeds
    /// (nothing is protected then anyway). The caller has already passed the request
    /// through [`Auth::check`].
    ///
    /// This hashes the password where it is called; the daemon splits it into
    /// [`Auth::begin_login`] and [`Auth::finish_login`] around a worker task instead.
    pub fn login(&mut self, ip: IpAddr, password: &str, now: Instant) -> Result<String, Denied> {
        let verified = match self.begin_login(ip, now)? {
            Some(hash) => hash.verify(password),
            None => true,
        };
        self.finish_login(ip, verified, now)
    }

    /// The first half of [`Auth::login`]: `None` when no password is configured (any
    /// login succeeds), else the hash to verify the password against. The attempt
    /// counts as a failure from now on, so a burst of logins sent before any
    /// verification ends cannot get past the lockout; a right password takes it back.
    pub fn begin_login(
        &mut self,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Option<PasswordHash>, Denied> {
        if self.lockout.is_blocked(ip, now) {
            return Err(Denied::LockedOut);
        }
        let Some(hash) = &self.password else {
            return Ok(None);
        };
        self.lockout.on_failure(ip, now);
        Ok(Some(hash.clone()))
    }

    /// The second half of [`Auth::login`]: a new session when `verified`.
    pub fn finish_login(
        &mut self,
        ip: IpAddr,
        verified: bool,
        now: Instant,
    ) -> Result<String, Denied> {
        self.verified(ip, verified)?;
        Ok(self.sessions.create(now))
    }

    /// A password check ended: a right one clears the failures of `ip`.
    fn verified(&mut self, ip: IpAddr, verified: bool) -> Result<(), Denied> {
        if !verified {
            return Err(Denied::Unauthorized);
        }
        self.lockout.on_success(ip);
        Ok(())
    }

    /// Ends the session named in a `Cookie` header value, if any.
    pub fn logout(&mut self, cookie_header: Option<&str>) {
        for name in [SESSION_COOKIE, QBT_COOKIE] {
            if let Some(cookie) = cookie_header.and_then(|h| parse_cookie(h, name)) {
                self.sessions.remove(cookie);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Store.

/// Writes `contents` to `path` atomically with mode 0600: a temporary file in the
/// same directory, synced, then renamed over `path`.
pub fn write_secret(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // A leftover from a crash may have other permissions; the mode applies only to a
    // file created now.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The API token in `state_dir/api_token` (surrounding whitespace trimmed), or, when
/// the file is missing or blank, a new token written there (mode 0600, the state
/// directory created if need be).
pub fn load_or_create_token(state_dir: &Path) -> io::Result<String> {
    let path = state_dir.join(TOKEN_FILE);
    match fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir_all(state_dir)?;
    let token = new_token();
    write_secret(&path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod tests;
