//! The progress bar.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rask_graph::{Callback, ComputeFinish, ComputeStart, TaskFinish};

use crate::ticker::Ticker;

type Out = Arc<Mutex<Box<dyn Write + Send>>>;

/// Dask's progress bar: `[########################################] | 100% Completed | 1.95 s`.
///
/// A finished task costs one atomic increment; a ticker thread redraws the bar at most every
/// `interval` (100 ms) while a computation runs. When the output is not a terminal only the
/// final line is written.
///
/// ```
/// use rask_diagnostics::ProgressBar;
/// use std::time::Duration;
///
/// let bar = ProgressBar::builder().interval(Duration::from_millis(50)).build();
/// // Attach it for one computation: `x.compute_on(&scheduler, &[&bar])`, or for a scope:
/// // `let _guard = rask::config::add_callback(std::sync::Arc::new(bar));`
/// # drop(bar);
/// ```
pub struct ProgressBar {
    interval: Duration,
    width: usize,
    terminal: bool,
    out: Out,
    done: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    run: Mutex<Option<(Instant, Option<Ticker>)>>,
}

impl fmt::Debug for ProgressBar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressBar")
            .field("interval", &self.interval)
            .field("terminal", &self.terminal)
            .finish()
    }
}

/// Configures a [`ProgressBar`].
pub struct ProgressBarBuilder {
    interval: Duration,
    width: usize,
    out: Option<Box<dyn Write + Send>>,
    terminal: Option<bool>,
}

impl fmt::Debug for ProgressBarBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressBarBuilder")
            .field("interval", &self.interval)
            .finish()
    }
}

impl ProgressBarBuilder {
    /// The most often the bar is redrawn. Default: 100 ms.
    pub fn interval(mut self, dt: Duration) -> Self {
        self.interval = dt;
        self
    }

    /// The number of `#` in a full bar. Default: 40.
    pub fn width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    /// Where to draw (default: stderr). A writer other than stderr counts as not a terminal
    /// unless [`terminal`](ProgressBarBuilder::terminal) says otherwise.
    pub fn writer(mut self, w: impl Write + Send + 'static) -> Self {
        self.out = Some(Box::new(w));
        self.terminal.get_or_insert(false);
        self
    }

    /// Whether to redraw in place (`\r`) while running, or only write the final line.
    pub fn terminal(mut self, yes: bool) -> Self {
        self.terminal = Some(yes);
        self
    }

    /// Builds the bar.
    pub fn build(self) -> ProgressBar {
        let terminal = self
            .terminal
            .unwrap_or_else(|| std::io::stderr().is_terminal());
        let out: Box<dyn Write + Send> = self.out.unwrap_or_else(|| Box::new(std::io::stderr()));
        ProgressBar {
            interval: self.interval,
            width: self.width,
            terminal,
            out: Arc::new(Mutex::new(out)),
            done: Arc::default(),
            total: Arc::default(),
            run: Mutex::new(None),
        }
    }
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressBar {
    /// A bar on stderr, redrawn every 100 ms.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> ProgressBarBuilder {
        ProgressBarBuilder {
            interval: Duration::from_millis(100),
            width: 40,
            out: None,
            terminal: None,
        }
    }
}

/// The bar's text: `[####    ] |  45% Completed |  1.2 s`.
fn line(width: usize, done: usize, total: usize, elapsed: Duration) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (frac * width as f64) as usize;
    format!(
        "[{}{}] | {:>3}% Completed | {:.2} s",
        "#".repeat(filled),
        " ".repeat(width - filled),
        (frac * 100.0) as u32,
        elapsed.as_secs_f64()
    )
}

fn write_out(out: &Out, text: &str) {
    let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = w.write_all(text.as_bytes());
    let _ = w.flush();
}

impl Callback for ProgressBar {
    fn on_compute_start(&self, e: &ComputeStart) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(e.tasks, Ordering::Relaxed);
        let start = Instant::now();
        let ticker = self.terminal.then(|| {
            let (out, done, total, width) = (
                Arc::clone(&self.out),
                Arc::clone(&self.done),
                Arc::clone(&self.total),
                self.width,
            );
            Ticker::start("rask-progress", self.interval, move || {
                let text = line(
                    width,
                    done.load(Ordering::Relaxed),
                    total.load(Ordering::Relaxed),
                    start.elapsed(),
                );
                write_out(&out, &format!("\r{text}"));
            })
        });
        *self.run.lock().unwrap_or_else(PoisonError::into_inner) = Some((start, ticker));
    }

    #[inline]
    fn on_task_finish(&self, _: &TaskFinish) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn on_compute_finish(&self, _: &ComputeFinish) {
        let Some((start, ticker)) = self
            .run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        if let Some(t) = ticker {
            t.stop();
        }
        let text = line(
            self.width,
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            start.elapsed(),
        );
        let prefix = if self.terminal { "\r" } else { "" };
        write_out(&self.out, &format!("{prefix}{text}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_dask() {
        assert_eq!(
            line(40, 10, 10, Duration::from_millis(1950)),
            "[########################################] | 100% Completed | 1.95 s"
        );
        assert_eq!(
            line(10, 9, 20, Duration::from_millis(120)),
            "[####      ] |  45% Completed | 0.12 s"
        );
        assert_eq!(
            line(4, 0, 0, Duration::ZERO),
            "[####] | 100% Completed | 0.00 s"
        );
    }
}
