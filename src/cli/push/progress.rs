//! Progress on stderr: a bar on a terminal, plain lines in logs and pipes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

pub struct Progress {
    terminal: bool,
    stage: Mutex<Option<Stage>>,
}

struct Stage {
    entity: &'static str,
    total: usize,
    done: AtomicUsize,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            stage: Mutex::new(None),
        }
    }

    fn stage(&self) -> std::sync::MutexGuard<'_, Option<Stage>> {
        self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(&self, entity: &'static str, total: usize, files: &[&str]) {
        let bar = self.terminal.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {rate} eta {eta}",
            )
            .expect("a valid template")
            .with_key(
                "rate",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.0} records/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(entity);
            bar
        });
        if bar.is_none() {
            eprintln!(
                "{entity}: sending {total} records from {}",
                files.join(", ")
            );
        }
        *self.stage() = Some(Stage {
            entity,
            total,
            done: AtomicUsize::new(0),
            bar,
        });
    }

    /// `records` more were answered.
    pub fn advance(&self, records: usize) {
        let stage = self.stage();
        let Some(stage) = stage.as_ref() else {
            return;
        };
        let before = stage.done.fetch_add(records, Ordering::Relaxed);
        let after = before + records;
        match &stage.bar {
            Some(bar) => bar.inc(records as u64),
            None => {
                // A line per tenth keeps logs of large loads readable.
                let tenth = |n: usize| n * 10 / stage.total.max(1);
                if tenth(after) > tenth(before) && after < stage.total {
                    eprintln!("{}: {after}/{}", stage.entity, stage.total);
                }
            }
        }
    }

    pub fn finish(&self, line: &str) {
        if let Some(stage) = self.stage().take() {
            if let Some(bar) = stage.bar {
                bar.finish_and_clear();
            }
        }
        eprintln!("{line}");
    }

    /// A message that must not be drawn over by the bar.
    pub fn note(&self, line: &str) {
        match self.stage().as_ref().and_then(|s| s.bar.as_ref()) {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
