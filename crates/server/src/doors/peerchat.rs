//! The hub as a PeerChat peer. It listens on `peerchat_addr` and, with `peerchat_join`, joins
//! a mesh through one of its peers, asks `who`, and joins every peer listed. Each mesh peer
//! it is connected to is one hub session named `NAME@peerchat`, in the lobby: its messages
//! reach the lobby, and lobby messages from elsewhere reach it as `message`s prefixed with
//! their author. The hub never sends a mesh message back into the mesh (every peer heard it
//! from its author): the hub keeps mesh sessions out of the broadcast of a mesh message.

use crate::doors::spec::{self, Spec};
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, Event, SessionId, MAX_NAME};
use proto::peerchat::{Codec, Info, Item, Message, PeerAddr, DEFAULT_ZIP};
use proto::DecodeError;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What the names of the mesh's peers end with in the hub (`ann@peerchat`).
pub(crate) const MESH_SUFFIX: &str = "@peerchat";

crate::settings::settings! {
    /// The hub as a PeerChat peer, bridging a mesh into the lobby: `[doors.peerchat]`. Peers
    /// speak plain TCP to each other: no TLS door.
    pub struct PeerchatConfig, flags PeerchatFlags {
        /// Where the hub listens as a PeerChat peer; none: no bridge.
        addr: Option<SocketAddr> = None, flag "peerchat-addr", value "HOST:PORT", legacy "peerchat_addr";
        /// A peer of a PeerChat mesh to join through (needs an address of its own).
        join: Option<SocketAddr> = None, flag "peerchat-join", value "HOST:PORT", legacy "peerchat_join";
        /// The hub's name in the mesh.
        name: String = "switchboard".into(), flag "peerchat-name", value "NAME", legacy "peerchat_name";
    }
}
crate::doors::spec::listen!(PeerchatConfig: addr);

/// The PeerChat door: the hub as a peer of a mesh, each mesh peer one session in the lobby.
/// It listens only if `peerchat_addr` is set, and then also joins the mesh through
/// `peerchat_join`, if set.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(5),
    name: "peerchat",
    caps: Caps { lobby: true, mesh: true, ..Caps::NONE },
    liveness: spec::no_liveness,
    encode_event,
    encode_reply: spec::no_reply,
    encode_queued: |queued| encode_event(&queued.event()),
    // A `leave`: else the mesh keeps listing the hub (and twice once it is back).
    goodbye: || Some(Message::Leave.to_line().into()),
    // Its peers' connections, and the bridge that joins the mesh and reaches the peers it lists.
    serve: |listener, shared, _| {
        let bridge = bridge(shared.clone(), shared.config.doors.peerchat.join);
        let accept = conn::accept::<PeerDoor>(listener, shared, false);
        Box::pin(async move {
            tokio::join!(accept, bridge);
        })
    },
    state: |_| Box::pin(async { Ok(Arc::new(Mesh::default()) as spec::State) }),
    also: spec::nothing_else,
};

/// The PeerChat door's own state: the mesh.
fn mesh(shared: &Shared) -> &Mesh {
    shared.state(SPEC.door)
}

/// The mesh as the hub's peer knows it: where each joined peer listens, and a way to ask
/// for a connection to a peer a `who-reply` named.
#[derive(Default)]
pub(crate) struct Mesh {
    /// Where each joined peer listens, and its name in the hub.
    peers: Mutex<FxHashMap<SessionId, (IpAddr, u16, String)>>,
    connect: Mutex<Option<mpsc::UnboundedSender<SocketAddr>>>,
}

impl Mesh {
    fn others(&self, asker: SessionId) -> Vec<PeerAddr> {
        let peers = self.peers.lock().expect("mesh lock");
        let mut list: Vec<(IpAddr, u16)> =
            peers.iter().filter(|(&id, _)| id != asker).map(|(_, (ip, port, _))| (*ip, *port)).collect();
        list.sort();
        list.into_iter().map(|(ip, port)| PeerAddr { ip: ip.to_string(), port }).collect()
    }

    fn knows(&self, target: SocketAddr) -> bool {
        self.peers.lock().expect("mesh lock").values().any(|(ip, port, _)| (*ip, *port) == (target.ip(), target.port()))
    }

    /// Takes a name for a peer: `NAME@peerchat`, or `NAME-2@peerchat`... when two peers of the
    /// mesh share a name.
    fn enter(&self, session: SessionId, origin: IpAddr, port: u16, peer_name: &str) -> String {
        let mut peers = self.peers.lock().expect("mesh lock");
        let taken = |name: &str| peers.values().any(|(_, _, n)| hub::fold(n) == hub::fold(name));
        let mut name = hub_name(peer_name, "");
        let mut n = 1;
        while taken(&name) {
            n += 1;
            name = hub_name(peer_name, &format!("-{n}"));
        }
        peers.insert(session, (origin, port, name.clone()));
        name
    }
}

/// A mesh peer's name in the hub: spaces and what a name may not hold become `_`, and the
/// whole fits a name with the mesh's suffix.
/// `tag` tells two peers of one name apart.
pub(crate) fn hub_name(peer: &str, tag: &str) -> String {
    let mut name: String =
        peer.chars().map(|c| if c.is_whitespace() || c.is_control() || c == '@' { '_' } else { c }).collect();
    if name.is_empty() {
        name.push_str("peer");
    }
    let room = MAX_NAME - MESH_SUFFIX.len() - tag.len();
    while name.len() > room {
        name.pop();
    }
    name + tag + MESH_SUFFIX
}

/// The PeerChat side of one mesh connection.
pub(crate) struct PeerDoor {
    codec: Codec,
    me: Info,
    /// The hub made this connection: it sends `join` first.
    outgoing: bool,
    /// Ask `who` once joined (the connection made through `peerchat_join`).
    ask_who: bool,
    /// The peer's name in the hub, once it joined.
    name: Option<String>,
    /// A second act for the same message, done before decoding more.
    pending: Option<Act>,
    /// The peer's address, as the socket sees it.
    origin: IpAddr,
}

impl PeerDoor {
    pub fn new(shared: &Shared, origin: IpAddr, outgoing: bool, ask_who: bool) -> Self {
        let port = shared.config.doors.peerchat.addr.map_or(0, |a| a.port());
        let me = Info { name: shared.config.doors.peerchat.name.clone(), age: 0, zip: DEFAULT_ZIP.into(), port };
        let origin = origin.to_canonical();
        PeerDoor { codec: Codec::default(), me, outgoing, ask_who, name: None, pending: None, origin }
    }

    fn joined(&mut self, session: SessionId, shared: &Shared, info: Info) -> Act {
        if self.name.is_some() {
            return Act::Nothing; // a second join on one connection changes nothing
        }
        let name = mesh(shared).enter(session, self.origin, info.port, &info.name);
        debug!(session = session.0, %name, port = info.port, "peerchat: joined");
        self.name = Some(name.clone());
        Act::Hub(Command::Login { name, verified: false })
    }
}

impl Protocol for PeerDoor {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, peer: SocketAddr) -> Self {
        PeerDoor::new(shared, peer.ip(), false, false)
    }

    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError> {
        if let Some(act) = self.pending.take() {
            return Ok(Some(act));
        }
        let Some(item) = self.codec.decode(rbuf) else { return Ok(None) };
        let message = match item {
            Item::Message(m) => m,
            Item::Ignored(why) => {
                debug!(session = session.0, why, "peerchat: ignored a line");
                return Ok(Some(Act::Nothing));
            }
        };
        Ok(Some(match message {
            Message::Join(info) => {
                let login = self.joined(session, shared, info);
                self.pending = Some(login);
                Act::Reply(Message::JoinReply(self.me.clone()).to_line().into())
            }
            Message::JoinReply(info) if self.outgoing => {
                let login = self.joined(session, shared, info);
                if std::mem::take(&mut self.ask_who) {
                    self.pending = Some(Act::Reply(Message::Who.to_line().into()));
                }
                login
            }
            Message::JoinReply(_) => Act::Nothing,
            Message::Who => Act::Reply(Message::WhoReply(mesh(shared).others(session)).to_line().into()),
            Message::WhoReply(peers) => {
                if let Some(connect) = mesh(shared).connect.lock().expect("mesh lock").as_ref() {
                    for p in peers {
                        if let Ok(ip) = p.ip.parse::<IpAddr>() {
                            let _ = connect.send(SocketAddr::new(ip.to_canonical(), p.port));
                        }
                    }
                }
                Act::Nothing
            }
            Message::Leave => Act::Leave,
            Message::Message(text) => match &self.name {
                Some(name) => Act::Hub(Command::Lobby { sender: name.clone(), text }),
                None => {
                    debug!(session = session.0, "peerchat: a message before any join, dropped");
                    Act::Nothing
                }
            },
        }))
    }

    fn greeting(&self) -> Option<Bytes> {
        self.outgoing.then(|| Message::Join(self.me.clone()).to_line().into())
    }

    fn closed(&mut self, session: SessionId, shared: &Shared) {
        mesh(shared).peers.lock().expect("mesh lock").remove(&session);
    }
}

/// A lobby message as a mesh `message`, prefixed with its author.
pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    match event {
        Event::Lobby { from, text } => Some(Message::Message(format!("{from}: {text}")).to_line().into()),
        _ => None,
    }
}

/// Connects to the peers `who-reply`s name, and first to `join`, if given; runs until the
/// server stops.
pub(crate) async fn bridge(shared: Arc<Shared>, join: Option<SocketAddr>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *mesh(&shared).connect.lock().expect("mesh lock") = Some(tx);
    let own_port = shared.config.doors.peerchat.addr.map(|a| a.port());
    if let Some(target) = join {
        match TcpStream::connect(target).await {
            Ok(stream) => {
                info!(%target, "peerchat: joining the mesh");
                spawn_peer(stream, target, &shared, true);
            }
            Err(e) => warn!(%target, error = %e, "peerchat: cannot join the mesh"),
        }
    }
    while let Some(target) = rx.recv().await {
        let is_me = Some(target.port()) == own_port && (target.ip().is_loopback() || target.ip().is_unspecified());
        if is_me || mesh(&shared).knows(target) {
            continue;
        }
        match TcpStream::connect(target).await {
            Ok(stream) => spawn_peer(stream, target, &shared, false),
            Err(e) => warn!(%target, error = %e, "peerchat: cannot reach a listed peer"),
        }
    }
}

fn spawn_peer(stream: TcpStream, target: SocketAddr, shared: &Arc<Shared>, ask_who: bool) {
    let _ = stream.set_nodelay(true);
    shared.metrics.door(SPEC.door, false).open.inc();
    let door = PeerDoor::new(shared, target.ip(), true, ask_who);
    let stream = crate::net::transport::Transport::Plain(stream);
    crate::net::conn::serve(stream, target, shared.clone(), door, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_peers_of_one_name_get_two_names() {
        let mesh = Mesh::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(mesh.enter(SessionId(1), ip, 1, "ann"), "ann@peerchat");
        assert_eq!(mesh.enter(SessionId(2), ip, 2, "Ann"), "Ann-2@peerchat");
        mesh.peers.lock().unwrap().remove(&SessionId(1));
        assert_eq!(mesh.enter(SessionId(3), ip, 3, "ann"), "ann@peerchat");
    }

    #[test]
    fn mesh_names_fit_the_hub() {
        assert_eq!(hub_name("Bob", ""), "Bob@peerchat");
        assert_eq!(hub_name("Bob Smith@home\n", ""), "Bob_Smith_home_@peerchat");
        assert_eq!(hub_name("", ""), "peer@peerchat");
        assert_eq!(hub_name("Bob", "-2"), "Bob-2@peerchat");
        let long = hub_name(&"é".repeat(60), "-10");
        assert!(
            long.len() <= MAX_NAME
                && long.ends_with(MESH_SUFFIX)
                && hub::valid_name(long.strip_suffix(MESH_SUFFIX).unwrap())
        );
    }
}
