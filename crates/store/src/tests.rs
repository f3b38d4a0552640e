//! Store tests on a real SQLite file in a temporary folder.

use super::*;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    (dir, store)
}

#[test]
fn created_on_first_open_in_wal_at_the_current_schema() {
    let (dir, store) = open();
    assert!(dir.path().join("data").join(FILE).is_file());
    assert_eq!(store.journal_mode().unwrap(), "wal");
    assert_eq!(store.schema_version().unwrap(), migrations::CURRENT);
    drop(store);
    // Opening again runs nothing twice.
    let again = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(again.schema_version().unwrap(), migrations::CURRENT);
}

#[test]
fn a_newer_schema_is_refused() {
    let (dir, store) = open();
    store.conn.pragma_update(None, "user_version", 999).unwrap();
    drop(store);
    assert!(matches!(Store::open(&dir.path().join("data")), Err(StoreError::TooNew { found: 999, .. })));
}

#[test]
fn accounts_add_verify_passwd_remove() {
    let (_dir, mut store) = open();
    store.add_account("Alice", "s3cret").unwrap();
    assert!(store.has_account("ALICE").unwrap());
    assert!(!store.has_account("bob").unwrap());
    assert!(matches!(store.add_account("alice", "other"), Err(StoreError::AccountExists(_))));
    assert!(matches!(store.add_account("bad name", "x"), Err(StoreError::InvalidName(_))));
    assert!(matches!(store.add_account("bob", ""), Err(StoreError::EmptyPassword)));

    assert_eq!(store.verify("alice", "s3cret").unwrap(), Verdict::Ok("Alice".into()));
    assert_eq!(store.verify("Alice", "wrong").unwrap(), Verdict::WrongPassword);
    assert_eq!(store.verify("nobody", "s3cret").unwrap(), Verdict::NoAccount);

    // Only a PHC string is stored, never the password.
    let phc: String = store.conn.query_row("SELECT phc FROM accounts", [], |r| r.get(0)).unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains("s3cret"));

    store.set_password("ALICE", "n3w").unwrap();
    assert_eq!(store.verify("alice", "s3cret").unwrap(), Verdict::WrongPassword);
    assert_eq!(store.verify("alice", "n3w").unwrap(), Verdict::Ok("Alice".into()));
    assert!(matches!(store.set_password("nobody", "x"), Err(StoreError::NoSuchAccount(_))));

    assert_eq!(store.accounts().unwrap().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["Alice"]);
    store.remove_account("alice").unwrap();
    assert!(matches!(store.remove_account("alice"), Err(StoreError::NoSuchAccount(_))));
    assert!(store.accounts().unwrap().is_empty());
}

#[test]
fn import_of_login_dollar_password_lines() {
    let (_dir, mut store) = open();
    store.add_account("taken", "x").unwrap();
    let report = store.import("# users\nann$pw1\r\nbob$p$w\n\nnodollar\ntaken$y\nsp ace$z\nempty$\n").unwrap();
    assert_eq!(report.added, 2);
    let lines: Vec<usize> = report.skipped.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, [5, 6, 7, 8]);
    assert_eq!(store.verify("ann", "pw1").unwrap(), Verdict::Ok("ann".into()));
    // Only the first $ separates: the password may hold more.
    assert_eq!(store.verify("bob", "p$w").unwrap(), Verdict::Ok("bob".into()));
}

#[test]
fn accounts_survive_a_reopen() {
    let (dir, mut store) = open();
    store.add_account("carol", "pw").unwrap();
    drop(store);
    let store = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(store.verify("carol", "pw").unwrap(), Verdict::Ok("carol".into()));
}

#[tokio::test]
async fn the_handle_runs_jobs_on_the_store_thread() {
    let (_dir, store) = open();
    let handle = StoreHandle::spawn(store);
    handle.call(|s| s.add_account("dave", "pw")).await.unwrap().unwrap();
    let verdict = handle.call(|s| s.verify("dave", "pw")).await.unwrap().unwrap();
    assert_eq!(verdict, Verdict::Ok("dave".into()));
    let thread = handle.call(|_| std::thread::current().name().map(str::to_owned)).await.unwrap();
    assert_eq!(thread.as_deref(), Some("store"));
}

#[test]
fn data_version_moves_when_another_connection_commits() {
    let (dir, server) = open();
    let before = server.data_version().unwrap();
    let mut admin = Store::open(&dir.path().join("data")).unwrap();
    admin.add_account("erin", "pw").unwrap();
    assert_ne!(server.data_version().unwrap(), before);
    assert_eq!(server.account_names().unwrap(), ["erin"]);
}

#[test]
fn mac_addresses_in_both_spellings() {
    assert_eq!(parse_mac("02:42:AC:11:00:02"), Some(0x0242_ac11_0002));
    assert_eq!(parse_mac("02-42-ac-11-00-02"), Some(0x0242_ac11_0002));
    assert_eq!(parse_mac("2485377892354"), Some(0x0242_ac11_0002));
    for bad in ["", "02:42:ac:11:00", "02:42:ac:11:00:0g", "281474976710656", "-1", "2:42:ac:11:00:02"] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
    assert_eq!(format_mac(0x0242_ac11_0002), "02:42:ac:11:00:02");
}

#[test]
fn the_whitelist() {
    let (_dir, mut store) = open();
    store.whitelist_add("Lindsay", 1).unwrap();
    assert!(matches!(store.whitelist_add("lindsay", 2), Err(StoreError::DeviceNameExists(_))));
    assert!(matches!(store.whitelist_add("other", 1), Err(StoreError::MacExists(_))));
    assert!(matches!(store.whitelist_add("bad name", 3), Err(StoreError::InvalidName(_))));
    assert_eq!(store.device_by_mac(1).unwrap().as_deref(), Some("Lindsay"));
    assert_eq!(store.device_by_mac(2).unwrap(), None);
    store.add_account("ann", "pw").unwrap();
    assert_eq!(store.reserved_names().unwrap(), ["ann", "Lindsay"]);
    assert_eq!(store.whitelist().unwrap(), [Device { name: "Lindsay".into(), mac: 1 }]);
    store.whitelist_remove("LINDSAY").unwrap();
    assert!(matches!(store.whitelist_remove("lindsay"), Err(StoreError::NoSuchDevice(_))));
    assert_eq!(store.reserved_names().unwrap(), ["ann"]);
}

fn record(sender: &str, recipient: Option<&str>, body: &str, offline: bool) -> Record {
    Record {
        at_ms: 1,
        sender: sender.into(),
        sender_guest: None,
        recipient: recipient.map(Into::into),
        recipient_guest: None,
        kind: 0,
        body: body.into(),
        offline,
    }
}

#[test]
fn history_of_the_lobby_and_of_conversations() {
    let (_dir, mut store) = open();
    let ids = store
        .append(&[
            record("ann", None, "one", false),
            record("ann", Some("Bob"), "to bob", false),
            record("bob", None, "two", false),
            record("bob", Some("ann"), "to ann", false),
            record("cy", Some("ann"), "not bob", false),
            record("cy", None, "three", false),
        ])
        .unwrap();
    assert_eq!(ids.len(), 6);
    let bodies = |v: Vec<Stored>| v.into_iter().map(|s| s.body).collect::<Vec<_>>();
    assert_eq!(bodies(store.lobby_history(10, None).unwrap()), ["one", "two", "three"]);
    assert_eq!(bodies(store.lobby_history(2, None).unwrap()), ["two", "three"]);
    assert_eq!(bodies(store.lobby_history(10, Some(ids[2])).unwrap()), ["one"]);
    assert_eq!(bodies(store.conversation(Identity::owner("ANN"), "bob", 10, None).unwrap()), ["to bob", "to ann"]);
    let first = &store.conversation(Identity::owner("bob"), "ann", 1, None).unwrap()[0];
    assert_eq!((first.sender.as_str(), first.recipient.as_deref()), ("bob", Some("ann")));
    // Ann's partners, the most recent first, each once whatever the direction or the case.
    assert_eq!(store.partners(Identity::owner("Ann"), 10).unwrap(), ["cy", "bob"]);
    assert_eq!(store.partners(Identity::owner("bob"), 10).unwrap(), ["ann"]);
    assert_eq!(store.partners(Identity::owner("ann"), 1).unwrap(), ["cy"]);
}

#[test]
fn a_room_s_history_is_its_own_and_no_conversation() {
    let (_dir, mut store) = open();
    let room = |sender: &str, room: &str, body: &str| Record { kind: 2, ..record(sender, Some(room), body, false) };
    let ids = store
        .append(&[
            room("ann", "#Rust", "in rust"),
            record("ann", Some("#rust"), "to a user named #rust", false),
            room("bob", "#RUST", "also in rust"),
            room("bob", "#go", "in go"),
        ])
        .unwrap();
    let bodies = |v: Vec<Stored>| v.into_iter().map(|s| s.body).collect::<Vec<_>>();
    assert_eq!(bodies(store.room_history("#rust", 10, None).unwrap()), ["in rust", "also in rust"]);
    assert_eq!(bodies(store.room_history("#rust", 10, Some(ids[2])).unwrap()), ["in rust"]);
    assert_eq!(bodies(store.room_history("#go", 1, None).unwrap()), ["in go"]);
    // A room is nobody's conversation partner, and its messages are no conversation's.
    assert_eq!(store.partners(Identity::owner("ann"), 10).unwrap(), ["#rust"]);
    assert_eq!(store.partners(Identity::owner("bob"), 10).unwrap(), Vec::<String>::new());
    assert_eq!(
        bodies(store.conversation(Identity::owner("ann"), "#rust", 10, None).unwrap()),
        ["to a user named #rust"]
    );
    assert!(store.lobby_history(10, None).unwrap().is_empty());
}

/// Reads by message or by time, before, after, between and around a mark, and the partners
/// of a window of time: what IRC's `CHATHISTORY` asks.
#[test]
fn history_is_read_in_windows_by_message_or_by_time() {
    let (_dir, mut store) = open();
    let at = |ms: i64, body: &str| Record { at_ms: ms, ..record("ann", None, body, false) };
    let ids = store
        .append(&[
            at(10, "a"),
            at(20, "b"),
            Record { at_ms: 25, ..record("ann", Some("bob"), "to bob", false) },
            at(30, "c"),
            at(40, "d"),
            at(50, "e"),
            Record { at_ms: 55, ..record("cy", Some("ann"), "from cy", false) },
        ])
        .unwrap();
    let read = |window: Window, limit: usize| -> Vec<String> {
        store.history(Scope::Lobby, window, limit).unwrap().into_iter().map(|s| s.body).collect()
    };
    assert_eq!(read(Window::Latest(None), 2), ["d", "e"]);
    assert_eq!(read(Window::Latest(Some(Mark::At(30))), 10), ["d", "e"]);
    assert_eq!(read(Window::Latest(Some(Mark::Id(ids[0]))), 2), ["d", "e"], "the newest, after the mark");
    assert_eq!(read(Window::Before(Mark::At(40)), 2), ["b", "c"]);
    assert_eq!(read(Window::Before(Mark::Id(ids[4])), 10), ["a", "b", "c"]);
    assert_eq!(read(Window::After(Mark::At(10)), 2), ["b", "c"]);
    assert_eq!(read(Window::After(Mark::Id(ids[3])), 10), ["d", "e"]);
    assert_eq!(read(Window::Between(Mark::At(10), Mark::At(50)), 2), ["b", "c"], "from the first on");
    assert_eq!(read(Window::Between(Mark::At(50), Mark::At(10)), 2), ["c", "d"], "back from the first");
    assert_eq!(read(Window::Between(Mark::Id(ids[0]), Mark::At(40)), 10), ["b", "c"]);
    assert_eq!(read(Window::Around(Mark::Id(ids[3])), 3), ["b", "c", "d"]);
    assert_eq!(read(Window::Around(Mark::At(30)), 4), ["a", "b", "c", "d"]);
    let ann = Identity::owner("ann");
    let talk: Vec<String> = store
        .history(Scope::Conversation(ann, "BOB"), Window::Latest(None), 10)
        .unwrap()
        .into_iter()
        .map(|s| s.body)
        .collect();
    assert_eq!(talk, ["to bob"]);
    assert_eq!(store.last_said(Scope::Lobby, 0, 45).unwrap(), Some(40));
    assert_eq!(store.last_said(Scope::Room("#none"), 0, 100).unwrap(), None);
    assert_eq!(store.partners_between(ann, 0, 100, 10).unwrap(), [("cy".to_owned(), 55), ("bob".to_owned(), 25)]);
    assert_eq!(store.partners_between(ann, 0, 50, 10).unwrap(), [("bob".to_owned(), 25)]);
}

#[test]
fn the_offline_queue_is_read_a_page_at_a_time_and_left_only_once_delivered() {
    let (dir, mut store) = open();
    store
        .append(&[record("os", Some("Lindsay"), "first", true), record("os", Some("lindsay"), "seen", false)])
        .unwrap();
    store.append(&[record("ann", Some("lindsay"), "second", true), record("ann", Some("pc"), "other", true)]).unwrap();
    drop(store);
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let mut image = record("ann", Some("lindsay"), "aGk=", true);
    image.kind = 1;
    store.append(&[image, record("ann", Some("lindsay"), "third", true)]).unwrap();
    let bodies = |v: &[Stored]| v.iter().map(|s| s.body.clone()).collect::<Vec<_>>();
    // A protocol without images reads the text, and leaves the image queued.
    let page = store.offline_page("LINDSAY", false, None, 10, 1 << 20).unwrap();
    assert_eq!(bodies(&page), ["first", "second", "third"]);
    // Pages are bounded by count, then by bytes (but hold one message, however large).
    let page = store.offline_page("lindsay", true, None, 2, 1 << 20).unwrap();
    assert_eq!(bodies(&page), ["first", "second"]);
    assert_eq!(bodies(&store.offline_page("lindsay", true, None, 10, 8).unwrap()), ["first"]);
    assert_eq!(bodies(&store.offline_page("lindsay", true, None, 10, 1).unwrap()), ["first"]);
    // Reading is not taking: the session may leave before it got them.
    assert_eq!(store.queued_count("lindsay").unwrap(), 4);
    // Once written up to "second", those leave the queue and the next page follows.
    let page = store.offline_page("lindsay", true, Some(page[1].id), 2, 1 << 20).unwrap();
    assert_eq!(bodies(&page), ["aGk=", "third"]);
    let last = page[1].id;
    assert!(store.offline_page("lindsay", true, Some(last), 2, 1 << 20).unwrap().is_empty());
    assert_eq!(store.queued_count("lindsay").unwrap(), 0);
    assert_eq!(store.queued_count("pc").unwrap(), 1);
    // Out of the queue, still in the history.
    assert_eq!(store.conversation(Identity::owner("os"), "lindsay", 10, None).unwrap().len(), 2);
}

#[test]
fn a_text_only_delivery_leaves_images_queued() {
    let (_dir, mut store) = open();
    let mut image = record("ann", Some("lindsay"), "aGk=", true);
    image.kind = 1;
    store.append(&[record("ann", Some("lindsay"), "one", true), image]).unwrap();
    let page = store.offline_page("lindsay", false, None, 10, 1 << 20).unwrap();
    assert!(store.offline_page("lindsay", false, Some(page[0].id + 1), 10, 1 << 20).unwrap().is_empty());
    assert_eq!(bodies_of(store.offline_page("lindsay", true, None, 10, 1 << 20).unwrap()), ["aGk="]);
}

fn bodies_of(v: Vec<Stored>) -> Vec<String> {
    v.into_iter().map(|s| s.body).collect()
}

#[test]
fn keys_are_kept_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.key("nl").unwrap(), None);
    assert_eq!(store.key_or_insert("nl", "first").unwrap(), "first");
    assert_eq!(store.key_or_insert("nl", "second").unwrap(), "first", "a kept key is never replaced");
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().key("nl").unwrap().as_deref(), Some("first"));
}

#[test]
fn names_fold_by_precis_and_look_alikes_of_reserved_names_are_refused() {
    let (_dir, mut store) = open();
    store.add_account("alice", "s3cret").unwrap();
    store.whitelist_add("lindsay", 0x0242_ac11_0002).unwrap();
    // Fullwidth is the same name.
    assert!(matches!(store.add_account("ａｌｉｃｅ", "x"), Err(StoreError::AccountExists(_))));
    assert!(store.has_account("ＡＬＩＣＥ").unwrap());
    // Cyrillic letters, a dotted capital I: look-alikes, of an account or of a device.
    for name in ["\u{430}lice", "ALİCE"] {
        assert!(matches!(store.add_account(name, "x"), Err(StoreError::LooksLike { .. })), "{name:?}");
    }
    assert!(matches!(store.whitelist_add("l\u{456}ndsay", 7), Err(StoreError::LooksLike { .. })));
    assert!(matches!(store.add_account("lindsаy", "x"), Err(StoreError::LooksLike { .. })));
    assert!(matches!(store.add_account("alice\u{200B}", "x"), Err(StoreError::InvalidName(_))));
}

/// Takes `store` back to the schema `version` had (4 or 5: before identities), then runs
/// `sql` on it, and closes it: its next opening migrates it.
fn as_at_version(store: Store, version: i64, sql: &str) {
    store.conn.pragma_update(None, "user_version", version).unwrap();
    store
        .conn
        .execute_batch(
            "DROP TABLE meta;
             ALTER TABLE messages DROP COLUMN sender_guest;
             ALTER TABLE messages DROP COLUMN recipient_guest;",
        )
        .unwrap();
    store.conn.execute_batch(sql).unwrap();
}

#[test]
fn keys_written_before_precis_are_folded_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    // A store as version 4 left it: keys only lower-cased.
    let sql = "INSERT INTO accounts (folded, name, phc, created_at) VALUES ('ｅｖｅ', 'ＥＶＥ', 'x', 0);
               INSERT INTO messages (id, at_ms, sender, sender_key, recipient, recipient_key, kind, body)
                   VALUES (1, 0, 'bob', 'bob', 'ＥＶＥ', 'ｅｖｅ', 0, 'hi');
               INSERT INTO offline (key, message) VALUES ('ｅｖｅ', 1);";
    as_at_version(Store::open(&path).unwrap(), 4, sql);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrations::CURRENT);
    assert!(store.has_account("eve").unwrap());
    assert_eq!(store.queued_count("Eve").unwrap(), 1);
}

#[test]
fn a_guests_history_is_its_sessions_and_a_later_guest_of_the_name_reads_none_of_it() {
    let (_dir, mut store) = open();
    let carol = Identity { name: "carol", guest: Some(7) };
    let carol_again = Identity { name: "CAROL", guest: Some(9) };
    let alice = Identity::owner("alice");
    let guest = |sender: &str, recipient: &str, body: &str, s: Option<i64>, r: Option<i64>| Record {
        sender_guest: s,
        recipient_guest: r,
        ..record(sender, Some(recipient), body, false)
    };
    store
        .append(&[
            guest("carol", "alice", "hi alice", Some(7), None),
            guest("alice", "carol", "hi carol", None, Some(7)),
        ])
        .unwrap();
    let bodies = |v: Vec<Stored>| v.into_iter().map(|s| s.body).collect::<Vec<_>>();
    assert_eq!(bodies(store.conversation(carol, "alice", 10, None).unwrap()), ["hi alice", "hi carol"]);
    assert_eq!(store.partners(carol, 10).unwrap(), ["alice"]);
    assert!(store.conversation(carol_again, "alice", 10, None).unwrap().is_empty());
    assert!(store.partners(carol_again, 10).unwrap().is_empty());
    // An account that takes the name later reads none of it either; alice keeps her side.
    assert!(store.conversation(Identity::owner("carol"), "alice", 10, None).unwrap().is_empty());
    assert_eq!(bodies(store.conversation(alice, "carol", 10, None).unwrap()), ["hi alice", "hi carol"]);
    assert_eq!(store.partners(alice, 10).unwrap(), ["carol"]);
}

#[test]
fn boots_are_counted_and_guests_of_older_history_are_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let mut store = Store::open(&path).unwrap();
    assert_eq!((store.next_boot().unwrap(), store.next_boot().unwrap()), (1, 2));
    // A store as version 5 left it: no identities.
    let sql = "INSERT INTO accounts (folded, name, phc, created_at) VALUES ('alice', 'alice', 'x', 0);
               INSERT INTO messages (at_ms, sender, sender_key, recipient, recipient_key, kind, body)
                   VALUES (0, 'carol', 'carol', 'alice', 'alice', 0, 'old');";
    as_at_version(store, 5, sql);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.next_boot().unwrap(), 1);
    assert!(store
        .conversation(Identity { name: "carol", guest: Some(1 << 32) }, "alice", 10, None)
        .unwrap()
        .is_empty());
    assert_eq!(store.conversation(Identity::owner("alice"), "carol", 10, None).unwrap().len(), 1);
}

#[test]
fn a_copy_of_a_cluster_log_applies_each_entry_once_with_the_log_s_ids() {
    let (_dir, mut store) = open();
    let entries = vec![
        (3, LogEntry::Kept(record("ann", None, "lobby", false))),
        (7, LogEntry::Kept(record("ann", Some("Bob"), "one", true))),
        (9, LogEntry::Kept(record("ann", Some("bob"), "two", true))),
    ];
    store.apply_log(&entries, 9).unwrap();
    // Read again from the start (a consumer made anew): nothing twice.
    store.apply_log(&entries, 9).unwrap();
    assert_eq!(store.log_applied().unwrap(), 9);
    // An entry that is none moves the copy on all the same.
    store.apply_log(&[], 10).unwrap();
    assert_eq!(store.log_applied().unwrap(), 10);
    let ids: Vec<i64> = store.offline_page("BOB", false, None, 10, 1 << 20).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(ids, [7, 9]);
    assert_eq!(store.lobby_history(10, None).unwrap()[0].id, 3);
    store.apply_log(&[(12, LogEntry::Delivered { name: "Bob".into(), upto: 7, images: false })], 12).unwrap();
    let ids: Vec<i64> = store.offline_page("bob", false, None, 10, 1 << 20).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(ids, [9]);
    assert_eq!(
        store.messages_after(0, 10).unwrap().iter().map(|(id, r)| (*id, r.offline)).collect::<Vec<_>>(),
        [(3, false), (7, false), (9, true)]
    );
    store.clear_copy().unwrap();
    assert_eq!(store.log_applied().unwrap(), 0);
    assert!(store.lobby_history(10, None).unwrap().is_empty());
}

#[test]
fn a_copy_takes_accounts_and_devices_as_the_cluster_has_them() {
    let (_dir, mut store) = open();
    let row = AccountRow { name: "Ann".into(), phc: accounts::hash("pw").unwrap(), created_at: 5 };
    store.put_account_row(&row).unwrap();
    assert_eq!(store.account_row("ANN").unwrap(), Some(row));
    assert_eq!(store.verify("ann", "pw").unwrap(), Verdict::Ok("Ann".into()));
    store.forget_account(&hub::fold("Ann")).unwrap();
    assert_eq!(store.verify("ann", "pw").unwrap(), Verdict::NoAccount);
    store.put_device_row(&DeviceRow { name: "kettle".into(), mac: 42, created_at: 1 }).unwrap();
    // The MAC address moved to another name: the first gives it up.
    store.put_device_row(&DeviceRow { name: "toaster".into(), mac: 42, created_at: 2 }).unwrap();
    assert_eq!(store.device_by_mac(42).unwrap().as_deref(), Some("toaster"));
    assert_eq!(store.device_rows().unwrap().len(), 1);
    store.forget_device("toaster").unwrap();
    assert!(store.whitelist().unwrap().is_empty());
}

#[test]
fn the_check_finds_a_sound_store_sound_a_damaged_one_damaged_and_stops_at_its_budget() {
    let (dir, mut store) = open();
    let long = "x".repeat(3000);
    let batch: Vec<Record> = (0..500).map(|_| record("bob", Some("ann"), &long, true)).collect();
    store.append(&batch).unwrap();
    assert_eq!(store.check(std::time::Duration::from_secs(60)).unwrap(), Check::Ok);
    assert_eq!(store.check(std::time::Duration::ZERO).unwrap(), Check::Unfinished, "no time to check it all");
    drop(store);
    // Two pages in the middle of the file overwritten.
    let file = dir.path().join("data").join(FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 8192].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7 + 13) as u8);
    std::fs::write(&file, bytes).unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let Check::Damaged(problems) = store.check(std::time::Duration::from_secs(60)).unwrap() else {
        panic!("the damage went unseen")
    };
    assert!(!problems.is_empty() && problems.len() <= 8, "{problems:?}");
}

#[test]
fn a_damaged_store_is_recovered_but_for_what_cannot_be_read() {
    let (dir, mut store) = open();
    store.add_account("ann", "secret").unwrap();
    let long = "x".repeat(3000);
    let batch: Vec<Record> = (0..1000).map(|_| record("bob", Some("ann"), &long, true)).collect();
    store.append(&batch).unwrap();
    drop(store);
    let data = dir.path().join("data");
    let file = data.join(FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 8192].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7 + 13) as u8);
    std::fs::write(&file, bytes).unwrap();

    let into = data.join("recovered.db");
    let report = recover(&file, &into).unwrap();
    let table = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap().clone();
    assert_eq!(table("accounts").rows, 1);
    let messages = table("messages");
    assert!(messages.skipped >= 1 && (990..1000).contains(&messages.rows), "{report:?}");
    assert_eq!(table("offline").rows, 1000, "the queue's own pages were whole");
    assert_eq!(report.orphans, 1000 - messages.rows, "queued messages whose message was lost left the queue");
    let mut recovered = Store::open_file(&data, "recovered.db").unwrap();
    assert_eq!(recovered.check(std::time::Duration::from_secs(60)).unwrap(), Check::Ok);
    assert_eq!(recovered.queued_count("ann").unwrap(), messages.rows);
    assert_eq!(recovered.verify("ann", "secret").unwrap(), Verdict::Ok("ann".into()));
    let page = recovered.offline_page("ann", false, None, 2000, usize::MAX).unwrap();
    assert_eq!(page.len(), messages.rows, "every message left reads");
    assert!(recover(&file, &into).is_err(), "a file in the way is not overwritten");
}
