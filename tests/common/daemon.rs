//! `hivebt daemon` under test: started on loopback with ephemeral ports, and a small
//! blocking HTTP/1.1 client for its API (one request per connection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::hivebt;
use super::proc::{Deadline, Proc, poll_until, run_with_stdin};

/// A running daemon and where it listens.
pub struct Daemon {
    /// The child.
    pub proc: Proc,
    /// The API address.
    pub api: SocketAddr,
    /// The peer listener.
    pub peer: SocketAddr,
    /// Its state directory.
    pub state: PathBuf,
}

/// An API answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (fails the test if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Daemon {
    /// `hivebt daemon --state STATE --data DATA` on loopback ports, plus `extra`;
    /// returns once the API and peer listener are up and every stored torrent checked.
    pub fn start(state: &Path, data: &Path, extra: &[&str], deadline: Deadline) -> Daemon {
        let mut cmd = Daemon::command(state, data, &[&["--api", "127.0.0.1:0"], extra].concat());
        let proc = Proc::spawn("hivebt daemon", &mut cmd);
        let api: SocketAddr = proc
            .wait_line("api on http://", deadline)
            .trim()
            .parse()
            .expect("API address");
        let peer = proc.listen_addr(deadline);
        Daemon {
            proc,
            api,
            peer,
            state: state.to_path_buf(),
        }
    }

    /// The state of torrent `hash`, polled until it is `want`.
    pub fn wait_state(&self, hash: &str, want: &str, deadline: Deadline) -> serde_json::Value {
        poll_until(
            &format!("torrent {hash} to be {want}"),
            deadline,
            || self.proc.report(),
            || {
                let t = self.torrent(hash);
                (t["state"] == want).then_some(t)
            },
        )
    }

    /// `hivebt daemon --set-password` for the state directory `state`, given
    /// `password` on stdin (the directory is made first).
    pub fn set_password(state: &Path, data: &Path, password: &str, deadline: Deadline) {
        std::fs::create_dir_all(state).expect("create the state directory");
        let mut cmd = Daemon::command(state, data, &["--set-password"]);
        let input = format!("{password}\n");
        run_with_stdin(
            "hivebt daemon --set-password",
            &mut cmd,
            input.as_bytes(),
            deadline,
        );
    }

    /// As [`Daemon::start`], with `password` set (`hivebt daemon --set-password`) and
    /// `max_failures` failed logins locking an address out.
    pub fn start_with_password(
        state: &Path,
        data: &Path,
        password: &str,
        max_failures: u32,
        deadline: Deadline,
    ) -> Daemon {
        Daemon::set_password(state, data, password, deadline);
        let file = state.join("hivebt.toml");
        let config = format!("[api]\nlogin_max_failures = {max_failures}\n");
        std::fs::write(&file, config).expect("write the configuration");
        let file = file.to_str().expect("UTF-8 path");
        Daemon::start(state, data, &["--config", file], deadline)
    }

    /// `hivebt daemon --state STATE --data DATA --listen 127.0.0.1:0` plus `extra`,
    /// `--no-lsd` (no multicast on the host's networks), and `--no-dht` unless `extra`
    /// names the DHT's (loopback) bootstrap nodes: no test daemon may join through the
    /// public routers.
    pub fn command(state: &Path, data: &Path, extra: &[&str]) -> Command {
        let mut cmd = hivebt();
        cmd.args(["daemon", "--no-lsd"]);
        if !extra.contains(&"--dht-bootstrap") {
            cmd.arg("--no-dht");
        }
        cmd.arg("--state")
            .arg(state)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        cmd
    }

    /// Sends one request with `headers` (Host and Content-Length are added) and reads
    /// the whole answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        request(self.api, method, path, headers, body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], b"")
    }

    /// A JSON request.
    pub fn send_json(&self, method: &str, path: &str, body: &serde_json::Value) -> Answer {
        let text = body.to_string();
        self.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            text.as_bytes(),
        )
    }

    /// Uploads a .torrent file with `query` options; expects 201 and returns the
    /// torrent object.
    pub fn upload(&self, torrent: &Path, query: &str) -> serde_json::Value {
        let bytes = std::fs::read(torrent).expect("torrent file");
        let path = if query.is_empty() {
            "/api/v1/torrents".to_string()
        } else {
            format!("/api/v1/torrents?{query}")
        };
        let a = self.request(
            "POST",
            &path,
            &[("Content-Type", "application/x-bittorrent")],
            &bytes,
        );
        assert_eq!(
            a.status,
            201,
            "upload refused: {}\n{}",
            a.text(),
            self.proc.report()
        );
        a.json()
    }

    /// Torrent `hash` is a magnet still waiting for its metadata: listed as `name`,
    /// with no size and no progress yet.
    pub fn assert_fetching(&self, hash: &str, name: &str) {
        let t = self.torrent(hash);
        assert_eq!(
            (
                t["name"].as_str(),
                t["size"].as_u64(),
                t["progress"].as_f64()
            ),
            (Some(name), Some(0), Some(0.0)),
            "{t}"
        );
    }

    /// The torrent object of `hash`.
    pub fn torrent(&self, hash: &str) -> serde_json::Value {
        let a = self.get(&format!("/api/v1/torrents/{hash}"));
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }
}

/// One HTTP/1.1 request to `addr`, `Connection: close`, the answer read to the end.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw)
}

/// Writes `raw` to `addr` and parses whatever comes back before the server closes.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_answer(&out)
}

/// Parses a complete response (a body of Content-Length bytes, or to the end).
pub fn parse_answer(out: &[u8]) -> Answer {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(out)));
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = out[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Answer {
        status,
        headers,
        body,
    }
}
