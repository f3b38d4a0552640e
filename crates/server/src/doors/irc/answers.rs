//! The IRC door's answers to what it asked the hub task (who is online, the rooms): `WHOIS`,
//! `ISON`, `USERHOST`, `LUSERS`, `NAMES`, `LIST`, `WHO` (and WHOX), and a channel's topic,
//! modes and bans. A user's account is its name if that is reserved ([`crate::Accounts`]).

use super::channels::prefix;
use super::nicks;
use super::{HOST, LOBBY, SERVER, TARGMAX};
use crate::msg::Roster;
use hub::{Member, RoomView};
use proto::irc::{Message, MAX_LINE};
use std::net::SocketAddr;

/// `:server CODE me params...`
fn numeric(me: &str, code: &str, params: &[&str]) -> Vec<u8> {
    let mut all = vec![me];
    all.extend_from_slice(params);
    Message::new(SERVER, code, &all).to_line()
}

/// Who is online, by nick (`nicks.rs`): every name below is shown, and looked for, so.
fn nicked(online: &[(String, &'static str)]) -> Vec<(String, &'static str)> {
    online.iter().map(|(n, via)| (nicks::nick(n).into_owned(), *via)).collect()
}

/// Whether a session of the door called `via` hears the lobby (so is in `#lobby`).
fn in_lobby(via: &str) -> bool {
    crate::doors::DOORS.iter().any(|d| d.name == via && d.caps.lobby)
}

/// `353` lines for `room`'s `names` (each with its prefix), as many as the bound needs, and `366`.
pub(super) fn names_lines(me: &str, room: &str, secret: bool, names: &[String]) -> Vec<u8> {
    let symbol = if secret { "@" } else { "=" };
    let head = format!(":{SERVER} 353 {me} {symbol} {room} :");
    let mut out = Vec::new();
    let mut line = head.clone();
    for name in names {
        if line.len() + name.len() + 3 > MAX_LINE && line.len() > head.len() {
            out.extend(line.trim_end().as_bytes());
            out.extend(b"\r\n");
            line = head.clone();
        }
        line.push_str(name);
        line.push(' ');
    }
    if line.len() > head.len() {
        out.extend(line.trim_end().as_bytes());
        out.extend(b"\r\n");
    }
    out.extend(numeric(me, "366", &[room, "End of /NAMES list"]));
    out
}

/// The numeric that ends a list of masks (`b`, `e`, `I`), and its text.
pub(super) fn list_end(letter: &str) -> (&'static str, &'static str) {
    match letter {
        "e" => ("349", "End of channel exception list"),
        "I" => ("347", "End of channel invite list"),
        _ => ("368", "End of channel ban list"),
    }
}

/// `+nt` and, for a member, the key; and the limit.
fn modes_of(view: &RoomView, member: bool) -> Vec<String> {
    let m = &view.modes;
    let mut letters = String::from("+");
    let mut args = Vec::new();
    for (on, c) in [(m.invite_only, 'i'), (m.moderated, 'm'), (m.no_outside, 'n'), (m.secret, 's'), (m.topic_lock, 't')]
    {
        if on {
            letters.push(c);
        }
    }
    if let Some(key) = &m.key {
        letters.push('k');
        args.push(if member { key.clone() } else { "*".into() });
    }
    if let Some(limit) = m.limit {
        letters.push('l');
        args.push(limit.to_string());
    }
    let mut all = vec![letters];
    all.extend(args);
    all
}

/// The answer to `NAMES`, `LIST`, `WHO`, `TOPIC #room` or `MODE #room [b]` from `me`: `rooms`
/// as the hub shows them to it (those asked for, with their members, or all without), the
/// rooms it is in (`mine`), and who is online.
pub(super) fn rooms_answer(
    me: &str,
    m: &Message,
    rooms: &[RoomView],
    mine: &[String],
    roster: &Roster,
    caps: super::account::Caps,
    accounts: &crate::Accounts,
) -> Vec<u8> {
    let online = &nicked(&roster.online);
    let multi = caps.multi_prefix;
    let shown = |prefix: &str, name: &str| match caps.userhost_in_names {
        true => format!("{prefix}{name}!{name}@{HOST}"),
        false => format!("{prefix}{name}"),
    };
    let line = |code: &str, params: &[&str]| numeric(me, code, params);
    let find = |name: &str| rooms.iter().find(|r| hub::fold_room(&r.name) == hub::fold_room(name));
    let member = |name: &str| mine.iter().any(|r| hub::fold_room(r) == hub::fold_room(name));
    let lobby: Vec<&str> = online.iter().filter(|(_, via)| in_lobby(via)).map(|(n, _)| n.as_str()).collect();
    let target = m.params.first().map(String::as_str).unwrap_or("");
    let mut out = Vec::new();
    match m.command.as_str() {
        "NAMES" if target.is_empty() => out.extend(line("366", &["*", "End of /NAMES list"])),
        "NAMES" => {
            for room in target.split(',').filter(|r| !r.is_empty()) {
                if room.eq_ignore_ascii_case(LOBBY) {
                    let names: Vec<String> = lobby.iter().map(|n| shown("", n)).collect();
                    out.extend(names_lines(me, LOBBY, false, &names));
                    continue;
                }
                match find(room) {
                    Some(view) => {
                        let names: Vec<String> =
                            view.members.iter().map(|(n, m)| shown(prefix(*m, multi), &nicks::nick(n))).collect();
                        out.extend(names_lines(me, &view.name, view.modes.secret, &names));
                    }
                    None => out.extend(line("366", &[room, "End of /NAMES list"])),
                }
            }
        }
        "LIST" => {
            let wanted: Vec<&str> = target.split(',').filter(|r| r.starts_with('#')).collect();
            let asked =
                |name: &str| wanted.is_empty() || wanted.iter().any(|w| hub::fold_room(w) == hub::fold_room(name));
            out.extend(line("321", &["Channel", "Users  Name"]));
            if asked(LOBBY) {
                let count = lobby.len().to_string();
                out.extend(line("322", &[LOBBY, &count, "[+nt] The hub's lobby, shared by every protocol"]));
            }
            for view in rooms.iter().filter(|v| asked(&v.name)) {
                let topic = view.topic.as_ref().map_or("", |t| t.text.as_str());
                let modes = modes_of(view, false)[0].clone();
                out.extend(line("322", &[&view.name, &view.count.to_string(), &format!("[{modes}] {topic}")]));
            }
            out.extend(line("323", &["End of /LIST"]));
        }
        "TOPIC" => match find(target) {
            Some(RoomView { name, topic: Some(topic), .. }) => {
                out.extend(line("332", &[name, &topic.text]));
                out.extend(line("333", &[name, &nicks::nick(&topic.by), &topic.at.to_string()]));
            }
            Some(view) => out.extend(line("331", &[&view.name, "No topic is set"])),
            None => out.extend(line("403", &[target, "No such channel"])),
        },
        "MODE" if m.params.len() > 1 => match find(target) {
            Some(view) => {
                let letter = m.params[1].trim_start_matches('+');
                let (list, code) = match letter {
                    "e" => (&view.masks.excepts, "348"),
                    "I" => (&view.masks.invexes, "346"),
                    _ => (&view.masks.bans, "367"),
                };
                for mask in list {
                    out.extend(line(code, &[&view.name, mask]));
                }
                let (end, what) = list_end(letter);
                out.extend(line(end, &[&view.name, what]));
            }
            None => out.extend(line("403", &[target, "No such channel"])),
        },
        "MODE" => match find(target) {
            Some(view) => {
                let modes = modes_of(view, member(&view.name));
                let mut params: Vec<&str> = vec![&view.name];
                params.extend(modes.iter().map(String::as_str));
                out.extend(line("324", &params));
            }
            None => out.extend(line("403", &[target, "No such channel"])),
        },
        _ => {
            // WHO: a channel's members, or a nick; WHOX (`%fields[,token]`) with the fields asked.
            let whox = m.params.get(1).and_then(|p| p.strip_prefix('%')).map(|p| p.split_once(',').unwrap_or((p, "0")));
            let who = |out: &mut Vec<u8>, channel: &str, name: &str, m: Member| {
                let here = if roster.away_of(&nicks::name(name)).is_some() { 'G' } else { 'H' };
                let flags = format!("{here}{}", prefix(m, multi));
                let Some((fields, token)) = whox else {
                    out.extend(line("352", &[channel, name, HOST, SERVER, name, &flags, &format!("0 {name}")]));
                    return;
                };
                let account = if accounts.holds(&nicks::name(name)) { name } else { "0" };
                let mut params = Vec::new();
                for (field, value) in [
                    ('t', token),
                    ('c', channel),
                    ('u', name),
                    ('i', "255.255.255.255"),
                    ('h', HOST),
                    ('s', SERVER),
                    ('n', name),
                    ('f', &flags),
                    ('d', "0"),
                    ('l', "0"),
                    ('a', account),
                    ('o', "n/a"),
                    ('r', name),
                ] {
                    if fields.contains(field) {
                        params.push(value);
                    }
                }
                out.extend(line("354", &params));
            };
            if target.eq_ignore_ascii_case(LOBBY) {
                for name in &lobby {
                    who(&mut out, LOBBY, name, Member::default());
                }
            } else if target.starts_with('#') {
                if let Some(view) = find(target) {
                    for (name, m) in &view.members {
                        who(&mut out, &view.name, &nicks::nick(name), *m);
                    }
                }
            } else if let Some((name, _)) = online.iter().find(|(n, _)| hub::same_name(n, target)) {
                who(&mut out, "*", name, Member::default());
            }
            out.extend(line("315", &[if target.is_empty() { "*" } else { target }, "End of WHO list"]));
        }
    }
    out
}

/// The answer to `WHOIS`, `ISON`, `USERHOST` or `LUSERS` from `me`, from who is online.
/// (`rooms`: for `WHOIS`, the rooms of each nick asked about, and its standing in each.)
pub(super) fn roster_answer(
    me: &str,
    peer: SocketAddr,
    m: &Message,
    roster: &Roster,
    rooms: &[(String, Vec<(String, Member)>)],
    accounts: &crate::Accounts,
) -> Vec<u8> {
    let online = &nicked(&roster.online);
    let away = |nick: &str| roster.away_of(&nicks::name(nick));
    let line = |code: &str, params: &[&str]| numeric(me, code, params);
    let find = |name: &str| online.iter().find(|(n, _)| hub::same_name(n, name));
    let mut out = Vec::new();
    match m.command.as_str() {
        "WHOIS" => {
            let Some(targets) = m.params.last() else {
                return line("431", &["No nickname given"]);
            };
            for target in targets.split(',').filter(|t| !t.is_empty()).take(TARGMAX) {
                match find(target) {
                    Some((name, via)) => {
                        out.extend(line("311", &[name, name, HOST, "*", name]));
                        let server = format!("on {via}");
                        out.extend(line("312", &[name, SERVER, &server]));
                        if let Some(message) = away(name) {
                            out.extend(line("301", &[name, message]));
                        }
                        let mut channels: Vec<String> = vec![LOBBY.to_owned()];
                        if let Some((_, with)) = rooms.iter().find(|(t, _)| t == target) {
                            channels.extend(with.iter().map(|(room, m)| format!("{}{room}", prefix(*m, true))));
                        }
                        // Everyone IRC shows as online hears the lobby but JPC devices and operators.
                        if !in_lobby(via) {
                            channels.remove(0);
                        }
                        if !channels.is_empty() {
                            out.extend(line("319", &[name, &channels.join(" ")]));
                        }
                        if accounts.holds(&nicks::name(name)) {
                            out.extend(line("330", &[name, name, "is logged in as"]));
                        }
                        if hub::same_name(name, me) {
                            out.extend(line("378", &[name, &format!("is connecting from {}", peer.ip())]));
                        }
                        out.extend(line("318", &[name, "End of /WHOIS list"]));
                    }
                    None => {
                        out.extend(line("401", &[target, "No such nick/channel"]));
                        out.extend(line("318", &[target, "End of /WHOIS list"]));
                    }
                }
            }
        }
        "ISON" => {
            let on: Vec<&str> = m
                .params
                .iter()
                .flat_map(|p| p.split(' '))
                .filter_map(|n| find(n).map(|(name, _)| name.as_str()))
                .collect();
            out.extend(line("303", &[&on.join(" ")]));
        }
        "USERHOST" => {
            let found: Vec<String> = m
                .params
                .iter()
                .take(5)
                .filter_map(|n| find(n))
                .map(|(name, _)| format!("{name}={}{name}@{HOST}", if away(name).is_some() { '-' } else { '+' }))
                .collect();
            out.extend(line("302", &[&found.join(" ")]));
        }
        _ => {
            let users = online.len().to_string();
            out.extend(line("251", &[&format!("There are {users} users and 0 invisible on 1 server")]));
            out.extend(line("254", &["1", "channels formed"]));
            out.extend(line("255", &[&format!("I have {users} clients and 1 server")]));
        }
    }
    out
}

/// `WHOWAS nick`: each departure kept (`314`, then `312` saying the door it was on and when
/// it left), or `406`; then `369`.
pub(super) fn whowas_answer(me: &str, nick: &str, was: &[(String, &'static str, std::time::SystemTime)]) -> Vec<u8> {
    let line = |code: &str, params: &[&str]| numeric(me, code, params);
    let mut out = Vec::new();
    if was.is_empty() {
        out.extend(line("406", &[nick, "There was no such nickname"]));
    }
    for (name, via, left) in was {
        let shown = nicks::nick(name);
        out.extend(line("314", &[&shown, &shown, HOST, "*", &shown]));
        let left = humantime::format_rfc3339_seconds(*left);
        out.extend(line("312", &[&shown, SERVER, &format!("was on {via}, left {left}")]));
    }
    out.extend(line("369", &[nick, "End of WHOWAS"]));
    out
}
