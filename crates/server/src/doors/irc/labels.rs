//! `labeled-response`: a message that carries a `label` tag is answered with that label:
//! its one line tagged, several lines in a `labeled-response` batch, `ACK` if nothing answers.
//!
//! A message's answer is what the door words for it: its own replies (numerics, a `PONG`, an
//! echo), the hub's replies to what it asked (a direct message's or a room command's outcome,
//! a lobby message's refusal) and the `301` of a direct message to someone away. Those come
//! through the connection's outbox among what others send, some of them only later (a direct
//! message forwarded to another node). So the door marks a labeled message in that stream:
//! `~open ID` before its acts, each reply of its own between `~mine ID` and `~end`, `~close
//! ID` after them (the outbox may join pieces: a marker says where each begins and ends);
//! what the hub answers in between without a queue of its own (a lobby refusal, a `301`) is
//! the open message's; a reply that has a queue (directs, room commands) names its message
//! there. The answer goes once its message is closed and nothing it asked is still due.
//!
//! What the hub broadcasts because of a message (a `JOIN` and the names of the room joined)
//! goes to everyone concerned as it does without a label, unlabeled: the stream cannot tell
//! it from what others do meanwhile.

use super::SERVER;
use proto::irc::escape_tag;
use std::collections::VecDeque;

/// The longest label taken, in bytes (the specification's bound); a longer one is no label.
pub(super) const MAX_LABEL: usize = 64;

/// The answer of one labeled message, as it is put together.
struct Answer {
    id: u32,
    /// The label, escaped as a tag's value.
    label: String,
    lines: Vec<u8>,
    /// Replies of the hub it still waits for (those with queues of their own).
    due: u32,
    /// Its last act is in the stream.
    closed: bool,
}

/// The labeled messages of a connection whose answers are not sent yet.
#[derive(Default)]
pub(super) struct Labels {
    answers: VecDeque<Answer>,
    /// The labeled message being acted on: what it asks of the hub is due to its answer.
    acting: Option<u32>,
    /// In the outbox's stream, the labeled message between its `~open` and `~close`.
    open: Option<u32>,
    next: u32,
}

impl Labels {
    /// A labeled message is acted on now: its answer's id.
    pub(super) fn begin(&mut self, label: &str) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        let label = escape_tag(label);
        self.answers.push_back(Answer { id, label, lines: Vec::new(), due: 0, closed: false });
        self.acting = Some(id);
        id
    }

    /// The message's acts are all made.
    pub(super) fn acted(&mut self) {
        self.acting = None;
    }

    /// A reply of the hub is due to the message being acted on, if it is labeled: its id,
    /// for the queue that words the reply.
    pub(super) fn due(&mut self) -> Option<u32> {
        let id = self.acting?;
        self.find(id)?.due += 1;
        Some(id)
    }

    /// A reply that was due to `id` came, worded as `lines`.
    pub(super) fn came(&mut self, id: u32, lines: &[u8]) {
        if let Some(a) = self.find(id) {
            a.due = a.due.saturating_sub(1);
            a.lines.extend_from_slice(lines);
        }
    }

    /// What the door or the hub said for `id` (a reply of its own, or one without a queue).
    pub(super) fn add(&mut self, id: u32, lines: &[u8]) {
        if let Some(a) = self.find(id) {
            a.lines.extend_from_slice(lines);
        }
    }

    /// The message the stream is in, if it is labeled.
    pub(super) fn open(&self) -> Option<u32> {
        self.open
    }

    /// A marker of the stream (`open ID`, `mine ID`, `end`, `close ID`): `Some` if `d` is
    /// one, with the message whose reply of its own follows (`mine`; `None` after the others).
    pub(super) fn marker(&mut self, d: &[u8]) -> Option<Option<u32>> {
        if d == b"end" {
            return Some(None);
        }
        let d = std::str::from_utf8(d).ok()?;
        let (what, id) = d.split_once(' ')?;
        let id: u32 = id.parse().ok()?;
        match what {
            "open" => self.open = Some(id),
            "close" => {
                self.open = None;
                if let Some(a) = self.find(id) {
                    a.closed = true;
                }
            }
            "mine" => return Some(Some(id)),
            _ => return None,
        }
        Some(None)
    }

    /// Sends every answer that is whole, into `out`; `batches` names the batches.
    pub(super) fn finish(&mut self, batches: &mut u32, out: &mut Vec<u8>) {
        while let Some(at) = self.answers.iter().position(|a| a.closed && a.due == 0) {
            let Some(a) = self.answers.remove(at) else { break };
            answer(&a.label, &a.lines, batches, out);
        }
    }

    fn find(&mut self, id: u32) -> Option<&mut Answer> {
        self.answers.iter_mut().find(|a| a.id == id)
    }
}

/// The answer labeled `label` made of `lines`.
fn answer(label: &str, lines: &[u8], batches: &mut u32, out: &mut Vec<u8>) {
    let lines: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
    match lines[..] {
        [] => out.extend(format!("@label={label} :{SERVER} ACK\r\n").as_bytes()),
        [line] => tagged(&format!("label={label}"), line, out),
        _ => {
            *batches += 1;
            let batch = format!("l{batches}");
            out.extend(format!("@label={label} :{SERVER} BATCH +{batch} labeled-response\r\n").as_bytes());
            for line in lines {
                // A line of a batch within (history) stays in it; that batch's ends are in this one.
                if in_a_batch(line) {
                    out.extend_from_slice(line);
                } else {
                    tagged(&format!("batch={batch}"), line, out);
                }
            }
            out.extend(format!(":{SERVER} BATCH -{batch}\r\n").as_bytes());
        }
    }
}

/// Whether `line` has a `batch` tag.
fn in_a_batch(line: &[u8]) -> bool {
    let Some(tags) = line.strip_prefix(b"@") else { return false };
    let tags = tags.split(|&b| b == b' ').next().unwrap_or_default();
    tags.split(|&b| b == b';').any(|t| t.starts_with(b"batch="))
}

/// `line` with `tag` first among its tags.
fn tagged(tag: &str, line: &[u8], out: &mut Vec<u8>) {
    out.push(b'@');
    out.extend_from_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(tags) => {
            out.push(b';');
            out.extend_from_slice(tags);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(label: &str, lines: &str) -> String {
        let (mut batches, mut out) = (0, Vec::new());
        answer(&escape_tag(label), lines.as_bytes(), &mut batches, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_answer_is_an_ack_a_tagged_line_or_a_batch_with_batches_within_kept() {
        assert_eq!(answered("a b", ""), "@label=a\\sb :switchboard ACK\r\n");
        assert_eq!(
            answered("x", "@time=1 :switchboard 301 me bob :out\r\n"),
            "@label=x;time=1 :switchboard 301 me bob :out\r\n"
        );
        assert_eq!(
            answered("y", ":switchboard 311 me bob\r\n:switchboard BATCH +h1 chathistory bob\r\n@batch=h1 :bob PRIVMSG me :hi\r\n@time=2;batch=h1 :bob PRIVMSG me :yo\r\n:switchboard BATCH -h1\r\n"),
            "@label=y :switchboard BATCH +l1 labeled-response\r\n\
             @batch=l1 :switchboard 311 me bob\r\n\
             @batch=l1 :switchboard BATCH +h1 chathistory bob\r\n\
             @batch=h1 :bob PRIVMSG me :hi\r\n\
             @time=2;batch=h1 :bob PRIVMSG me :yo\r\n\
             @batch=l1 :switchboard BATCH -h1\r\n\
             :switchboard BATCH -l1\r\n"
        );
    }

    #[test]
    fn an_answer_goes_once_closed_and_nothing_is_due() {
        let mut labels = Labels::default();
        let (mut batches, mut out) = (0, Vec::new());
        let one = labels.begin("one");
        let due = labels.due();
        labels.acted();
        assert_eq!(due, Some(one));
        assert_eq!(labels.due(), None, "nothing is acted on");
        assert_eq!(labels.marker(b"open 0"), Some(None));
        assert_eq!(labels.open(), Some(one));
        assert_eq!(labels.marker(b"mine 0"), Some(Some(one)));
        labels.add(one, b":switchboard 306 me :away\r\n");
        assert_eq!(labels.marker(b"end"), Some(None));
        assert_eq!(labels.marker(b"close 0"), Some(None));
        assert_eq!(labels.marker(b"direct unreachable"), None);
        labels.finish(&mut batches, &mut out);
        assert!(out.is_empty(), "a reply is still due");
        let two = labels.begin("two");
        labels.acted();
        labels.marker(b"close 1");
        labels.finish(&mut batches, &mut out);
        assert_eq!(out, b"@label=two :switchboard ACK\r\n");
        labels.came(one, b":switchboard 401 me x :No such nick\r\n");
        out.clear();
        labels.finish(&mut batches, &mut out);
        assert!(String::from_utf8_lossy(&out).starts_with("@label=one :switchboard BATCH +l1 labeled-response\r\n"));
        assert_eq!(two, 1);
    }
}
