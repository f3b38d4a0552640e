//! Who was here: the names that left, newest first, bounded.

use super::*;
use crate::cluster::Node;

#[test]
fn the_names_that_left_here_and_elsewhere_are_kept_newest_first_and_few() {
    let mut t = t();
    let start = t.now;
    let ann = t.join(Protocol::Irc, "Ann");
    t.now += Duration::from_secs(5);
    t.input(Input::Disconnected { session: ann });
    let ann = t.join(Protocol::ChatOs, "ann");
    t.now += Duration::from_secs(5);
    t.input(Input::Disconnected { session: ann });
    assert_eq!(
        t.hub.whowas("ANN", 10),
        vec![
            Was { name: "ann".into(), via: "chatos", left: start + Duration::from_secs(10) },
            Was { name: "Ann".into(), via: "irc", left: start + Duration::from_secs(5) },
        ]
    );
    assert_eq!(t.hub.whowas("ann", 1).len(), 1);
    assert_eq!(t.hub.whowas("bob", 10), vec![]);
    // Who is still here was not gone; a name that left another node was.
    let _bob = t.join(Protocol::Web, "bob");
    assert_eq!(t.hub.whowas("bob", 10), vec![]);
    let joined = Input::Joined {
        node: Node(2),
        name: "cy".into(),
        door: Protocol::Jpc.door(),
        caps: Protocol::Jpc.caps(),
        was: None,
    };
    t.input(joined);
    t.input(Input::Left { node: Node(2), name: "cy".into() });
    assert_eq!(t.hub.whowas("cy", 10)[0].via, "jpc");
    // Few are kept: the oldest go first.
    for i in 0..WAS_KEPT {
        let s = t.join(Protocol::ChatOs, &format!("u{i}"));
        t.input(Input::Disconnected { session: s });
    }
    assert_eq!(t.hub.whowas("ann", 10), vec![]);
    assert_eq!(t.hub.whowas("u0", 10).len(), 1);
}
