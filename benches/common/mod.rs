//! What the benches share: timing a fresh `antwort` process.

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `antwort` with `args` in a fresh process and returns its wall time in ms and its own
/// peak resident memory in MB.
///
/// Linux counts into a spawned child's peak the memory of the process that spawned it, as it
/// was at the spawn; so every child is spawned before this process loads a model, while it is
/// still small, and reaped with `wait4` for its own figure rather than the largest child's.
pub fn run_antwort(args: &[&OsStr]) -> (f64, f64) {
    let started = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped below with wait4, which std does not offer"
    )]
    let child = Command::new(env!("CARGO_BIN_EXE_antwort"))
        .args(args)
        // The default pipeline, even when a cross-encoder is named for the rerank figures.
        .env_remove(antwort::rerank::cross_encoder::RERANKER_ENV)
        .stdout(Stdio::null())
        .spawn()
        .expect("antwort runs");
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: the pid is our own unreaped child, and wait4 fills the status and usage it is
    // given.
    let usage = unsafe {
        let pid = libc::wait4(
            child.id() as libc::pid_t,
            &mut status,
            0,
            usage.as_mut_ptr(),
        );
        assert!(pid > 0, "cannot wait for antwort");
        usage.assume_init()
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "antwort {args:?} failed; run it by hand to see why"
    );
    (millis(started.elapsed()), usage.ru_maxrss as f64 / 1024.0)
}
