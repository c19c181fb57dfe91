//! The whole mail chain with the SMTP gateway: Postfix -> smimed -> Postfix
//! -> Maildir, 1,000 messages of 4 KiB signed and encrypted, against the
//! same chain passing mail through smimed unchanged (From no group's
//! address), measured in one run. Prints messages per second, smimed's CPU
//! per message and share of the machine, the p99 time Postfix's delivery to
//! smimed took (delays=d, the filter's added latency), and smimed's peak
//! RSS.
//!
//! `cargo bench -p smimed --bench gateway [-- MESSAGES [SENDERS]]` (root
//! and Postfix needed, as for the gateway tests).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::relay::{Chain, message};

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(1000);
    let senders = args.next().unwrap_or(8);
    let Some(mut chain) = Chain::prepared() else {
        return;
    };
    chain.smimed.restart_with(&["--max-messages", "64"]);
    let (pf, f_out) = (&chain.pf, chain.pf.filter_outgoing);
    let pid = chain.smimed.child.id();
    let body = "x".repeat(76) + "\r\n";
    let body = body.repeat(4096 / body.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "gateway chain, {n} messages of 4 KiB, {senders} senders, {cores} cores, Postfix {}",
        postfix_version()
    );
    println!(
        "| run | msg/s | smimed CPU ms/msg | smimed share of machine | p99 filter delay | total s |"
    );
    println!("|---|---|---|---|---|---|");
    let mut delivered = 0;
    let mut rates = Vec::new();
    for (label, from) in [
        ("warm-up", "alice@example.org"),
        ("pass-through", "erin@example.net"),
        ("sign+encrypt", "alice@example.org"),
    ] {
        let count = if label == "warm-up" { 50 } else { n };
        let log_from = pf.log().len();
        let cpu_before = cpu_seconds(pid);
        let start = Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..senders)
            .map(|_| {
                let next = next.clone();
                let body = body.clone();
                let submission = pf.submission;
                std::thread::spawn(move || {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let m =
                            message(from, "bob@example.org", &format!("{label}-{i}"), "", &body);
                        common::postfix::smtp_send(submission, from, &["bob@example.org"], &m)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        delivered += count;
        let got = pf.wait_for_mail("bob@example.org", delivered, Duration::from_secs(600));
        assert_eq!(got.len(), delivered, "{}", pf.log());
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid) - cpu_before;
        let log = pf.log();
        let p99 = p99_filter_delay(&log[log_from..], f_out);
        let rate = count as f64 / secs;
        if label != "warm-up" {
            rates.push(rate);
        }
        println!(
            "| {label} | {rate:.0} | {:.2} | {:.0} % | {p99:.3} s | {secs:.1} |",
            cpu * 1000.0 / count as f64,
            cpu / secs / cores as f64 * 100.0,
        );
    }
    println!(
        "S/MIME costs {:.2}x the pass-through chain (goal: at most 2x); smimed peak RSS {} MiB",
        rates[0] / rates[1],
        peak_rss_kib(pid) / 1024
    );
    chain.smimed.signal("-TERM");
}

fn postfix_version() -> String {
    std::process::Command::new("/usr/sbin/postconf")
        .args(["-d", "-h", "mail_version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The 99th percentile of the time Postfix's deliveries to smimed's port
/// took (the last of `delays=a/b/c/d`: the transaction with the filter).
fn p99_filter_delay(log: &str, port: u16) -> f64 {
    let relay = format!(":{port},");
    let mut d: Vec<f64> = log
        .lines()
        .filter(|l| l.contains(&relay))
        .filter_map(|l| {
            let delays = l.split("delays=").nth(1)?.split(',').next()?;
            delays.split('/').nth(3)?.parse().ok()
        })
        .collect();
    if d.is_empty() {
        return f64::NAN;
    }
    d.sort_by(|a, b| a.total_cmp(b));
    d[(d.len() * 99 / 100).min(d.len() - 1)]
}
