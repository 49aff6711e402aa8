//! Magnet links (BEP 9 metadata exchange) over real TCP on loopback.
//!
//! - hivebt serves the info dictionary of a torrent it seeds: libtorrent, given only a
//!   magnet link naming the hivebt seed in `x.pe`, fetches the metadata from it and
//!   then the whole file. The torrent has over 16 KiB of metadata, so libtorrent asks
//!   for more than one metadata piece, the last one short.
//! - A scripted peer (tests/swarm) checks the same exchange byte for byte: the
//!   `metadata_size` in hivebt's extension handshake, each piece's bytes, and a reject
//!   for a piece past the end.
//!
//! Every process listens on 127.0.0.1 on a port the kernel picks; hivebt runs with
//! `--no-dht`, libtorrent with DHT, LSD, UPnP and NAT-PMP off (tests/py/lt_peer.py).
//! A test prints SKIP and passes when libtorrent is missing, unless
//! `HIVEBT_REQUIRE_INTEROP=1`.

mod common;
mod swarm;

use common::clients::{lt_download, lt_result};
use common::fixture::Fixture;
use common::proc::{Deadline, Proc};
use common::{KIB, require_libtorrent, seed_cmd};
use hivebt::wire::ext::ExtHandshake;
use hivebt::wire::metadata::{METADATA_PIECE_LEN, MetadataMsg};
use hivebt::wire::metainfo::Metainfo;
use hivebt::wire::peer::Message;
use swarm::{Got, Wire};

/// 1,100 pieces of 16 KiB: 22,000 bytes of piece hashes, so two metadata pieces.
const MANY_PIECES_LEN: usize = 1_100 * 16 * KIB + 12_345;

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
    let setup = Fixture::single(
        "magnet-lt-from-hb",
        "many-pieces.bin",
        MANY_PIECES_LEN,
        91,
        16 * KIB,
        &[],
        deadline,
    );
    let metadata_size = info_len(&setup.torrent);
    assert!(metadata_size > 16 * KIB as u64, "{metadata_size}");
    let mut seeder = Proc::spawn(
        "hivebt seed",
        &mut seed_cmd(
            &[&setup.torrent],
            setup.data_dir(),
            "127.0.0.1:0",
            &setup.dir("state-seed"),
        ),
    );
    let addr = seeder.listen_addr(deadline);
    let out = setup.dir("lt-out");
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe={addr}", setup.info_hash);
    let mut leecher = lt_download(&py, std::path::Path::new(&magnet), &out, None);
    let done = leecher.wait_ok(deadline);
    setup.check_copy("libtorrent from a magnet link", &out);
    let result = lt_result(&done);
    assert_eq!(result["metadata_size"], metadata_size, "{result}");
    let end = seeder.terminate(deadline);
    assert!(
        end.status.success(),
        "seeder: {}\n{}",
        end.status,
        end.stderr
    );
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
