//! Prometheus metrics in the text format, rendered by hand: a few counters
//! and latency sums do not need a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// Operations by kind and status, and request latencies by endpoint.
#[derive(Default)]
pub(crate) struct Metrics {
    operations: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<&'static str, (u64, f64)>>,
}

impl Metrics {
    pub(crate) fn operation(&self, operation: &str, status: &str) {
        let mut ops = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        *ops.entry((operation.to_string(), status.to_string()))
            .or_default() += 1;
    }

    pub(crate) fn latency(&self, endpoint: &'static str, elapsed: Duration) {
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let entry = lat.entry(endpoint).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
    }
}

pub(crate) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    out.push_str("# HELP smimed_operations_total S/MIME operations by kind and status.\n");
    out.push_str("# TYPE smimed_operations_total counter\n");
    for ((op, status), n) in state
        .metrics
        .operations
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "smimed_operations_total{{operation=\"{op}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str("# HELP smimed_request_duration_seconds Request latency by endpoint.\n");
    out.push_str("# TYPE smimed_request_duration_seconds summary\n");
    for (endpoint, (count, sum)) in state
        .metrics
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "smimed_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {count}"
        );
        let _ = writeln!(
            out,
            "smimed_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {sum}"
        );
    }
    // Own certificates and CAs: any Prometheus can alert before one
    // expires (docs/operations.md has the rule). A store that cannot be
    // read leaves the series out; /healthz says why.
    if let Ok(watched) = state.engine.watched_certificates().await {
        out.push_str(
            "# HELP smimed_certificate_expiry_timestamp_seconds When an own certificate (with a private key) or a CA expires.\n",
        );
        out.push_str("# TYPE smimed_certificate_expiry_timestamp_seconds gauge\n");
        for w in watched {
            let kind = if w.own { "own" } else { "ca" };
            let _ = writeln!(
                out,
                "smimed_certificate_expiry_timestamp_seconds{{fingerprint=\"{}\",email=\"{}\",kind=\"{kind}\"}} {}",
                w.fingerprint,
                label(&w.emails.join(",")),
                w.not_after
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// A label value in the text format: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
