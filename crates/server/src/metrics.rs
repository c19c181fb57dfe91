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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
