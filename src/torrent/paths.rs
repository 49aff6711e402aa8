//! The one path sanitiser: turns the raw names and path components of a torrent into
//! relative paths that are safe to create below a download directory.
//!
//! Depends on `wire::metainfo` and `config`. Like libtorrent (and unlike aria2) a torrent
//! is never rejected for an odd name; every unsafe component is mapped to a safe one and
//! the change is reported. Guarantees of [`sanitize`]:
//! - every path is relative and made only of normal components: no empty component, no
//!   `.` or `..`, no `/`, `\` or NUL inside a component, nothing absolute; so joining it
//!   to a directory can never resolve outside that directory;
//! - every component is valid UTF-8 of at most `MAX_PATH_COMPONENT_BYTES` bytes;
//! - no two files share a path, and no file's path is the directory of another file;
//! - the first component of every path is the sanitised torrent name.

use std::collections::HashMap;
#[cfg(test)]
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::config::MAX_PATH_COMPONENT_BYTES;
use crate::wire::metainfo::Info;

/// The safe on-disk layout of a torrent's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafePaths {
    /// The sanitised torrent name: the file of a single-file torrent, the top directory
    /// of a multi-file one.
    pub name: String,
    /// One relative path per file, in torrent order, starting with `name`.
    pub files: Vec<PathBuf>,
    /// What was changed, for `inspect` to show.
    pub changes: Vec<PathChange>,
}

/// One path that had to be changed to be safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    /// The file's index in the torrent, or `None` for the torrent name itself.
    pub file: Option<usize>,
    /// The path as the torrent has it (lossy UTF-8, components joined with `/`).
    pub original: String,
    /// The path hivebt uses instead.
    pub safe: String,
    /// Why, e.g. "'..' component".
    pub reasons: Vec<&'static str>,
}

impl std::fmt::Display for PathChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.file {
            Some(i) => format!("file {i}"),
            None => "torrent name".to_string(),
        };
        write!(
            f,
            "{what} {:?} renamed to {:?} ({})",
            self.original,
            self.safe,
            self.reasons.join(", ")
        )
    }
}

/// Makes one path component safe; returns it with the reasons it changed (none when it
/// was already safe).
pub fn sanitize_component(raw: &[u8]) -> (String, Vec<&'static str>) {
    let mut reasons = Vec::new();
    match raw {
        b"" => return ("_".into(), vec!["empty component"]),
        b"." => return ("_".into(), vec!["'.' component"]),
        b".." => return ("_".into(), vec!["'..' component"]),
        _ => {}
    }
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => {
            reasons.push("not valid UTF-8");
            String::from_utf8_lossy(raw).into_owned()
        }
    };
    if text.starts_with('/') {
        reasons.push("absolute path");
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let replacement = match c {
            '/' | '\\' => Some("path separator"),
            '\0' => Some("NUL byte"),
            c if c.is_control() => Some("control character"),
            _ => None,
        };
        match replacement {
            Some(reason) => {
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
                out.push('_');
            }
            None => out.push(c),
        }
    }
    if out.len() > MAX_PATH_COMPONENT_BYTES {
        reasons.push("component too long");
        out = truncate_keeping_extension(&out, MAX_PATH_COMPONENT_BYTES);
    }
    (out, reasons)
}

/// Shortens `name` to at most `max` bytes on a character boundary, keeping a short
/// extension (up to 16 bytes) so the file still opens with the right program.
fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= 16 && e.len() < max);
    let ext = ext.unwrap_or("");
    let mut cut = max - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &name[..cut], ext)
}

/// `name` with `.n` inserted before its extension (`b.txt` -> `b.1.txt`), shortened
/// first if needed so the result still fits in `MAX_PATH_COMPONENT_BYTES`.
fn numbered(name: &str, n: usize) -> String {
    let tag = format!(".{n}");
    let base = truncate_keeping_extension(name, MAX_PATH_COMPONENT_BYTES - tag.len());
    match base.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{}{tag}{}", &base[..i], &base[i..]),
        None => format!("{base}{tag}"),
    }
}

/// Directory tree of the sanitised paths, one node per distinct directory or file, so
/// conflicts are found in time and memory linear in the number of components.
#[derive(Default)]
struct Tree {
    /// (parent node, component) -> node.
    children: HashMap<(usize, String), usize>,
    /// Per node: it is a directory some file lives in.
    is_dir: Vec<bool>,
    /// Per node: a file already took this path.
    taken: Vec<bool>,
    /// Per (parent node, component): the next number to try when renaming, so many
    /// duplicates of one name cost linear, not quadratic, time.
    next_number: HashMap<(usize, String), usize>,
}

impl Tree {
    fn node(&mut self, parent: usize, component: &str) -> usize {
        if let Some(&n) = self.children.get(&(parent, component.to_string())) {
            return n;
        }
        let n = self.is_dir.len();
        self.is_dir.push(false);
        self.taken.push(false);
        self.children.insert((parent, component.to_string()), n);
        n
    }

    fn lookup(&self, parent: usize, component: &str) -> Option<usize> {
        self.children.get(&(parent, component.to_string())).copied()
    }

    fn free(&self, parent: usize, component: &str) -> bool {
        self.lookup(parent, component)
            .is_none_or(|n| !self.is_dir[n] && !self.taken[n])
    }
}

fn lossy_join(components: &[Vec<u8>]) -> String {
    components
        .iter()
        .map(|c| String::from_utf8_lossy(c))
        .collect::<Vec<_>>()
        .join("/")
}

/// Maps a torrent's name and file paths to safe relative paths (see the module docs).
pub fn sanitize(info: &Info) -> SafePaths {
    let mut changes = Vec::new();
    let (name, reasons) = sanitize_component(&info.name);
    if !reasons.is_empty() {
        changes.push(PathChange {
            file: None,
            original: String::from_utf8_lossy(&info.name).into_owned(),
            safe: name.clone(),
            reasons,
        });
    }

    let mut files = Vec::with_capacity(info.files.len());
    let mut pending_reasons = Vec::with_capacity(info.files.len());
    for file in &info.files {
        let mut path = PathBuf::from(&name);
        let mut reasons: Vec<&'static str> = Vec::new();
        if !info.single_file && file.path.is_empty() {
            reasons.push("empty path");
            path.push("_");
        }
        for component in &file.path {
            let (safe, why) = sanitize_component(component);
            for w in why {
                if !reasons.contains(&w) {
                    reasons.push(w);
                }
            }
            path.push(safe);
        }
        files.push(path);
        pending_reasons.push(reasons);
    }

    // Directories implied by the paths: a file may not take the name of one, nor the
    // name of an earlier file. Node 0 is the root (the directory the torrent goes in).
    let mut tree = Tree::default();
    tree.is_dir.push(true);
    tree.taken.push(false);
    let mut parents = Vec::with_capacity(files.len());
    for path in &files {
        let mut node = 0;
        let components: Vec<String> = path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        for dir in &components[..components.len() - 1] {
            node = tree.node(node, dir);
            tree.is_dir[node] = true;
        }
        parents.push(node);
    }
    for (i, path) in files.iter_mut().enumerate() {
        let parent = parents[i];
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let chosen = if tree.free(parent, &name) {
            name
        } else {
            let key = (parent, name.clone());
            let mut n = tree.next_number.get(&key).copied().unwrap_or(1);
            let free = loop {
                let candidate = numbered(&name, n);
                n += 1;
                if tree.free(parent, &candidate) {
                    break candidate;
                }
            };
            tree.next_number.insert(key, n);
            pending_reasons[i].push("duplicate path");
            path.set_file_name(&free);
            free
        };
        let node = tree.node(parent, &chosen);
        tree.taken[node] = true;
    }

    for (i, reasons) in pending_reasons.into_iter().enumerate() {
        if reasons.is_empty() {
            continue;
        }
        let original = if info.single_file {
            String::from_utf8_lossy(&info.name).into_owned()
        } else {
            format!(
                "{}/{}",
                String::from_utf8_lossy(&info.name),
                lossy_join(&info.files[i].path)
            )
        };
        changes.push(PathChange {
            file: Some(i),
            original,
            safe: files[i].to_string_lossy().into_owned(),
            reasons,
        });
    }

    debug_assert!(files.iter().all(|p| is_safe_relative(p)));
    debug_assert!(
        files
            .iter()
            .flat_map(|p| p.iter())
            .all(|c| c.len() <= MAX_PATH_COMPONENT_BYTES)
    );
    SafePaths {
        name,
        files,
        changes,
    }
}

/// True when `path` is relative and made only of normal components: joined to a
/// directory, it stays inside it.
pub fn is_safe_relative(path: &Path) -> bool {
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::metainfo::FileEntry;

    fn info(name: &[u8], paths: &[&[&[u8]]]) -> Info {
        Info {
            name: name.to_vec(),
            piece_length: 16384,
            pieces: vec![[0; 20]],
            files: paths
                .iter()
                .map(|p| FileEntry {
                    path: p.iter().map(|c| c.to_vec()).collect(),
                    length: 1,
                    padding: false,
                })
                .collect(),
            single_file: false,
            private: false,
            source: None,
            total_length: paths.len() as u64,
        }
    }

    fn paths_of(s: &SafePaths) -> Vec<String> {
        s.files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn safe_paths_pass_unchanged() {
        let s = sanitize(&info(b"top", &[&[b"a", b"b.txt"], &[b"c"]]));
        assert_eq!(paths_of(&s), ["top/a/b.txt", "top/c"]);
        assert!(s.changes.is_empty());
    }

    #[test]
    fn dot_dot_and_dot_and_empty() {
        let s = sanitize(&info(
            b"top",
            &[
                &[b"..", b"..", b"etc", b"passwd"],
                &[b".", b"x"],
                &[b"", b"y"],
            ],
        ));
        assert_eq!(paths_of(&s), ["top/_/_/etc/passwd", "top/_/x", "top/_/y"]);
        assert_eq!(s.changes[0].reasons, ["'..' component"]);
        assert_eq!(s.changes[1].reasons, ["'.' component"]);
        assert_eq!(s.changes[2].reasons, ["empty component"]);
        assert_eq!(
            s.changes[0].to_string(),
            "file 0 \"top/../../etc/passwd\" renamed to \"top/_/_/etc/passwd\" ('..' component)"
        );
    }

    #[test]
    fn absolute_and_separators_and_nul() {
        let s = sanitize(&info(
            b"top",
            &[&[b"/etc/passwd"], &[b"a\\b"], &[b"n\0ul"], &[b"t\tab"]],
        ));
        assert_eq!(
            paths_of(&s),
            ["top/_etc_passwd", "top/a_b", "top/n_ul", "top/t_ab"]
        );
        assert_eq!(s.changes[0].reasons, ["absolute path", "path separator"]);
        assert_eq!(s.changes[2].reasons, ["NUL byte"]);
        assert_eq!(s.changes[3].reasons, ["control character"]);
    }

    #[test]
    fn hostile_names() {
        for (name, safe) in [
            (&b".."[..], "_"),
            (b"/", "_"),
            (b"", "_"),
            (b"/etc", "_etc"),
            (b"a/../../b", "a_.._.._b"),
        ] {
            let mut i = info(name, &[&[b"f"]]);
            i.single_file = true;
            i.files[0].path.clear();
            let s = sanitize(&i);
            assert_eq!(s.name, safe);
            assert_eq!(paths_of(&s), [safe.to_string()]);
            assert_eq!(s.changes.len(), 1, "reported once, as the name");
        }
    }

    #[test]
    fn duplicates_made_distinct() {
        let s = sanitize(&info(
            b"top",
            &[&[b"a.txt"], &[b"a.txt"], &[b"a.1.txt"], &[b".."], &[b"."]],
        ));
        assert_eq!(
            paths_of(&s),
            [
                "top/a.txt",
                "top/a.1.txt",
                "top/a.1.1.txt",
                "top/_",
                "top/_.1"
            ]
        );
        assert_eq!(
            s.changes
                .iter()
                .filter(|c| c.reasons.contains(&"duplicate path"))
                .count(),
            3
        );
    }

    #[test]
    fn file_cannot_shadow_directory() {
        let s = sanitize(&info(b"top", &[&[b"d"], &[b"d", b"f"]]));
        assert_eq!(paths_of(&s), ["top/d.1", "top/d/f"]);
    }

    #[test]
    fn empty_path_list() {
        let s = sanitize(&info(b"top", &[&[]]));
        assert_eq!(paths_of(&s), ["top/_"]);
        assert_eq!(s.changes[0].reasons, ["empty path"]);
    }

    #[test]
    fn invalid_utf8_and_long_names() {
        let (s, r) = sanitize_component(b"caf\xe9");
        assert_eq!((s.as_str(), r), ("caf\u{fffd}", vec!["not valid UTF-8"]));
        let long = format!("{}.mkv", "é".repeat(200));
        let (s, r) = sanitize_component(long.as_bytes());
        assert!(
            s.len() <= MAX_PATH_COMPONENT_BYTES && s.ends_with(".mkv"),
            "{s}"
        );
        assert_eq!(r, ["component too long"]);
    }

    #[test]
    fn every_result_is_safe_relative() {
        let hostile: &[&[u8]] = &[
            b"", b".", b"..", b"/", b"//", b"\\", b"\0", b"../x", b"a/..", b"C:\\x",
        ];
        for a in hostile {
            for b in hostile {
                let s = sanitize(&info(a, &[&[a, b], &[b], &[a, b]]));
                for p in &s.files {
                    assert!(is_safe_relative(p), "{p:?}");
                    assert!(p.starts_with(&s.name));
                }
                let unique: HashSet<_> = s.files.iter().collect();
                assert_eq!(unique.len(), s.files.len());
            }
        }
    }
}
