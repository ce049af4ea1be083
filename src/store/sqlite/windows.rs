//! Rate-limit windows kept in this process: one process serves a SQLite file.

use uuid::Uuid;

/// Per key, the Unix minute counted and the requests seen in it.
#[derive(Default)]
pub(super) struct WindowCounter(std::sync::Mutex<std::collections::HashMap<Uuid, (u64, u32)>>);

impl WindowCounter {
    pub(super) fn count(&self, key_id: Uuid, window: u64) -> u32 {
        let mut windows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (seen_in, requests) = windows.entry(key_id).or_insert((window, 0));
        if *seen_in != window {
            *seen_in = window;
            *requests = 0;
        }
        *requests = requests.saturating_add(1);
        *requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_key_and_restart_each_minute() {
        let counter = WindowCounter::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(counter.count(a, 100), 1);
        assert_eq!(counter.count(a, 100), 2);
        assert_eq!(counter.count(b, 100), 1);
        assert_eq!(counter.count(a, 101), 1);
    }
}
