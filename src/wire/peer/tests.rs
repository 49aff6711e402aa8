//! Tests for the peer-wire codec: known vectors, every split point of every frame,
//! each malformed length, the frame cap, handshakes, and mutated and random input.

use super::*;
use crate::bitfield::Bitfield;

fn block(piece: u32, offset: u32, len: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(piece),
        offset,
        len,
    }
}

/// Every message kind with its exact frame, written out by hand from the BEPs.
fn vectors() -> Vec<(Message<'static>, Vec<u8>)> {
    let mut extended = vec![0, 0, 0, 10, 20, 1];
    extended.extend_from_slice(b"d1:ai1ee");
    vec![
        (Message::KeepAlive, vec![0, 0, 0, 0]),
        (Message::Choke, vec![0, 0, 0, 1, 0]),
        (Message::Unchoke, vec![0, 0, 0, 1, 1]),
        (Message::Interested, vec![0, 0, 0, 1, 2]),
        (Message::NotInterested, vec![0, 0, 0, 1, 3]),
        (
            Message::Have(PieceIndex(5)),
            vec![0, 0, 0, 5, 4, 0, 0, 0, 5],
        ),
        (
            Message::Bitfield(&[0xff, 0x80]),
            vec![0, 0, 0, 3, 5, 0xff, 0x80],
        ),
        (
            Message::Request(block(1, 0x4000, 0x4000)),
            vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
        ),
        (
            Message::Piece {
                piece: PieceIndex(2),
                offset: 0x4000,
                data: b"abc",
            },
            vec![0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0x40, 0, b'a', b'b', b'c'],
        ),
        (
            Message::Piece {
                piece: PieceIndex(0x0102_0304),
                offset: 0,
                data: b"",
            },
            vec![0, 0, 0, 9, 7, 1, 2, 3, 4, 0, 0, 0, 0],
        ),
        (
            Message::Cancel(block(0x0a0b_0c0d, 16, 3)),
            vec![0, 0, 0, 13, 8, 10, 11, 12, 13, 0, 0, 0, 16, 0, 0, 0, 3],
        ),
        (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
        (
            Message::Suggest(PieceIndex(7)),
            vec![0, 0, 0, 5, 13, 0, 0, 0, 7],
        ),
        (Message::HaveAll, vec![0, 0, 0, 1, 14]),
        (Message::HaveNone, vec![0, 0, 0, 1, 15]),
        (
            Message::Reject(block(1, 2, 3)),
            vec![0, 0, 0, 13, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
        ),
        (
            Message::AllowedFast(PieceIndex(0xffff_ffff)),
            vec![0, 0, 0, 5, 17, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            Message::Extended {
                id: 1,
                payload: b"d1:ai1ee",
            },
            extended,
        ),
        (
            Message::Extended {
                id: 0,
                payload: b"",
            },
            vec![0, 0, 0, 2, 20, 0],
        ),
        (Message::Bitfield(&[]), vec![0, 0, 0, 1, 5]),
    ]
}

/// An unknown message id with a payload: decodes to `Unknown` and is skipped whole.
const UNKNOWN_FRAME: [u8; 8] = [0, 0, 0, 4, 21, 0xaa, 0xbb, 0xcc];

fn encoded(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(m, &mut out);
    out
}

#[test]
fn known_vectors_encode_and_decode() {
    for (m, bytes) in vectors() {
        assert_eq!(encoded(&m), bytes, "{m:?}");
        assert_eq!(m.frame_len() as usize, bytes.len() - 4, "{m:?}");
        assert_eq!(m.id(), bytes.get(4).copied(), "{m:?}");
        assert_eq!(decode(&bytes, MAX_PEER_FRAME), Ok(Some((m, bytes.len()))));
    }
}

#[test]
fn have_5_and_keep_alive_literal_bytes() {
    assert_eq!(
        encoded(&Message::Have(PieceIndex(5))),
        [0x00, 0x00, 0x00, 0x05, 0x04, 0x00, 0x00, 0x00, 0x05]
    );
    assert_eq!(encoded(&Message::KeepAlive), [0, 0, 0, 0]);
}

#[test]
fn every_prefix_needs_more_and_the_whole_frame_is_used_exactly() {
    let mut frames: Vec<Vec<u8>> = vectors().into_iter().map(|(_, b)| b).collect();
    frames.push(UNKNOWN_FRAME.to_vec());
    for bytes in frames {
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut], MAX_PEER_FRAME),
                Ok(None),
                "{bytes:?} cut at {cut}"
            );
        }
        let (_, used) = decode(&bytes, MAX_PEER_FRAME).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "{bytes:?}");
    }
}

#[test]
fn two_frames_back_to_back() {
    let mut buf = encoded(&Message::Have(PieceIndex(5)));
    buf.extend_from_slice(&UNKNOWN_FRAME);
    buf.extend(encoded(&Message::Unchoke));
    let (m, used) = decode(&buf, MAX_PEER_FRAME).unwrap().unwrap();
    assert_eq!((m, used), (Message::Have(PieceIndex(5)), 9));
    let (m, used2) = decode(&buf[used..], MAX_PEER_FRAME).unwrap().unwrap();
    assert_eq!((m, used2), (Message::Unknown { id: 21, len: 4 }, 8));
    let rest = &buf[used + used2..];
    assert_eq!(
        decode(rest, MAX_PEER_FRAME),
        Ok(Some((Message::Unchoke, 5)))
    );
}

/// Feeds the concatenation of every frame in chunks of every size from 1 to 9, the way
/// a receive buffer fills, and checks the same messages come out in order.
#[test]
fn a_stream_fed_in_chunks_decodes_the_same() {
    let messages: Vec<Vec<u8>> = vectors().into_iter().map(|(_, b)| b).collect();
    let stream: Vec<u8> = messages.concat();
    for chunk in 1..=9 {
        let mut buffered: Vec<u8> = Vec::new();
        let mut out: Vec<Vec<u8>> = Vec::new();
        for piece in stream.chunks(chunk) {
            buffered.extend_from_slice(piece);
            while let Some((m, used)) = decode(&buffered, MAX_PEER_FRAME).unwrap() {
                out.push(encoded(&m));
                buffered.drain(..used);
            }
        }
        assert!(buffered.is_empty(), "chunk {chunk}");
        assert_eq!(out, messages, "chunk {chunk}");
    }
}

#[test]
fn unknown_ids_are_skipped_not_refused() {
    for message_id in [10u8, 11, 12, 18, 19, 21, 22, 23, 255] {
        let frame = [0, 0, 0, 3, message_id, 1, 2];
        assert_eq!(
            decode(&frame, MAX_PEER_FRAME),
            Ok(Some((
                Message::Unknown {
                    id: message_id,
                    len: 3
                },
                7
            )))
        );
        let alone = [0, 0, 0, 1, message_id];
        assert!(matches!(
            decode(&alone, MAX_PEER_FRAME),
            Ok(Some((Message::Unknown { len: 1, .. }, 5)))
        ));
    }
    // Encoding an Unknown gives a frame of the same id and length.
    let m = Message::Unknown { id: 21, len: 4 };
    assert_eq!(encoded(&m), [0, 0, 0, 4, 21, 0, 0, 0]);
}

/// Every fixed-size id with every nearby wrong length, and every variable-size id one
/// byte short: refused once the id byte is readable, and again with the whole frame.
#[test]
fn every_wrong_length_per_id_is_refused() {
    let exact = [
        (id::CHOKE, 1),
        (id::UNCHOKE, 1),
        (id::INTERESTED, 1),
        (id::NOT_INTERESTED, 1),
        (id::HAVE_ALL, 1),
        (id::HAVE_NONE, 1),
        (id::HAVE, 5),
        (id::SUGGEST, 5),
        (id::ALLOWED_FAST, 5),
        (id::REQUEST, 13),
        (id::CANCEL, 13),
        (id::REJECT, 13),
        (id::PORT, 3u32),
    ];
    for (message_id, expected) in exact {
        for got in [expected - 1, expected + 1, expected + 4, 1000] {
            if got == 0 || got == expected {
                continue;
            }
            let want = Err(WireError::BadLength {
                id: message_id,
                expected,
                got,
            });
            let mut frame = got.to_be_bytes().to_vec();
            frame.push(message_id);
            assert_eq!(decode(&frame, MAX_PEER_FRAME), want, "id {message_id}");
            frame.resize(4 + got as usize, 0);
            assert_eq!(decode(&frame, MAX_PEER_FRAME), want, "id {message_id}");
        }
    }
    for (message_id, min) in [(id::PIECE, 9u32), (id::EXTENDED, 2)] {
        for got in 1..min {
            let want = Err(WireError::TooShort {
                id: message_id,
                min,
                got,
            });
            let mut frame = got.to_be_bytes().to_vec();
            frame.push(message_id);
            assert_eq!(decode(&frame, MAX_PEER_FRAME), want, "id {message_id}");
            frame.resize(4 + got as usize, 0);
            assert_eq!(decode(&frame, MAX_PEER_FRAME), want, "id {message_id}");
        }
    }
}

#[test]
fn a_frame_over_the_cap_is_refused_from_its_prefix_alone() {
    let max = max_frame_for(100);
    let over = (max + 1).to_be_bytes();
    assert_eq!(
        decode(&over, max),
        Err(WireError::FrameTooLong { len: max + 1, max })
    );
    assert_eq!(
        decode(&[0xff; 4], max),
        Err(WireError::FrameTooLong { len: u32::MAX, max })
    );
    // Exactly at the cap is fine and waits for its bytes.
    let mut at = max.to_be_bytes().to_vec();
    assert_eq!(decode(&at, max), Ok(None));
    at.push(id::PIECE);
    assert_eq!(decode(&at, max), Ok(None));
    at.resize(4 + max as usize, 0);
    assert!(matches!(
        decode(&at, max),
        Ok(Some((Message::Piece { .. }, n))) if n == 4 + max as usize
    ));
    // A keep-alive is never too long, even with a zero cap.
    assert_eq!(decode(&[0; 4], 0), Ok(Some((Message::KeepAlive, 4))));
}

#[test]
fn max_frame_formula() {
    let block_frame = 2 + 16384 + 1024;
    assert_eq!(max_frame_for(0), block_frame);
    assert_eq!(max_frame_for(1), block_frame);
    // The bitfield takes over once 1 + ceil(n / 8) exceeds the block frame.
    let n = (block_frame - 1) * 8;
    assert_eq!(max_frame_for(n), block_frame);
    assert_eq!(max_frame_for(n + 1), block_frame + 1);
    assert_eq!(max_frame_for(1_000_000), 125_001);
    assert_eq!(max_frame_for(8 * (MAX_PEER_FRAME - 1)), MAX_PEER_FRAME);
    assert_eq!(max_frame_for(u32::MAX), MAX_PEER_FRAME);
    // A full block fits, and so does a seed's bitfield, for any piece count that the
    // cap allows.
    for pieces in [0, 7, 8, 9, 131_064, 131_080, 3_000_000] {
        let max = max_frame_for(pieces);
        let bits = Bitfield::full(pieces);
        let frame = encoded(&Message::Bitfield(bits.as_wire()));
        assert!(decode(&frame, max).unwrap().is_some(), "{pieces}");
        let data = vec![0u8; BLOCK_SIZE as usize];
        let piece = Message::Piece {
            piece: PieceIndex(0),
            offset: 0,
            data: &data,
        };
        assert!(decode(&encoded(&piece), max).unwrap().is_some());
    }
}

#[test]
fn piece_header_is_the_frame_without_its_data() {
    let data = [7u8; 100];
    let m = Message::Piece {
        piece: PieceIndex(3),
        offset: 32768,
        data: &data,
    };
    let header = piece_header(PieceIndex(3), 32768, 100);
    assert_eq!(
        header,
        [0, 0, 0, 109, 7, 0, 0, 0, 3, 0, 0, 0x80, 0],
        "known bytes"
    );
    let mut sent = header.to_vec();
    sent.extend_from_slice(&data);
    assert_eq!(sent, encoded(&m));
}

#[test]
fn bitfield_payload_checked_against_the_torrent() {
    let frame = [0, 0, 0, 3, 5, 0xff, 0xc1];
    let Some((Message::Bitfield(bits), _)) = decode(&frame, MAX_PEER_FRAME).unwrap() else {
        panic!("not a bitfield");
    };
    let spare: Result<Bitfield, WireError> = Bitfield::from_wire(bits, 10).map_err(Into::into);
    assert_eq!(
        spare,
        Err(WireError::Bitfield(BitfieldError::SpareBitsSet {
            pieces: 10
        }))
    );
    assert_eq!(
        Bitfield::from_wire(bits, 20).map_err(WireError::from),
        Err(WireError::Bitfield(BitfieldError::WrongLength {
            pieces: 20,
            expected: 3,
            got: 2
        }))
    );
    assert_eq!(Bitfield::from_wire(bits, 16).unwrap().count_ones(), 11);
}

#[test]
fn errors_read_well() {
    assert_eq!(
        WireError::BadLength {
            id: 4,
            expected: 5,
            got: 6
        }
        .to_string(),
        "message id 4 has length 6, expected exactly 5"
    );
    assert_eq!(
        WireError::FrameTooLong { len: 9, max: 8 }.to_string(),
        "frame of 9 bytes is over the 8-byte limit"
    );
    assert_eq!(
        WireError::BadHandshake(HandshakeError::ProtocolLength { got: 0x16 }).to_string(),
        "handshake protocol string length is 22, not 19"
    );
}

// ---- handshake ----

fn sample_handshake() -> (Handshake, Vec<u8>) {
    let mut hs = Handshake::new(InfoHash([0xaa; 20]), PeerId(*b"-HB0001-abcdefghijkl"));
    hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
    hs.set(ReservedBit::FAST_EXTENSION, true);
    hs.set(ReservedBit::DHT, true);
    let mut bytes = b"\x13BitTorrent protocol\x00\x00\x00\x00\x00\x10\x00\x05".to_vec();
    bytes.extend_from_slice(&[0xaa; 20]);
    bytes.extend_from_slice(b"-HB0001-abcdefghijkl");
    (hs, bytes)
}

#[test]
fn handshake_known_bytes_and_round_trip() {
    let (hs, bytes) = sample_handshake();
    assert_eq!(bytes.len(), HANDSHAKE_LEN);
    assert_eq!(hs.encode().to_vec(), bytes);
    assert_eq!(Handshake::decode(&bytes), Ok(Some((hs, 68))));
    // Whatever follows the handshake is left alone.
    let mut more = bytes.clone();
    more.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(Handshake::decode(&more), Ok(Some((hs, 68))));
    for cut in 0..HANDSHAKE_LEN {
        assert_eq!(Handshake::decode(&bytes[..cut]), Ok(None), "cut {cut}");
    }
}

#[test]
fn reserved_bits_sit_where_the_beps_say() {
    let mut hs = Handshake::new(InfoHash([0; 20]), PeerId([0; 20]));
    for (bit, byte, mask) in [
        (ReservedBit::EXTENSION_PROTOCOL, 5, 0x10),
        (ReservedBit::FAST_EXTENSION, 7, 0x04),
        (ReservedBit::DHT, 7, 0x01),
    ] {
        assert!(!hs.has(bit));
        hs.set(bit, true);
        assert!(hs.has(bit));
        let mut want = [0u8; 8];
        want[byte] = mask;
        assert_eq!(hs.reserved, want);
        hs.set(bit, false);
        assert_eq!(hs.reserved, [0; 8]);
    }
    // Bits we do not know (BEP 52's v2 bit, byte 7 0x10) are kept, not cleared.
    hs.reserved[7] = 0x10;
    hs.set(ReservedBit::DHT, true);
    assert_eq!(hs.reserved[7], 0x11);
    assert!(!hs.has(ReservedBit::FAST_EXTENSION));
}

#[test]
fn handshake_protocol_is_checked_as_it_arrives() {
    let (_, good) = sample_handshake();
    for len_byte in [0u8, 18, 20, 0xff] {
        assert_eq!(
            Handshake::decode(&[len_byte]),
            Err(WireError::BadHandshake(HandshakeError::ProtocolLength {
                got: len_byte
            }))
        );
    }
    for offset in 1..20 {
        let mut bad = good.clone();
        bad[offset] ^= 0x20;
        let want = Err(WireError::BadHandshake(HandshakeError::ProtocolString {
            offset,
            got: bad[offset],
        }));
        // Refused with the first differing byte, and with the whole handshake.
        assert_eq!(Handshake::decode(&bad[..=offset]), want);
        assert_eq!(Handshake::decode(&bad), want);
        assert_eq!(
            Handshake::peek_info_hash(&bad).map(|_| ()),
            want.map(|_| ())
        );
    }
    // The reserved bytes, info-hash and peer id may be anything.
    let mut odd = good.clone();
    odd[20..].fill(0xff);
    assert!(Handshake::decode(&odd).unwrap().is_some());
}

#[test]
fn info_hash_is_readable_before_the_peer_id() {
    let (hs, bytes) = sample_handshake();
    for cut in 0..48 {
        assert_eq!(Handshake::peek_info_hash(&bytes[..cut]), Ok(None), "{cut}");
    }
    for cut in 48..=68 {
        assert_eq!(
            Handshake::peek_info_hash(&bytes[..cut]),
            Ok(Some(hs.info_hash))
        );
    }
}

// ---- real clients ----

/// Decodes a hex string made of literal pieces (for long captured byte streams).
fn unhex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes a captured stream: a handshake, then frames to the last byte.
///
/// The streams below are everything a client sent after a plain TCP connection from
/// a script that handshook with the extension, fast and DHT bits set. They were
/// captured once on loopback from the client seeding a one-piece torrent (a
/// 100,000-byte file made with `mktorrent`'s defaults, so a 88-byte info dictionary),
/// and are kept as fixed vectors so these tests need no client installed.
fn decode_stream(bytes: &[u8]) -> (Handshake, Vec<Message<'_>>) {
    let (hs, mut at) = Handshake::decode(bytes).unwrap().unwrap();
    let mut messages = Vec::new();
    while let Some((m, used)) = decode(&bytes[at..], max_frame_for(1)).unwrap() {
        messages.push(m);
        at += used;
    }
    assert_eq!(at, bytes.len(), "trailing bytes");
    (hs, messages)
}

#[test]
fn aria2_stream() {
    let bytes = unhex(&[
        "13426974546f7272656e742070726f746f636f6c0000000000100004dcf7ccc3d3fa84a7621271bd",
        "cb19b5ceafb9162d41322d312d33362d302dabf5644b6a929d2ea18700000055140064313a6d6431",
        "313a75745f6d65746164617461693965363a75745f7065786938656531333a6d657461646174615f",
        "73697a6569383865313a7069353137393965313a7631323a61726961322f312e33362e3065000000",
        "010e000000051100000000",
    ]);
    let (hs, messages) = decode_stream(&bytes);
    assert_eq!(&hs.peer_id.0[..12], b"A2-1-36-0-\xab\xf5");
    assert!(hs.has(ReservedBit::EXTENSION_PROTOCOL));
    assert!(hs.has(ReservedBit::FAST_EXTENSION));
    assert!(!hs.has(ReservedBit::DHT), "DHT was off");
    let Message::Extended { id: 0, payload } = messages[0] else {
        panic!("{:?}", messages[0]);
    };
    assert!(payload.ends_with(b"1:v12:aria2/1.36.0e"));
    assert_eq!(
        messages[1..],
        [Message::HaveAll, Message::AllowedFast(PieceIndex(0))]
    );
}

#[test]
fn transmission_stream() {
    let bytes = unhex(&[
        "13426974546f7272656e742070726f746f636f6c0000000000100005dcf7ccc3d3fa84a7621271bd",
        "cb19b5ceafb9162d2d5452333030302d79716b796375646e336a72620000007c140064313a656930",
        "65313a6d6431313a75745f6d65746164617461693365363a75745f7065786931656531333a6d6574",
        "61646174615f73697a6569383865313a7069353138303165343a72657171693531326531313a7570",
        "6c6f61645f6f6e6c79693165313a7631373a5472616e736d697373696f6e20332e30306500000001",
        "0e0000000309ca590000000101",
    ]);
    let (hs, messages) = decode_stream(&bytes);
    assert_eq!(&hs.peer_id.0[..8], b"-TR3000-");
    assert!(hs.has(ReservedBit::EXTENSION_PROTOCOL));
    assert!(hs.has(ReservedBit::FAST_EXTENSION));
    assert!(hs.has(ReservedBit::DHT));
    let Message::Extended { id: 0, payload } = messages[0] else {
        panic!("{:?}", messages[0]);
    };
    assert!(payload.ends_with(b"1:v17:Transmission 3.00e"));
    assert_eq!(
        messages[1..],
        [Message::HaveAll, Message::Port(51801), Message::Unchoke]
    );
}

// ---- hostile input ----

/// Checks what any decoder result must satisfy, whatever the input.
fn check_outcome(buf: &[u8], max: u32) {
    match decode(buf, max) {
        Ok(Some((m, used))) => {
            assert!((4..=buf.len()).contains(&used), "{buf:?}");
            assert!(m.frame_len() <= max, "{buf:?}");
            if !matches!(m, Message::Unknown { .. }) {
                assert_eq!(encoded(&m), &buf[..used], "re-encoding {m:?}");
            }
        }
        Ok(None) => assert!(buf.len() < 4 + max as usize, "{buf:?}"),
        Err(_) => {}
    }
}

/// Mutates every byte of every valid frame (and a handshake) to several values:
/// nothing panics, and whatever decodes re-encodes to the bytes it came from.
#[test]
fn mutations_never_panic() {
    let (_, handshake) = sample_handshake();
    let mut frames: Vec<Vec<u8>> = vectors().into_iter().map(|(_, b)| b).collect();
    frames.push(UNKNOWN_FRAME.to_vec());
    for base in frames.iter().chain([&handshake]) {
        let mut buf = base.clone();
        for i in 0..base.len() {
            for b in [0u8, 1, 2, 5, 9, 13, 20, 0x7f, 0x80, 0xff, !base[i]] {
                buf[i] = b;
                for max in [0, 5, 16, MAX_PEER_FRAME, u32::MAX] {
                    check_outcome(&buf, max);
                }
                let _ = Handshake::decode(&buf);
                let _ = Handshake::peek_info_hash(&buf);
                buf[i] = base[i];
            }
        }
    }
}

/// Random buffers whose length prefix is usually small, so that many of them form
/// frames: a cheap stand-in for the fuzz target, run on every test.
#[test]
fn random_input_never_panics() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if buf.len() >= 5 && next() % 4 != 0 {
            buf[..3].fill(0);
            buf[3] %= 20;
            buf[4] %= 22;
        }
        check_outcome(&buf, 64);
        if matches!(decode(&buf, 64), Ok(Some(_))) {
            decoded += 1;
        }
    }
    // The generator is biased enough to reach the message parsers, not only errors.
    assert!(decoded > 1000, "only {decoded} decoded");
}
