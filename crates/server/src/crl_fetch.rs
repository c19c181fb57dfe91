//! Fetching CRLs (setting `crl_fetch`, off by default): in the background,
//! never during a message. The URLs are the HTTP distribution points of
//! certificates issued by stored CAs (so only CRLs a stored CA signs are
//! asked for, and a sender cannot make the service fetch an address of
//! its choosing); each is fetched again once the CRL it gave is due
//! (nextUpdate), after a failure later and later. Every fetch has a
//! connect timeout, a deadline for the whole answer and a size bound, so a
//! server that hangs or sends without end costs one slot for at most the
//! deadline. What arrives is imported as an admin's upload would be
//! (`Engine::import_crl`, audited as `smimed`): signed by a stored CA,
//! current, newer than the stored one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use smimed_engine::{Actor, Engine};

/// The bounds of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// To open the connection.
    pub connect: Duration,
    /// For the whole answer, from the request on.
    pub deadline: Duration,
    /// Bytes of the answer's body.
    pub max_bytes: usize,
    /// URLs per round.
    pub max_urls: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            max_bytes: smime::crl::MAX_CRL_BYTES,
            max_urls: 64,
        }
    }
}

/// What one URL gave in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// A CRL was stored.
    Stored,
    /// The CRL was no newer than the stored one.
    Unchanged,
    /// Not due yet (Unix seconds of the next try).
    NotDue(i64),
    /// It failed; the text says why.
    Failed(String),
}

/// When each URL is asked next, Unix seconds, and how often it failed in
/// a row (for the back-off).
#[derive(Debug, Default)]
pub struct Schedule {
    next: HashMap<String, (i64, u32)>,
}

/// The wait after the n-th failure in a row: 15 minutes, doubling, at
/// most 6 hours.
fn backoff(failures: u32) -> i64 {
    ((15 * 60i64) << failures.clamp(1, 6).saturating_sub(1)).min(6 * 3600)
}

/// One round: every URL that is due is fetched and imported, in turn.
pub async fn round(
    engine: &Engine,
    schedule: &mut Schedule,
    limits: &FetchLimits,
) -> Vec<(String, Fetched)> {
    let urls = match engine.crl_sources(limits.max_urls).await {
        Ok(urls) => urls,
        Err(e) => {
            tracing::warn!(error = %e, "CRL sources could not be read");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for url in urls {
        let now = smime::now();
        if let Some(&(at, _)) = schedule.next.get(&url)
            && at > now
        {
            out.push((url, Fetched::NotDue(at)));
            continue;
        }
        let result = match fetch(&url, limits).await {
            Ok(bytes) => engine
                .import_crl(&Actor::service(), bytes, &url)
                .await
                .map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        let outcome = match result {
            Ok(done) => {
                // Asked again when it is due, and at least daily.
                let due = done.next_update_at.unwrap_or(now + 3600);
                schedule
                    .next
                    .insert(url.clone(), (due.clamp(now + 300, now + 86_400), 0));
                Fetched::Stored
            }
            Err(why) if why.contains("not newer") => {
                schedule.next.insert(url.clone(), (now + 3600, 0));
                Fetched::Unchanged
            }
            Err(why) => {
                let failures = schedule.next.get(&url).map_or(0, |&(_, n)| n) + 1;
                schedule
                    .next
                    .insert(url.clone(), (now + backoff(failures), failures));
                tracing::warn!(url = %url, error = %why, "CRL fetch failed");
                Fetched::Failed(why)
            }
        };
        out.push((url, outcome));
    }
    out
}

/// Every `every`, a round while `crl_fetch` is on.
pub async fn run(engine: Arc<Engine>, every: Duration, limits: FetchLimits) {
    let mut schedule = Schedule::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match engine.settings(&Actor::service()).await {
            Ok(s) if s.crl_fetch => {
                round(&engine, &mut schedule, &limits).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "settings could not be read"),
        }
    }
}

/// `GET url` over HTTP/1.1 within `limits`: the body of a 200 answer.
pub async fn fetch(url: &str, limits: &FetchLimits) -> Result<Vec<u8>, String> {
    let (host, port, path) = split_url(url)?;
    let work = async {
        let stream = tokio::time::timeout(
            limits.connect,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| format!("no connection within {} s", limits.connect.as_secs()))?
        .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(connection);
        let host_field = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host_field)
            .header(hyper::header::USER_AGENT, "smimed")
            .body(axum::body::Body::empty())
            .map_err(|e| format!("HTTP: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            driver.abort();
            return Err(format!("the server answered {}", response.status()));
        }
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = declared
            && n > limits.max_bytes
        {
            driver.abort();
            return Err(format!(
                "the CRL is {n} bytes; at most {} are read",
                limits.max_bytes
            ));
        }
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| {
            hyper::body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
        })
        .await
        {
            let frame = frame.map_err(|e| format!("HTTP: {e}"))?;
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > limits.max_bytes {
                    driver.abort();
                    return Err(format!(
                        "the CRL is over {} bytes; the rest was not read",
                        limits.max_bytes
                    ));
                }
                bytes.extend_from_slice(data);
            }
        }
        driver.abort();
        Ok(bytes)
    };
    tokio::time::timeout(limits.deadline, work)
        .await
        .map_err(|_| format!("no whole answer within {} s", limits.deadline.as_secs()))?
}

/// `http://host[:port]/path` → host, port, path. Only plain HTTP: CRLs are
/// signed, and the distribution points of real CAs use it.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are fetched"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') || authority.is_empty() {
        return Err(format!("{url}: not a plain host"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url}: the port is not a number"))?,
        ),
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port, path.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_split_into_host_port_and_path() {
        let split = |u| super::split_url(u);
        assert_eq!(
            split("http://crl.example.org/ca.crl").unwrap(),
            ("crl.example.org".into(), 80, "/ca.crl".into())
        );
        assert_eq!(
            split("http://127.0.0.1:8081/x/y.crl").unwrap(),
            ("127.0.0.1".into(), 8081, "/x/y.crl".into())
        );
        assert_eq!(split("http://h").unwrap().2, "/");
        assert!(split("https://crl.example.org/ca.crl").is_err());
        assert!(split("http://user@h/x").is_err());
        assert!(split("http://h:port/x").is_err());
    }

    #[test]
    fn failures_wait_longer_and_longer_up_to_six_hours() {
        let waits: Vec<i64> = (1..=7).map(super::backoff).collect();
        assert_eq!(waits[0], 15 * 60);
        assert_eq!(waits[1], 30 * 60);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), 6 * 3600);
    }
}
