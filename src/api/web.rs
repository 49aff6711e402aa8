//! The daemon's web page: plain HTML, CSS and JavaScript compiled into the binary from
//! `web/` (no build step, nothing fetched from any other host), served at `/`.
//!
//! Owns the page's path space: `/` and single-segment file names (`/app.js`); every
//! other path belongs to the API fronts. The assets hold no data, so they are served
//! without credentials, but only after the `Host` check (a page loaded through a
//! rebound name would be the attacker's origin talking to this API). Everything the
//! page shows it reads from `/api/v1` with the browser's credentials, through
//! relative URLs, so it works behind a reverse proxy under a sub-path.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no frames, no inline code. The page keeps to it
//! (no inline handlers or `style` attributes; styles set through the CSSOM only).

use super::auth::Auth;
use super::{ApiAnswer, ApiError, response};
use crate::wire::http::Request;

/// The headers of every page answer.
const PAGE_HEADERS: &str = concat!(
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; ",
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; ",
    "form-action 'self'\r\n",
    "X-Frame-Options: DENY\r\n",
    "Referrer-Policy: same-origin\r\n",
);

/// One compiled-in file.
struct Asset {
    /// Its path, `/` first.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
        Asset {
            path,
            content_type,
            body,
        }
    }
}

/// The page's files. `/` is `index.html`.
#[rustfmt::skip]
const ASSETS: [Asset; 4] = [
    Asset::new("/index.html", "text/html; charset=utf-8", include_bytes!("web/index.html")),
    Asset::new("/app.js", "text/javascript; charset=utf-8", include_bytes!("web/app.js")),
    Asset::new("/style.css", "text/css; charset=utf-8", include_bytes!("web/style.css")),
    Asset::new("/icon.svg", "image/svg+xml", include_bytes!("web/icon.svg")),
];

/// Whether `path` is the page's: `/`, or one segment naming a file (a dot in it), as
/// `/app.js` or `/favicon.ico`. API paths (`/api/...`, `/metrics`) never are.
pub(crate) fn owns(path: &str) -> bool {
    match path.strip_prefix('/') {
        Some("") => true,
        Some(name) => !name.contains('/') && name.contains('.'),
        None => false,
    }
}

/// Answers a request for one of the page's paths (see [`owns`]).
pub(crate) fn route(auth: &Auth, req: &Request) -> ApiAnswer {
    let head = &req.head;
    let keep_alive = head.keep_alive;
    let answer = match serve(auth, req) {
        Ok(asset) => response(
            200,
            asset.content_type,
            PAGE_HEADERS,
            asset.body,
            keep_alive,
        ),
        Err(e) => page_error(&e, keep_alive),
    };
    if head.method == "HEAD" {
        return ApiAnswer::Now(head_only(answer));
    }
    ApiAnswer::Now(answer)
}

/// The asset `req` asks for, or why not.
fn serve(auth: &Auth, req: &Request) -> Result<&'static Asset, ApiError> {
    let head = &req.head;
    auth.check_host(head.header("host"))?;
    if !matches!(head.method.as_str(), "GET" | "HEAD") {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} is not allowed on {}", head.method, head.path),
        ));
    }
    let path = if head.path == "/" {
        "/index.html"
    } else {
        head.path.as_str()
    };
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .ok_or_else(|| ApiError::not_found(format!("no such file: {}", head.path)))
}

/// An error as plain text, with the page's headers.
fn page_error(e: &ApiError, keep_alive: bool) -> Vec<u8> {
    let body = format!("{} ({})\n", e.message, e.code);
    response(
        e.status,
        "text/plain; charset=utf-8",
        PAGE_HEADERS,
        body.as_bytes(),
        keep_alive,
    )
}

/// The answer to `HEAD`: the head of the `GET` answer (its `Content-Length` too).
fn head_only(mut answer: Vec<u8>) -> Vec<u8> {
    if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
        answer.truncate(end + 4);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::AuthConfig;
    use crate::wire::http::RequestHead;

    fn auth() -> Auth {
        let listen = vec!["127.0.0.1:8080".parse().unwrap()];
        Auth::new(AuthConfig::default(), listen).unwrap()
    }

    fn request(method: &str, path: &str, host: &str) -> Request {
        Request {
            head: RequestHead {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                keep_alive: true,
                content_length: 0,
                len: 0,
                headers: vec![("host".into(), host.into())],
            },
            body: Vec::new(),
        }
    }

    fn answer(method: &str, path: &str, host: &str) -> String {
        match route(&auth(), &request(method, path, host)) {
            ApiAnswer::Now(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("not an answer now: {other:?}"),
        }
    }

    #[test]
    fn the_page_owns_the_root_and_file_names_only() {
        for p in ["/", "/index.html", "/app.js", "/favicon.ico"] {
            assert!(owns(p), "{p}");
        }
        for p in [
            "/api/v1/torrents",
            "/metrics",
            "/api/v2/app/version",
            "/a/b.js",
            "",
        ] {
            assert!(!owns(p), "{p}");
        }
    }

    #[test]
    fn assets_come_with_their_type_and_the_policy() {
        let root = answer("GET", "/", "127.0.0.1:8080");
        assert!(root.starts_with("HTTP/1.1 200 OK\r\n"), "{root}");
        assert!(root.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(root.contains("Content-Security-Policy: default-src 'self'; script-src 'self';"));
        assert!(root.contains("X-Frame-Options: DENY\r\n"));
        assert!(root.contains("<script src=\"app.js\""), "relative URLs");
        let js = answer("GET", "/app.js", "localhost");
        assert!(js.contains("Content-Type: text/javascript"));
        let head = answer("HEAD", "/style.css", "localhost");
        assert!(head.ends_with("\r\n\r\n"), "no body to HEAD");
        let len = ASSETS[2].body.len();
        assert!(head.contains(&format!("Content-Length: {len}\r\n")));
    }

    #[test]
    fn a_foreign_host_an_unknown_file_and_a_write_are_refused() {
        assert!(answer("GET", "/", "evil.example").starts_with("HTTP/1.1 403 "));
        assert!(answer("GET", "/nope.js", "localhost").starts_with("HTTP/1.1 404 "));
        assert!(answer("POST", "/", "localhost").starts_with("HTTP/1.1 405 "));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_nothing_inline() {
        for a in &ASSETS {
            // The SVG namespace is a name, not a place anything is loaded from.
            let text = String::from_utf8_lossy(a.body).replace("http://www.w3.org/2000/svg", "");
            for bad in [
                "http://",
                "https://",
                "//cdn",
                "style=\"",
                " onclick=",
                "eval(",
            ] {
                assert!(!text.contains(bad), "{} holds {bad}", a.path);
            }
        }
        let html = String::from_utf8_lossy(ASSETS[0].body);
        assert!(!html.contains("<script>") && !html.contains("<style"));
        // Relative URLs only, so the page works under a reverse proxy's sub-path.
        let js = String::from_utf8_lossy(ASSETS[1].body);
        for absolute in ["\"/api", "`/api", "'/api"] {
            assert!(!js.contains(absolute), "app.js holds {absolute}");
        }
        assert!(!html.contains("href=\"/") && !html.contains("src=\"/"));
    }
}
