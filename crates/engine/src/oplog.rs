//! Where operation log entries go. A short-lived process (the CLI) writes
//! each one at once. The service hands them to one writer task that
//! commits whatever has queued up in one transaction (a group commit), so
//! no request waits for a log write, and [`Engine::flush_log`] writes
//! what is queued before the process ends.

use std::time::Duration;

use smimed_store::{Operation, Store};
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Result};

/// Entries waiting for the writer; beyond, a request waits for room (the
/// store is slower than the mail, and the log must not be dropped).
const QUEUE: usize = 8192;

/// Entries in one transaction at most.
const BATCH: usize = 1024;

/// How long the writer waits after an entry for others to join its
/// transaction (unless flushed): under load, one commit for the entries of
/// many messages instead of one for every few.
const GATHER: Duration = Duration::from_millis(10);

/// How often a failed write is tried again before its entries are given up
/// (with an error in the service log naming how many).
const ATTEMPTS: u32 = 10;

pub(crate) enum OpLog {
    /// Written by the caller, at once.
    Direct(Store),
    /// Queued for the writer task.
    Queued(mpsc::Sender<Command>),
}

pub(crate) enum Command {
    Log(Operation),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

impl OpLog {
    pub(crate) async fn log(&self, mut op: Operation) -> Result<()> {
        match self {
            OpLog::Direct(store) => Ok(store.log_operation(&op).await?),
            OpLog::Queued(queue) => {
                op.at = smime::now();
                if let Err(mpsc::error::SendError(Command::Log(op))) =
                    queue.send(Command::Log(op)).await
                {
                    // The writer is gone (the runtime is shutting down):
                    // nothing else will write it.
                    tracing::error!(
                        operation = %op.operation,
                        "the operation log writer has stopped; entry not written"
                    );
                }
                Ok(())
            }
        }
    }
}

impl Engine {
    /// Hands operation log entries to one writer task that commits them in
    /// batches. For a long-running service; call [`Engine::flush_log`]
    /// before it exits. Needs a tokio runtime.
    pub fn with_queued_log(mut self) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(self.store.clone(), rx));
        self.oplog = OpLog::Queued(tx);
        self
    }

    /// Returns once every operation logged before the call is written.
    pub async fn flush_log(&self) {
        if let OpLog::Queued(queue) = &self.oplog {
            let (done, written) = oneshot::channel();
            if queue.send(Command::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        }
    }
}

async fn writer(store: Store, mut queue: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut gathered = false;
        loop {
            while let Some(command) = next {
                match command {
                    Command::Log(op) => batch.push(op),
                    Command::Flush(done) => flushes.push(done),
                }
                next = if batch.len() < BATCH {
                    queue.try_recv().ok()
                } else {
                    None
                };
            }
            if gathered || !flushes.is_empty() || batch.len() >= BATCH {
                break;
            }
            // Let the entries of the messages in flight join this batch.
            gathered = true;
            tokio::time::sleep(GATHER).await;
            next = queue.try_recv().ok();
        }
        write(&store, &batch).await;
        batch.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write(store: &Store, batch: &[Operation]) {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=ATTEMPTS {
        match store.log_operations(batch).await {
            Ok(()) => return,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, entries = batch.len(), attempt, "operation log write failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(error = %e, entries = batch.len(), "operation log entries could not be written and are lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smimed_store::MasterKey;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_entries_are_all_written_by_the_flush_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::open(&url, MasterKey::from_bytes([1; 32]))
            .await
            .unwrap();
        let engine = Engine::new(store.clone(), 1).with_queued_log();
        let n = 5000;
        for i in 0..n {
            engine
                .oplog
                .log(Operation {
                    direction: "outgoing".into(),
                    operation: "sign".into(),
                    status: "success".into(),
                    message_id: format!("<{i}@test>"),
                    token_name: "t".into(),
                    ..Operation::default()
                })
                .await
                .unwrap();
        }
        // Queued, not written on the caller's path.
        engine.flush_log().await;
        let written = store.operations(2 * n, 0).await.unwrap();
        assert_eq!(written.len() as i64, n);
        // Newest first, in the order logged, each with the time it happened.
        assert_eq!(written[0].message_id, format!("<{}@test>", n - 1));
        assert_eq!(written[written.len() - 1].message_id, "<0@test>");
        assert!(written.iter().all(|op| op.at > 0));
    }
}
