//! `cargo bench -p switchboard-proto --bench nl_crypto`: what NL Chat's encryption costs per
//! 214-byte block, with a 2048-bit key, both by aws-lc: encrypting (to an operator; public
//! exponent 65537) and decrypting (a packet for the server; the private key, constant-time).
//! The server decrypts off the async threads; this says how many blocks a second a core opens.

use proto::nlchat::crypto;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn per_second(min: Duration, mut f: impl FnMut()) -> f64 {
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < min {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut rng = rand::rngs::OsRng;
    let key = crypto::generate(&mut rng);
    let public = crypto::Sealer::new(&key.to_public_key()).unwrap();
    let block = "x".repeat(crypto::BLOCK);
    let sealed = crypto::encrypt(&block, &public);
    let opener = crypto::Opener::new(&key).unwrap();
    let min = Duration::from_secs(3);
    let enc = per_second(min, || {
        black_box(crypto::encrypt(black_box(&block), &public));
    });
    let dec = per_second(min, || {
        black_box(crypto::decrypt(black_box(&sealed), &opener).unwrap());
    });
    let gen_start = Instant::now();
    black_box(crypto::generate(&mut rng));
    println!("encrypt: {enc:.0} blocks/s ({:.1} µs each)", 1e6 / enc);
    println!("decrypt: {dec:.0} blocks/s ({:.2} ms each)", 1e3 / dec);
    println!("key pair: {:.2} s", gen_start.elapsed().as_secs_f64());
}
