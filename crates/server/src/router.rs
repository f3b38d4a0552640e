//! The hub task: the one owner of the [`Hub`]. It takes inputs from every connection through
//! one bounded channel, feeds them to the hub with the time, and carries out the hub's outputs:
//! encoding each event once per protocol, pushing it into connections' outboxes, dropping any
//! connection whose outbox overflows, and parking the ends of private links.

use crate::cluster::{Bus, Naming, Publish};
use crate::doors::spec::Spec;
use crate::doors::{spec, DOORS};
use crate::keeper::Keep;
use crate::metrics::Metrics;
use crate::msg::HubMsg;
use crate::net::outbox::{Outbox, Outgoing, Overflow};
use crate::net::relay::Relays;
use crate::Shared;
use bytes::Bytes;
use hub::{Command, Hub, HubError, Input, Kind, LinkId, Output, ReplyTo, SessionId};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;
use tokio::sync::mpsc;

/// How many queued inputs the hub task takes before it looks at the clock and its tick again.
const BATCH: usize = 512;

/// The hub's services, as the desk's `status` lists them: every front door, and the
/// PeerChat bridge if there is one.
fn services(config: &crate::Config, up: bool) -> Input {
    let listening = DOORS.iter().filter(|door| config.doors.listen(door.door).addrs().0.is_some());
    Input::Services { services: listening.map(|door| (door.name.to_owned(), up)).collect() }
}

/// The time for the hub: tokio's clock, so that tests may pause and advance it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Conn {
    /// Its door, which encodes what it is sent.
    spec: &'static Spec,
    /// It came in over TLS (for the figures).
    tls: bool,
    outbox: Arc<Outbox>,
    limit: usize,
}

impl Conn {
    /// Where its door and TLS are in the router's batched figures (as `Metrics` lists them).
    fn figure(&self) -> usize {
        usize::from(self.spec.door.0) * 2 + usize::from(self.tls)
    }
}

pub(crate) struct Router {
    hub: Hub,
    config: crate::Config,
    conns: FxHashMap<SessionId, Conn>,
    relays: Arc<Relays>,
    metrics: Arc<Metrics>,
    keeper: mpsc::UnboundedSender<Keep>,
    /// Sessions whose outbox overflowed during the current step, to disconnect after it.
    overflowed: Vec<SessionId>,
    /// Links one of whose ends could not be parked, to close after the current step.
    broken_links: Vec<LinkId>,
    /// Connection tasks to wake once the current batch of inputs is carried out.
    wakers: Vec<Waker>,
    /// Deliveries since the figures were last updated, by door and TLS (as `Metrics` lists
    /// them): counted here, added to the shared figures once per batch of inputs.
    deliveries: [u64; 2 * DOORS.len()],
    /// Bytes queued to connections since then, likewise.
    bytes_out: [u64; 2 * DOORS.len()],
    /// In a cluster, the bus to the other nodes.
    bus: Option<Bus>,
    /// Inputs to feed the hub after the current step: answers to what the bus would not take.
    refused: Vec<Input>,
    /// The hub task's own queue, for what the relays tell it.
    hub_tx: mpsc::Sender<HubMsg>,
}

impl Router {
    pub fn new(hub: Hub, shared: &Shared, keeper: mpsc::UnboundedSender<Keep>, bus: Option<Bus>) -> Self {
        Router {
            hub,
            conns: FxHashMap::default(),
            relays: shared.relays.clone(),
            metrics: shared.metrics.clone(),
            config: shared.config.clone(),
            keeper,
            overflowed: Vec::new(),
            broken_links: Vec::new(),
            wakers: Vec::new(),
            deliveries: [0; 2 * DOORS.len()],
            bytes_out: [0; 2 * DOORS.len()],
            bus,
            refused: Vec::new(),
            hub_tx: shared.hub.clone(),
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<HubMsg>) {
        self.step(now(), services(&self.config, true));
        // Asleep until the hub's next deadline, or the next message: no tick while nothing
        // is due.
        let wake = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(wake);
        let mut armed = None;
        loop {
            let deadline = self.hub.poll_timeout();
            if deadline != armed {
                if let Some(deadline) = deadline {
                    wake.as_mut().reset(tokio::time::Instant::from_std(deadline));
                }
                armed = deadline;
            }
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    let now = now();
                    if !self.on_msg(now, msg) {
                        break;
                    }
                    for _ in 1..BATCH {
                        let Ok(msg) = rx.try_recv() else { break };
                        if !self.on_msg(now, msg) {
                            self.wakers.drain(..).for_each(Waker::wake);
                            return self.shutdown();
                        }
                    }
                }
                _ = &mut wake, if deadline.is_some() => self.step(now(), Input::Tick),
            }
            // The figures first: a connection woken to write a delivery is counted already
            // when its peer reads it (and may read /metrics next).
            self.update_metrics();
            self.wakers.drain(..).for_each(Waker::wake);
        }
        self.shutdown();
    }

    /// Handles one message; `false` to stop.
    fn on_msg(&mut self, now: Instant, msg: HubMsg) -> bool {
        match msg {
            HubMsg::Connected { session, door, tls, origin, outbox, limit } => {
                let spec = spec(door);
                self.conns.insert(session, Conn { spec, tls, outbox, limit });
                let (caps, liveness) = (spec.caps, (spec.liveness)(&self.config));
                self.step(now, Input::Connected { session, door, caps, liveness, origin });
            }
            HubMsg::Command { session, command } => {
                if let (true, Some(c)) = (command.is_chat(), self.conns.get(&session)) {
                    self.metrics.door(c.spec.door, c.tls).messages_in.inc();
                }
                let verdict_awaited = matches!(command, Command::LinkAccept(_) | Command::LinkConnect(_));
                self.step(now, Input::Command { session, command });
                if verdict_awaited {
                    // Not parked: tell the connection to read on.
                    self.push(session, Outgoing::Resume);
                }
            }
            HubMsg::Hangup { session, last_words } => {
                if let Some(bytes) = last_words {
                    self.push_bytes(session, &bytes, false);
                }
                self.push(session, Outgoing::Close);
            }
            HubMsg::Write { session, bytes } => self.push_bytes(session, &bytes, false),
            HubMsg::Disconnected { session } => {
                self.conns.remove(&session);
                self.step(now, Input::Disconnected { session });
            }
            HubMsg::LinkClosed { link } => self.step(now, Input::LinkClosed { link }),
            HubMsg::Reserved { names } => self.step(now, Input::Reserved { names }),
            HubMsg::Stored { reply: ReplyTo::Session(session, kind), result } => {
                if let Some(bytes) = self.conns.get(&session).and_then(|c| (c.spec.encode_reply)(kind, result)) {
                    self.push_bytes(session, &bytes, false);
                }
            }
            HubMsg::Stored { reply: ReplyTo::Node(node, id), result } => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Answer { node, id, result });
                }
            }
            HubMsg::Cluster(input) => self.step(now, input),
            HubMsg::Offline { session, queued: Some(queued) } => self.step(now, Input::Offline { session, queued }),
            HubMsg::Offline { session, queued: None } => self.step(now, Input::OfflineFailed { session }),
            HubMsg::PageDelivered { session, last } => self.step(now, Input::PageDelivered { session, last }),
            HubMsg::Roster { reply } => {
                let _ = reply.send((self.hub.roster(), self.hub.desk_open()));
            }
            HubMsg::Written { reply } => {
                let _ = self.keeper.send(Keep::Written(reply));
            }
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
            if let Some(link) = self.broken_links.pop() {
                self.relays.close(link);
                self.hub.handle(now, Input::LinkClosed { link });
                continue;
            }
            if let Some(input) = self.refused.pop() {
                self.hub.handle(now, input);
                continue;
            }
            let Some(session) = self.overflowed.pop() else { break };
            self.hub.handle(now, Input::Disconnected { session });
        }
    }

    fn apply(&mut self, out: Output) {
        match out {
            Output::Reply { to, kind, result } => {
                if let (Kind::Login, Ok(()), Some(c)) = (kind, result, self.conns.get(&to)) {
                    self.metrics.door(c.spec.door, c.tls).logins.inc();
                }
                if let Some(bytes) = self.conns.get(&to).and_then(|c| (c.spec.encode_reply)(kind, result)) {
                    self.push_bytes(to, &bytes, false);
                }
            }
            Output::Deliver { to, event } => {
                if let Some(bytes) = self.conns.get(&to).and_then(|c| (c.spec.encode_event)(&event)) {
                    self.push_bytes(to, &bytes, true);
                }
            }
            Output::Broadcast { to, event } => {
                let mut encoded: [Option<Option<Bytes>>; DOORS.len()] = Default::default();
                for session in to {
                    let Some(c) = self.conns.get(&session) else { continue };
                    let slot = &mut encoded[usize::from(c.spec.door.0)];
                    let bytes = slot.get_or_insert_with(|| (c.spec.encode_event)(&event));
                    if let Some(bytes) = bytes {
                        let pushed = c.outbox.push_bytes(bytes, c.limit);
                        self.bytes_out[c.figure()] += bytes.len() as u64;
                        self.pushed(session, pushed, true);
                    }
                }
            }
            Output::Park { session, link } => {
                self.relays.open(link);
                let parked = self.conns.remove(&session).map(|c| c.outbox.push(Outgoing::Park(link), c.limit));
                match parked {
                    Some(Ok(waker)) => self.wakers.extend(waker),
                    // Gone, or overflowed: this end will never reach the relay.
                    _ => self.broken_links.push(link),
                }
            }
            Output::Unpark { link } => self.relays.close(link),
            Output::Bridge { link, node, home, tag } => {
                let timeout = self.config.link_timeout();
                match self.bus.as_ref().and_then(|bus| bus.bridge(node, home, tag, timeout)) {
                    Some(bridge) => self.relays.bridge(link, bridge, self.hub_tx.clone(), self.metrics.clone()),
                    None => self.broken_links.push(link),
                }
            }
            Output::Close { session } => {
                self.push(session, Outgoing::Close);
                self.conns.remove(&session);
            }
            Output::Keep(kept) => {
                self.metrics.store_pending.inc();
                let _ = self.keeper.send(Keep::History(kept));
            }
            Output::Queue { kept, reply } => {
                self.metrics.store_pending.inc();
                let _ = self.keeper.send(Keep::Queued(kept, reply));
            }
            Output::FetchOffline { session, name, images, delivered } => {
                let _ = self.keeper.send(Keep::Fetch(crate::keeper::Wanted { session, name, images, delivered }));
            }
            Output::Page { to, queued } => {
                let (Some(c), Some(last)) = (self.conns.get(&to), queued.last().map(|q| q.id)) else { return };
                let mut page = bytes::BytesMut::new();
                for q in &queued {
                    page.extend_from_slice(&(c.spec.encode_queued)(q).unwrap_or_default());
                }
                self.deliveries[c.figure()] += queued.len() as u64;
                self.bytes_out[c.figure()] += page.len() as u64;
                self.push(to, Outgoing::Page { bytes: page.freeze(), last });
            }
            Output::Claim { session, name } => {
                let Some(c) = self.conns.get(&session) else { return };
                let claim = Naming::Claim { session, name, door: c.spec.door, caps: c.spec.caps };
                if !self.bus.as_ref().is_some_and(|bus| bus.claim(claim)) {
                    self.refused.push(Input::Claimed { session, result: Err(HubError::Unavailable) });
                }
            }
            Output::Release { session, name } => {
                if let Some(bus) = &self.bus {
                    bus.claim(Naming::Release { session, name });
                }
            }
            Output::Publish { from, text, mesh } => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Lobby { from, text, mesh });
                }
            }
            Output::Forward { node, id, command } => {
                let sent = self.bus.as_ref().is_some_and(|bus| bus.publish(Publish::Forward { node, id, command }));
                if !sent && id != 0 {
                    self.refused.push(Input::Answer { id, result: Err(HubError::Unavailable) });
                }
            }
            Output::Answer { node, id, result } => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Answer { node, id, result });
                }
            }
            Output::DeskNews(news) => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Desk(news));
                }
            }
        }
    }

    /// Queues `bytes` for `session`: an answer, or (`delivery`) an event for it, counted.
    fn push_bytes(&mut self, session: SessionId, bytes: &Bytes, delivery: bool) {
        if let Some(c) = self.conns.get(&session) {
            let pushed = c.outbox.push_bytes(bytes, c.limit);
            self.bytes_out[c.figure()] += bytes.len() as u64;
            self.pushed(session, pushed, delivery);
        }
    }

    fn push(&mut self, session: SessionId, out: Outgoing) {
        if let Some(c) = self.conns.get(&session) {
            let pushed = c.outbox.push(out, c.limit);
            self.pushed(session, pushed, false);
        }
    }

    /// Notes the outcome of a push: the task to wake, the delivery to count, or the overflow.
    fn pushed(&mut self, session: SessionId, pushed: Result<Option<Waker>, Overflow>, delivery: bool) {
        let Some(c) = self.conns.get(&session) else { return };
        let (door, tls, figure) = (c.spec.door, c.tls, c.figure());
        let Err(Overflow) = pushed.map(|waker| {
            self.wakers.extend(waker);
            self.deliveries[figure] += u64::from(delivery);
        }) else {
            return;
        };
        self.conns.remove(&session);
        self.overflowed.push(session);
        self.metrics.door(door, tls).slow_consumers.inc();
        tracing::warn!(session = session.0, "outbound queue overflowed: dropping a connection that does not read");
    }

    fn shutdown(mut self) {
        // Operators hear that every service goes down, before their connections close.
        self.step(now(), services(&self.config, false));
        // Everyone else hears its protocol's goodbye, after what is queued for it.
        for (_, c) in self.conns.drain() {
            let last_words = (c.spec.goodbye)().map(|bytes| c.outbox.push(Outgoing::Bytes(bytes), usize::MAX));
            for pushed in last_words.into_iter().chain([c.outbox.push(Outgoing::Close, usize::MAX)]) {
                if let Ok(Some(w)) = pushed {
                    w.wake();
                }
            }
        }
        self.wakers.drain(..).for_each(Waker::wake);
        self.update_metrics();
    }

    /// Adds the deliveries counted since last time to the shared figures, and says how the
    /// desk stands.
    fn update_metrics(&mut self) {
        for (i, n) in self.deliveries.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            let door = hub::Door((i / 2) as u8);
            self.metrics.door(door, i % 2 == 1).deliveries.inc_by(std::mem::take(n));
        }
        for (i, n) in self.bytes_out.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            let door = hub::Door((i / 2) as u8);
            self.metrics.door(door, i % 2 == 1).bytes_out.inc_by(std::mem::take(n));
        }
        self.metrics.desk_operators.set(self.hub.desk_operators() as i64);
        self.metrics.desk_rings.set(self.hub.desk_rings() as i64);
    }
}
