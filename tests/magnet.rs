//! Magnet links (BEP 9 metadata exchange) over real TCP on loopback.
//!
//! - hivebt serves the info dictionary of a torrent it seeds: libtorrent, given only a
//!   magnet link naming the hivebt seed in `x.pe`, fetches the metadata from it and
//!   then the whole file. The torrent has over 16 KiB of metadata, so libtorrent asks
//!   for more than one metadata piece, the last one short.
//! - A scripted peer (tests/swarm) checks the same exchange byte for byte: the
//!   `metadata_size` in hivebt's extension handshake, each piece's bytes, and a reject
//!   for a piece past the end.
//! - `hivebt download MAGNET` fetches the metadata from a hivebt seed, and from a
//!   libtorrent seed, named in `x.pe`, saves the .torrent (state directory and
//!   `--save-torrent`) and downloads.
//! - aria2c, given a bare magnet link and the hivebt seed's DHT node as its entry
//!   point, fetches the metadata from the seed and then the file.
//! - A peer that answers with metadata not hashing to the link's info-hash is dropped
//!   with a warning, and nothing is laid out from what it sent.
//! - The daemon takes magnet links through its native, qBittorrent and Transmission
//!   APIs, fetches them, saves their .torrent in the state directory, and brings them
//!   back after a restart (one still waiting for its metadata from its record).
//!
//! Every process listens on 127.0.0.1 on a port the kernel picks; hivebt runs with
//! `--no-dht`, libtorrent with DHT, LSD, UPnP and NAT-PMP off (tests/py/lt_peer.py).
//! A test prints SKIP and passes when libtorrent is missing, unless
//! `HIVEBT_REQUIRE_INTEROP=1`.

mod common;
mod swarm;

use common::clients::{aria2, lt_download, lt_result, lt_seed};
use common::daemon::Daemon;
use common::fixture::Fixture;
use common::proc::{Deadline, Proc};
use common::{KIB, Scratch, download_cmd, hivebt, require_libtorrent, require_tool, seed_cmd};
use hivebt::wire::ext::ExtHandshake;
use hivebt::wire::metadata::{METADATA_PIECE_LEN, MetadataMsg};
use hivebt::wire::metainfo::Metainfo;
use hivebt::wire::peer::Message;
use serde_json::json;
use swarm::{Got, Wire};

/// 1,100 pieces of 16 KiB: 22,000 bytes of piece hashes, so two metadata pieces.
const MANY_PIECES_LEN: usize = 1_100 * 16 * KIB + 12_345;

/// A single file of [`MANY_PIECES_LEN`] bytes from `seed` in 16 KiB pieces.
fn many_pieces_fixture(tag: &str, seed: u64, deadline: Deadline) -> Fixture {
    Fixture::single(
        tag,
        "many-pieces.bin",
        MANY_PIECES_LEN,
        seed,
        16 * KIB,
        &[],
        deadline,
    )
}

/// The info dictionary's length in `torrent`: what hivebt must announce and serve.
fn info_len(torrent: &std::path::Path) -> u64 {
    let bytes = std::fs::read(torrent).expect("read torrent");
    let start = bytes
        .windows(6)
        .position(|w| w == b"4:info")
        .expect("info key")
        + 6;
    // The info dictionary is the last value of the top-level dictionary.
    (bytes.len() - 1 - start) as u64
}

#[test]
fn libtorrent_fetches_metadata_and_file_from_a_hivebt_seed() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = many_pieces_fixture("magnet-lt-from-hb", 91, deadline);
    let metadata_size = info_len(&setup.torrent);
    assert!(metadata_size > 16 * KIB as u64, "{metadata_size}");
    let (mut seeder, addr) = hivebt_seed(&setup, deadline);
    let out = setup.dir("lt-out");
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe={addr}", setup.info_hash);
    let mut leecher = lt_download(&py, std::path::Path::new(&magnet), &out, None);
    let done = leecher.wait_ok(deadline);
    setup.check_copy("libtorrent from a magnet link", &out);
    let result = lt_result(&done);
    assert_eq!(result["metadata_size"], metadata_size, "{result}");
    stop_cleanly(&mut seeder, deadline);
}

/// Our `ut_metadata` id in the scripted peer's extension handshake.
const OUR_UT_METADATA: u8 = 7;

#[test]
fn hivebt_serves_metadata_pieces_and_rejects_past_the_end() {
    let fx = swarm::Fixture::new("magnet-serve", MANY_PIECES_LEN, 16 * KIB as u32, 5);
    let info = Metainfo::from_bytes(&std::fs::read(&fx.torrent).expect("read torrent"))
        .expect("torrent")
        .info_raw;
    assert_eq!(
        info.len().div_ceil(METADATA_PIECE_LEN),
        2,
        "two metadata pieces"
    );
    let mut seeder = fx.seeder(&[]);
    let mut w = Wire::open_with(&seeder, fx.info_hash, true, true);
    let Got::Extended(0, payload) =
        w.recv_until("extension handshake", |m| matches!(m, Got::Extended(0, _)))
    else {
        unreachable!()
    };
    let theirs = ExtHandshake::decode(&payload).expect("hivebt's extension handshake");
    assert_eq!(theirs.metadata_size, Some(info.len() as u64), "{theirs:?}");
    let id = theirs
        .extension_id("ut_metadata")
        .expect("hivebt offers ut_metadata");
    let ours = ExtHandshake {
        m: [("ut_metadata".to_string(), OUR_UT_METADATA)].into(),
        ..ExtHandshake::default()
    };
    w.send(&Message::Extended {
        id: 0,
        payload: &ours.encode(),
    });
    for piece in [1, 2, 0] {
        w.send(&Message::Extended {
            id,
            payload: &MetadataMsg::Request { piece }.encode(),
        });
    }
    let mut answers = Vec::new();
    for _ in 0..3 {
        let Got::Extended(_, payload) = w.recv_until("a ut_metadata answer", |m| {
            matches!(m, Got::Extended(OUR_UT_METADATA, _))
        }) else {
            unreachable!()
        };
        answers.push(payload);
    }
    let decoded: Vec<MetadataMsg<'_>> = answers
        .iter()
        .map(|p| MetadataMsg::decode(p).expect("a valid ut_metadata message"))
        .collect();
    let total_size = info.len() as u32;
    assert_eq!(
        decoded,
        [
            MetadataMsg::Data {
                piece: 1,
                total_size,
                data: &info[METADATA_PIECE_LEN..],
            },
            MetadataMsg::Reject { piece: 2 },
            MetadataMsg::Data {
                piece: 0,
                total_size,
                data: &info[..METADATA_PIECE_LEN],
            },
        ]
    );
    w.close();
    seeder.stop();
}

/// Stops `p` and checks it exited 0.
fn stop_cleanly(p: &mut Proc, deadline: Deadline) {
    let end = p.terminate(deadline);
    assert!(end.status.success(), "exit {}:\n{}", end.status, end.stderr);
}

/// `hivebt seed` of `setup` on 127.0.0.1, with the address it listens on.
fn hivebt_seed(setup: &Fixture, deadline: Deadline) -> (Proc, std::net::SocketAddr) {
    let seeder = Proc::spawn(
        "hivebt seed",
        &mut seed_cmd(
            &[&setup.torrent],
            setup.data_dir(),
            "127.0.0.1:0",
            &setup.dir("state-seed"),
        ),
    );
    let addr = seeder.listen_addr(deadline);
    (seeder, addr)
}

/// `hivebt download MAGNET --out OUT --save-torrent SAVED` into `setup`'s scratch
/// directory, run to completion; returns (out, state, saved).
fn hivebt_download_magnet(
    setup: &Fixture,
    magnet: &str,
    deadline: Deadline,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let out = setup.dir("hb-out");
    let state = setup.dir("state-download");
    let saved = setup.scratch.path().join("saved/fetched.torrent");
    let mut leecher = Proc::spawn(
        "hivebt download magnet",
        download_cmd(
            std::path::Path::new(magnet),
            &out,
            "127.0.0.1:0",
            &state,
            &[],
        )
        .arg("--save-torrent")
        .arg(&saved),
    );
    let done = leecher.wait_ok(deadline);
    assert!(
        done.stderr.contains("metadata verified; saved"),
        "{}",
        done.stderr
    );
    (out, state, saved)
}

/// The saved .torrent has the fixture's info dictionary, byte for byte.
fn check_saved_torrent(setup: &Fixture, path: &std::path::Path) {
    let want = Metainfo::from_bytes(&std::fs::read(&setup.torrent).expect("read fixture"))
        .expect("fixture torrent");
    let got = Metainfo::from_bytes(
        &std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .expect("saved torrent loads");
    assert_eq!(got.info_hash, want.info_hash, "{}", path.display());
    assert_eq!(got.info_raw, want.info_raw, "{}", path.display());
}

#[test]
fn hivebt_downloads_a_magnet_from_a_hivebt_seed() {
    let deadline = Deadline::start();
    let setup = many_pieces_fixture("magnet-hb-from-hb", 17, deadline);
    let (mut seeder, addr) = hivebt_seed(&setup, deadline);
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=x&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce&x.pe={addr}",
        setup.info_hash
    );
    let (out, state, saved) = hivebt_download_magnet(&setup, &magnet, deadline);
    setup.check_copy("hivebt from a magnet link", &out);
    check_saved_torrent(&setup, &saved);
    let in_state = state.join(format!("torrents/{}.torrent", setup.info_hash));
    check_saved_torrent(&setup, &in_state);
    let again = Metainfo::from_bytes(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(
        again.tracker_tiers(),
        [["http://127.0.0.1:9/announce".to_string()]],
        "the link's trackers are kept"
    );
    stop_cleanly(&mut seeder, deadline);
}

#[test]
fn hivebt_downloads_a_magnet_from_a_libtorrent_seed() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = many_pieces_fixture("magnet-hb-from-lt", 23, deadline);
    let mut seeder = lt_seed(&py, &setup.torrent, setup.data_dir(), deadline);
    let addr = seeder.listen_addr(deadline);
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe={addr}", setup.info_hash);
    let (out, _, saved) = hivebt_download_magnet(&setup, &magnet, deadline);
    setup.check_copy("hivebt from a libtorrent seed, by magnet link", &out);
    check_saved_torrent(&setup, &saved);
    seeder.close_stdin();
    seeder.wait(deadline);
}

/// A peer at a loopback address that offers `ut_metadata` for `info_hash` with the
/// right `metadata_size` and answers every request with zeros. Returns its address
/// and a thread that ends with how many pieces it sent once hivebt closes it.
fn lying_peer(
    info_hash: hivebt::types::InfoHash,
    metadata_size: u64,
) -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    use hivebt::wire::peer::{Handshake, ReservedBit};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let liar = std::thread::spawn(move || {
        let (sock, _) = listener.accept().expect("hivebt dials the x.pe peer");
        let mut w = Wire::new(sock);
        let theirs = w.read_handshake().expect("hivebt's handshake");
        assert_eq!(theirs.info_hash, info_hash);
        assert!(theirs.has(ReservedBit::EXTENSION_PROTOCOL));
        let mut hs = Handshake::new(info_hash, swarm::test_peer_id());
        hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
        w.send_raw(&hs.encode());
        let ours = ExtHandshake {
            m: [("ut_metadata".to_string(), OUR_UT_METADATA)].into(),
            metadata_size: Some(metadata_size),
            ..ExtHandshake::default()
        };
        w.send(&Message::Extended {
            id: 0,
            payload: &ours.encode(),
        });
        let mut their_id = None;
        let mut sent = 0;
        while let Ok(got) = w.recv() {
            let Got::Extended(id, payload) = got else {
                continue;
            };
            if id == 0 {
                their_id = ExtHandshake::decode(&payload)
                    .expect("hivebt's extension handshake")
                    .extension_id("ut_metadata");
                continue;
            }
            let Ok(MetadataMsg::Request { piece }) = MetadataMsg::decode(&payload) else {
                continue;
            };
            let start = piece as usize * METADATA_PIECE_LEN;
            let len = (metadata_size as usize - start).min(METADATA_PIECE_LEN);
            let zeros = vec![0u8; len];
            let answer = MetadataMsg::Data {
                piece,
                total_size: metadata_size as u32,
                data: &zeros,
            };
            if !w.try_send_raw(&{
                let mut buf = Vec::new();
                hivebt::wire::peer::encode(
                    &Message::Extended {
                        id: their_id.expect("hivebt named its ut_metadata id first"),
                        payload: &answer.encode(),
                    },
                    &mut buf,
                );
                buf
            }) {
                break;
            }
            sent += 1;
        }
        sent
    });
    (addr, liar)
}

#[test]
fn a_peer_sending_metadata_that_does_not_hash_to_the_link_is_dropped() {
    let deadline = Deadline::start();
    let setup = many_pieces_fixture("magnet-liar", 29, deadline);
    let hash = hivebt::types::InfoHash::from_hex(&setup.info_hash).expect("hex");
    let (liar, lies) = lying_peer(hash, info_len(&setup.torrent));
    let out = setup.dir("hb-out");
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe={liar}", setup.info_hash);
    let mut leecher = Proc::spawn(
        "hivebt download magnet from a liar",
        download_cmd(
            std::path::Path::new(&magnet),
            &out,
            "127.0.0.1:0",
            &setup.dir("state"),
            &[],
        )
        .args(["--timeout", "4"]),
    );
    let done = leecher.wait(deadline);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "{liar} sent metadata that does not match the info-hash; dropped"
        )),
        "{}",
        done.stderr
    );
    assert!(
        lies.join().expect("the liar's thread") >= 2,
        "both metadata pieces were asked of it"
    );
    assert!(
        !done.stderr.contains("metadata verified"),
        "{}",
        done.stderr
    );
    assert!(
        !out.join("many-pieces.bin").exists(),
        "nothing is laid out from unverified metadata"
    );
}

/// `s` percent-encoded for a form body.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_daemon_fetches_magnets_added_through_each_api_and_keeps_them_over_a_restart() {
    let deadline = Deadline::start();
    let fxs: Vec<Fixture> = (0..3)
        .map(|i| {
            Fixture::single(
                &format!("magnet-api-{i}"),
                &format!("api-{i}.bin"),
                200 * KIB + i,
                40 + i as u64,
                16 * KIB,
                &[],
                deadline,
            )
        })
        .collect();
    let seeds: Vec<(Proc, std::net::SocketAddr)> =
        fxs.iter().map(|f| hivebt_seed(f, deadline)).collect();
    let link = |i: usize| {
        format!(
            "magnet:?xt=urn:btih:{}&dn=api&x.pe={}",
            fxs[i].info_hash, seeds[i].1
        )
    };
    let scratch = Scratch::new("magnet-daemon");
    let state = scratch.path().join("state");
    let data = scratch.path().join("data");
    let mut d = Daemon::start(&state, &data, &[], deadline);

    // The native API.
    let a = d.send_json(
        "POST",
        "/api/v1/torrents",
        &json!({"magnet": link(0), "labels": ["from-v1"]}),
    );
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.json()["info_hash"], fxs[0].info_hash.as_str());
    // qBittorrent's torrents/add with urls.
    let form = format!("urls={}&category=tv", form_encode(&link(1)));
    let a = d.request(
        "POST",
        "/api/v2/torrents/add",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!((a.status, a.text().as_str()), (200, "Ok."));
    // Transmission's torrent-add with a magnet filename, after the session handshake.
    let a = d.request("POST", "/transmission/rpc", &[], b"{}");
    assert_eq!(a.status, 409);
    let sid = a
        .header("x-transmission-session-id")
        .expect("session id")
        .to_string();
    let body = json!({"method": "torrent-add", "arguments": {"filename": link(2)}});
    let a = d.request(
        "POST",
        "/transmission/rpc",
        &[("X-Transmission-Session-Id", &sid)],
        body.to_string().as_bytes(),
    );
    let v = a.json();
    assert_eq!(v["result"], "success", "{v}");
    assert_eq!(
        v["arguments"]["torrent-added"]["hashString"],
        fxs[2].info_hash.as_str()
    );

    for f in &fxs {
        let t = d.wait_state(&f.info_hash, "seeding", deadline);
        assert_eq!(t["size"].as_u64(), Some(f.total_size() as u64), "{t}");
        f.check_copy("the daemon, from a magnet link", &data);
        check_saved_torrent(f, &state.join(format!("torrents/{}.torrent", f.info_hash)));
    }
    assert_eq!(d.torrent(&fxs[0].info_hash)["labels"], json!(["from-v1"]));

    // A link nobody has: it waits for its metadata, shown with its dn and no size...
    let lonely = "5a".repeat(20);
    let a = d.send_json(
        "POST",
        "/api/v1/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{lonely}&dn=lonely"), "paused": true}),
    );
    assert_eq!(a.status, 201, "{}", a.text());
    d.assert_fetching(&lonely, "lonely");
    assert_eq!(
        d.send_json("POST", "/api/v1/torrents", &json!({"magnet": link(0)}))
            .status,
        409,
        "a magnet of a torrent already there"
    );

    // ...and a restart brings every one back: the fetched ones from their saved
    // .torrent, the waiting one from its link.
    let end = d.proc.terminate(deadline);
    assert!(end.status.success(), "{}", end.stderr);
    let d = Daemon::start(&state, &data, &[], deadline);
    for f in &fxs {
        d.wait_state(&f.info_hash, "seeding", deadline);
    }
    d.assert_fetching(&lonely, "lonely");
    for (mut p, _) in seeds {
        stop_cleanly(&mut p, deadline);
    }
}

#[test]
fn aria2_fetches_a_magnets_metadata_and_file_from_a_hivebt_seed_found_through_the_dht() {
    if require_tool("aria2c").is_none() {
        return;
    }
    let deadline = Deadline::start();
    let setup = many_pieces_fixture("magnet-aria2", 37, deadline);
    // The seed's DHT node joins through a loopback socket that never answers; aria2c
    // joins through the seed's node. (Through a tracker aria2c cannot: it announces a
    // magnet with left=0, as a seed, and trackers give seeds no seeds.)
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut cmd = hivebt();
    cmd.args(["seed", common::s(&setup.torrent), "--data"])
        .arg(setup.data_dir())
        .args(["--listen", "127.0.0.1:0", "--no-lsd", "--state"])
        .arg(setup.dir("state-seed"))
        .args(["--dht-bootstrap", &silent.local_addr().unwrap().to_string()]);
    let mut seeder = Proc::spawn("hivebt seed with the DHT", &mut cmd);
    let node = seeder.wait_addr("dht on ", deadline);
    let out = setup.dir("aria2-out");
    let magnet = format!("magnet:?xt=urn:btih:{}", setup.info_hash);
    let mut cmd = aria2(&setup.dir("aria2"), true);
    cmd.arg(format!("--dht-entry-point={node}"))
        .args(["--seed-time=0", "--file-allocation=falloc"])
        .arg(format!("--dir={}", common::s(&out)))
        .arg(&magnet);
    let mut aria = Proc::spawn("aria2c magnet", &mut cmd);
    aria.wait_ok(deadline);
    setup.check_copy("aria2c from a bare magnet link, through the DHT", &out);
    stop_cleanly(&mut seeder, deadline);
}
