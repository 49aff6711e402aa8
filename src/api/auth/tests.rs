//! Unit tests for the API access policy: known PBKDF2 vectors and hashes made elsewhere,
//! malformed stored hashes, cookies, sessions, the lockout, every `Host` and `Origin`
//! case, the `Auth::check` matrix and the secret files. Time is a fixed `t0` plus
//! offsets; nothing sleeps.

use super::*;
use std::net::{Ipv4Addr, SocketAddrV4};

const SALT: [u8; SALT_LEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pbkdf2_matches_rfc_7914_vector() {
    // RFC 7914 section 11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64.
    let mut dk = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha256>(b"passwd", b"salt", 1, &mut dk);
    assert_eq!(
        hex(&dk),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
         49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    );
    // A 32-byte output is the first block of the same derivation.
    assert_eq!(hex(&derive(b"passwd", b"salt", 1)), hex(&dk[..32]));
}

#[test]
fn verifies_a_hash_made_elsewhere() {
    // Python: hashlib.pbkdf2_hmac('sha256', b'hunter2', bytes(range(16)), 1000, 32)
    let stored = "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$\
                  f5550e89119f593cd3662c6d7da5bd3f7a90e25cd2dc221f58a6166c772753d3";
    assert_eq!(verify_password(stored, "hunter2"), Ok(true));
    assert_eq!(verify_password(stored, "hunter3"), Ok(false));
    assert_eq!(verify_password(stored, ""), Ok(false));
    assert_eq!(
        PasswordHash::with_iterations("hunter2", SALT, 1000).to_string(),
        stored
    );
    // Hex in upper case and surrounding whitespace are accepted.
    let (scheme, rest) = stored.split_at(HASH_SCHEME.len());
    let shouted = format!(" {scheme}{} \n", rest.to_uppercase());
    assert_eq!(verify_password(&shouted, "hunter2"), Ok(true));
}

#[test]
fn hash_round_trips() {
    let h = PasswordHash::with_iterations("correct horse", SALT, 3);
    let stored = h.to_string();
    assert!(stored.starts_with("pbkdf2-sha256$3$000102"));
    let parsed = PasswordHash::parse(&stored).unwrap();
    assert_eq!(parsed, h);
    assert!(parsed.verify("correct horse"));
    assert!(!parsed.verify("correct horse "));
    assert!(!format!("{h:?}").contains(&hex(&SALT)));
    // Zero iterations is raised to one.
    assert!(
        PasswordHash::with_iterations("x", SALT, 0)
            .to_string()
            .starts_with("pbkdf2-sha256$1$")
    );
}

#[test]
fn hash_password_uses_fresh_salt_and_the_default_count() {
    // One real-cost hash and one verify: PBKDF2 at full count is slow in debug builds.
    let a = hash_password("pw");
    assert!(a.starts_with(&format!("{HASH_SCHEME}${PBKDF2_ITERATIONS}$")));
    assert_eq!(verify_password(&a, "pw"), Ok(true));
    assert_ne!(os_bytes::<SALT_LEN>(), os_bytes::<SALT_LEN>());
}

#[test]
fn malformed_hashes_say_what_is_wrong() {
    let salt = hex(&SALT);
    let hash = hex(&[7u8; HASH_LEN]);
    let cases = [
        ("", AuthError::FieldCount { got: 1 }),
        ("pbkdf2-sha256$1$aa", AuthError::FieldCount { got: 3 }),
        (
            &format!("pbkdf2-sha256$1${salt}${hash}$"),
            AuthError::FieldCount { got: 5 },
        ),
        (
            &format!("bcrypt$1${salt}${hash}"),
            AuthError::UnknownScheme("bcrypt".into()),
        ),
        (
            &format!("PBKDF2-SHA256$1${salt}${hash}"),
            AuthError::UnknownScheme("PBKDF2-SHA256".into()),
        ),
        (
            &format!("pbkdf2-sha256$0${salt}${hash}"),
            AuthError::BadIterations("0".into()),
        ),
        (
            &format!("pbkdf2-sha256$+5${salt}${hash}"),
            AuthError::BadIterations("+5".into()),
        ),
        (
            &format!("pbkdf2-sha256$${salt}${hash}"),
            AuthError::BadIterations("".into()),
        ),
        (
            &format!("pbkdf2-sha256$4294967296${salt}${hash}"),
            AuthError::BadIterations("4294967296".into()),
        ),
        (
            &format!("pbkdf2-sha256$1$zz${hash}"),
            AuthError::BadHex { field: "salt" },
        ),
        (
            &format!("pbkdf2-sha256$1$abc${hash}"),
            AuthError::BadHex { field: "salt" },
        ),
        (
            &format!("pbkdf2-sha256$1$abcd${hash}"),
            AuthError::BadLength {
                field: "salt",
                expected: 16,
                got: 2,
            },
        ),
        (
            &format!("pbkdf2-sha256$1${salt}$"),
            AuthError::BadLength {
                field: "hash",
                expected: 32,
                got: 0,
            },
        ),
        (
            &format!("pbkdf2-sha256$1${salt}${hash}00"),
            AuthError::BadLength {
                field: "hash",
                expected: 32,
                got: 33,
            },
        ),
        (
            &format!("pbkdf2-sha256$1${salt}$g{}", &hash[1..]),
            AuthError::BadHex { field: "hash" },
        ),
    ];
    for (stored, want) in cases {
        assert_eq!(
            verify_password(stored, "pw"),
            Err(want.clone()),
            "{stored:?}"
        );
        assert!(!want.to_string().is_empty());
    }
    assert!(
        AuthError::BadHex { field: "salt" }
            .to_string()
            .contains("salt")
    );
    assert!(
        AuthError::FieldCount { got: 3 }
            .to_string()
            .contains("3 fields"),
    );
}

#[test]
fn constant_time_eq_compares_bytes() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"bbc"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"", b"a"));
    assert!(!constant_time_eq(&[0x80], &[0x00]));
    assert!(secret_eq("token", "token"));
    assert!(!secret_eq("token", "token2"));
}

#[test]
fn tokens_are_64_lowercase_hex_and_differ() {
    let a = new_token();
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(a, new_token());
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
    assert_eq!(parse_bearer("bearer abc"), Some("abc"));
    assert_eq!(parse_bearer("BEARER\tabc"), Some("abc"));
    assert_eq!(parse_bearer("  Bearer    abc  "), Some("abc"));
    assert_eq!(parse_bearer("Bearer"), None);
    assert_eq!(parse_bearer("Bearer   "), None);
    assert_eq!(parse_bearer("Bearerabc"), None);
    assert_eq!(parse_bearer("Basic abc"), None);
    assert_eq!(parse_bearer("Bearer a b"), None);
    assert_eq!(parse_bearer(""), None);
    assert!(bearer_matches("Bearer s3cret", "s3cret"));
    assert!(!bearer_matches("Bearer s3cre", "s3cret"));
    assert!(!bearer_matches("Basic s3cret", "s3cret"));
}

#[test]
fn sessions_expire_and_are_removed() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    let mut s = Sessions::new(ttl);
    assert_eq!(s.ttl(), ttl);
    let c = s.create(t0);
    assert_eq!(c.len(), 64);
    assert!(s.check(&c, t0));
    assert!(s.check(&c, t0 + ttl - Duration::from_millis(1)));
    assert!(!s.check("nope", t0));
    assert!(!s.check(&c[..63], t0));
    assert!(!s.check(&c, t0 + ttl));
    assert!(s.is_empty(), "an expired session is purged when seen");
    let d = s.create(t0);
    s.remove(&d);
    assert!(!s.check(&d, t0));
    s.remove("never there");
    assert_eq!(Sessions::new(Duration::MAX).ttl(), MAX_SPAN);
}

#[test]
fn sessions_are_bounded_dropping_expired_then_oldest() {
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    let mut s = Sessions::with_limit(Duration::from_secs(10), 3);
    let a = s.create(t0);
    let b = s.create(t0 + sec);
    let c = s.create(t0 + 2 * sec);
    let d = s.create(t0 + 3 * sec);
    assert_eq!(s.len(), 3);
    assert!(!s.check(&a, t0 + 3 * sec), "the oldest was dropped");
    assert!(s.check(&b, t0 + 3 * sec) && s.check(&c, t0 + 3 * sec) && s.check(&d, t0 + 3 * sec));
    // At t0+12s b and c have expired: both purged to make room, d stays.
    let e = s.create(t0 + 12 * sec);
    assert_eq!(s.len(), 2);
    assert!(s.check(&d, t0 + 12 * sec) && s.check(&e, t0 + 12 * sec));
}

#[test]
fn cookie_parsing() {
    let h = "theme=dark; hivebt_session=abc123;other=1";
    assert_eq!(parse_cookie(h, SESSION_COOKIE), Some("abc123"));
    assert_eq!(parse_cookie(h, "other"), Some("1"));
    assert_eq!(parse_cookie(h, "theme"), Some("dark"));
    assert_eq!(parse_cookie(h, "missing"), None);
    assert_eq!(
        parse_cookie("  hivebt_session =  x  ;  y=2 ", SESSION_COOKIE),
        Some("x")
    );
    assert_eq!(
        parse_cookie("hivebt_session=\"q\"", SESSION_COOKIE),
        Some("q")
    );
    assert_eq!(parse_cookie("hivebt_session=", SESSION_COOKIE), Some(""));
    assert_eq!(
        parse_cookie(
            "a=1; hivebt_session=first; hivebt_session=second",
            SESSION_COOKIE
        ),
        Some("first")
    );
    assert_eq!(parse_cookie("Hivebt_Session=x", SESSION_COOKIE), None);
    assert_eq!(
        parse_cookie("xhivebt_session=x; hivebt_sessionx=y", SESSION_COOKIE),
        None
    );
    assert_eq!(parse_cookie("hivebt_session; a=b=c", "a"), Some("b=c"));
    assert_eq!(parse_cookie("", SESSION_COOKIE), None);
    assert_eq!(parse_cookie(";;;", SESSION_COOKIE), None);
}

#[test]
fn set_cookie_values() {
    assert_eq!(
        set_cookie_header("abc", 604800),
        "hivebt_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800"
    );
    assert_eq!(
        clear_cookie_header(),
        "hivebt_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    );
}

#[test]
fn lockout_blocks_at_the_threshold_and_expires() {
    let t0 = Instant::now();
    let hour = Duration::from_secs(3600);
    let mut l = Lockout::new(3, hour);
    let a = ip("192.0.2.1");
    let other = ip("192.0.2.2");
    l.on_failure(a, t0);
    l.on_failure(a, t0 + Duration::from_secs(1));
    assert!(!l.is_blocked(a, t0 + Duration::from_secs(1)));
    l.on_failure(a, t0 + Duration::from_secs(2));
    assert!(l.is_blocked(a, t0 + Duration::from_secs(2)));
    assert!(!l.is_blocked(other, t0 + Duration::from_secs(2)));
    // A failure while blocked does not lengthen the block.
    l.on_failure(a, t0 + Duration::from_secs(100));
    let end = t0 + Duration::from_secs(2) + hour;
    assert!(l.is_blocked(a, end - Duration::from_millis(1)));
    assert!(!l.is_blocked(a, end));
    // After the block, counting starts afresh.
    l.on_failure(a, end);
    assert!(!l.is_blocked(a, end));
    l.on_failure(a, end);
    l.on_failure(a, end);
    assert!(l.is_blocked(a, end));
    l.on_success(a);
    assert!(!l.is_blocked(a, end));
    assert!(l.is_empty());
}

#[test]
fn lockout_window_closes_and_success_clears() {
    let t0 = Instant::now();
    let hour = Duration::from_secs(3600);
    let mut l = Lockout::new(3, hour);
    let a = ip("198.51.100.7");
    l.on_failure(a, t0);
    l.on_failure(a, t0 + Duration::from_secs(10));
    // The window opened at t0 has closed: this failure is the first of a new one.
    l.on_failure(a, t0 + hour);
    l.on_failure(a, t0 + hour + Duration::from_secs(1));
    assert!(!l.is_blocked(a, t0 + hour + Duration::from_secs(1)));
    l.on_success(a);
    l.on_failure(a, t0 + hour + Duration::from_secs(2));
    l.on_failure(a, t0 + hour + Duration::from_secs(3));
    assert!(!l.is_blocked(a, t0 + hour + Duration::from_secs(3)));
    // Zero failures turns the lockout off.
    let mut off = Lockout::new(0, hour);
    for _ in 0..10 {
        off.on_failure(a, t0);
    }
    assert!(!off.is_blocked(a, t0));
    assert!(off.is_empty());
    // One failure can be the limit.
    let mut strict = Lockout::new(1, hour);
    strict.on_failure(a, t0);
    assert!(strict.is_blocked(a, t0));
}

#[test]
fn lockout_groups_ipv6_by_64_and_maps_ipv4() {
    let t0 = Instant::now();
    let mut l = Lockout::new(2, Duration::from_secs(60));
    l.on_failure(ip("2001:db8:1:2::1"), t0);
    l.on_failure(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0);
    assert!(l.is_blocked(ip("2001:db8:1:2:abcd::9"), t0));
    assert!(!l.is_blocked(ip("2001:db8:1:3::1"), t0));
    l.on_failure(ip("::ffff:203.0.113.5"), t0);
    l.on_failure(ip("203.0.113.5"), t0);
    assert!(l.is_blocked(ip("203.0.113.5"), t0));
    assert!(!l.is_blocked(ip("203.0.113.6"), t0), "IPv4 is not grouped");
    assert_eq!(lockout_key(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
    assert_eq!(lockout_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
}

#[test]
fn lockout_is_bounded_evicting_expired_then_oldest() {
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    let block = Duration::from_secs(100);
    let mut l = Lockout::with_limit(1, block, 3);
    let addr = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
    l.on_failure(addr(1), t0);
    l.on_failure(addr(2), t0 + sec);
    l.on_failure(addr(3), t0 + 2 * sec);
    assert_eq!(l.len(), 3);
    // Full and nothing expired: the oldest (1) goes.
    l.on_failure(addr(4), t0 + 3 * sec);
    assert_eq!(l.len(), 3);
    assert!(!l.is_blocked(addr(1), t0 + 3 * sec));
    assert!((2..=4).all(|n| l.is_blocked(addr(n), t0 + 3 * sec)));
    // A known address does not evict anyone.
    l.on_failure(addr(2), t0 + 4 * sec);
    assert_eq!(l.len(), 3);
    // At t0+102s the blocks of 2 and 3 have run out: both purged, 4 stays.
    l.on_failure(addr(5), t0 + 102 * sec);
    assert_eq!(l.len(), 2);
    assert!(l.is_blocked(addr(4), t0 + 102 * sec));
    assert!(l.is_blocked(addr(5), t0 + 102 * sec));
}

#[test]
fn host_and_port_splitting() {
    assert_eq!(split_host_port("example.com"), Some(("example.com", None)));
    assert_eq!(
        split_host_port("example.com:8080"),
        Some(("example.com", Some(8080)))
    );
    assert_eq!(
        split_host_port(" 127.0.0.1:80 "),
        Some(("127.0.0.1", Some(80)))
    );
    assert_eq!(split_host_port("[::1]"), Some(("::1", None)));
    assert_eq!(split_host_port("[::1]:8080"), Some(("::1", Some(8080))));
    for bad in [
        "",
        ":80",
        "::1",
        "fe80::1:80",
        "[::1",
        "[::1]8080",
        "[::1]:",
        "[nope]",
        "h:",
        "h:x",
        "h:65536",
        "h:123456",
        "h:-1",
        "[]",
    ] {
        assert_eq!(split_host_port(bad), None, "{bad:?}");
    }
}

#[test]
fn host_header_cases() {
    let local = [sa("127.0.0.1:8080")];
    let none: [String; 0] = [];
    let ok = |h: &str| host_allowed(Some(h), &none, &local);
    for h in [
        "localhost",
        "localhost:8080",
        "LOCALHOST",
        "LocalHost:1",
        "localhost.",
        "127.0.0.1",
        "127.0.0.1:8080",
        "127.1.2.3:9",
        "[::1]",
        "[::1]:8080",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]:8080",
    ] {
        assert!(ok(h), "{h:?}");
    }
    for h in [
        "evil.com",
        "evil.com:8080",
        "localhost.evil.com",
        "evil-localhost",
        "192.168.1.5:8080",
        "[2001:db8::1]",
        "::1",
        "",
        "localhost:",
        "[::1",
        "127.0.0.1:99999",
    ] {
        assert!(!ok(h), "{h:?}");
    }
    assert!(!host_allowed(None, &none, &local));

    // Addresses listened on, exactly or through an unspecified address.
    let lan = [sa("192.168.1.5:8080"), sa("[2001:db8::5]:8080")];
    assert!(host_allowed(Some("192.168.1.5:8080"), &none, &lan));
    assert!(host_allowed(Some("192.168.1.5"), &none, &lan));
    assert!(host_allowed(Some("[2001:DB8::5]:8080"), &none, &lan));
    assert!(!host_allowed(Some("192.168.1.6"), &none, &lan));
    let any4 = [SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        8080,
    ))];
    assert!(host_allowed(Some("10.1.2.3:8080"), &none, &any4));
    assert!(!host_allowed(Some("[2001:db8::5]"), &none, &any4));
    assert!(!host_allowed(Some("nas.lan"), &none, &any4));
    let any6 = [sa("[::]:8080")];
    assert!(host_allowed(Some("10.1.2.3"), &none, &any6));
    assert!(host_allowed(Some("[2001:db8::5]"), &none, &any6));

    // Configured names and addresses, case-insensitive, ports ignored.
    let allowed = strings(&[
        "NAS.lan",
        "seedbox.example.com:443",
        "[2001:db8::9]",
        "10.9.9.9",
    ]);
    for h in [
        "nas.lan",
        "nas.LAN:8080",
        "nas.lan.",
        "seedbox.example.com",
        "SEEDBOX.example.com:8080",
        "[2001:db8::9]:1",
        "10.9.9.9:80",
    ] {
        assert!(host_allowed(Some(h), &allowed, &local), "{h:?}");
    }
    for h in ["nas.lan.evil", "x.nas.lan", "example.com", "10.9.9.8"] {
        assert!(!host_allowed(Some(h), &allowed, &local), "{h:?}");
    }
}

#[test]
fn origin_cases() {
    let none: [String; 0] = [];
    let host = Some("localhost:8080");
    let post = |origin: Option<&str>, referer: Option<&str>| {
        origin_allowed("POST", origin, referer, host, &none)
    };

    // Safe methods always pass.
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(origin_allowed(
            m,
            Some("https://evil.com"),
            Some("https://evil.com/x"),
            host,
            &none
        ));
    }
    for m in ["POST", "PUT", "PATCH", "DELETE", "get"] {
        assert!(
            !origin_allowed(m, Some("https://evil.com"), None, host, &none),
            "{m}"
        );
    }

    // Origin same as Host.
    assert!(post(Some("http://localhost:8080"), None));
    assert!(post(Some("HTTP://LocalHost:8080"), None));
    assert!(post(Some("https://localhost:8080"), None));
    assert!(!post(Some("http://localhost:8081"), None));
    assert!(!post(Some("http://localhost"), None), "port 80 is not 8080");
    assert!(
        !post(Some("http://127.0.0.1:8080"), None),
        "another name for the host is another origin"
    );
    assert!(!post(Some("http://evil.com:8080"), None));
    assert!(!post(Some("ftp://localhost:8080"), None));
    assert!(!post(Some("localhost:8080"), None));
    assert!(!post(Some("http://localhost:8080/path"), None));
    assert!(!post(Some("http://user@localhost:8080"), None));
    assert!(!post(Some("null"), None));
    assert!(!post(Some("NULL"), Some("http://localhost:8080/")));
    assert!(!post(Some(""), None));
    let null_listed = strings(&["null"]);
    assert!(!origin_allowed(
        "POST",
        Some("null"),
        None,
        host,
        &null_listed
    ));
    // A present Origin decides, whatever the Referer says.
    assert!(!post(
        Some("https://evil.com"),
        Some("http://localhost:8080/")
    ));

    // Default ports: a missing port is the scheme's.
    assert!(origin_allowed(
        "POST",
        Some("http://nas.lan"),
        None,
        Some("nas.lan:80"),
        &none
    ));
    assert!(origin_allowed(
        "POST",
        Some("http://nas.lan:80"),
        None,
        Some("nas.lan"),
        &none
    ));
    assert!(origin_allowed(
        "POST",
        Some("https://nas.lan"),
        None,
        Some("nas.lan"),
        &none
    ));
    assert!(!origin_allowed(
        "POST",
        Some("https://nas.lan"),
        None,
        Some("nas.lan:80"),
        &none
    ));
    // IPv6 in brackets.
    assert!(origin_allowed(
        "POST",
        Some("http://[::1]:8080"),
        None,
        Some("[::1]:8080"),
        &none
    ));
    assert!(origin_allowed(
        "POST",
        Some("http://[0::1]:8080"),
        None,
        Some("[::1]:8080"),
        &none
    ));
    assert!(!origin_allowed(
        "POST",
        Some("http://[::2]:8080"),
        None,
        Some("[::1]:8080"),
        &none
    ));
    // No Host: nothing is same-origin.
    assert!(!origin_allowed(
        "POST",
        Some("http://localhost:8080"),
        None,
        None,
        &none
    ));

    // Configured CORS origins.
    let cors = strings(&["https://ui.example.com", "http://other:3000/"]);
    assert!(origin_allowed(
        "POST",
        Some("https://ui.example.com"),
        None,
        host,
        &cors
    ));
    assert!(origin_allowed(
        "POST",
        Some("https://UI.example.com"),
        None,
        host,
        &cors
    ));
    assert!(origin_allowed(
        "DELETE",
        Some("http://other:3000"),
        None,
        host,
        &cors
    ));
    assert!(!origin_allowed(
        "POST",
        Some("http://ui.example.com"),
        None,
        host,
        &cors
    ));
    assert!(!origin_allowed(
        "POST",
        Some("https://ui.example.com:444"),
        None,
        host,
        &cors
    ));

    // Referer when there is no Origin.
    assert!(post(None, Some("http://localhost:8080/")));
    assert!(post(
        None,
        Some("http://localhost:8080/ui/index.html?x=1#y")
    ));
    assert!(post(None, Some("http://localhost:8080?q")));
    assert!(!post(None, Some("http://evil.com/http://localhost:8080/")));
    assert!(!post(None, Some("http://localhost:8080.evil.com/")));
    assert!(!post(None, Some("http://localhost:8080@evil.com/")));
    assert!(!post(None, Some("https://evil.com/")));
    assert!(!post(None, Some("not a url")));
    assert!(!post(None, Some("")));
    // Neither: curl and scripts.
    assert!(post(None, None));
}

#[test]
fn password_needed_off_loopback() {
    assert!(!needs_password(&[]));
    assert!(!needs_password(&[
        sa("127.0.0.1:8080"),
        sa("[::1]:8080"),
        sa("127.9.9.9:1")
    ]));
    assert!(!needs_password(&[sa("[::ffff:127.0.0.1]:8080")]));
    assert!(needs_password(&[sa("0.0.0.0:8080")]));
    assert!(needs_password(&[sa("[::]:8080")]));
    assert!(needs_password(&[
        sa("127.0.0.1:8080"),
        sa("192.168.1.5:8080")
    ]));
    assert!(needs_password(&[sa("[2001:db8::1]:8080")]));
}

#[test]
fn denied_statuses_and_codes() {
    let all = [
        Denied::BadHost,
        Denied::CrossOrigin,
        Denied::Unauthorized,
        Denied::LockedOut,
    ];
    let got: Vec<(u16, &str)> = all.iter().map(|d| (d.status(), d.code())).collect();
    assert_eq!(
        got,
        [
            (403, "forbidden"),
            (403, "forbidden"),
            (401, "unauthorized"),
            (429, "locked_out")
        ]
    );
    assert!(all.iter().all(|d| !d.to_string().is_empty()));
}

const PASSWORD: &str = "open sesame";
const TOKEN: &str = "tok-1234";
const PEER: &str = "127.0.0.1";

fn auth_with(password: bool) -> Auth {
    let config = AuthConfig {
        password_hash: password
            .then(|| PasswordHash::with_iterations(PASSWORD, SALT, 2).to_string()),
        token: Some(TOKEN.into()),
        max_failures: 3,
        block_for: Duration::from_secs(60),
        session_ttl: Duration::from_secs(600),
        ..AuthConfig::default()
    };
    Auth::new(config, vec![sa("127.0.0.1:8080")]).unwrap()
}

fn get(path: &str) -> AuthRequest<'_> {
    AuthRequest {
        method: "GET",
        path,
        peer: ip(PEER),
        host: Some("localhost:8080"),
        origin: None,
        referer: None,
        cookie: None,
        authorization: None,
    }
}

#[test]
fn auth_config_defaults_and_redacted_debug() {
    let c = AuthConfig::default();
    assert_eq!(
        (c.max_failures, c.block_for, c.session_ttl),
        (5, DEFAULT_BLOCK_FOR, DEFAULT_SESSION_TTL)
    );
    let c = AuthConfig {
        password_hash: Some("pbkdf2-sha256$secret".into()),
        token: Some("sekrit".into()),
        ..c
    };
    let d = format!("{c:?}");
    assert!(!d.contains("secret") && !d.contains("sekrit"), "{d}");
    assert!(
        Auth::new(c, vec![]).is_err(),
        "a malformed hash is refused at start"
    );
    assert!(!auth_with(false).password_required());
    assert!(auth_with(true).password_required());
    assert_eq!(auth_with(true).session_ttl(), Duration::from_secs(600));
}

#[test]
fn host_and_origin_come_first_on_every_path() {
    let t0 = Instant::now();
    for password in [false, true] {
        let mut a = auth_with(password);
        for path in ["/api/v1/health", "/api/v1/login", "/api/v1/torrents"] {
            let bad_host = AuthRequest {
                host: Some("evil.com"),
                ..get(path)
            };
            assert_eq!(a.check(&bad_host, t0), Err(Denied::BadHost));
            let no_host = AuthRequest {
                host: None,
                ..get(path)
            };
            assert_eq!(a.check(&no_host, t0), Err(Denied::BadHost));
            let csrf = AuthRequest {
                method: "POST",
                origin: Some("https://evil.com"),
                authorization: Some("Bearer tok-1234"),
                ..get(path)
            };
            assert_eq!(a.check(&csrf, t0), Err(Denied::CrossOrigin));
            let null = AuthRequest {
                method: "POST",
                origin: Some("null"),
                ..get(path)
            };
            assert_eq!(a.check(&null, t0), Err(Denied::CrossOrigin));
            let foreign_referer = AuthRequest {
                method: "POST",
                referer: Some("http://evil.com/"),
                ..get(path)
            };
            assert_eq!(a.check(&foreign_referer, t0), Err(Denied::CrossOrigin));
        }
    }
}

#[test]
fn without_a_password_nothing_is_needed() {
    let t0 = Instant::now();
    let mut a = auth_with(false);
    assert_eq!(a.check(&get("/api/v1/torrents"), t0), Ok(()));
    let post = AuthRequest {
        method: "POST",
        origin: Some("http://localhost:8080"),
        ..get("/api/v1/torrents")
    };
    assert_eq!(a.check(&post, t0), Ok(()));
    let wrong = AuthRequest {
        authorization: Some("Bearer nope"),
        ..get("/metrics")
    };
    assert_eq!(a.check(&wrong, t0), Ok(()));
    let cookie = a.login(ip(PEER), "anything", t0).unwrap();
    assert_eq!(cookie.len(), 64);
}

#[test]
fn with_a_password_credentials_are_needed() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    assert_eq!(a.check(&get("/api/v1/health"), t0), Ok(()));
    assert_eq!(a.check(&get("/api/v1/health?x=1"), t0), Ok(()));
    let login = AuthRequest {
        method: "POST",
        origin: Some("http://localhost:8080"),
        ..get("/api/v1/login")
    };
    assert_eq!(a.check(&login, t0), Ok(()));
    for path in [
        "/api/v1/torrents",
        "/api/v1/session",
        "/metrics",
        "/api/v1/health/",
        "/api/v1/healthz",
        "/",
    ] {
        assert_eq!(a.check(&get(path), t0), Err(Denied::Unauthorized), "{path}");
    }
    // Bearer token, any case of scheme.
    for h in ["Bearer tok-1234", "bearer  tok-1234 "] {
        let req = AuthRequest {
            authorization: Some(h),
            ..get("/api/v1/torrents")
        };
        assert_eq!(a.check(&req, t0), Ok(()));
    }
    for h in ["Bearer tok-123", "Basic tok-1234", "tok-1234"] {
        let req = AuthRequest {
            authorization: Some(h),
            ..get("/api/v1/torrents")
        };
        assert_eq!(a.check(&req, t0), Err(Denied::Unauthorized), "{h}");
    }
}

#[test]
fn sessions_from_login_are_accepted_until_logout_or_expiry() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    assert_eq!(a.login(ip(PEER), "wrong", t0), Err(Denied::Unauthorized));
    let c = a.login(ip(PEER), PASSWORD, t0).unwrap();
    let header = format!("theme=dark; {SESSION_COOKIE}={c}");
    let req = AuthRequest {
        cookie: Some(&header),
        ..get("/api/v1/torrents")
    };
    assert_eq!(a.check(&req, t0), Ok(()));
    assert_eq!(a.check(&req, t0 + Duration::from_secs(599)), Ok(()));
    assert_eq!(
        a.check(&req, t0 + Duration::from_secs(600)),
        Err(Denied::Unauthorized)
    );

    let c = a.login(ip(PEER), PASSWORD, t0).unwrap();
    let header = format!("{SESSION_COOKIE}={c}");
    let req = AuthRequest {
        cookie: Some(&header),
        ..get("/api/v1/torrents")
    };
    assert_eq!(a.check(&req, t0), Ok(()));
    a.logout(Some(&header));
    assert_eq!(a.check(&req, t0), Err(Denied::Unauthorized));
    a.logout(None);
    // A dead cookie does not stop a good bearer token.
    let both = AuthRequest {
        authorization: Some("Bearer tok-1234"),
        ..req
    };
    assert_eq!(a.check(&both, t0), Ok(()));
}

#[test]
fn a_session_works_under_the_qbittorrent_cookie_name_too() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    let c = a.login(ip(PEER), PASSWORD, t0).unwrap();
    // A dead native cookie beside a live SID still passes, and logout ends either.
    let header = format!("{SESSION_COOKIE}=stale; {QBT_COOKIE}={c}");
    let req = AuthRequest {
        cookie: Some(&header),
        ..get("/api/v2/torrents/info")
    };
    assert_eq!(a.check(&req, t0), Ok(()));
    a.logout(Some(&header));
    assert_eq!(a.check(&req, t0), Err(Denied::Unauthorized));
    let open = get("/api/v2/auth/login");
    assert_eq!(a.check(&open, t0), Ok(()), "the qBittorrent login is open");
}

#[test]
fn login_lockout() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    let peer = ip("192.0.2.9");
    for _ in 0..3 {
        assert_eq!(a.login(peer, "guess", t0), Err(Denied::Unauthorized));
    }
    // Blocked: refused even with the right password, without checking it.
    assert_eq!(a.login(peer, PASSWORD, t0), Err(Denied::LockedOut));
    assert!(
        a.login(ip("192.0.2.10"), PASSWORD, t0).is_ok(),
        "others are unaffected"
    );
    let later = t0 + Duration::from_secs(60);
    assert!(a.login(peer, PASSWORD, later).is_ok());
    // The success cleared the count: two more failures do not block.
    a.login(peer, "guess", later).unwrap_err();
    a.login(peer, "guess", later).unwrap_err();
    assert!(a.login(peer, PASSWORD, later).is_ok());
}

#[test]
fn logins_verified_elsewhere_count_before_they_finish() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    let peer = ip("192.0.2.9");
    // Three logins begun at once (their hashes on the workers): the fourth is refused
    // before any of them is verified.
    let hashes: Vec<PasswordHash> = (0..3)
        .map(|_| a.begin_login(peer, t0).unwrap().expect("a password is set"))
        .collect();
    assert_eq!(a.begin_login(peer, t0), Err(Denied::LockedOut));
    for h in &hashes {
        assert!(!h.verify("guess"));
        assert_eq!(a.finish_login(peer, false, t0), Err(Denied::Unauthorized));
    }
    assert_eq!(a.begin_login(peer, t0), Err(Denied::LockedOut));
    // A right password verified while others were pending clears the count.
    let other = ip("192.0.2.10");
    let h = a.begin_login(other, t0).unwrap().unwrap();
    a.begin_login(other, t0).unwrap();
    assert!(h.verify(PASSWORD));
    let cookie = a.finish_login(other, true, t0).unwrap();
    assert_eq!(cookie.len(), 64);
    for _ in 0..2 {
        a.begin_login(other, t0).unwrap();
    }
    // Without a password there is nothing to verify.
    assert_eq!(auth_with(false).begin_login(peer, t0), Ok(None));
}

#[test]
fn failed_bearer_tokens_count_toward_the_lockout() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    let session = a.login(ip(PEER), PASSWORD, t0).unwrap();
    let bad = AuthRequest {
        authorization: Some("Bearer guess"),
        ..get("/api/v1/torrents")
    };
    for _ in 0..3 {
        assert_eq!(a.check(&bad, t0), Err(Denied::Unauthorized));
    }
    assert_eq!(a.check(&bad, t0), Err(Denied::LockedOut));
    let good = AuthRequest {
        authorization: Some("Bearer tok-1234"),
        ..get("/api/v1/torrents")
    };
    assert_eq!(
        a.check(&good, t0),
        Err(Denied::LockedOut),
        "a blocked address's token is not looked at"
    );
    assert_eq!(a.login(ip(PEER), PASSWORD, t0), Err(Denied::LockedOut));
    // A session earned before the block still works.
    let header = format!("{SESSION_COOKIE}={session}");
    let with_cookie = AuthRequest {
        cookie: Some(&header),
        ..get("/api/v1/torrents")
    };
    assert_eq!(a.check(&with_cookie, t0), Ok(()));
    // No credentials at all are not counted, and say Unauthorized.
    assert_eq!(
        a.check(&get("/api/v1/torrents"), t0),
        Err(Denied::Unauthorized)
    );
    // Open paths stay open.
    assert_eq!(a.check(&get("/api/v1/health"), t0), Ok(()));
    assert_eq!(a.check(&good, t0 + Duration::from_secs(60)), Ok(()));
}

#[test]
fn missing_cookie_and_header_do_not_count() {
    let t0 = Instant::now();
    let mut a = auth_with(true);
    let stale = AuthRequest {
        cookie: Some("hivebt_session=0000"),
        ..get("/api/v1/torrents")
    };
    for _ in 0..10 {
        assert_eq!(a.check(&stale, t0), Err(Denied::Unauthorized));
    }
    assert!(a.login(ip(PEER), PASSWORD, t0).is_ok());
}

/// A fresh directory under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hivebt-auth-{name}-{}-{}",
        std::process::id(),
        new_token()
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn write_secret_is_private_and_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("secret");
    let path = dir.join("s");
    write_secret(&path, b"one").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"one");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    write_secret(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["s"], "no temporary file left");
    assert!(write_secret(&dir.join("missing/s"), b"x").is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn token_is_created_once_then_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("token");
    let state = dir.join("state");
    let t = load_or_create_token(&state).unwrap();
    assert_eq!(t.len(), 64);
    let path = state.join(TOKEN_FILE);
    assert_eq!(fs::read_to_string(&path).unwrap(), format!("{t}\n"));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(load_or_create_token(&state).unwrap(), t);
    fs::write(&path, "  my-own-token \n").unwrap();
    assert_eq!(load_or_create_token(&state).unwrap(), "my-own-token");
    fs::write(&path, "\n").unwrap();
    let fresh = load_or_create_token(&state).unwrap();
    assert_eq!(fresh.len(), 64);
    assert_ne!(fresh, t);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verified_credentials_expire_and_stay_bounded() {
    let t0 = Instant::now();
    let mut c = Credentials::new(Duration::from_secs(10));
    let key = Credentials::key("Basic dXNlcjpwYXNz");
    assert!(!c.contains(&key, t0));
    c.insert(key, t0);
    assert!(c.contains(&key, t0 + Duration::from_secs(9)));
    assert!(!c.contains(&key, t0 + Duration::from_secs(10)));
    assert!(c.is_empty(), "an expired credential is removed");
    assert_ne!(key, Credentials::key("Basic dXNlcjpwYXNT"));
    for i in 0..(MAX_CREDENTIALS as u64 + 10) {
        c.insert(
            Credentials::key(&format!("Basic {i}")),
            t0 + Duration::from_millis(i),
        );
    }
    assert_eq!(c.len(), MAX_CREDENTIALS);
    assert!(
        !c.contains(&Credentials::key("Basic 0"), t0),
        "the oldest went first"
    );
    let last = Credentials::key(&format!("Basic {}", MAX_CREDENTIALS + 9));
    assert!(c.contains(&last, t0));
}

#[test]
fn a_basic_credential_is_remembered_only_once_verified() {
    let t0 = Instant::now();
    let config = AuthConfig {
        password_hash: Some(PasswordHash::with_iterations("pw", [7; SALT_LEN], 1).to_string()),
        max_failures: 2,
        ..AuthConfig::default()
    };
    let mut auth = Auth::new(config, Vec::new()).unwrap();
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    let key = Credentials::key("Basic x");
    assert!(auth.begin_login(ip, t0).unwrap().is_some());
    assert_eq!(
        auth.finish_credential(ip, key, false, t0),
        Err(Denied::Unauthorized)
    );
    assert!(!auth.credential_known(&key, t0));
    assert!(auth.begin_login(ip, t0).unwrap().is_some());
    assert_eq!(auth.finish_credential(ip, key, true, t0), Ok(String::new()));
    assert!(auth.credential_known(&key, t0));
    assert!(
        !auth.is_blocked(ip, t0),
        "a right password clears the failures"
    );
}
