//! Shutting live sockets down: on [`ChatApi::shutdown_websockets`](crate::ChatApi::shutdown_websockets)
//! every open WebSocket is closed with 1001 (going away), so clients reconnect at once
//! instead of seeing an abnormal 1006 when the process exits.

use tokio::sync::watch;

/// Whether the API is shutting down, and how many sockets are still open.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    shutting_down: watch::Sender<bool>,
    open: watch::Sender<usize>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            shutting_down: watch::Sender::new(false),
            open: watch::Sender::new(0),
        }
    }
}

impl Lifecycle {
    /// Counts one open socket until the guard drops; the receiver tells it to close.
    pub(crate) fn opened(&self) -> (OpenSocket<'_>, watch::Receiver<bool>) {
        self.open.send_modify(|open| *open += 1);
        (OpenSocket { lifecycle: self }, self.shutting_down.subscribe())
    }

    /// Tells every socket to close, then waits until none is open.
    pub(crate) async fn shut_down(&self) {
        self.shutting_down.send_replace(true);
        let mut open = self.open.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

/// One open socket; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct OpenSocket<'a> {
    lifecycle: &'a Lifecycle,
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.lifecycle.open.send_modify(|open| *open = open.saturating_sub(1));
    }
}
