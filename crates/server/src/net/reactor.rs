//! The event loop the front doors' connections run on: a few loops (one per core), each a
//! `mio` poll of its connections' sockets (edge-triggered) and a slab of them, run as one tokio
//! task. No connection has a task of its own nor tokio's state of its socket: an idle one is
//! its [`Entry`] in the slab, its waker, and what the hub task keeps of it (ARCHITECTURE.md,
//! BENCHMARKS.md).
//!
//! A loop's poll is itself a file descriptor that tokio waits on (`AsyncFd`), so the loop is
//! an ordinary task of the runtime: tokio's clock, paused in tests, and its timers and
//! channels serve the connections as they did when each had a task. A connection is turned
//! when its socket has an event, or when it is woken: by the hub task (its outbox has a
//! batch: the hub task hands each loop the slots it woke in one go, [`Reactor::wake_all`]), or
//! by what it waits for (a timer, a password check, room in the hub's queue), through a waker
//! that names its slot. The entry makes that waker itself, from what it already holds (a
//! connection's from its outbox, which knows its loop and slot): no allocation of its own.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A connection as its loop drives it.
pub(crate) trait Entry: Send {
    /// Its socket, registered with the loop's poll for as long as the entry lives.
    fn fd(&self) -> RawFd;

    /// It joined `reactor`'s loop in slot `key`: what wakes it must say so
    /// ([`Reactor::wake`]).
    fn adopted(&mut self, reactor: &Arc<Reactor>, key: u32);

    /// The waker of its turns, which wakes its slot.
    fn waker(&self) -> Waker;

    /// The socket became readable, or writable (or both): edge-triggered, so the entry
    /// remembers it until a read or write finds nothing to do.
    fn ready(&mut self, readable: bool, writable: bool);

    /// Does what can be done now without waiting, with `cx`'s waker left with whatever it waits
    /// for besides its socket.
    fn turn(&mut self, cx: &mut Context<'_>) -> Turn;

    /// The connection is over; its socket has left the poll.
    fn finish(self: Box<Self>);
}

/// What an entry's turn ended with.
pub(crate) enum Turn {
    /// Nothing more to do until an event or a wake.
    Idle,
    /// More to do: it stopped to let the others go first (a socket that keeps having bytes).
    Again,
    /// The connection is over.
    Done,
}

/// What a loop is told from outside: new connections, and which of its entries were woken.
pub(crate) struct Reactor {
    incoming: Mutex<Vec<Box<dyn Entry>>>,
    woken: Mutex<Vec<u32>>,
    /// The loop has been signalled since it last looked (one notification for many wakes).
    signalled: AtomicBool,
    notify: Notify,
}

/// Socket events taken from the poll at once.
const EVENTS: usize = 256;

impl Reactor {
    /// Starts a loop on the current runtime.
    pub fn start() -> std::io::Result<(Arc<Reactor>, JoinHandle<()>)> {
        // Deprecated for types whose descriptor may change or close under the `AsyncFd`; a
        // `Poll` owns its epoll descriptor, unchanged, until it is dropped with the `AsyncFd`.
        // (The replacement is `unsafe`, which this crate forbids.)
        #[allow(deprecated)]
        let poll = AsyncFd::with_interest(Poll::new()?, tokio::io::Interest::READABLE)?;
        let reactor = Arc::new(Reactor {
            incoming: Mutex::default(),
            woken: Mutex::default(),
            signalled: AtomicBool::new(false),
            notify: Notify::new(),
        });
        let task = tokio::spawn(run(reactor.clone(), poll));
        Ok((reactor, task))
    }

    /// Hands a new connection to the loop, which registers its socket and turns it.
    pub fn adopt(&self, entry: Box<dyn Entry>) {
        self.incoming.lock().expect("reactor lock").push(entry);
        self.signal();
    }

    /// Turns the entry in slot `key` soon.
    pub fn wake(&self, key: u32) {
        self.woken.lock().expect("reactor lock").push(key);
        self.signal();
    }

    /// Turns the entries in `keys` soon (which it empties): one lock and one signal for all.
    pub fn wake_all(&self, keys: &mut Vec<u32>) {
        if keys.is_empty() {
            return;
        }
        self.woken.lock().expect("reactor lock").append(keys);
        self.signal();
    }

    fn signal(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }
}

async fn run(reactor: Arc<Reactor>, mut poll: AsyncFd<Poll>) {
    let mut events = Events::with_capacity(EVENTS);
    let mut slots: Slab<Box<dyn Entry>> = Slab::new();
    let mut turning: Vec<u32> = Vec::new();
    let mut again: Vec<u32> = Vec::new();
    loop {
        // What comes after this is seen by this round or signals the next.
        reactor.signalled.store(false, Ordering::Release);
        let incoming = std::mem::take(&mut *reactor.incoming.lock().expect("reactor lock"));
        for mut entry in incoming {
            let vacant = slots.vacant_entry();
            // A slab of 2^32 connections is far beyond any file descriptor limit.
            let key = vacant.key() as u32;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) =
                poll.get_ref().registry().register(&mut SourceFd(&entry.fd()), Token(key as usize), interest)
            {
                tracing::warn!(error = %e, "a connection could not join the event loop");
                entry.finish();
                continue;
            }
            entry.adopted(&reactor, key);
            vacant.insert(entry);
            turning.push(key);
        }
        loop {
            match poll.get_mut().poll(&mut events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the event loop's poll failed");
                    break;
                }
            }
            let mut seen = 0;
            for event in events.iter() {
                seen += 1;
                let key = event.token().0;
                if let Some(entry) = slots.get_mut(key) {
                    let failed = event.is_error();
                    let readable = event.is_readable() || event.is_read_closed() || failed;
                    let writable = event.is_writable() || event.is_write_closed() || failed;
                    entry.ready(readable, writable);
                    turning.push(key as u32);
                }
            }
            if seen < EVENTS {
                break;
            }
        }
        turning.append(&mut reactor.woken.lock().expect("reactor lock"));
        turning.append(&mut again);
        for key in turning.drain(..) {
            let Some(entry) = slots.get_mut(key as usize) else { continue };
            match entry.turn(&mut Context::from_waker(&entry.waker())) {
                Turn::Idle => {}
                Turn::Again => again.push(key),
                Turn::Done => {
                    let entry = slots.remove(key as usize);
                    let _ = poll.get_ref().registry().deregister(&mut SourceFd(&entry.fd()));
                    entry.finish();
                }
            }
        }
        if slots.is_empty() && slots.capacity() > 64 {
            slots.shrink_to_fit();
        }
        if !again.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            ready = poll.readable() => {
                if let Ok(mut guard) = ready {
                    // Cleared before the poll that takes its events: what comes after makes
                    // the poll readable again.
                    guard.clear_ready();
                }
            }
            () = reactor.notify.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicU64;
    use std::task::Wake;
    use tokio::sync::mpsc;

    /// The waker of a test's entry: its own allocation, naming its slot.
    struct SlotWaker {
        reactor: Arc<Reactor>,
        key: u32,
    }

    impl Wake for SlotWaker {
        fn wake(self: Arc<Self>) {
            self.reactor.wake(self.key);
        }
    }

    /// What a test's entry keeps of its slot: the waker, once adopted.
    #[derive(Default)]
    struct Home(Option<Waker>);

    impl Home {
        fn adopted(&mut self, reactor: &Arc<Reactor>, key: u32) {
            self.0 = Some(Waker::from(Arc::new(SlotWaker { reactor: reactor.clone(), key })));
        }
        fn waker(&self) -> Waker {
            self.0.clone().expect("adopted before it is turned")
        }
    }

    /// A connection over loopback: the loop's end (non-blocking), and its peer.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (ours, peer)
    }

    /// Always has more to do.
    struct Greedy {
        socket: TcpStream,
        turns: Arc<AtomicU64>,
        home: Home,
    }

    impl Entry for Greedy {
        fn fd(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn adopted(&mut self, reactor: &Arc<Reactor>, key: u32) {
            self.home.adopted(reactor, key);
        }
        fn waker(&self) -> Waker {
            self.home.waker()
        }
        fn ready(&mut self, _: bool, _: bool) {}
        fn turn(&mut self, _: &mut Context<'_>) -> Turn {
            self.turns.fetch_add(1, Ordering::Relaxed);
            Turn::Again
        }
        fn finish(self: Box<Self>) {}
    }

    /// What it hears: the bytes its socket reads, `w` when woken by its waker, `f` at its end.
    struct Listener {
        socket: TcpStream,
        readable: bool,
        heard: mpsc::UnboundedSender<u8>,
        /// Where it leaves its waker, for the test to wake it.
        waker: Arc<Mutex<Option<Waker>>>,
        left_waker: bool,
        woken: bool,
        home: Home,
    }

    impl Entry for Listener {
        fn fd(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn adopted(&mut self, reactor: &Arc<Reactor>, key: u32) {
            self.home.adopted(reactor, key);
        }
        fn waker(&self) -> Waker {
            self.home.waker()
        }
        fn ready(&mut self, readable: bool, _: bool) {
            self.readable |= readable;
        }
        fn turn(&mut self, cx: &mut Context<'_>) -> Turn {
            // The waker first: once the test has heard the bytes, it is there to take.
            {
                let mut waker = self.waker.lock().unwrap();
                match (self.left_waker, waker.is_some()) {
                    (false, _) => {
                        *waker = Some(cx.waker().clone());
                        self.left_waker = true;
                    }
                    // The test took the waker, and woke it.
                    (true, false) if !self.woken => {
                        self.woken = true;
                        let _ = self.heard.send(b'w');
                    }
                    _ => {}
                }
            }
            while self.readable {
                let mut buf = [0u8; 16];
                match (&self.socket).read(&mut buf) {
                    Ok(0) => return Turn::Done,
                    Ok(n) => {
                        for &b in &buf[..n] {
                            let _ = self.heard.send(b);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.readable = false,
                    Err(_) => return Turn::Done,
                }
            }
            Turn::Idle
        }
        fn finish(self: Box<Self>) {
            let _ = self.heard.send(b'f');
        }
    }

    async fn next(hears: &mut mpsc::UnboundedReceiver<u8>) -> Option<u8> {
        tokio::time::timeout(Duration::from_secs(10), hears.recv()).await.expect("the loop turned it")
    }

    /// On two workers, so that a loop that never yields fails the test rather than hangs it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_loop_turns_an_entry_on_its_socket_s_events_and_its_waker_and_finishes_it_while_another_never_rests() {
        let (reactor, task) = Reactor::start().unwrap();
        let turns = Arc::new(AtomicU64::new(0));
        let (greedy, _greedy_peer) = pair();
        reactor.adopt(Box::new(Greedy { socket: greedy, turns: turns.clone(), home: Home::default() }));
        let (ours, mut peer) = pair();
        let (heard, mut hears) = mpsc::unbounded_channel();
        let waker = Arc::new(Mutex::new(None));
        reactor.adopt(Box::new(Listener {
            socket: ours,
            readable: true,
            heard,
            waker: waker.clone(),
            left_waker: false,
            woken: false,
            home: Home::default(),
        }));
        // Its socket's event, while the greedy entry is turned again and again.
        peer.write_all(b"hi").unwrap();
        assert_eq!(next(&mut hears).await, Some(b'h'));
        assert_eq!(next(&mut hears).await, Some(b'i'));
        // Its waker, from outside the loop.
        waker.lock().unwrap().take().expect("it left its waker").wake();
        assert_eq!(next(&mut hears).await, Some(b'w'));
        // The peer closes: the entry ends, and is finished.
        drop(peer);
        assert_eq!(next(&mut hears).await, Some(b'f'));
        assert!(turns.load(Ordering::Relaxed) > 1, "the greedy entry had its turns too");
        task.abort();
    }
}
