//! `antwort serve` under load: warm `POST /v1/ask` latency (p50, p99) and throughput at 1, 4
//! and 16 concurrent clients on loopback, failed requests, and the server's memory over the
//! run. The query embedding time of the same run, from the server's own stage timings, is
//! the yardstick.
//!
//! `cargo bench --bench serve` (bundled corpus, its dev questions in turn).
//! `ANTWORT_BENCH_REQUESTS` sets the requests in all (default 10,000), `ANTWORT_BENCH_THREADS`
//! and `ANTWORT_BENCH_SESSIONS` the server's `--threads` and `--sessions`.

// Shared by the benches; this one does not run `antwort` one-shot.
#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use antwort::eval::{self, bundled, percentile};
use common::millis;

const LEVELS: [usize; 3] = [1, 4, 16];

/// Resident memory of process `pid`, in MB.
fn resident_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Level {
    clients: usize,
    latencies: Vec<f64>,
    embeds: Vec<f64>,
    failed: usize,
    seconds: f64,
}

fn run_level(url: &str, bodies: &Arc<Vec<String>>, clients: usize, requests: usize) -> Level {
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new(), 0usize)));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (next, results, bodies, url) = (
                Arc::clone(&next),
                Arc::clone(&results),
                Arc::clone(bodies),
                url.to_string(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let (mut latencies, mut embeds, mut failed) = (Vec::new(), Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let sent = Instant::now();
                    let response = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(&bodies[i % bodies.len()]);
                    let report = response
                        .ok()
                        .filter(|r| r.status() == 200)
                        .and_then(|mut r| {
                            let text = r.body_mut().read_to_string().ok()?;
                            serde_json::from_str::<serde_json::Value>(&text).ok()
                        });
                    latencies.push(millis(sent.elapsed()));
                    match report {
                        Some(report) => {
                            embeds.push(report["timings_ms"]["embed"].as_f64().unwrap_or(0.0))
                        }
                        None => failed += 1,
                    }
                }
                let mut all = results.lock().unwrap();
                all.0.extend(latencies);
                all.1.extend(embeds);
                all.2 += failed;
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let (latencies, embeds, failed) = std::mem::take(&mut *results.lock().unwrap());
    Level {
        clients,
        latencies,
        embeds,
        failed,
        seconds,
    }
}

fn main() {
    let requests: usize = std::env::var("ANTWORT_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let index = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-serve-index");
    let built = Command::new(env!("CARGO_BIN_EXE_antwort"))
        .arg("--index")
        .arg(&index)
        .arg("index")
        .output()
        .expect("antwort index runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let mut server = Command::new(env!("CARGO_BIN_EXE_antwort"));
    if let Ok(threads) = std::env::var("ANTWORT_BENCH_THREADS") {
        server.args(["--threads", &threads]);
    }
    server
        .arg("--index")
        .arg(&index)
        .args(["serve", "--addr", "127.0.0.1:0"]);
    if let Ok(sessions) = std::env::var("ANTWORT_BENCH_SESSIONS") {
        server.args(["--sessions", &sessions]);
    }
    let mut server = server
        .stderr(Stdio::piped())
        .spawn()
        .expect("antwort serve starts");
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            Some(
                l.split(" at http://")
                    .nth(1)?
                    .split('/')
                    .next()?
                    .to_string(),
            )
        })
        .expect("the server prints its address");
    std::thread::spawn(move || lines.for_each(drop));
    let url = format!("http://{address}/v1/ask");
    let queries = eval::parse_queries("dev".as_ref(), bundled::DEV_QUERIES).unwrap();
    let bodies: Arc<Vec<String>> = Arc::new(
        queries
            .iter()
            .map(|q| serde_json::json!({"query": q.text}).to_string())
            .collect(),
    );

    // Warm up: every question once, then memory from here on.
    run_level(&url, &bodies, 1, bodies.len());
    let memory_before = resident_mb(server.id());
    let per_level = requests / LEVELS.len();
    let levels: Vec<Level> = LEVELS
        .iter()
        .map(|&clients| run_level(&url, &bodies, clients, per_level))
        .collect();
    let memory_after = resident_mb(server.id());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let stopped = server.wait().expect("the server stops");

    let embed_p50 = percentile(&mut levels[0].embeds.clone(), 0.5);
    let single = &levels[0];
    let single_p50 = percentile(&mut single.latencies.clone(), 0.5);
    let single_throughput = single.latencies.len() as f64 / single.seconds;
    println!(
        "\nantwort serve benchmark (bundled corpus, {} dev questions in turn, {} requests a level, loopback)",
        bodies.len(),
        per_level
    );
    println!("| clients | p50 ms | p99 ms | requests/s | failed |");
    println!("|---|---|---|---|---|");
    for level in &levels {
        let mut latencies = level.latencies.clone();
        println!(
            "| {} | {:.2} | {:.2} | {:.0} | {} |",
            level.clients,
            percentile(&mut latencies, 0.5),
            percentile(&mut latencies, 0.99),
            level.latencies.len() as f64 / level.seconds,
            level.failed
        );
    }
    let four = &levels[1];
    let sixteen_p99 = percentile(&mut levels[2].latencies.clone(), 0.99);
    println!("\n| figure | value | target |");
    println!("|---|---|---|");
    println!("| query embedding p50 (server's own timing, 1 client) | {embed_p50:.2} ms | |");
    println!(
        "| p50 at 1 client / embedding | {:.2}x | <= 1.15x |",
        single_p50 / embed_p50
    );
    println!(
        "| throughput at 4 clients / at 1 | {:.2}x | >= 1.7x |",
        (four.latencies.len() as f64 / four.seconds) / single_throughput
    );
    println!(
        "| p99 at 16 clients / p50 at 1 | {:.2}x | <= 10x |",
        sixteen_p99 / single_p50
    );
    println!(
        "| server memory before / after the {} requests | {memory_before:.0} / {memory_after:.0} MB | flat |",
        per_level * LEVELS.len()
    );
    println!(
        "| failed requests | {} | 0 |",
        levels.iter().map(|l| l.failed).sum::<usize>()
    );
    println!("| server stopped on SIGTERM | {stopped} | exit 0 |");
}
