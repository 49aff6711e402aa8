//! HTTP tracker query strings and response bodies never make the codec panic. An
//! announce query that parses survives the trip through `announce_url` and back; a
//! response body that decodes survives re-encoding, in dictionary form exactly and in
//! compact form up to peer ids and order; and scrape bodies round-trip too.
use hivebt::tracker::AnnounceRequest;
use hivebt::wire::http_tracker::{
    announce_url, decode_announce_response, decode_scrape_response, encode_announce_response,
    encode_scrape_response, parse_announce_query, parse_scrape_query, scrape_url,
};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(req) = parse_announce_query(text) {
            let url = announce_url("http://t.example/announce?k=v", &req, Some(data));
            let query = url.split_once('?').map_or("", |(_, q)| q);
            let again = parse_announce_query(query).expect("our own announce URL parses");
            assert_eq!(
                again,
                AnnounceRequest {
                    compact: true,
                    ..req
                }
            );
        }
        if let Ok(hashes) = parse_scrape_query(text) {
            assert!(hashes.len() <= hivebt::config::MAX_HTTP_SCRAPE_HASHES);
        }
        if let Some(s) = scrape_url(text) {
            assert_eq!(s.len(), text.len() - 2);
        }
    }
    if let Ok(resp) = decode_announce_response(data) {
        let dict = encode_announce_response(&resp, false, false);
        assert_eq!(decode_announce_response(&dict), Ok(resp.clone()));

        let compact = decode_announce_response(&encode_announce_response(&resp, true, false))
            .expect("compact re-encoding decodes");
        let mut want: Vec<_> = resp.peers.iter().map(|p| p.addr).collect();
        let mut got: Vec<_> = compact.peers.iter().map(|p| p.addr).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
    if let Ok(files) = decode_scrape_response(data) {
        let again = decode_scrape_response(&encode_scrape_response(&files))
            .expect("re-encoded scrape decodes");
        let mut want = files.clone();
        want.sort_by_key(|(h, _)| *h);
        assert_eq!(again, want);
    }
}
