//! Where the process's logs go: stderr, as text or as JSON lines, panics included.

use std::io::IsTerminal;
use std::panic::PanicHookInfo;

use tracing_subscriber::EnvFilter;

/// Sets up the logs from `ERYXON_LOG` (a filter; `default_filter` when unset or blank) and
/// `ERYXON_LOG_FORMAT` (`text` or `json`), and sends panics to them.
///
/// A setting that cannot be read is an error, and stops the start as a bad flag does: ignored,
/// it left an operator without the logs they asked for and no word why
/// (`startup::bad_settings_are_refused_at_start`).
pub fn init(default_filter: &str) -> Result<(), String> {
    let filter = match std::env::var("ERYXON_LOG") {
        Ok(text) if text.trim().is_empty() => EnvFilter::new(default_filter),
        Err(_) => EnvFilter::new(default_filter),
        Ok(text) => EnvFilter::try_new(&text)
            .map_err(|error| format!("ERYXON_LOG={text:?} is not a log filter: {error}"))?,
    };
    let json = match std::env::var("ERYXON_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => return Err(format!("ERYXON_LOG_FORMAT={other:?}: use text or json")),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    send_panics_to_logs();
    Ok(())
}

/// Sends every later panic to the logs as one error event, or, with no log to write to, to
/// the hook that was in place.
pub fn send_panics_to_logs() {
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| log_panic(info, &before)));
}

/// Logs a panic as one error event of target `eryxon::panic`, with its message, where it
/// happened and the thread, instead of Rust's default text on stderr: a server whose logs are
/// JSON lines kept them JSON lines when a request handler panicked (the client got its `500`
/// from the panic catcher; the operator got an unparsable line). With no log to write to, the
/// hook before speaks (`tests::a_panic_is_one_log_event`).
fn log_panic(info: &PanicHookInfo<'_>, before: &(dyn Fn(&PanicHookInfo<'_>) + Send + Sync)) {
    if !tracing::enabled!(target: "eryxon::panic", tracing::Level::ERROR) {
        return before(info);
    }
    let message = match info.payload() {
        payload if payload.is::<&str>() => payload.downcast_ref::<&str>().copied(),
        payload => payload.downcast_ref::<String>().map(String::as_str),
    }
    .unwrap_or("(a panic without a message)");
    let location = info
        .location()
        .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
    let thread = std::thread::current();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| backtrace.to_string());
    tracing::error!(
        target: "eryxon::panic",
        thread = thread.name().unwrap_or("unnamed"),
        location,
        backtrace,
        "panicked: {message}"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// What a log writes, kept to be read.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_one_log_event() {
        let kept = Kept::default();
        let writer = kept.clone();
        let logs = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        super::send_panics_to_logs();
        tracing::subscriber::with_default(logs, || {
            let caught = std::panic::catch_unwind(|| panic!("the {} part", "third"));
            assert!(caught.is_err());
        });
        // Back to the hook the test harness had, for the other tests' panics.
        drop(std::panic::take_hook());
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        let event = &lines[0];
        assert_eq!(event["level"], "ERROR", "{event}");
        assert_eq!(event["target"], "eryxon::panic", "{event}");
        assert_eq!(
            event["fields"]["message"], "panicked: the third part",
            "{event}"
        );
        let location = event["fields"]["location"].as_str().unwrap();
        assert!(location.starts_with("src/cli/logs.rs:"), "{event}");
    }
}
