//! TLS on the front doors: the project's clients over TLS (`--tls --ca`) meeting plain ones,
//! a private link from a TLS end to a plain one, handshakes that fail, certificates the
//! clients refuse, a certificate reloaded on SIGHUP, and one made self-signed.

use crate::support::{start_prepared, Hub, Proc, Raw, WAIT};
use proto::chatos::{ErrorCode, Packet};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CA of its own, and certificates it signs, as PEM files in a folder.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(vec![]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki { dir, ca, issuer: Issuer::new(params, key) }
    }

    /// A certificate for `names`, signed by this CA, and its key: `FILE.crt`, `FILE.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) =
            (self.dir.path().join(format!("{file}.crt")), self.dir.path().join(format!("{file}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// A hub with a certificate for localhost and 127.0.0.1 from `pki`, every door also with TLS.
async fn tls_hub(pki: &Pki, prepare: impl FnOnce(&mut store::Store)) -> Hub {
    let (cert, key) = pki.issue("hub", &["localhost", "127.0.0.1"]);
    start_prepared(prepare, move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await
}

fn tls_addr(hub: &Hub, door: &str) -> String {
    hub.running.as_ref().unwrap().tls_addr(door).expect("a TLS front door").to_string()
}

/// A TLS connection to `addr` trusting `ca`, and the certificate the server presented.
pub async fn tls_connect(addr: &str, ca: &Path) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, presented)
}

fn der(cert: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(cert).unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatos_over_tls_and_plain_chat_and_fetch_a_file_over_a_link_from_a_tls_end_to_a_plain_one() {
    let pki = Pki::new("test CA");
    let hub = tls_hub(&pki, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let content: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(share.join("notes.bin"), &content).unwrap();
    let (tls, ca) = (tls_addr(&hub, "chatos"), pki.ca.to_str().unwrap().to_owned());
    let mut ann = Proc::spawn(&["chatos", "--addr", &tls, "--tls", "--ca", &ca, "--pseudo", "ann"], dir.path());
    ann.expect_line("connected as ann").await;
    let plain = hub.chatos.to_string();
    let share_arg = share.to_str().unwrap();
    let mut bob = Proc::spawn(&["chatos", "--addr", &plain, "--pseudo", "bob", "--share", share_arg], dir.path());
    bob.expect_line("connected as bob").await;
    let mut watcher = Raw::login(hub.chatos, "watcher").await;

    ann.type_line("hello over TLS").await;
    bob.expect_line("[lobby] ann: hello over TLS").await;
    watcher.expect(Packet::Sma { sender: "ann".into(), message: "hello over TLS".into() }).await;
    bob.type_line("@ann hello in plain").await;
    ann.expect_line("[private] bob: hello in plain").await;

    // Ann's end of the link comes over TLS, Bob's plain: the hub relays between them.
    ann.type_line("/connect bob").await;
    bob.expect_line("[link] ann asks for a private connection").await;
    bob.type_line("/accept ann").await;
    ann.expect_line("[link] private connection with bob open").await;
    ann.type_line("/get bob notes.bin").await;
    ann.expect_line("[file] bob:notes.bin saved as notes.bin (200000 bytes)").await;
    assert_eq!(std::fs::read(dir.path().join("notes.bin")).unwrap(), content);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chathack_jpc_and_nl_clients_over_tls() {
    let pki = Pki::new("test CA");
    let hub = tls_hub(&pki, |store| {
        store.add_account("carol", "s3cret").unwrap();
        store.whitelist_add("lindsay", 0x0242_ac11_0002).unwrap();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.ca.to_str().unwrap().to_owned();

    // A ChatHack login with a password, over TLS.
    let hack = tls_addr(&hub, "chathack");
    let mut carol = Proc::spawn(
        &["chathack", "--addr", &hack, "--tls", "--ca", &ca, "--login", "carol", "--password-stdin"],
        dir.path(),
    );
    carol.type_line("s3cret").await;
    carol.expect_line("connected as carol").await;

    // A JPC device over TLS gets a TELL.
    let jpc = tls_addr(&hub, "jpc");
    let mut device =
        Proc::spawn(&["jpc", "--addr", &jpc, "--tls", "--ca", &ca, "--mac", "02:42:ac:11:00:02"], dir.path());
    device.expect_line("[jpc] connected").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let tell = Packet::Spm { sender: "os".into(), recipient: "lindsay".into(), message: "over TLS".into() };
    let told = async {
        loop {
            os.send(&tell).await;
            if os.recv().await == Packet::error(ErrorCode::Ok) {
                break; // the device has logged in
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, told).await.expect("the device never logged in");
    device.expect_line("[tell] os: over TLS").await;

    // An NL operator over TLS takes a ring.
    let pem = hub.data_dir().join("server-pub.pem");
    let key = server::nl_server_key(&mut store::Store::open(&hub.data_dir()).unwrap()).unwrap();
    std::fs::write(&pem, proto::nlchat::crypto::public_key_to_pem(&key.to_public_key())).unwrap();
    let nl = tls_addr(&hub, "nl");
    let mut op =
        Proc::spawn(&["nl", "--addr", &nl, "--tls", "--ca", &ca, "--server-key", pem.to_str().unwrap()], dir.path());
    op.expect_line("[server] online").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "help".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    op.expect_line("[ring 1]").await;
    op.type_line("/take 1").await;
    op.expect_line("[msg] help").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handshakes_are_closed_and_counted_and_the_hub_serves_on() {
    let pki = Pki::new("test CA");
    let hub = tls_hub(&pki, |_| {}).await;
    let tls = tls_addr(&hub, "chatos");
    // Garbage, and a plain ChatOS client, on the TLS port: closed, counted.
    for bytes in [&b"GET / HTTP/1.1\r\n\r\n"[..], &Packet::Cr { pseudo: "plain".into() }.to_bytes()] {
        let mut raw = TcpStream::connect(&tls).await.unwrap();
        raw.write_all(bytes).await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, raw.read_to_end(&mut rest)).await.expect("not closed").ok();
        assert!(!rest.contains(&b'\x08'), "no ChatOS answer on a TLS port");
    }
    assert_eq!(hub.metrics().total(|d| d.tls_handshake_failures.get()), 2);
    // A TLS client on the plain port: the door sees no ChatOS there, and closes.
    let bad_input = hub.metrics().total(|d| d.bad_input.get());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    ));
    let tcp = TcpStream::connect(hub.chatos).await.unwrap();
    let handshake = connector.connect(ServerName::try_from("127.0.0.1").unwrap(), tcp);
    assert!(tokio::time::timeout(WAIT, handshake).await.unwrap().is_err());
    assert_eq!(hub.metrics().total(|d| d.bad_input.get()), bad_input + 1);
    // The hub serves on, plain and TLS.
    let _plain = Raw::login(hub.chatos, "still").await;
    let (stream, _) = tls_connect(&tls, &pki.ca).await;
    let mut over_tls = Raw::from_io(stream);
    over_tls.send(&Packet::Cr { pseudo: "here".into() }).await;
    over_tls.expect_error(ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_refuse_a_certificate_for_another_name_or_from_an_unknown_ca() {
    let pki = Pki::new("test CA");
    let (cert, key) = pki.issue("elsewhere", &["example.org"]);
    let hub = start_prepared(
        |_| {},
        move |c| {
            c.tls_cert = Some(cert);
            c.tls_key = Some(key);
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_addr(&hub, "chatos");
    let other = Pki::new("another CA");
    for (ca, why) in [
        (&pki.ca, "the server's certificate is not for 127.0.0.1"),
        (&other.ca, "the server's certificate is signed by no CA this client trusts"),
    ] {
        let ann = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["chatos", "--addr", &tls, "--tls", "--ca", ca.to_str().unwrap(), "--pseudo", "ann"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output();
        let out = tokio::time::timeout(WAIT, ann).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(why), "{stderr}");
    }
    hub.stop().await;
}

/// Starts `switchboard serve` with TLS from these files, its ChatOS TLS door on a port of the
/// system's; returns the process and that door's address.
async fn serve_tls(data: &Path, cert: &Path, key: &Path) -> (tokio::process::Child, String) {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (child, addrs) = crate::support::serve_process(data, &["--tls-cert", cert, "--tls-key", key]).await;
    (child, addrs.of("chatos-tls").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_loads_a_new_certificate_for_new_connections_and_open_ones_go_on() {
    let pki = Pki::new("test CA");
    let (first, key) = pki.issue("first", &["127.0.0.1"]);
    let data = pki.dir.path().join("data");
    let live = (pki.dir.path().join("live.crt"), pki.dir.path().join("live.key"));
    std::fs::copy(&first, &live.0).unwrap();
    std::fs::copy(&key, &live.1).unwrap();
    let (server, addr) = serve_tls(&data, &live.0, &live.1).await;
    let (stream, presented) = tls_connect(&addr, &pki.ca).await;
    assert_eq!(presented, der(&first));
    let mut open = Raw::from_io(stream);
    open.send(&Packet::Cr { pseudo: "early".into() }).await;
    open.expect_error(ErrorCode::Ok).await;

    // A renewed certificate in the same files, then SIGHUP.
    let (renewed, renewed_key) = pki.issue("renewed", &["127.0.0.1"]);
    std::fs::copy(&renewed, &live.0).unwrap();
    std::fs::copy(&renewed_key, &live.1).unwrap();
    let pid = server.id().unwrap();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
    let reloaded = async {
        loop {
            if tls_connect(&addr, &pki.ca).await.1 == der(&renewed) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, reloaded).await.expect("the new certificate was never presented");
    // The connection made before goes on, with the certificate it had.
    open.send(&Packet::Sma { sender: "early".into(), message: "still here".into() }).await;
    open.expect_error(ErrorCode::Ok).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_made_once_and_kept() {
    let self_signed = |c: &mut server::Config| c.tls_self_signed = vec!["localhost".into(), "127.0.0.1".into()];
    let hub = crate::support::start_with(self_signed).await;
    let cert = hub.data_dir().join("tls/self-signed.crt");
    let made = std::fs::read(&cert).unwrap();
    let (_, presented) = tls_connect(&tls_addr(&hub, "chatos"), &cert).await;
    assert_eq!(presented, der(&cert));
    // Started again on the same data: the same certificate.
    let hub = hub.restart_with(self_signed).await;
    assert_eq!(std::fs::read(&cert).unwrap(), made);
    let (_, presented) = tls_connect(&tls_addr(&hub, "chatos"), &cert).await;
    assert_eq!(presented, der(&cert));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_client_over_tls_meets_a_plain_chatos_user() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let pki = Pki::new("test CA");
    let hub = tls_hub(&pki, |_| {}).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let (mut tls, _) = tls_connect(&tls_addr(&hub, "irc"), &pki.ca).await;
    tls.write_all(b"NICK ann\r\nUSER ann 0 * :Ann\r\nPRIVMSG #lobby :over TLS\r\n").await.unwrap();
    tls.flush().await.unwrap();
    os.expect(Packet::Sma { sender: "ann".into(), message: "over TLS".into() }).await;
    let mut lines = BufReader::new(tls).lines();
    let names = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" 353 ") {
                return line;
            }
        }
        panic!("closed before the names");
    };
    assert_eq!(tokio::time::timeout(WAIT, names).await.unwrap(), ":switchboard 353 ann = #lobby :os ann");
    hub.stop().await;
}
