//! The hub task: the one owner of the [`Hub`]. It takes inputs from every connection through
//! one bounded channel, feeds them to the hub with the time, and carries out the hub's outputs:
//! encoding each event once per protocol, pushing it into connections' outboxes, dropping any
//! connection whose outbox overflows, and parking the ends of private links.
//!
//! Fan-out is by batch. Over a batch of inputs, every byte for a connection is appended once to
//! the batch's shared buffer ([`Staging`]), and each recipient is only noted a range of it: the
//! lobby message that goes to a thousand connections is written once, and a connection that
//! gets several messages in a row gets one range that grows. At the end of the batch the
//! buffer is frozen, and each recipient's outbox is locked once and handed its ranges, as
//! slices of the one buffer (short ones copied, so that a few bytes never hold a whole buffer).

use crate::cluster::{Bus, Naming, Publish};
use crate::doors::spec::Spec;
use crate::doors::{spec, DOORS};
use crate::keeper::Keep;
use crate::metrics::Metrics;
use crate::msg::{HubMsg, Roster};
use crate::net::outbox::{Deadline, Outbox, Outgoing, Overflow, Pushed, Wakes};
use crate::net::relay::Relays;
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Command, Door, Hub, HubError, Input, Kind, LinkId, Output, ReplyTo, SessionId};
use rustc_hash::FxHashMap;
use std::sync::Arc;
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

/// 24 bytes: with its key, 32 a bucket of the table of connections.
struct Conn {
    /// Its door, which encodes what it is sent ([`Conn::spec`]).
    door: Door,
    /// It came in over TLS (for the figures).
    tls: bool,
    /// The hub closed it: it goes once what is staged for it is in its outbox.
    closed: bool,
    /// Its entry in [`Staging::touched`] while the current batch has something for it, or
    /// [`NONE`]: what is staged is kept there, so that an idle connection pays for none of it.
    slot: u32,
    outbox: Arc<Outbox>,
    /// Its outbox's bound (at most 4 GiB).
    limit: u32,
}

/// What the current batch has for one connection, in order: the first and last of its
/// entries in [`Staging::items`] (or [`NONE`]), then its open range, which the next range of
/// the buffer that follows it joins (a run of lobby messages is one range, extended in place).
struct Touched {
    session: SessionId,
    head: u32,
    tail: u32,
    open: Option<Range>,
}

/// No staged entry.
const NONE: u32 = u32::MAX;

/// A new batch buffer holds this much; a message that does not fit in what is left of it
/// starts the next.
const CHUNK: usize = 64 * 1024;

/// A range shorter than this is copied into its outbox rather than shared: a slice keeps its
/// whole buffer alive until written, and is worth it only for enough bytes.
const SHARE_MIN: usize = 256;

/// What is larger than this is not copied into the batch buffer at all (a JPC image): its
/// recipients share the encoded bytes.
const INLINE_MAX: usize = 2048;

/// Bytes `start..end` of chunk `chunk` of the batch buffer of door `door`, which make
/// `deliveries` deliveries.
#[derive(Clone, Copy)]
struct Range {
    door: u16,
    chunk: u16,
    start: u32,
    end: u32,
    deliveries: u32,
}

/// One thing staged for a connection.
enum Item {
    Range(Range),
    /// Bytes for this connection alone (an answer, a private message): copied into its
    /// outbox, or shared if large.
    Own(Bytes, u32),
    /// Anything else, in turn: a page, a verdict, the close.
    Out(Outgoing, u32),
}

struct Staged {
    item: Item,
    /// The connection's next entry, or [`NONE`].
    next: u32,
}

/// What the batch has staged: a shared buffer per door (each event encoded for it once, so
/// that its run of events for a connection is one range) and, for each connection it touched,
/// its list of items.
#[derive(Default)]
struct Staging {
    /// The bytes of the batch so far, appended once whatever the number of recipients.
    bufs: [BytesMut; DOORS.len()],
    /// What each door's buffer sealed in this batch: a range's chunk is its index here.
    chunks: [Vec<Bytes>; DOORS.len()],
    items: Vec<Staged>,
    /// The connections with something staged, in the order first touched.
    touched: Vec<Touched>,
}

impl Staging {
    /// Appends `bytes` to the buffer of `door`; returns the range it went to.
    fn append(&mut self, door: Door, bytes: &[u8]) -> Range {
        let d = usize::from(door.0);
        let (buf, chunks) = (&mut self.bufs[d], &mut self.chunks[d]);
        if buf.capacity() - buf.len() < bytes.len() {
            if !buf.is_empty() {
                chunks.push(buf.split().freeze());
            }
            buf.reserve(CHUNK.max(bytes.len()));
        }
        let start = buf.len() as u32;
        buf.extend_from_slice(bytes);
        // A batch is far from 65,536 chunks of 64 KB.
        Range { door: u16::from(door.0), chunk: chunks.len() as u16, start, end: buf.len() as u32, deliveries: 0 }
    }

    /// Notes `item` for `c` (the connection of `session`), after what is staged for it; a
    /// range that follows its open one in the buffer joins it.
    fn stage(&mut self, session: SessionId, c: &mut Conn, item: Item) {
        if c.slot == NONE {
            c.slot = self.touched.len() as u32;
            self.touched.push(Touched { session, head: NONE, tail: NONE, open: None });
        }
        let (t, items) = (&mut self.touched[c.slot as usize], &mut self.items);
        if let Item::Range(range) = item {
            match &mut t.open {
                Some(open) if (open.door, open.chunk, open.end) == (range.door, range.chunk, range.start) => {
                    open.end = range.end;
                    open.deliveries += range.deliveries;
                }
                open => {
                    if let Some(before) = open.replace(range) {
                        list(items, t, Item::Range(before));
                    }
                }
            }
            return;
        }
        if let Some(before) = t.open.take() {
            list(items, t, Item::Range(before));
        }
        list(items, t, item);
    }

    /// Seals the buffers: what is in them can be handed out.
    fn seal(&mut self) {
        for (buf, chunks) in self.bufs.iter_mut().zip(&mut self.chunks) {
            if !buf.is_empty() {
                chunks.push(buf.split().freeze());
            }
        }
    }

    /// What the outbox is given for `range`: a slice of the buffer, or (short) its bytes to copy.
    fn pushed(chunks: &[Vec<Bytes>], range: Range) -> Pushed<'_> {
        let bytes = &chunks[usize::from(range.door)][usize::from(range.chunk)];
        let (start, end) = (range.start as usize, range.end as usize);
        if end - start < SHARE_MIN {
            Pushed::Copy(&bytes[start..end])
        } else {
            Pushed::Out(Outgoing::Bytes(bytes.slice(start..end)))
        }
    }

    /// Hands `c` what is staged for it, under one lock of its outbox (the buffer sealed
    /// first): ranges of the buffer as slices of it, short ones copied; notes in `wakes` if it
    /// must be woken. Returns the push's outcome and the deliveries handed.
    fn hand(&mut self, c: &mut Conn, deadline: Option<Deadline>, wakes: &mut Wakes) -> (Result<(), Overflow>, u64) {
        let Some(t) = self.touched.get_mut(c.slot as usize) else { return (Ok(()), 0) };
        c.slot = NONE;
        let open = t.open.take();
        let mut delivered = open.map_or(0, |r| u64::from(r.deliveries));
        if t.head == NONE {
            // The common case: a run of messages, nothing else.
            let Some(range) = open else { return (Ok(()), 0) };
            let once = &mut std::iter::once(Self::pushed(&self.chunks, range));
            let pushed = c.outbox.push_all(once, c.limit(), deadline, wakes);
            return (pushed, delivered);
        }
        let mut next = t.head;
        (t.head, t.tail) = (NONE, NONE);
        let (items, chunks) = (&mut self.items, &self.chunks);
        let listed = std::iter::from_fn(|| {
            let staged = items.get_mut(next as usize)?;
            next = staged.next;
            Some(match std::mem::replace(&mut staged.item, Item::Out(Outgoing::Resume, 0)) {
                Item::Range(range) => {
                    delivered += u64::from(range.deliveries);
                    Self::pushed(chunks, range)
                }
                Item::Own(bytes, deliveries) => {
                    delivered += u64::from(deliveries);
                    if bytes.len() > INLINE_MAX {
                        Pushed::Out(Outgoing::Bytes(bytes))
                    } else {
                        Pushed::Own(bytes)
                    }
                }
                Item::Out(out, deliveries) => {
                    delivered += u64::from(deliveries);
                    Pushed::Out(out)
                }
            })
        });
        let all = &mut listed.chain(open.map(|r| Self::pushed(chunks, r)));
        let pushed = c.outbox.push_all(all, c.limit(), deadline, wakes);
        (pushed, delivered)
    }

    /// Forgets the batch, once every connection has been handed its part.
    fn clear(&mut self) {
        self.chunks.iter_mut().for_each(Vec::clear);
        self.touched.clear();
        self.items.clear();
        if self.items.capacity() > 1 << 16 {
            self.items = Vec::new();
        }
    }
}

/// The connection of `session`, unless it is gone or closed.
fn open_conn(conns: &mut FxHashMap<SessionId, Conn>, session: SessionId) -> Option<&mut Conn> {
    conns.get_mut(&session).filter(|c| !c.closed)
}

/// Appends `item` to the list of `t` in `items`.
fn list(items: &mut Vec<Staged>, t: &mut Touched, item: Item) {
    let index = items.len() as u32;
    items.push(Staged { item, next: NONE });
    if t.tail == NONE {
        t.head = index;
    } else {
        items[t.tail as usize].next = index;
    }
    t.tail = index;
}

impl Conn {
    /// Where its door and TLS are in the router's batched figures (as `Metrics` lists them).
    fn figure(&self) -> usize {
        usize::from(self.door.0) * 2 + usize::from(self.tls)
    }

    fn spec(&self) -> &'static Spec {
        spec(self.door)
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }
}

/// An event encoded for one door, as the batch holds it: in the door's buffer, or (large) on
/// its own.
enum Encoded {
    Range(Range),
    Large(Bytes),
}

impl Encoded {
    fn new(staging: &mut Staging, door: Door, bytes: Bytes) -> Encoded {
        if bytes.len() > INLINE_MAX {
            return Encoded::Large(bytes);
        }
        Encoded::Range(staging.append(door, &bytes))
    }

    fn len(&self) -> usize {
        match self {
            Encoded::Range(range) => (range.end - range.start) as usize,
            Encoded::Large(bytes) => bytes.len(),
        }
    }

    /// What a recipient is staged, making `deliveries` deliveries.
    fn item(&self, deliveries: u32) -> Item {
        match self {
            &Encoded::Range(range) => Item::Range(Range { deliveries, ..range }),
            Encoded::Large(bytes) => Item::Out(Outgoing::Bytes(bytes.clone()), deliveries),
        }
    }
}

pub(crate) struct Router {
    hub: Hub,
    config: crate::Config,
    conns: FxHashMap<SessionId, Conn>,
    relays: Arc<Relays>,
    metrics: Arc<Metrics>,
    keeper: mpsc::UnboundedSender<Keep>,
    /// Sessions whose outbox overflowed, to disconnect.
    overflowed: Vec<SessionId>,
    /// What the current batch has for connections, not in their outboxes yet.
    staging: Staging,
    /// The time of the step being carried out.
    now: Instant,
    /// When it started: the zero of the outboxes' deadlines.
    epoch: Instant,
    /// `write_deadline_secs` in milliseconds, if any.
    write_wait: Option<u32>,
    /// Links one of whose ends could not be parked, to close after the current step.
    broken_links: Vec<LinkId>,
    /// Connections to wake once the current batch of inputs is carried out.
    wakes: Wakes,
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
    /// The reserved names, as the doors read them.
    accounts: Arc<crate::Accounts>,
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
            staging: Staging::default(),
            now: now(),
            epoch: now(),
            write_wait: match shared.config.write_deadline_secs {
                0 => None,
                secs => Some(secs.saturating_mul(1000).min(i32::MAX as u64) as u32),
            },
            broken_links: Vec::new(),
            wakes: Wakes::default(),
            deliveries: [0; 2 * DOORS.len()],
            bytes_out: [0; 2 * DOORS.len()],
            bus,
            refused: Vec::new(),
            hub_tx: shared.hub.clone(),
            accounts: shared.accounts.clone(),
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
                            return self.shutdown();
                        }
                    }
                    self.end_batch(now);
                }
                _ = &mut wake, if deadline.is_some() => {
                    let now = now();
                    self.step(now, Input::Tick);
                    self.end_batch(now);
                }
            }
            // The figures first: a connection woken to write a delivery is counted already
            // when its peer reads it (and may read /metrics next).
            self.update_metrics();
            self.wakes.wake();
        }
        self.shutdown();
    }

    /// Handles one message; `false` to stop.
    fn on_msg(&mut self, now: Instant, msg: HubMsg) -> bool {
        match msg {
            HubMsg::Connected { session, door, tls, origin, outbox, limit } => {
                let spec = spec(door);
                let limit = u32::try_from(limit).unwrap_or(u32::MAX);
                let conn = Conn { door, tls, outbox, limit, closed: false, slot: NONE };
                self.conns.insert(session, conn);
                let (caps, liveness) = (spec.caps, (spec.liveness)(&self.config));
                self.step(now, Input::Connected { session, door, caps, liveness, origin });
            }
            HubMsg::Command { session, command } => {
                if let (true, Some(c)) = (command.is_chat(), self.conn(session)) {
                    self.metrics.door(c.door, c.tls).messages_in.inc();
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
            HubMsg::Reserved { names } => {
                self.accounts.set(&names);
                self.step(now, Input::Reserved { names })
            }
            HubMsg::Stored { reply: ReplyTo::Session(session, kind), result } => {
                if let Some(bytes) = self.conn(session).and_then(|c| (c.spec().encode_reply)(kind, result)) {
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
                let roster =
                    Roster { online: self.hub.roster(), away: self.hub.aways(), desk_open: self.hub.desk_open() };
                let _ = reply.send(roster);
            }
            HubMsg::WhoWas { name, count, reply } => {
                let wall = std::time::SystemTime::now();
                let was = self.hub.whowas(&name, count);
                let _ = reply.send(
                    was.into_iter()
                        .map(|w| {
                            (w.name, w.via, wall.checked_sub(now.saturating_duration_since(w.left)).unwrap_or(wall))
                        })
                        .collect(),
                );
            }
            HubMsg::RoomsWith { session, name, reply } => {
                let _ = reply.send(self.hub.rooms_with(session, &name));
            }
            HubMsg::Rooms { session, rooms, reply } => {
                let rooms = match rooms {
                    None => self.hub.rooms(session, None),
                    Some(names) => names.iter().flat_map(|r| self.hub.rooms(session, Some(r))).collect(),
                };
                let _ = reply.send((rooms, self.hub.rooms_of(session)));
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
        self.now = now;
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
                if let (Kind::Login, Ok(()), Some(c)) = (kind, result, self.conn(to)) {
                    self.metrics.door(c.door, c.tls).logins.inc();
                }
                if let Some(bytes) = self.conn(to).and_then(|c| (c.spec().encode_reply)(kind, result)) {
                    self.push_bytes(to, &bytes, false);
                }
            }
            Output::Deliver { to, event } => {
                if let Some(bytes) = self.conn(to).and_then(|c| (c.spec().encode_event)(&event)) {
                    self.push_bytes(to, &bytes, true);
                }
            }
            Output::Broadcast { to, event } => {
                // Encoded once a door, appended to the batch buffer once, whoever gets it.
                let mut encoded: [Option<Option<Encoded>>; DOORS.len()] = Default::default();
                for session in to {
                    let Some(c) = open_conn(&mut self.conns, session) else { continue };
                    let slot = &mut encoded[usize::from(c.door.0)];
                    let staging = &mut self.staging;
                    let bytes = slot.get_or_insert_with(|| {
                        (c.spec().encode_event)(&event).map(|b| Encoded::new(staging, c.door, b))
                    });
                    if let Some(bytes) = bytes {
                        self.bytes_out[c.figure()] += bytes.len() as u64;
                        staging.stage(session, c, bytes.item(1));
                    }
                }
            }
            Output::Park { session, link } => {
                self.relays.open(link);
                // What is staged for it goes first (and everyone else's with it).
                self.flush(self.now);
                let parked = self
                    .conns
                    .remove(&session)
                    .map(|c| c.outbox.push(Outgoing::Park(link), c.limit(), &mut self.wakes));
                if !matches!(parked, Some(Ok(()))) {
                    // Gone, or overflowed: this end will never reach the relay.
                    self.broken_links.push(link);
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
                if let Some(c) = self.conns.get_mut(&session) {
                    c.closed = true;
                }
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
                let (Some(c), Some(last)) = (self.conn(to), queued.last().map(|q| q.id)) else { return };
                let mut page = bytes::BytesMut::new();
                for q in &queued {
                    page.extend_from_slice(&(c.spec().encode_queued)(q).unwrap_or_default());
                }
                let figure = c.figure();
                self.bytes_out[figure] += page.len() as u64;
                self.stage(to, Item::Out(Outgoing::Page { bytes: page.freeze(), last }, queued.len() as u32));
            }
            Output::Claim { session, name, was } => {
                let Some(c) = self.conn(session) else { return };
                let claim = Naming::Claim { session, name, door: c.door, caps: c.spec().caps, was };
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
            Output::RoomNews(news) => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Room(news));
                }
            }
            Output::Away { name, message } => {
                if let Some(bus) = &self.bus {
                    bus.publish(Publish::Away { name, message });
                }
            }
        }
    }

    /// The connection of `session`, unless it is gone or closed.
    fn conn(&self, session: SessionId) -> Option<&Conn> {
        self.conns.get(&session).filter(|c| !c.closed)
    }

    /// Stages `bytes` for `session`: an answer, or (`delivery`) an event for it, counted.
    fn push_bytes(&mut self, session: SessionId, bytes: &Bytes, delivery: bool) {
        let Some(c) = open_conn(&mut self.conns, session) else { return };
        self.bytes_out[c.figure()] += bytes.len() as u64;
        let item = Item::Own(bytes.clone(), u32::from(delivery));
        self.staging.stage(session, c, item);
    }

    fn push(&mut self, session: SessionId, out: Outgoing) {
        self.stage(session, Item::Out(out, 0));
    }

    fn stage(&mut self, session: SessionId, item: Item) {
        if let Some(c) = open_conn(&mut self.conns, session) {
            self.staging.stage(session, c, item);
        }
    }

    /// Ends a batch: what it staged goes into the outboxes, and the sessions that overflowed
    /// meanwhile are disconnected (which may stage more: a presence, a desk's news).
    fn end_batch(&mut self, now: Instant) {
        loop {
            self.flush(now);
            let Some(session) = self.overflowed.pop() else { break };
            self.step(now, Input::Disconnected { session });
        }
    }

    /// Hands every connection what is staged for it, one lock of its outbox each; notes the
    /// tasks to wake, the deliveries made and the outboxes that overflowed.
    fn flush(&mut self, now: Instant) {
        // Milliseconds since the router started, wrapping after 49 days (as a deadline allows).
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        let deadline = self.write_wait.map(|wait| Deadline { now: ms, wait });
        let staging = &mut self.staging;
        if staging.touched.is_empty() {
            return;
        }
        staging.seal();
        for i in 0..staging.touched.len() {
            let session = staging.touched[i].session;
            let Some(c) = self.conns.get_mut(&session) else { continue };
            match staging.hand(c, deadline, &mut self.wakes) {
                (Ok(()), delivered) => {
                    self.deliveries[c.figure()] += delivered;
                    if c.closed {
                        self.conns.remove(&session);
                    }
                }
                (Err(Overflow), _) => {
                    self.metrics.door(c.door, c.tls).slow_consumers.inc();
                    self.conns.remove(&session);
                    self.overflowed.push(session);
                    tracing::warn!(
                        session = session.0,
                        "outbound queue overflowed: dropping a connection that does not read"
                    );
                }
            }
        }
        staging.clear();
    }

    fn shutdown(mut self) {
        // Operators hear that every service goes down, before their connections close.
        let now = now();
        self.end_batch(now);
        self.step(now, services(&self.config, false));
        self.end_batch(now);
        // Everyone else hears its protocol's goodbye, after what is queued for it.
        for (_, c) in self.conns.drain() {
            if let Some(bytes) = (c.spec().goodbye)() {
                let _ = c.outbox.push(Outgoing::Bytes(bytes), usize::MAX, &mut self.wakes);
            }
            let _ = c.outbox.push(Outgoing::Close, usize::MAX, &mut self.wakes);
        }
        self.wakes.wake();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doors::DOORS;

    /// Every connection has one, idle or not: ARCHITECTURE.md says how big it is.
    #[test]
    fn a_connection_s_entry_is_small() {
        assert!(std::mem::size_of::<Conn>() <= 24, "{} bytes", std::mem::size_of::<Conn>());
    }

    fn conn() -> Conn {
        let outbox = Arc::new(Outbox::default());
        Conn { door: DOORS[0].door, tls: false, outbox, limit: 1 << 20, closed: false, slot: NONE }
    }

    /// Stages what `Router::apply` stages for one event encoded once for everyone.
    fn broadcast(staging: &mut Staging, conns: &mut [Conn], bytes: &[u8]) {
        let encoded = Encoded::new(staging, Door(0), Bytes::copy_from_slice(bytes));
        for (i, c) in conns.iter_mut().enumerate() {
            staging.stage(SessionId(i as u64), c, encoded.item(1));
        }
    }

    fn hand_all(staging: &mut Staging, conns: &mut [Conn]) -> Vec<(Vec<Outgoing>, u64)> {
        staging.seal();
        let out = conns
            .iter_mut()
            .map(|c| {
                let (pushed, delivered) = staging.hand(c, None, &mut Wakes::default());
                assert!(pushed.is_ok());
                (c.outbox.take_all().0, delivered)
            })
            .collect();
        staging.clear();
        out
    }

    fn bytes(out: &Outgoing) -> &Bytes {
        let Outgoing::Bytes(bytes) = out else { panic!("bytes expected, got {out:?}") };
        bytes
    }

    #[test]
    fn a_batch_of_lobby_messages_is_one_buffer_shared_by_every_recipient() {
        let (mut staging, mut conns) = (Staging::default(), (0..3).map(|_| conn()).collect::<Vec<_>>());
        let messages: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 100]).collect();
        for m in &messages {
            broadcast(&mut staging, &mut conns, m);
        }
        let handed = hand_all(&mut staging, &mut conns);
        let first = bytes(&handed[0].0[0]);
        for (out, delivered) in &handed {
            // One range for the four messages, in order, counted as four deliveries.
            assert_eq!(out.len(), 1);
            assert_eq!(*delivered, 4);
            assert_eq!(bytes(&out[0]).as_ref(), messages.concat());
            // The very same bytes, not a copy each.
            assert_eq!(bytes(&out[0]).as_ptr(), first.as_ptr());
        }
    }

    #[test]
    fn answers_and_other_doors_between_lobby_messages_do_not_break_a_recipient_s_run() {
        let (mut staging, mut conns) = (Staging::default(), (0..4).map(|_| conn()).collect::<Vec<_>>());
        conns[2].door = DOORS[1].door;
        conns[3].door = DOORS[1].door;
        for i in 0..3u8 {
            // What `Router::apply` does for a lobby message: each door's encoding appended
            // once, to its own buffer; then the sender's answer, for it alone.
            let mut encoded: [Option<Encoded>; 2] = Default::default();
            for (s, c) in conns.iter_mut().enumerate() {
                let door = c.door;
                let text = vec![b'a' + i + 10 * door.0; 300];
                let e =
                    encoded[usize::from(door.0)].get_or_insert_with(|| Encoded::new(&mut staging, door, text.into()));
                staging.stage(SessionId(s as u64), c, e.item(1));
            }
            staging.stage(SessionId(0), &mut conns[0], Item::Own(Bytes::from_static(b"sent\n"), 0));
        }
        let handed = hand_all(&mut staging, &mut conns);
        for (out, delivered) in &handed[1..] {
            assert_eq!(*delivered, 3);
            assert_eq!(out.len(), 1, "one range for the three messages");
            assert_eq!(bytes(&out[0]).len(), 900);
        }
        assert_eq!(bytes(&handed[2].0[0]).as_ptr(), bytes(&handed[3].0[0]).as_ptr());
        assert_ne!(bytes(&handed[1].0[0]).as_ptr(), bytes(&handed[2].0[0]).as_ptr());
        // The sender hears each answer in its place, after its message.
        let (out, delivered) = &handed[0];
        assert_eq!(*delivered, 3);
        let heard: Vec<u8> = out.iter().flat_map(|o| bytes(o).to_vec()).collect();
        let expected: Vec<u8> = (0..3u8).flat_map(|i| [vec![b'a' + i; 300], b"sent\n".to_vec()].concat()).collect();
        assert_eq!(heard, expected);
        assert_eq!(bytes(&out[0]).as_ptr(), bytes(&handed[1].0[0]).as_ptr());
    }

    #[test]
    fn short_runs_are_copied_and_what_is_not_bytes_keeps_its_place() {
        let (mut staging, mut conns) = (Staging::default(), vec![conn(), conn()]);
        broadcast(&mut staging, &mut conns, b"hello\n");
        // A reply for the first only, then its close; the second gets another message.
        let reply = Item::Own(Bytes::from_static(b"ok\n"), 0);
        staging.stage(SessionId(0), &mut conns[0], reply);
        staging.stage(SessionId(0), &mut conns[0], Item::Out(Outgoing::Close, 0));
        broadcast(&mut staging, &mut conns[1..], b"more\n");
        let handed = hand_all(&mut staging, &mut conns);

        let (first, delivered) = &handed[0];
        assert_eq!(*delivered, 1);
        assert!(matches!(first.as_slice(), [Outgoing::Bytes(b), Outgoing::Close] if b.as_ref() == b"hello\nok\n"));
        let (second, delivered) = &handed[1];
        assert_eq!(*delivered, 2);
        assert!(matches!(second.as_slice(), [Outgoing::Bytes(b)] if b.as_ref() == b"hello\nmore\n"));
        // Copied: a short run does not hold the batch's buffer.
        assert_ne!(bytes(&first[0]).as_ptr(), bytes(&second[0]).as_ptr());
    }

    #[test]
    fn a_large_message_is_shared_as_it_is_and_a_full_chunk_starts_the_next() {
        let (mut staging, mut conns) = (Staging::default(), vec![conn(), conn()]);
        let large = Bytes::from(vec![7u8; INLINE_MAX + 1]);
        let encoded = Encoded::new(&mut staging, Door(0), large.clone());
        for (i, c) in conns.iter_mut().enumerate() {
            staging.stage(SessionId(i as u64), c, encoded.item(1));
        }
        // Enough messages to fill more than one chunk: each chunk is a range of its own.
        let message = vec![b'x'; 1000];
        let count = CHUNK / message.len() + 5;
        for _ in 0..count {
            broadcast(&mut staging, &mut conns, &message);
        }
        for (out, delivered) in hand_all(&mut staging, &mut conns) {
            assert_eq!(delivered, 1 + count as u64);
            assert_eq!(bytes(&out[0]).as_ptr(), large.as_ptr());
            assert_eq!(out.len(), 3, "the large message, then one range per chunk");
            let total: usize = out[1..].iter().map(|o| bytes(o).len()).sum();
            assert_eq!(total, count * message.len());
        }
    }

    #[test]
    fn an_overflowing_outbox_fails_its_hand_over_and_no_one_else_s() {
        let (mut staging, mut conns) = (Staging::default(), vec![conn(), conn()]);
        conns[0].limit = 300;
        // Neither reads: the second batch passes the first's limit.
        for _ in 0..2 {
            broadcast(&mut staging, &mut conns, &[b'y'; 200]);
            staging.seal();
            let first = staging.hand(&mut conns[0], None, &mut Wakes::default()).0.is_ok();
            assert_eq!(staging.hand(&mut conns[1], None, &mut Wakes::default()).1, 1);
            staging.clear();
            if !first {
                assert!(conns[0].outbox.overflowed());
                let bytes: usize = conns[1].outbox.take_all().0.iter().map(|o| bytes(o).len()).sum();
                assert_eq!(bytes, 400);
                return;
            }
        }
        panic!("the outbox of limit 300 took 400 bytes");
    }
}
