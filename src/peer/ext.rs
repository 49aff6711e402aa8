//! The BEP 10 extension registry: which extended messages we offer under which ids (our
//! `m` dictionary), which ids a peer wants its extensions sent under (its `m`), and to
//! which extension an incoming extended message belongs.
//!
//! Depends on `wire::ext`. Plain data. BEP 10: each side picks the ids it receives
//! under, id 0 is the handshake, an id of 0 in a later handshake turns an extension
//! off, and messages under ids we did not advertise are ignored. Invariants: our ids
//! are distinct and non-zero; a peer's table only holds extensions we know.

use std::collections::BTreeMap;

use crate::wire::ext::ExtHandshake;

/// An extension protocol hivebt knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// BEP 9: metadata exchange (`ut_metadata`), for magnet links.
    UtMetadata,
    /// BEP 11: peer exchange (`ut_pex`).
    UtPex,
}

impl Extension {
    /// Every extension, in the order ids are given out.
    pub const ALL: [Extension; 2] = [Extension::UtMetadata, Extension::UtPex];

    /// The name in `m` dictionaries.
    pub fn name(self) -> &'static str {
        match self {
            Extension::UtMetadata => "ut_metadata",
            Extension::UtPex => "ut_pex",
        }
    }

    fn index(self) -> usize {
        match self {
            Extension::UtMetadata => 0,
            Extension::UtPex => 1,
        }
    }
}

/// The extensions a torrent offers to its peers, each under the id it receives them
/// under. A private torrent (BEP 27) offers no peer exchange, a torrent whose metadata
/// nobody may ask for offers no `ut_metadata`: the caller decides what to enable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// Our receive id per extension (`Extension::index`); `None` when not offered.
    ours: [Option<u8>; 2],
}

impl Registry {
    /// A registry offering `enabled`; ids are 1, 2, ... in the order of
    /// [`Extension::ALL`], so they stay the same whatever subset is on.
    pub fn new(enabled: &[Extension]) -> Registry {
        let mut ours = [None; 2];
        for (i, ext) in Extension::ALL.iter().enumerate() {
            if enabled.contains(ext) {
                ours[ext.index()] = Some(i as u8 + 1);
            }
        }
        Registry { ours }
    }

    /// Our `m` dictionary for the extension handshake.
    pub fn handshake_m(&self) -> BTreeMap<String, u8> {
        Extension::ALL
            .iter()
            .filter_map(|&e| Some((e.name().to_string(), self.ours[e.index()]?)))
            .collect()
    }

    /// The extension an extended message with `id` is for, if we offered one under it
    /// (id 0 is the handshake itself and never an extension).
    pub fn lookup(&self, id: u8) -> Option<Extension> {
        if id == 0 {
            return None;
        }
        Extension::ALL
            .iter()
            .copied()
            .find(|e| self.ours[e.index()] == Some(id))
    }

    /// Whether we offer `ext`.
    pub fn offers(&self, ext: Extension) -> bool {
        self.ours[ext.index()].is_some()
    }

    /// This registry with `ext` not offered; the others keep their ids.
    pub fn without(&self, ext: Extension) -> Registry {
        let mut r = self.clone();
        r.ours[ext.index()] = None;
        r
    }
}

/// The ids a peer wants our messages for each extension sent under, from its extension
/// handshakes. Only extensions we offer are kept: we send nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerExtensions {
    theirs: [Option<u8>; 2],
}

impl PeerExtensions {
    /// Takes the `m` of a (first or repeated) handshake: an id of 0 turns an extension
    /// off, a missing name leaves it as it was (BEP 10 lets a repeated handshake name
    /// only what changes).
    pub fn on_handshake(&mut self, hs: &ExtHandshake, ours: &Registry) {
        for ext in Extension::ALL {
            if !ours.offers(ext) {
                continue;
            }
            if let Some(&id) = hs.m.get(ext.name()) {
                self.theirs[ext.index()] = (id != 0).then_some(id);
            }
        }
    }

    /// The id to send `ext` messages under, if the peer supports it.
    pub fn id_for(&self, ext: Extension) -> Option<u8> {
        self.theirs[ext.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(m: &[(&str, u8)]) -> ExtHandshake {
        ExtHandshake {
            m: m.iter().map(|&(n, id)| (n.to_string(), id)).collect(),
            ..ExtHandshake::default()
        }
    }

    #[test]
    fn our_ids_are_stable_and_nonzero() {
        let both = Registry::new(&Extension::ALL);
        assert_eq!(
            both.handshake_m(),
            [("ut_metadata".to_string(), 1), ("ut_pex".to_string(), 2)].into()
        );
        let pex = Registry::new(&[Extension::UtPex]);
        assert_eq!(pex.handshake_m(), [("ut_pex".to_string(), 2)].into());
        assert_eq!(pex.lookup(2), Some(Extension::UtPex));
        assert_eq!(pex.lookup(1), None, "not offered");
        assert_eq!(pex.lookup(0), None, "the handshake id");
        assert!(Registry::new(&[]).handshake_m().is_empty());
        let private = both.without(Extension::UtPex);
        assert_eq!(
            private.handshake_m(),
            [("ut_metadata".to_string(), 1)].into()
        );
        assert_eq!(private.lookup(2), None);
    }

    #[test]
    fn a_peers_ids_follow_its_handshakes() {
        let ours = Registry::new(&[Extension::UtPex]);
        let mut p = PeerExtensions::default();
        p.on_handshake(
            &handshake(&[("ut_pex", 7), ("ut_metadata", 3), ("lt_donthave", 9)]),
            &ours,
        );
        assert_eq!(p.id_for(Extension::UtPex), Some(7));
        assert_eq!(p.id_for(Extension::UtMetadata), None, "we do not offer it");
        // A repeated handshake naming nothing keeps the table; an id of 0 turns off.
        p.on_handshake(&handshake(&[]), &ours);
        assert_eq!(p.id_for(Extension::UtPex), Some(7));
        p.on_handshake(&handshake(&[("ut_pex", 0)]), &ours);
        assert_eq!(p.id_for(Extension::UtPex), None);
    }
}
