//! The hub task: the one owner of the [`Hub`]. It takes inputs from every connection through
//! one bounded channel, feeds them to the hub with the time, and carries out the hub's outputs:
//! encoding each event once per protocol, pushing it into connections' outboxes, dropping any
//! connection whose outbox overflows, and parking the ends of private links.

use crate::metrics::Metrics;
use crate::outbox::{Out, Outbox};
use crate::relay::Relays;
use crate::{chatos, Shared};
use bytes::Bytes;
use hub::{Command, Event, Hub, HubError, Input, LinkId, Output, Protocol, SessionId};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often the hub is told that time passed.
const TICK: Duration = Duration::from_millis(250);
/// How many queued inputs the hub task takes before it looks at the clock and its tick again.
const BATCH: usize = 512;

/// What a connection tells the hub task.
pub(crate) enum HubMsg {
    Connected {
        session: SessionId,
        protocol: Protocol,
        outbox: Arc<Outbox>,
    },
    Command {
        session: SessionId,
        command: Command,
    },
    /// The connection broke its protocol: close it once what is queued for it is written.
    Hangup {
        session: SessionId,
    },
    Disconnected {
        session: SessionId,
    },
    LinkClosed {
        link: LinkId,
    },
    /// Close every connection (after flushing) and stop.
    Shutdown,
}

struct Conn {
    protocol: Protocol,
    outbox: Arc<Outbox>,
}

pub(crate) struct Router {
    hub: Hub,
    conns: FxHashMap<SessionId, Conn>,
    relays: Arc<Relays>,
    metrics: Arc<Metrics>,
    outbound_limit: usize,
    /// Sessions whose outbox overflowed during the current step, to disconnect after it.
    overflowed: Vec<SessionId>,
    deliveries: u64,
}

impl Router {
    pub fn new(hub: Hub, shared: &Shared) -> Self {
        Router {
            hub,
            conns: FxHashMap::default(),
            relays: shared.relays.clone(),
            metrics: shared.metrics.clone(),
            outbound_limit: shared.config.outbound_limit,
            overflowed: Vec::new(),
            deliveries: 0,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<HubMsg>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    let now = Instant::now();
                    if !self.on_msg(now, msg) {
                        break;
                    }
                    for _ in 1..BATCH {
                        let Ok(msg) = rx.try_recv() else { break };
                        if !self.on_msg(now, msg) {
                            return self.shutdown();
                        }
                    }
                }
                _ = tick.tick() => self.step(Instant::now(), Input::Tick),
            }
            Metrics::add(&self.metrics.deliveries, std::mem::take(&mut self.deliveries));
        }
        self.shutdown();
    }

    /// Handles one message; `false` to stop.
    fn on_msg(&mut self, now: Instant, msg: HubMsg) -> bool {
        match msg {
            HubMsg::Connected { session, protocol, outbox } => {
                self.conns.insert(session, Conn { protocol, outbox });
                self.step(now, Input::Connected { session, protocol });
            }
            HubMsg::Command { session, command } => {
                let verdict_awaited = matches!(command, Command::LinkAccept(_) | Command::LinkConnect(_));
                self.step(now, Input::Command { session, command });
                if verdict_awaited {
                    // Not parked: tell the connection to read on.
                    self.push(session, Out::Resume);
                }
            }
            HubMsg::Hangup { session } => self.push(session, Out::Close),
            HubMsg::Disconnected { session } => {
                self.conns.remove(&session);
                self.step(now, Input::Disconnected { session });
            }
            HubMsg::LinkClosed { link } => self.step(now, Input::LinkClosed { link }),
            HubMsg::Shutdown => return false,
        }
        true
    }

    /// Feeds one input to the hub and carries out everything it decides, including the
    /// disconnection of sessions that overflowed meanwhile.
    fn step(&mut self, now: Instant, input: Input) {
        self.hub.handle(now, input);
        loop {
            while let Some(out) = self.hub.poll_output() {
                self.apply(out);
            }
            let Some(session) = self.overflowed.pop() else { break };
            self.hub.handle(now, Input::Disconnected { session });
        }
    }

    fn apply(&mut self, out: Output) {
        match out {
            Output::Reply { to, result } => {
                if let Some(bytes) = self.conns.get(&to).and_then(|c| encode_reply(c.protocol, result)) {
                    self.push(to, Out::Bytes(bytes));
                }
            }
            Output::Deliver { to, event } => {
                if let Some(c) = self.conns.get(&to) {
                    let bytes = encode_event(c.protocol, &event);
                    self.push(to, Out::Bytes(bytes));
                }
            }
            Output::Broadcast { to, event } => {
                let mut encoded: [Option<Bytes>; Protocol::ALL.len()] = Default::default();
                for session in to {
                    let Some(c) = self.conns.get(&session) else { continue };
                    let bytes = encoded[c.protocol.index()].get_or_insert_with(|| encode_event(c.protocol, &event));
                    let bytes = Out::Bytes(bytes.clone());
                    self.push(session, bytes);
                }
            }
            Output::Park { session, link } => {
                self.relays.open(link);
                if let Some(c) = self.conns.remove(&session) {
                    let _ = c.outbox.push(Out::Park(link), self.outbound_limit);
                }
            }
            Output::Unpark { link } => self.relays.close(link),
        }
    }

    fn push(&mut self, session: SessionId, out: Out) {
        let Some(c) = self.conns.get(&session) else { return };
        let counted = matches!(out, Out::Bytes(_));
        if c.outbox.push(out, self.outbound_limit).is_ok() {
            self.deliveries += u64::from(counted);
            return;
        }
        self.conns.remove(&session);
        self.overflowed.push(session);
        Metrics::inc(&self.metrics.slow_consumers);
        tracing::warn!(session = session.0, "outbound queue overflowed: dropping a connection that does not read");
    }

    fn shutdown(mut self) {
        for (_, c) in self.conns.drain() {
            let _ = c.outbox.push(Out::Close, usize::MAX);
        }
        Metrics::add(&self.metrics.deliveries, self.deliveries);
    }
}

fn encode_reply(protocol: Protocol, result: Result<(), HubError>) -> Option<Bytes> {
    match protocol {
        Protocol::ChatOs => Some(chatos::encode_reply(result)),
    }
}

fn encode_event(protocol: Protocol, event: &Event) -> Bytes {
    match protocol {
        Protocol::ChatOs => chatos::encode_event(event),
    }
}
