//! The extraction progress bar (bytes of evidence and files written) and the
//! warnings shown while it runs. Hidden when stderr is not a terminal, under
//! `--json` and under `--quiet`.

use crate::output::term;
use exhibit_core::Observer;
use exhibit_core::evidence::EvidenceKind;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many problems are printed; the custody log keeps them all.
const MAX_PRINTED: u64 = 20;

/// Shows progress on stderr.
pub struct Progress {
    bar: ProgressBar,
    files: AtomicU64,
    problems: AtomicU64,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal and output is for people.
    pub fn new(quiet: bool, json: bool) -> Progress {
        let visible = !quiet && !json && std::io::stderr().is_terminal();
        let bar = if visible {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8))
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            files: AtomicU64::new(0),
            problems: AtomicU64::new(0),
            quiet: quiet || json,
        }
    }

    /// The bar, to hide it while the examiner is asked something.
    pub fn bar(&self) -> ProgressBar {
        self.bar.clone()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        let n = self.problems.load(Ordering::Relaxed);
        if !self.quiet && n > MAX_PRINTED {
            eprintln!(
                "exhibit: {} more warnings and errors not shown; `exhibit log CASE` lists them all",
                n - MAX_PRINTED
            );
        }
    }
}

impl Observer for Progress {
    fn started(&self, size: u64, _kind: EvidenceKind) {
        self.bar.set_length(size);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.bar.set_style(style);
    }

    fn evidence_progress(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }

    fn file_written(&self, _case_path: &str, _size: u64) {
        let n = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        if n % 64 == 1 {
            self.bar.set_message(format!("{n} files"));
        }
    }

    fn busy(&self, what: &str) {
        self.bar.set_message(term(what).into_owned());
    }

    fn problem(&self, error: bool, message: &str) {
        let n = self.problems.fetch_add(1, Ordering::Relaxed) + 1;
        if self.quiet || n > MAX_PRINTED {
            return;
        }
        let label = if error { "error" } else { "warning" };
        self.bar
            .suspend(|| eprintln!("exhibit: {label}: {}", term(message)));
    }
}
