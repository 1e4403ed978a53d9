//! Captures every log line of the test binary, at TRACE, so tests can assert that no
//! secret ever reaches a log.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

fn buffer() -> &'static Mutex<Vec<u8>> {
    static BUF: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        buffer().lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (TRACE, every target, JSON). Safe to call from every test; the first call wins.
pub fn capture() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // The functions' own subscriber (with its caps on payload-dumping dependencies),
        // at TRACE, in JSON as on Lambda, so the tests see what production would write.
        let subscriber = rotor_core::logging::subscriber(
            || Capture,
            tracing_subscriber::filter::LevelFilter::TRACE,
            None,
            true,
        );
        let _ = tracing_log::LogTracer::init();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Everything logged so far in this test binary.
pub fn contents() -> String {
    String::from_utf8_lossy(&buffer().lock().expect("log buffer")).into_owned()
}

/// Panics (without printing the secret) if any captured line contains `secret`.
pub fn assert_absent(secret: &str, what: &str) {
    assert!(!secret.is_empty(), "nothing to look for");
    let found = contents().lines().filter(|l| l.contains(secret)).count();
    assert_eq!(found, 0, "{found} log line(s) contain the {what}");
}
