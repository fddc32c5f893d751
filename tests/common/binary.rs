//! The `antwort` binary run as a user runs it, and what it printed.

use std::path::Path;
use std::process::{Command, Output};

pub fn antwort(index: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antwort"))
        .arg("--index")
        .arg(index)
        .args(args)
        .output()
        .expect("antwort runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that `output` failed with exit code 1 and one clear message: every one of `needles`
/// in it, and no panic.
pub fn assert_clear_error(output: &Output, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let message = stderr(output);
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} missing in {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
}
