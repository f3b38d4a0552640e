//! IRC channels, which are the hub's rooms: joined, spoken in, listed, with topics, modes,
//! kicks and invitations, by raw IRC clients and by clients of the `irc` library (PyPI).

use crate::irc::Irc;
use crate::support::{start, Proc};

#[tokio::test]
async fn irc_users_make_a_channel_talk_in_it_and_its_operator_runs_it() {
    let hub = start().await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;

    // The first to join makes the channel and is its operator.
    ann.send("JOIN #Rust\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard JOIN #Rust");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 353 ann = #Rust :@ann");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 366 ann #Rust :End of /NAMES list");
    ann.send("TOPIC #rust :All things Rust\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard TOPIC #Rust :All things Rust");
    bob.send("JOIN #rust\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":bob!bob@switchboard JOIN #Rust");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 332 bob #Rust :All things Rust");
    let set = bob.line().await.unwrap();
    let at: u64 =
        set.strip_prefix(":switchboard 333 bob #Rust ann ").unwrap_or_else(|| panic!("{set}")).parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now - at < 60, "the topic's time: {set}");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 353 bob = #Rust :@ann bob");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 366 bob #Rust :End of /NAMES list");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard JOIN #Rust");

    // Members hear each other, and nobody hears themselves.
    bob.send("PRIVMSG #rust :hello\r\nNOTICE #Rust :a notice\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard PRIVMSG #Rust :hello");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard NOTICE #Rust :a notice");

    // Only the operator sets the topic under +t; errors name the channel.
    bob.send("TOPIC #rust :mine now\r\nMODE #rust +m\r\nKICK #rust ann\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 482 bob #rust :You're not channel operator");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 482 bob #rust :You're not channel operator");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 482 bob #rust :You're not channel operator");

    // Modes: moderated, then a voice for bob; queries of modes, topic and names.
    ann.send("MODE #rust +mv bob\r\n").await;
    let line = ":ann!ann@switchboard MODE #Rust +mv bob";
    assert_eq!(ann.line().await.unwrap(), line);
    assert_eq!(bob.line().await.unwrap(), line);
    bob.send("MODE #rust\r\nTOPIC #rust\r\nNAMES #rust\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 324 bob #Rust +mnt");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 332 bob #Rust :All things Rust");
    assert_eq!(bob.line().await.unwrap(), format!(":switchboard 333 bob #Rust ann {at}"));
    assert_eq!(bob.line().await.unwrap(), ":switchboard 353 bob = #Rust :@ann +bob");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 366 bob #Rust :End of /NAMES list");

    // LIST shows the lobby and the channel; WHO its members.
    let mut carol = Irc::register(hub.irc, "carol").await;
    carol.send("LIST\r\n").await;
    let list = carol.until(" 323 ").await;
    assert_eq!(list[1], ":switchboard 322 carol #lobby 3 :[+nt] The hub's lobby, shared by every protocol");
    assert_eq!(list[2], ":switchboard 322 carol #Rust 2 :[+mnt] All things Rust");
    carol.send("WHO #rust\r\n").await;
    assert_eq!(carol.line().await.unwrap(), ":switchboard 352 carol #Rust ann switchboard switchboard ann H@ :0 ann");
    assert_eq!(carol.line().await.unwrap(), ":switchboard 352 carol #Rust bob switchboard switchboard bob H+ :0 bob");
    assert_eq!(carol.line().await.unwrap(), ":switchboard 315 carol #rust :End of WHO list");
    // WHOIS lists the channels one is in, with its standing there.
    carol.send("WHOIS ann,bob\r\n").await;
    let whois = carol.until(" 318 carol bob ").await;
    assert!(whois.contains(&":switchboard 319 carol ann :#lobby @#Rust".to_owned()), "{whois:#?}");
    assert!(whois.contains(&":switchboard 319 carol bob :#lobby +#Rust".to_owned()), "{whois:#?}");
    // Under +m and outside the channel (+n), carol cannot speak in it.
    carol.send("PRIVMSG #rust :hi?\r\n").await;
    assert_eq!(carol.line().await.unwrap(), ":switchboard 404 carol #rust :Cannot send to channel");

    // +i: only the invited join; the invited is told.
    ann.send("MODE #rust +i\r\n").await;
    ann.expect(" MODE #Rust +i").await;
    carol.send("JOIN #rust\r\n").await;
    assert_eq!(carol.line().await.unwrap(), ":switchboard 473 carol #rust :Cannot join channel (+i)");
    ann.send("INVITE carol #rust\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 341 ann carol #rust");
    assert_eq!(carol.line().await.unwrap(), ":ann!ann@switchboard INVITE carol #Rust");
    carol.send("JOIN #rust\r\n").await;
    carol.expect(" 366 carol #Rust ").await;

    // A kick is seen by everyone in the channel; a part too.
    ann.send("KICK #rust carol :enough\r\n").await;
    let kick = ":ann!ann@switchboard KICK #Rust carol :enough";
    assert_eq!(carol.line().await.unwrap(), kick);
    bob.expect(kick).await;
    bob.send("PART #rust :later\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":bob!bob@switchboard PART #Rust :later");
    ann.expect(":bob!bob@switchboard PART #Rust :later").await;

    // Who leaves the hub is seen to quit; the last one out ends the channel.
    drop(ann);
    bob.expect(":ann!ann@switchboard QUIT ").await;
    bob.send("LIST\r\n").await;
    let list = bob.until(" 323 ").await;
    assert_eq!(list.len(), 3, "only the lobby is left: {list:#?}");
    hub.stop().await;
}

#[tokio::test]
async fn keys_limits_bans_and_bad_names_get_their_numerics() {
    let hub = start().await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    ann.send("JOIN #club\r\nMODE #club +k-b+l sesame nobody 1\r\n").await;
    ann.expect(" 366 ann #club ").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard MODE #club +kl sesame 1");
    bob.send("JOIN #club\r\nJOIN #club wrong\r\nJOIN #club sesame\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 475 bob #club :Cannot join channel (+k)");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 475 bob #club :Cannot join channel (+k)");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 471 bob #club :Cannot join channel (+l)");
    ann.send("MODE #club -l+b bob\r\nMODE #club b\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard MODE #club -l+b bob!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 367 ann #club bob!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 368 ann #club :End of channel ban list");
    bob.send("JOIN #club sesame\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 474 bob #club :Cannot join channel (+b)");
    // Non-members see the key hidden.
    bob.send("MODE #club\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 324 bob #club +ntk *");
    bob.send("JOIN club\r\nJOIN b,#a@b\r\nPART #nowhere\r\nPART #club\r\nMODE #club +x\r\nKICK #club ann\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 479 bob club :Illegal channel name");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 479 bob b :Illegal channel name");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 479 bob #a@b :Illegal channel name");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 403 bob #nowhere :No such channel");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 442 bob #club :You're not on that channel");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 472 bob x :is an unknown mode char to me");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 442 bob #club :You're not on that channel");
    ann.send("KICK #club nobody\r\nINVITE nobody #club\r\nMODE #club +o nobody\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 441 ann nobody #club :They aren't on that channel");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 401 ann nobody :No such nick/channel");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 441 ann nobody #club :They aren't on that channel");
    // An invitation lets one in past a key and a ban.
    ann.send("INVITE bob #club\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 341 ann bob #club");
    bob.expect(" INVITE bob #club").await;
    bob.send("JOIN #club\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":bob!bob@switchboard JOIN #club");
    hub.stop().await;
}

/// `+e` lets a user past a ban, `+I` past `+i`; each list is asked for by its letter.
#[tokio::test]
async fn ban_and_invite_exceptions_are_lists_of_their_own() {
    let hub = start().await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    let mut cy = Irc::register(hub.irc, "cy").await;
    ann.send("JOIN #club\r\nMODE #club +be *!*@irc bob\r\nMODE #club e\r\n").await;
    ann.expect(" 366 ann #club ").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard MODE #club +be *!*@irc bob!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 348 ann #club bob!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 349 ann #club :End of channel exception list");
    cy.send("JOIN #club\r\n").await;
    assert_eq!(cy.line().await.unwrap(), ":switchboard 474 cy #club :Cannot join channel (+b)");
    bob.send("JOIN #club\r\n").await;
    bob.expect(":bob!bob@switchboard JOIN #club").await;
    ann.send("MODE #club -b+iI *!*@irc cy\r\nMODE #club I\r\n").await;
    ann.expect(":bob!bob@switchboard JOIN #club").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard MODE #club -b+iI *!*@irc cy!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 346 ann #club cy!*@*");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 347 ann #club :End of channel invite list");
    cy.send("JOIN #club\r\n").await;
    assert_eq!(cy.line().await.unwrap(), ":cy!cy@switchboard JOIN #club", "past +i");
    ann.send("MODE #lobby I\r\n").await;
    ann.expect(":cy!cy@switchboard JOIN #club").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 347 ann #lobby :End of channel invite list");
    hub.stop().await;
}

/// Three clients of the `irc` library from PyPI (`scripts/test` installs it) in a channel;
/// one changes its nick.
#[tokio::test]
async fn clients_of_an_irc_library_share_a_channel() {
    let hub = start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/irc_clients.py");
    let port = hub.irc.port().to_string();
    let args = [script, "127.0.0.1", &port, "ann", "bob", "cy"];
    let mut irc = Proc::spawn_program("python3", &args, dir.path());
    irc.expect_line("cy endofnames").await;
    irc.type_line("ann JOIN #den").await;
    irc.expect_line("ann endofnames switchboard ann #den").await;
    irc.type_line("bob JOIN #den").await;
    irc.expect_line("bob endofnames switchboard bob #den").await;
    irc.type_line("cy JOIN #den").await;
    irc.expect_line("cy endofnames switchboard cy #den").await;
    irc.type_line("ann say #den hello den").await;
    let mut heard = [irc.expect_line("pubmsg ann #den").await, irc.expect_line("pubmsg ann #den").await];
    heard.sort();
    assert_eq!(heard, ["bob pubmsg ann #den hello den", "cy pubmsg ann #den hello den"]);
    irc.type_line("ann MODE #den +o bob").await;
    irc.expect_line("cy mode ann #den +o bob").await;
    irc.type_line("bob KICK #den cy :out").await;
    irc.expect_line("cy kick bob #den cy out").await;
    irc.type_line("cy say #den back?").await;
    irc.expect_line("cy cannotsendtochan switchboard cy #den Cannot send to channel").await;
    // A nick change: the library follows its own, and the others see it.
    irc.type_line("bob NICK bert").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(irc.expect_line(" nick bob bert").await);
    }
    seen.sort();
    assert_eq!(seen, ["ann nick bob bert", "bert nick bob bert", "cy nick bob bert"]);
    irc.type_line("ann say bert renamed?").await;
    irc.expect_line("bert privmsg ann bert renamed?").await;
    hub.stop().await;
}
