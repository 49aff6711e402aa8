//! Replays every checked-in fuzz seed (`tools/fuzz/seeds/<target>/`) through the same
//! property its cargo-fuzz target checks (`tools/fuzz/checks/<target>.rs`), so a plain
//! `cargo test` on stable catches a regression on inputs the fuzzer once found. Each
//! target must have seeds: an empty directory would make its test prove nothing.

use std::path::Path;

#[path = "../tools/fuzz/checks/bencode.rs"]
mod bencode;
#[path = "../tools/fuzz/checks/ext_handshake.rs"]
mod ext_handshake;
#[path = "../tools/fuzz/checks/http_tracker.rs"]
mod http_tracker;
#[path = "../tools/fuzz/checks/krpc.rs"]
mod krpc;
#[path = "../tools/fuzz/checks/lsd.rs"]
mod lsd;
#[path = "../tools/fuzz/checks/magnet.rs"]
mod magnet;
#[path = "../tools/fuzz/checks/metadata.rs"]
mod metadata;
#[path = "../tools/fuzz/checks/metainfo.rs"]
mod metainfo;
#[path = "../tools/fuzz/checks/peer_wire.rs"]
mod peer_wire;
#[path = "../tools/fuzz/checks/pex.rs"]
mod pex;
#[path = "../tools/fuzz/checks/resume.rs"]
mod resume;
#[path = "../tools/fuzz/checks/udp_tracker.rs"]
mod udp_tracker;

macro_rules! replay {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                let n = replay(stringify!($target), $target::check);
                assert!(n > 0, "no seeds for {}", stringify!($target));
            }
        )*
    };
}

mod seeds_replay {
    use super::*;

    replay!(
        bencode,
        metainfo,
        magnet,
        peer_wire,
        ext_handshake,
        udp_tracker,
        http_tracker,
        resume,
        krpc,
        lsd,
        pex,
        metadata,
    );
}

/// Runs `check` over every seed of `target`; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/fuzz/seeds")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let run = std::panic::catch_unwind(|| check(&data));
        assert!(
            run.is_ok(),
            "{target}: seed {} fails its property",
            path.display()
        );
        n += 1;
    }
    n
}
