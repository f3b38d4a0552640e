//! Room news between the hub and the bus: the hub's `RoomNews` as `proto::bus` carries it
//! (modes by their IRC letters), and back. News that is none (an unknown letter, a mode
//! without its argument) is refused on the way in, never half carried out.

use hub::{Masks, Member, Mode, ModeChange, RoomModes, RoomNews, Topic};
use proto::bus;

fn member(m: Member) -> bus::Member {
    bus::Member { op: m.op, voice: m.voice }
}

fn hub_member(m: bus::Member) -> Member {
    Member { op: m.op, voice: m.voice }
}

fn change(c: ModeChange) -> bus::ModeChange {
    let (mode, arg) = match c.mode {
        Mode::Op(name) => ('o', Some(name)),
        Mode::Voice(name) => ('v', Some(name)),
        Mode::Ban(mask) => ('b', Some(mask)),
        Mode::Except(mask) => ('e', Some(mask)),
        Mode::InviteExcept(mask) => ('I', Some(mask)),
        Mode::Key(key) => ('k', Some(key)),
        Mode::Limit(limit) => ('l', Some(limit.to_string())),
        Mode::InviteOnly => ('i', None),
        Mode::Moderated => ('m', None),
        Mode::NoOutside => ('n', None),
        Mode::Secret => ('s', None),
        Mode::TopicLock => ('t', None),
    };
    bus::ModeChange { on: c.on, mode, arg }
}

fn hub_change(c: bus::ModeChange) -> Option<ModeChange> {
    let arg = c.arg;
    let mode = match c.mode {
        'o' => Mode::Op(arg?),
        'v' => Mode::Voice(arg?),
        'b' => Mode::Ban(arg?),
        'e' => Mode::Except(arg?),
        'I' => Mode::InviteExcept(arg?),
        'k' => Mode::Key(arg?),
        'l' => Mode::Limit(arg?.parse().ok()?),
        'i' => Mode::InviteOnly,
        'm' => Mode::Moderated,
        'n' => Mode::NoOutside,
        's' => Mode::Secret,
        't' => Mode::TopicLock,
        _ => return None,
    };
    Some(ModeChange { on: c.on, mode })
}

fn modes(m: RoomModes) -> bus::RoomModes {
    let letters = [(m.invite_only, 'i'), (m.moderated, 'm'), (m.no_outside, 'n'), (m.secret, 's'), (m.topic_lock, 't')];
    let set = letters.iter().filter(|(on, _)| *on).map(|&(_, c)| c).collect();
    bus::RoomModes { set, key: m.key, limit: m.limit }
}

fn hub_modes(m: bus::RoomModes) -> RoomModes {
    let on = |c: char| m.set.contains(c);
    RoomModes {
        invite_only: on('i'),
        moderated: on('m'),
        no_outside: on('n'),
        secret: on('s'),
        topic_lock: on('t'),
        key: m.key,
        limit: m.limit,
    }
}

pub(crate) fn to_bus(news: RoomNews) -> bus::RoomNews {
    match news {
        RoomNews::Joined { room, name, member: m } => bus::RoomNews::Joined { room, name, member: member(m) },
        RoomNews::Parted { room, name, reason, by } => bus::RoomNews::Parted { room, name, reason, by },
        RoomNews::Quit { room, name } => bus::RoomNews::Quit { room, name },
        RoomNews::Said { room, from, text, notice } => bus::RoomNews::Said { room, from, text, notice },
        RoomNews::Topic { room, topic } => bus::RoomNews::Topic { room, text: topic.text, by: topic.by, at: topic.at },
        RoomNews::Modes { room, by, changes } => {
            bus::RoomNews::Modes { room, by, changes: changes.into_iter().map(change).collect() }
        }
        RoomNews::Invited { room, name, by } => bus::RoomNews::Invited { room, name, by },
        RoomNews::Typing { room, from, active } => bus::RoomNews::Typing { room, from, active },
        RoomNews::Sync { room, topic, modes: m, masks: Masks { bans, excepts, invexes }, members } => {
            bus::RoomNews::Sync {
                room,
                topic_at: topic.as_ref().map_or(0, |t| t.at),
                topic: topic.map(|t| (t.text, t.by)),
                modes: modes(m),
                bans,
                excepts,
                invexes,
                members: members.into_iter().map(|(name, m)| (name, member(m))).collect(),
            }
        }
    }
}

pub(crate) fn from_bus(news: bus::RoomNews) -> Option<RoomNews> {
    Some(match news {
        bus::RoomNews::Joined { room, name, member } => RoomNews::Joined { room, name, member: hub_member(member) },
        bus::RoomNews::Parted { room, name, reason, by } => RoomNews::Parted { room, name, reason, by },
        bus::RoomNews::Quit { room, name } => RoomNews::Quit { room, name },
        bus::RoomNews::Said { room, from, text, notice } => RoomNews::Said { room, from, text, notice },
        bus::RoomNews::Topic { room, text, by, at } => RoomNews::Topic { room, topic: Topic { text, by, at } },
        bus::RoomNews::Modes { room, by, changes } => {
            RoomNews::Modes { room, by, changes: changes.into_iter().map(hub_change).collect::<Option<_>>()? }
        }
        bus::RoomNews::Invited { room, name, by } => RoomNews::Invited { room, name, by },
        bus::RoomNews::Typing { room, from, active } => RoomNews::Typing { room, from, active },
        bus::RoomNews::Sync { room, topic, topic_at, modes, bans, excepts, invexes, members } => RoomNews::Sync {
            room,
            topic: topic.map(|(text, by)| Topic { text, by, at: topic_at }),
            modes: hub_modes(modes),
            masks: Masks { bans, excepts, invexes },
            members: members.into_iter().map(|(name, m)| (name, hub_member(m))).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_news_crosses_and_comes_back_the_same() {
        let all = [
            RoomNews::Joined { room: "#r".into(), name: "ann".into(), member: Member { op: true, voice: false } },
            RoomNews::Parted { room: "#r".into(), name: "bob".into(), reason: "x".into(), by: Some("ann".into()) },
            RoomNews::Quit { room: "#r".into(), name: "bob".into() },
            RoomNews::Said { room: "#r".into(), from: "ann".into(), text: "hi".into(), notice: true },
            RoomNews::Topic {
                room: "#r".into(),
                topic: Topic { text: "t".into(), by: "ann".into(), at: 1_700_000_000 },
            },
            RoomNews::Modes {
                room: "#r".into(),
                by: "ann".into(),
                changes: [
                    Mode::Op("a".into()),
                    Mode::Voice("b".into()),
                    Mode::Ban("*!*@irc".into()),
                    Mode::Except("ann!*@*".into()),
                    Mode::InviteExcept("*!*@web".into()),
                    Mode::Key("k".into()),
                    Mode::Limit(9),
                    Mode::InviteOnly,
                    Mode::Moderated,
                    Mode::NoOutside,
                    Mode::Secret,
                    Mode::TopicLock,
                ]
                .into_iter()
                .map(|mode| ModeChange { on: true, mode })
                .collect(),
            },
            RoomNews::Invited { room: "#r".into(), name: "c".into(), by: "ann".into() },
            RoomNews::Typing { room: "#r".into(), from: "ann".into(), active: true },
            RoomNews::Sync {
                room: "#r".into(),
                topic: Some(Topic { text: "t".into(), by: "b".into(), at: 5 }),
                modes: RoomModes { secret: true, key: Some("k".into()), ..RoomModes::default() },
                masks: Masks { bans: vec!["m".into()], excepts: vec!["e".into()], invexes: vec!["i".into()] },
                members: vec![("ann".into(), Member { op: false, voice: true })],
            },
        ];
        for news in all {
            assert_eq!(from_bus(to_bus(news.clone())), Some(news));
        }
        let bad = bus::ModeChange { on: true, mode: 'o', arg: None };
        let news = bus::RoomNews::Modes { room: "#r".into(), by: "a".into(), changes: vec![bad] };
        assert_eq!(from_bus(news), None, "an op without a name");
        let bad = bus::ModeChange { on: true, mode: 'x', arg: None };
        assert_eq!(from_bus(bus::RoomNews::Modes { room: "#r".into(), by: "a".into(), changes: vec![bad] }), None);
    }
}
