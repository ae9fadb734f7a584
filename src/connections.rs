//! Serving one listener's connections, with the bounds a gateway reachable by many clients needs:
//! a connection whose request headers do not all arrive within the header timeout is closed, and
//! so is a keep-alive connection left idle that long (hyper's own header read timeout covers both;
//! a long-poll or event stream in progress is not reading headers, so it is not cut); at most
//! `max` connections are open at once, the next ones waiting in the listen backlog; with a cap per
//! peer, once places run short a peer's connections past its cap are closed at once, so one peer
//! cannot take every place. On stop, each connection finishes the request it is serving and
//! closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::{Service, ServiceExt};

/// How one listener's connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// The longest wait for a request's headers, or for the next request on an idle connection.
    pub header_timeout: Duration,
    /// The most connections open at once.
    pub max: usize,
    /// Once fewer than a quarter of the places are free, the most connections one peer address
    /// may hold; `None`: no cap but `max`. While places are plenty any peer may take them (a
    /// benchmark, a busy scraper); when they run short, no one peer can take the rest.
    pub per_peer: Option<usize>,
}

/// Connections open per peer address, for the cap per peer.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One peer's place, given back when its connection ends.
struct PeerPlace {
    peers: Arc<Peers>,
    address: IpAddr,
}

impl Peers {
    /// A place for a connection from `address`, unless places are `short` and it already has
    /// `cap` open.
    fn admit(self: &Arc<Self>, address: IpAddr, cap: usize, short: bool) -> Option<PeerPlace> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if short && *count >= cap {
            return None;
        }
        *count += 1;
        Some(PeerPlace {
            peers: self.clone(),
            address,
        })
    }
}

impl Drop for PeerPlace {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `service` on `listener` until `stopped` turns true, then waits for the open
/// connections to finish their requests.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    let open = Arc::new(Semaphore::new(limits.max));
    let peers = Arc::new(Peers::default());
    // HTTP/1.1, or HTTP/2 when a connection opens with its preface (h2c, prior knowledge).
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    http.http2().timer(TokioTimer::new());
    let http = Arc::new(http);
    loop {
        // A place for the connection first: past the cap, new ones wait in the backlog.
        let place = tokio::select! {
            place = open.clone().acquire_owned() => place.expect("never closed"),
            () = until_stopped(&mut stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: try again shortly rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = until_stopped(&mut stopped) => break,
        };
        let short = open.available_permits() * 4 < limits.max;
        let peer_place = match limits.per_peer {
            Some(cap) => match peers.admit(peer.ip(), cap, short) {
                Some(place) => Some(place),
                None => {
                    // Closed at once: its place goes to another peer.
                    tracing::debug!(%peer, cap, "places short, a peer's connections past its cap: closed");
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let service = service
            .clone()
            .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
        let (http, mut stopped) = (http.clone(), stopped.clone());
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let connection = http.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = until_stopped(&mut stopped) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop((place, peer_place));
        });
    }
    // Every place back: every connection closed.
    let all = u32::try_from(limits.max).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// Resolves once `stopped` turns true (holding no borrow of it afterwards).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
