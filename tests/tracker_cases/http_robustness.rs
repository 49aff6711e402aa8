//! The HTTP front end under abuse: an oversized request head, a head that never
//! finishes, a silent connection, and a flood of idle connections past
//! `--max-http-connections`; meanwhile other clients must be served.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{announce, hash, http_conn};
use crate::common::proc::{Deadline, poll_until};
use crate::trackers::TrackerProc;
use crate::trackers::http::{self, Announce, HttpConn};
use crate::trackers::udp::UdpClient;

/// Announces on a fresh connection and returns how long the answer took.
fn timed_announce(addr: SocketAddr, a: &Announce) -> Duration {
    let started = Instant::now();
    announce(&mut http_conn(addr), a);
    started.elapsed()
}

#[test]
fn oversized_request_head_is_refused_and_others_served() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let addr = tracker.http[0];
    // 9 KiB of header that never ends: refused without waiting for the rest.
    let mut big = http_conn(addr);
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: t\r\n",
        Announce::new(hash(0x61), 7301).query()
    )
    .into_bytes();
    while head.len() < 9 * 1024 {
        head.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    big.send_raw(&head).expect("send");
    let started = Instant::now();
    let got = big.read_to_close().unwrap_or_else(|e| {
        panic!(
            "an unfinished 9 KiB head was neither answered nor closed within {:?}: {e}",
            http::IO_TIMEOUT
        )
    });
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || (text.starts_with("HTTP/1.1 4") && text.contains("failure reason")),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed only after {:?}: the head timeout, not the size cap",
        started.elapsed()
    );
    timed_announce(addr, &Announce::new(hash(0x61), 7302));
}

/// README: "a request head over 8 KiB ... closes the connection" — also when the whole
/// head arrives at once.
#[test]
fn complete_oversized_request_head_is_refused() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let mut c = http_conn(tracker.http[0]);
    let pad = "a".repeat(9 * 1024);
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: t\r\nX-Pad: {pad}\r\n\r\n",
        Announce::new(hash(0x62), 7303).query()
    );
    c.send_raw(req.as_bytes()).expect("send");
    // Either the connection closes or the answer is an error; never a served announce.
    if let Ok(r) = c.read_response() {
        assert_ne!(
            r.status,
            200,
            "a {}-byte head was served: {}",
            req.len(),
            r.text()
        );
        assert!(r.bencode().get("failure reason").is_some(), "{}", r.text());
    }
}

#[test]
fn slow_request_head_is_closed_after_the_head_timeout() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let addr = tracker.http[0];
    let mut slow = http_conn(addr);
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let opened = Instant::now();
    slow.send_raw(b"GET /announce?info_hash=").expect("send");

    // Others are served at once meanwhile.
    let mut slowest = Duration::ZERO;
    for p in 0..20 {
        slowest = slowest.max(timed_announce(addr, &Announce::new(hash(0x63), 7400 + p)));
    }
    assert!(
        slowest < Duration::from_secs(2),
        "an announce took {slowest:?}"
    );

    slow.read_to_close()
        .expect("the slow client was not closed within 30 s");
    let after = opened.elapsed();
    eprintln!("slow head closed after {after:.2?}");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(15)).contains(&after),
        "slow client closed after {after:?}, expected about 10 s"
    );
}

/// The head timeout runs "from the connection or previous answer" (so says hivebt's
/// own constant), so a connection that never sends a byte is closed after 10 s too;
/// otherwise idle connections hold slots under `--max-http-connections` for 30 s.
#[test]
fn silent_new_connection_is_closed_after_the_head_timeout() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let mut silent = TcpStream::connect(tracker.http[0]).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let opened = Instant::now();
    let mut rest = Vec::new();
    let result = silent.read_to_end(&mut rest);
    let after = opened.elapsed();
    assert!(
        result.is_ok()
            || result
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "not closed within 30 s: {result:?}"
    );
    assert!(
        after < Duration::from_secs(15),
        "a silent connection was closed after {after:?}, expected about 10 s"
    );
}

#[test]
fn connection_flood_is_capped_and_the_tracker_recovers() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&["--max-http-connections", "50"], deadline);
    let addr = tracker.http[0];
    let flood_at = Instant::now();
    let flood: Vec<TcpStream> = (0..200)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    // The excess is closed on accept; 50 stay open, waiting for a head.
    let is_closed = |s: &TcpStream| {
        let mut b = [0u8; 1];
        match s.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        }
    };
    let closed = poll_until(
        "the tracker to close the 150 connections over its cap",
        deadline.within(Duration::from_secs(8)),
        || tracker.proc.report(),
        || {
            let n = flood.iter().filter(|s| is_closed(s)).count();
            (n >= 150).then_some(n)
        },
    );
    let dropped_after = flood_at.elapsed();
    assert_eq!(closed, 150, "connections closed at accept");

    // UDP is served meanwhile: the reactor is not stuck on the flood.
    let mut u = UdpClient::new(tracker.udp[0]);
    let udp_started = Instant::now();
    u.connect();
    assert!(udp_started.elapsed() < Duration::from_secs(2));

    // A fresh HTTP client is answered at once: at the cap, the oldest connection still
    // owing its request head makes room for it.
    let fresh_started = Instant::now();
    let mut fresh = HttpConn::connect(addr).expect("connect a fresh client");
    fresh
        .get("/stats")
        .expect("a fresh client is answered at the cap");
    let fresh_after = fresh_started.elapsed();
    let still_open = flood.iter().filter(|s| !is_closed(s)).count();
    eprintln!(
        "150 excess connections closed {dropped_after:.2?} after the flood; a fresh client \
         was answered after {fresh_after:.2?}; {still_open} of the flood still open"
    );
    assert!(
        fresh_after < Duration::from_secs(2),
        "a fresh client waited {fresh_after:?}"
    );
    assert!(
        still_open < 50,
        "no idle connection made room: {still_open} open"
    );
    timed_announce(addr, &Announce::new(hash(0x64), 7501));
}

/// Slowloris: 2,000 connections, each sending a byte of a request head every 2 s, against
/// a cap of 500. Announces on fresh connections are answered throughout, and the tracker
/// keeps no more than its cap open.
#[test]
fn slowloris_does_not_stop_announces() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&["--max-http-connections", "500"], deadline);
    let addr = tracker.http[0];
    let mut slow: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let head = b"GET /announce?info_hash=";
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut announces = 0;
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(8) {
        // One more byte from every slow client still open (a closed one just fails).
        let byte = &head[round % head.len()..][..1];
        for s in &mut slow {
            let _ = std::io::Write::write(s, byte);
        }
        round += 1;
        let round_end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < round_end {
            slowest = slowest.max(timed_announce(
                addr,
                &Announce::new(hash(0x65), 7600 + announces),
            ));
            announces += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut open = 0;
    for s in &slow {
        let mut b = [0u8; 1];
        match s.peek(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() != ErrorKind::WouldBlock => {}
            _ => open += 1,
        }
    }
    eprintln!(
        "slowloris: {announces} announces during 2,000 slow connections, slowest {slowest:.2?}; \
         {open} slow connections still open"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "an announce took {slowest:?}"
    );
    assert!(
        open <= 500,
        "{open} slow connections open past the cap of 500"
    );
}
