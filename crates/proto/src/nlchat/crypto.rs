//! NL Chat's encryption: the command JSON cut into blocks of at most 214 bytes, each
//! encrypted with RSA OAEP (SHA-1, MGF1-SHA-1, no label) under the recipient's public key and
//! base64-encoded. 214 bytes is OAEP-SHA-1's most for a 2048-bit key.
//!
//! Blocks are cut at character boundaries, so that each is valid UTF-8 on its own (a client
//! that decodes block by block reads them too); on input, blocks are joined as bytes before
//! decoding, so a sender that cuts inside a character is read as well.

use super::NlError;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::rand_core::CryptoRngCore;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

pub use rsa;

/// The most plaintext bytes in one block.
pub const BLOCK: usize = 214;
/// The most blocks one packet may have: a bound on the work a packet can ask for.
pub const MAX_BLOCKS: usize = 128;
/// The key size used.
pub const KEY_BITS: usize = 2048;

fn oaep() -> Oaep {
    Oaep::new::<sha1::Sha1>()
}

/// Cuts `text` into pieces of at most [`BLOCK`] bytes, each ending at a character boundary.
pub fn blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(BLOCK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

/// Encrypts a command for the holder of `key`: the `messages` of a raw packet.
pub fn encrypt(json: &str, key: &RsaPublicKey, rng: &mut impl CryptoRngCore) -> Vec<String> {
    blocks(json)
        .into_iter()
        .map(|block| {
            let sealed = key.encrypt(rng, oaep(), block.as_bytes()).expect("a block fits a 2048-bit key");
            base64::engine::general_purpose::STANDARD.encode(sealed)
        })
        .collect()
}

/// Decrypts the `messages` of a raw packet with `key` into the command JSON.
pub fn decrypt(messages: &[String], key: &RsaPrivateKey) -> Result<String, NlError> {
    if messages.len() > MAX_BLOCKS {
        return Err(NlError::TooManyBlocks(MAX_BLOCKS));
    }
    let mut plain = Vec::new();
    for block in messages {
        let sealed = base64::engine::general_purpose::STANDARD.decode(block.trim()).map_err(|_| NlError::Base64)?;
        let opened = key.decrypt(oaep(), &sealed).map_err(|_| NlError::Decrypt)?;
        plain.extend_from_slice(&opened);
    }
    String::from_utf8(plain).map_err(|_| NlError::Utf8)
}

/// A public key in PEM, as `BEGIN PUBLIC KEY` (what Python's libraries write) or
/// `BEGIN RSA PUBLIC KEY`. A key too small to seal a whole block (under 2048 bits) is refused:
/// nothing could be encrypted to it.
pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, NlError> {
    use rsa::traits::PublicKeyParts;
    let key = RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| NlError::Key)?;
    if key.size() < KEY_BITS / 8 {
        return Err(NlError::Key);
    }
    Ok(key)
}

/// A public key as `BEGIN PUBLIC KEY` PEM.
pub fn public_key_to_pem(key: &RsaPublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).expect("an RSA key encodes")
}

/// A new key pair.
pub fn generate(rng: &mut impl CryptoRngCore) -> RsaPrivateKey {
    RsaPrivateKey::new(rng, KEY_BITS).expect("RSA key generation")
}

/// A private key as PKCS#8 PEM, to keep.
pub fn private_key_to_pem(key: &RsaPrivateKey) -> String {
    use rsa::pkcs8::EncodePrivateKey;
    key.to_pkcs8_pem(LineEnding::LF).expect("an RSA key encodes").to_string()
}

/// A private key from PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, NlError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| NlError::Key)
}
