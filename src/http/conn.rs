//! Connection bookkeeping: who is connected from where, which connections are idle, and
//! the socket wrapper that notices activity and drops clients that stop reading.
//!
//! Silent sockets must not starve working clients, so the server keeps accepting: a new
//! connection over its address's cap, or over the global cap, first sheds the connection
//! that has been idle longest (no request in flight); only when none is idle is it
//! refused (over the address cap) or kept waiting (over the global cap).

use hyper::body::{Body, Bytes, Frame, SizeHint};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Sleep;

/// One connection's live state, shared by its task, its socket wrapper and the registry.
pub struct ConnState {
    id: u64,
    pub ip: IpAddr,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last byte read or written, or request finished.
    last_active: AtomicU64,
    /// Requests whose response body has not been dropped yet (hyper drops it once written).
    in_flight: AtomicUsize,
    /// Already asked to close: not a candidate for shedding again.
    shedding: AtomicBool,
    /// Wakes the connection's task to close it gracefully.
    pub shed: Notify,
}

impl ConnState {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }

    /// How long since anything happened, if no request is in flight.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_active.load(Ordering::Relaxed));
        Some(self.epoch.elapsed().saturating_sub(last))
    }
}

/// Counts of open connections, in total and per client address.
pub struct Registry {
    max_total: usize,
    max_per_ip: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Signalled whenever a connection closes (a waiting accept may go on).
    freed: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    per_ip: HashMap<IpAddr, usize>,
    conns: HashMap<u64, Arc<ConnState>>,
    /// Connections asked to close that have not closed yet (they no longer count
    /// against the global cap: an idle connection closes as soon as it is asked).
    shedding: usize,
}

/// What to do with a connection just accepted.
pub enum Admission {
    /// Serve it; the guard unregisters it when dropped.
    Admit(ConnGuard),
    /// Close it at once: its address holds its cap of busy connections.
    Refuse,
    /// Every slot is busy: wait for one to free, then ask again.
    Wait,
}

impl Registry {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Registry> {
        let max_total = max_total.max(1);
        let max_per_ip = if max_per_ip == 0 { max_total } else { max_per_ip };
        Arc::new(Registry {
            max_total,
            max_per_ip,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked: every update is one statement.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides about a new connection from `ip`, shedding an idle one to make room.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let mut inner = self.lock();
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip && !shed_idlest(&mut inner, Some(ip)) {
            return Admission::Refuse;
        }
        if inner.conns.len() - inner.shedding >= self.max_total && !shed_idlest(&mut inner, None) {
            return Admission::Wait;
        }
        inner.next_id += 1;
        let state = Arc::new(ConnState {
            id: inner.next_id,
            ip,
            epoch: self.epoch,
            last_active: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        });
        state.touch();
        *inner.per_ip.entry(ip).or_insert(0) += 1;
        inner.conns.insert(state.id, state.clone());
        Admission::Admit(ConnGuard { registry: self.clone(), state })
    }

    /// Resolves when some connection closes (enable it before asking `admit`).
    pub fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    /// Open connections (those asked to close included).
    pub fn open(&self) -> usize {
        self.lock().conns.len()
    }

    /// Asks every connection to close gracefully (server shutdown).
    pub fn shed_all(&self) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        for c in inner.conns.values() {
            if !c.shedding.swap(true, Ordering::Relaxed) {
                inner.shedding += 1;
            }
            c.shed.notify_one();
        }
    }
}

/// Asks the connection idle longest (of `ip`, or of anyone) to close; false if none is idle.
/// The scan is linear, but it only runs when a cap is reached.
fn shed_idlest(inner: &mut Inner, ip: Option<IpAddr>) -> bool {
    let victim = inner
        .conns
        .values()
        .filter(|c| ip.is_none_or(|ip| c.ip == ip) && !c.shedding.load(Ordering::Relaxed))
        .filter_map(|c| c.idle_for().map(|d| (d, c.clone())))
        .max_by_key(|(d, _)| *d);
    match victim {
        Some((_, c)) => {
            c.shedding.store(true, Ordering::Relaxed);
            c.shed.notify_one();
            inner.shedding += 1;
            true
        }
        None => false,
    }
}

/// Keeps a connection registered; unregisters it when its task ends.
pub struct ConnGuard {
    registry: Arc<Registry>,
    pub state: Arc<ConnState>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        {
            let mut inner = self.registry.lock();
            inner.conns.remove(&self.state.id);
            if self.state.shedding.load(Ordering::Relaxed) {
                inner.shedding -= 1;
            }
            if let Some(n) = inner.per_ip.get_mut(&self.state.ip) {
                *n -= 1;
                if *n == 0 {
                    inner.per_ip.remove(&self.state.ip);
                }
            }
        }
        self.registry.freed.notify_waiters();
    }
}

/// A request in flight on a connection, from the call until its response body is dropped.
pub struct InFlight(Arc<ConnState>);

impl InFlight {
    pub fn enter(state: &Arc<ConnState>) -> InFlight {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.touch();
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Idle time counts from the end of the response.
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until hyper has taken all of it
/// (or the connection died).
pub struct Guarded<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Guarded<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        Guarded { inner, _in_flight: in_flight }
    }
}

/// Size of the pieces a large body is handed to hyper in.
const CHUNK: usize = 64 << 10;

/// A large response body with its share of the response memory budget. hyper queues a
/// body's frames until its write buffer is full (`max_buf_size`); handing it copied
/// pieces means the queue never references, and so never pins, the whole body once the
/// body (and its permit) is gone.
pub struct Chunked {
    data: Bytes,
    _memory: OwnedSemaphorePermit,
}

impl Chunked {
    pub fn new(data: Bytes, memory: OwnedSemaphorePermit) -> Self {
        Chunked { data, _memory: memory }
    }
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.data.len().min(CHUNK);
        let piece = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(&piece)))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket of a connection: reads and writes count as activity, and a write that
/// makes no progress for `write_timeout` fails, which closes the connection (a client
/// that does not read is dropped instead of pinning its response).
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, state: Arc<ConnState>, write_timeout: Duration) -> Self {
        Watched { inner, state, write_timeout, stalled: None }
    }

    /// Called when a write would block: fails once it has blocked for the timeout.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.write_timeout;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {timeout:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed(&mut self) {
        self.stalled = None;
        self.state.touch();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                self.progressed();
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                self.progressed();
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admitted(a: Admission) -> ConnGuard {
        match a {
            Admission::Admit(g) => g,
            _ => panic!("not admitted"),
        }
    }

    #[test]
    fn an_address_over_its_cap_sheds_its_own_idle_connection() {
        let r = Registry::new(10, 2);
        let a = admitted(r.admit(ip("127.0.0.1")));
        let b = admitted(r.admit(ip("127.0.0.1")));
        let _busy = InFlight::enter(&b.state);
        // `a` is idle: it is shed to make room; then nothing idle is left to shed.
        let _c = admitted(r.admit(ip("127.0.0.1")));
        assert!(a.state.shedding.load(Ordering::Relaxed));
        assert!(!b.state.shedding.load(Ordering::Relaxed));
        assert!(matches!(r.admit(ip("127.0.0.1")), Admission::Admit(_)));
        let _d = InFlight::enter(&_c.state);
        assert!(matches!(r.admit(ip("127.0.0.1")), Admission::Refuse));
        // Another address is not affected.
        assert!(matches!(r.admit(ip("127.0.0.2")), Admission::Admit(_)));
    }

    #[test]
    fn the_global_cap_sheds_idle_connections_then_waits() {
        let r = Registry::new(2, 0);
        let a = admitted(r.admit(ip("10.0.0.1")));
        let b = admitted(r.admit(ip("10.0.0.2")));
        let _busy_b = InFlight::enter(&b.state);
        let c = admitted(r.admit(ip("10.0.0.3")));
        assert!(a.state.shedding.load(Ordering::Relaxed));
        let _busy_c = InFlight::enter(&c.state);
        assert!(matches!(r.admit(ip("10.0.0.4")), Admission::Wait));
        drop(a);
        assert!(matches!(r.admit(ip("10.0.0.4")), Admission::Wait));
        assert_eq!(r.open(), 2);
    }
}
