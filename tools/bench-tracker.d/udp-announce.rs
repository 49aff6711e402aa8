//! A BEP 15 announce generator for `tools/bench-tracker-mem`: lists PEERS_PER peers in
//! each of TORRENTS swarms of a UDP tracker, or prints the info-hashes it uses.
//! Standalone (std only), built with `rustc -O`.
//!
//! Usage:
//!   udp-announce hashes TORRENTS            info-hashes, 40 hex digits a line
//!   udp-announce ADDR TORRENTS PEERS_PER started|none [WINDOW]
//!
//! Peer j of torrent t announces port j + 1 from this socket's address (trackers key a
//! peer by address and port), one in four a seeder (`left` 0), numwant 30. Announces go
//! out round by round (peer 0 of every torrent, then peer 1, ...) with up to WINDOW
//! (default 64) unanswered at a time; a receive timeout of 200 ms writes the
//! outstanding ones off as lost. The connection id is renewed every 30 s. Prints one
//! line: `announces A answered R errors E lost L seconds S rate R/S`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn info_hash(t: u64) -> [u8; 20] {
    let mut h = [0; 20];
    for (i, chunk) in h.chunks_mut(8).enumerate() {
        let v = mix(t << 2 | i as u64).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    h
}

fn connect(sock: &UdpSocket) -> u64 {
    let mut buf = [0u8; 64];
    for attempt in 0..50u32 {
        let mut req = Vec::with_capacity(16);
        req.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
        req.extend_from_slice(&0u32.to_be_bytes());
        req.extend_from_slice(&(0xc0ff_ee00 + attempt).to_be_bytes());
        sock.send(&req).expect("send connect");
        // Skip late announce answers until the connect answer comes.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 16 && buf[..4] == [0, 0, 0, 0] => {
                    return u64::from_be_bytes(buf[8..16].try_into().unwrap());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    eprintln!("udp-announce: no connect answer");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("udp-announce: bad or missing argument {i} (see the file's docs)");
                std::process::exit(2)
            })
    };
    if args.first().map(String::as_str) == Some("hashes") {
        let mut out = String::new();
        for t in 0..num(1) {
            for b in info_hash(t) {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
        }
        print!("{out}");
        return;
    }
    let (torrents, per) = (num(1), num(2));
    let event: u32 = match args.get(3).map(String::as_str) {
        Some("started") => 2,
        Some("none") => 0,
        _ => {
            eprintln!("udp-announce: event must be started or none");
            std::process::exit(2)
        }
    };
    let window = if args.len() > 4 { num(4) } else { 64 };
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(&args[0]).expect("connect socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut conn = connect(&sock);
    let mut conn_at = Instant::now();
    let (mut answered, mut errors, mut lost, mut outstanding) = (0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    let mut req = [0u8; 98];
    let started = Instant::now();
    let total = torrents * per;
    let mut recv_one = |outstanding: &mut u64, answered: &mut u64, errors: &mut u64| {
        match sock.recv(&mut buf) {
            Ok(n) if n >= 20 && buf[..4] == [0, 0, 0, 1] => *answered += 1,
            Ok(n) if n >= 8 && buf[..4] == [0, 0, 0, 3] => *errors += 1,
            Ok(_) => return true, // a stray connect answer
            Err(_) => return false,
        }
        *outstanding -= 1;
        true
    };
    for i in 0..total {
        let (j, t) = (i / torrents, i % torrents);
        if conn_at.elapsed() > Duration::from_secs(30) {
            while outstanding > 0 {
                if !recv_one(&mut outstanding, &mut answered, &mut errors) {
                    lost += outstanding;
                    outstanding = 0;
                }
            }
            conn = connect(&sock);
            conn_at = Instant::now();
        }
        let peer = t * per + j;
        req[0..8].copy_from_slice(&conn.to_be_bytes());
        req[8..12].copy_from_slice(&1u32.to_be_bytes());
        req[12..16].copy_from_slice(&(i as u32).to_be_bytes());
        req[16..36].copy_from_slice(&info_hash(t));
        req[36..44].copy_from_slice(b"-UA0001-");
        req[44..52].copy_from_slice(&peer.to_be_bytes());
        req[52..56].copy_from_slice(&(peer as u32).to_be_bytes());
        let left: u64 = if j % 4 == 0 { 0 } else { 1 << 20 };
        req[56..64].copy_from_slice(&0u64.to_be_bytes());
        req[64..72].copy_from_slice(&left.to_be_bytes());
        req[72..80].copy_from_slice(&0u64.to_be_bytes());
        req[80..84].copy_from_slice(&event.to_be_bytes());
        req[84..88].copy_from_slice(&0u32.to_be_bytes());
        req[88..92].copy_from_slice(&(peer as u32).to_be_bytes());
        req[92..96].copy_from_slice(&30u32.to_be_bytes());
        req[96..98].copy_from_slice(&(j as u16 + 1).to_be_bytes());
        sock.send(&req).expect("send announce");
        outstanding += 1;
        while outstanding >= window {
            if !recv_one(&mut outstanding, &mut answered, &mut errors) {
                lost += outstanding;
                outstanding = 0;
            }
        }
    }
    while outstanding > 0 {
        if !recv_one(&mut outstanding, &mut answered, &mut errors) {
            lost += outstanding;
            outstanding = 0;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "announces {total} answered {answered} errors {errors} lost {lost} seconds {secs:.3} rate {:.0}",
        answered as f64 / secs
    );
}
