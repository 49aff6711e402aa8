//! Transfer rates over a sliding window of whole seconds, for peers and torrents.
//!
//! Depends on nothing. The owner calls [`Rate::tick`] once a second.

/// A transfer rate over a sliding window of whole seconds.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    window: [u64; 5],
    current: u64,
    total: u64,
}

impl Rate {
    /// Counts `n` bytes in the current second.
    pub fn add(&mut self, n: u64) {
        self.current += n;
        self.total += n;
    }

    /// Closes the current second (call once a second).
    pub fn tick(&mut self) {
        self.window.rotate_right(1);
        self.window[0] = self.current;
        self.current = 0;
    }

    /// Bytes per second averaged over the window.
    pub fn per_second(&self) -> u64 {
        self.window.iter().sum::<u64>() / self.window.len() as u64
    }

    /// Bytes counted since the start.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window() {
        let mut r = Rate::default();
        for _ in 0..5 {
            r.add(500);
            r.tick();
        }
        assert_eq!(r.per_second(), 500);
        r.tick();
        assert_eq!(r.per_second(), 400);
        assert_eq!(r.total(), 2500);
    }
}
