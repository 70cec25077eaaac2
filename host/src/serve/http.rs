//! `serve`'s HTTP front: every connection bounded before anyone is
//! authenticated.
//!
//! The port is reachable by whoever can reach it, and a webhook delivery is
//! only known to be MLflow's once its body was read and its signature
//! checked. So what a client without the secret can hold is bounded here,
//! whatever the number of clients:
//!
//! - **HTTP/1.1 only.** MLflow delivers webhooks with `requests` (HTTP/1.1),
//!   probes and scrapers speak it; HTTP/2 would add streams a client opens
//!   by the hundred on one connection, each holding a request.
//! - **Connections**: at most [`MAX_CONNECTIONS`] at once. A new one past
//!   the cap takes the place of the oldest connection that is not in the
//!   middle of a request (still sending its headers, or idle between
//!   requests): a client that holds connections open and half-sent cannot
//!   keep `/healthz`, `/metrics` or a signed delivery out.
//! - **Time**: a request's headers must arrive within [`HEADER_TIMEOUT`]
//!   (the same between two requests of a kept-alive connection), and a
//!   connection lives at most [`CONNECTION_LIFETIME`].
//! - **Size**: headers at most [`MAX_HEADER_BYTES`]; a delivery's body is
//!   bounded, timed and read by at most a few at once (see `delivery` in
//!   [`super`]).
//!
//! The aggregate, in docs/security.md: [`MAX_CONNECTIONS`] × (the header
//! buffer and the connection's own state) plus the body reads, about 30 MiB
//! whatever the clients do.
//!
//! On shutdown the listener closes, every connection is asked to finish
//! (a connection between requests closes at once), and what is left when
//! the drain ends is dropped: half-sent requests cannot hold `serve` past
//! `--drain`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Most connections open at once: 512, half the 1,024 descriptors a
/// process usually gets, so that the registry client, SQLite and the
/// process gates keep theirs.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest a client may take to send a request's headers (and, on a kept
/// connection, to start the next request): 5 s. MLflow, probes and
/// scrapers send theirs at once.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection lives, requests and idle time together: 60 s.
/// Every request `serve` answers takes milliseconds.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request head (request line and headers): 16 KiB. MLflow's
/// deliveries carry a handful of short headers.
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// One connection as the front keeps track of it.
struct Tracked {
    /// True while a request is being answered (its headers are in).
    busy: Arc<AtomicBool>,
    /// Told to the connection to drop it.
    evict: Arc<Notify>,
}

/// The connections open now, oldest first.
#[derive(Default)]
struct Connections {
    open: Mutex<BTreeMap<u64, Tracked>>,
    next: AtomicU64,
    /// Connections closed to make room for newer ones, or refused.
    evicted: AtomicU64,
}

impl Connections {
    /// Admits a new connection, making room when at the cap by evicting the
    /// oldest one that is not answering a request. `None`: no room.
    fn admit(&self) -> Option<(u64, Arc<AtomicBool>, Arc<Notify>)> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= MAX_CONNECTIONS {
            let idle = open
                .iter()
                .find(|(_, t)| !t.busy.load(Ordering::Acquire))
                .map(|(id, _)| *id);
            self.evicted.fetch_add(1, Ordering::Relaxed);
            let id = idle?;
            if let Some(t) = open.remove(&id) {
                t.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::new(AtomicBool::new(false));
        let evict = Arc::new(Notify::new());
        open.insert(
            id,
            Tracked {
                busy: busy.clone(),
                evict: evict.clone(),
            },
        );
        Some((id, busy, evict))
    }

    fn leave(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    fn count(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }
}

/// What the front reports to `/metrics`.
#[derive(Clone)]
pub struct Front {
    connections: Arc<Connections>,
}

impl Front {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.connections.count()
    }

    /// Connections closed to make room for newer ones (or refused for want
    /// of any to close), since start.
    pub fn evicted(&self) -> u64 {
        self.connections.evicted.load(Ordering::Relaxed)
    }
}

/// Serves `app` on `listener` until `stop` turns true; then stops
/// accepting, asks every connection to finish, and returns once they have
/// or `drain` has passed (dropping the rest).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
    front: Front,
) {
    let connections = front.connections.clone();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of descriptors (or a connection reset before it was
            // taken): a moment for connections to close, then on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Reap the finished connections' tasks as we go.
        while tasks.try_join_next().is_some() {}
        let Some((id, busy, evict)) = connections.admit() else {
            drop(stream);
            continue;
        };
        let (app, connections, mut stop) = (app.clone(), connections.clone(), stop.clone());
        tasks.spawn(async move {
            let flag = busy.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let flag = flag.clone();
                    flag.store(true, Ordering::Release);
                    async move {
                        let response = tower_call(app, req).await;
                        flag.store(false, Ordering::Release);
                        response
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
            tokio::pin!(lifetime);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = evict.notified() => {}
                _ = &mut lifetime => {}
                _ = stopped(&mut stop) => {
                    // Finish the request under way, if any; the drain
                    // bounds how long (the caller drops what is left).
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = evict.notified() => {}
                    }
                }
            }
            connections.leave(id);
        });
    }
    drop(listener);
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tasks.abort_all();
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Calls the router for one request.
async fn tower_call(
    app: axum::Router,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, std::convert::Infallible> {
    use tower_service::Service as _;
    let mut app = app;
    app.call(req.map(axum::body::Body::new)).await
}

/// A front to hand [`serve`] and `/metrics`.
pub fn front() -> Front {
    Front {
        connections: Arc::new(Connections::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_oldest_connection_between_requests_makes_room() {
        let c = Connections::default();
        let mut admitted = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            admitted.push(c.admit().expect("room"));
        }
        // All but the very first are answering a request.
        for (_, busy, _) in &admitted[1..] {
            busy.store(true, Ordering::Release);
        }
        let (_, _, first_evict) = &admitted[0];
        let newest = c.admit().expect("the idle one made room");
        assert_eq!(c.count(), MAX_CONNECTIONS);
        assert_eq!(c.evicted.load(Ordering::Relaxed), 1);
        // The evicted one was told (a permit is stored for it).
        let told = first_evict.notified();
        futures::pin_mut!(told);
        assert!(futures::FutureExt::now_or_never(told).is_some());
        // Everyone busy: no room, the newcomer is refused.
        newest.1.store(true, Ordering::Release);
        assert!(c.admit().is_none());
        c.leave(newest.0);
        assert!(c.admit().is_some());
    }
}
