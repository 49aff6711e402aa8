//! Progress reporting on stderr: a live bar on a terminal, a plain line every few
//! seconds otherwise, nothing for operations that finish quickly.
//!
//! Depends on `config`. Callers pass `now`; this module never reads the clock.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::config::{PROGRESS_BAR_INTERVAL_MILLIS, PROGRESS_LINE_INTERVAL_SECS};

/// A progress reporter for one operation over a known number of bytes.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    started_at: Instant,
    next_draw_at: Instant,
    terminal: bool,
    drawn: bool,
}

impl Progress {
    /// Starts reporting `label` ("hashing", "verifying") over `total` bytes.
    pub fn new(label: &'static str, total: u64, now: Instant) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress {
            label,
            total,
            done: 0,
            started_at: now,
            next_draw_at: now + Self::interval(terminal),
            terminal,
            drawn: false,
        }
    }

    fn interval(terminal: bool) -> Duration {
        if terminal {
            Duration::from_millis(PROGRESS_BAR_INTERVAL_MILLIS)
        } else {
            Duration::from_secs(PROGRESS_LINE_INTERVAL_SECS)
        }
    }

    /// Adds `bytes` to the work done.
    pub fn advance(&mut self, bytes: u64) {
        self.done = (self.done + bytes).min(self.total);
    }

    /// When the next redraw is due; the caller's poll should wake by then.
    pub fn next_draw_at(&self) -> Instant {
        self.next_draw_at
    }

    /// Redraws if due.
    pub fn tick(&mut self, now: Instant) {
        if now < self.next_draw_at {
            return;
        }
        self.next_draw_at = now + Self::interval(self.terminal);
        let pct = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        let secs = now.duration_since(self.started_at).as_secs_f64().max(1e-6);
        let rate = self.done as f64 / secs;
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let width = 30;
            let filled = ((pct / 100.0) * width as f64) as usize;
            let _ = write!(
                err,
                "\r{} [{}{}] {:5.1}% {}/s ",
                self.label,
                "#".repeat(filled),
                "-".repeat(width - filled),
                pct,
                human_bytes(rate as u64)
            );
        } else {
            let _ = writeln!(
                err,
                "{}: {:.1}% ({} of {}, {}/s)",
                self.label,
                pct,
                human_bytes(self.done),
                human_bytes(self.total),
                human_bytes(rate as u64)
            );
        }
        self.drawn = true;
    }

    /// Clears the bar, if one was drawn, so the summary starts on a clean line.
    pub fn finish(&mut self) {
        if self.terminal && self.drawn {
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(70));
        }
    }
}

/// How often the engine reports transfer progress: every second on a terminal (the
/// line is redrawn in place), every five seconds otherwise.
pub fn transfer_interval() -> Duration {
    if std::io::stderr().is_terminal() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(PROGRESS_LINE_INTERVAL_SECS)
    }
}

/// Prints one transfer progress line on stderr: on a terminal a bar for `pct` percent
/// and the line, redrawn in place; otherwise a plain new line.
pub fn transfer_line(pct: f64, line: &str, _now: Instant) {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let width = 20;
        let filled = ((pct.clamp(0.0, 100.0) / 100.0) * width as f64) as usize;
        let _ = write!(
            err,
            "\r[{}{}] {line:<70}",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
    } else {
        let _ = writeln!(err, "{line}");
    }
}

/// Ends the in-place progress line on a terminal, so what follows starts on a new line.
pub fn end_transfer_lines() {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = writeln!(err);
    }
}

/// `1536` -> `1.5 KiB`: binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
