//! NL Chat's encryption: the command JSON cut into blocks of at most 214 bytes, each
//! encrypted with RSA OAEP (SHA-1, MGF1-SHA-1, no label) under the recipient's public key and
//! base64-encoded. 214 bytes is OAEP-SHA-1's most for a 2048-bit key.
//!
//! Blocks are cut at character boundaries, so that each is valid UTF-8 on its own (a client
//! that decodes block by block reads them too); on input, blocks are joined as bytes before
//! decoding, so a sender that cuts inside a character is read as well.
//!
//! Keys are made, read and written with the `rsa` crate; blocks are sealed ([`Sealer`]) and
//! opened ([`Opener`]) with aws-lc, whose RSA is constant-time (and ten times as fast). The
//! `rsa` crate's decryption is not constant-time (RUSTSEC-2023-0071, the Marvin attack, even
//! with its blinding): anyone may send the server blocks to open and time the answer, so it
//! never opens one.

use super::NlError;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::rand_core::CryptoRngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};

pub use rsa;

/// The most plaintext bytes in one block.
pub const BLOCK: usize = 214;
/// The most blocks one packet may have: a bound on the work a packet can ask for.
pub const MAX_BLOCKS: usize = 128;
/// The key size used.
pub const KEY_BITS: usize = 2048;

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

/// A public key made ready to seal blocks, by aws-lc's RSA-OAEP (SHA-1, MGF1-SHA-1, no
/// label).
pub struct Sealer {
    key: aws_lc_rs::rsa::OaepPublicEncryptingKey,
}

impl Sealer {
    pub fn new(key: &RsaPublicKey) -> Result<Sealer, NlError> {
        let der = key.to_public_key_der().map_err(|_| NlError::Key)?;
        let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(der.as_bytes()).map_err(|_| NlError::Key)?;
        let key = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(key).map_err(|_| NlError::Key)?;
        Ok(Sealer { key })
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// Encrypts a command for the holder of `key`: the `messages` of a raw packet.
pub fn encrypt(json: &str, key: &Sealer) -> Vec<String> {
    let mut sealed = vec![0; key.key.ciphertext_size()];
    blocks(json)
        .into_iter()
        .map(|block| {
            let sealed = key
                .key
                .encrypt(&aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1, block.as_bytes(), &mut sealed, None)
                .expect("a block fits a key of 2048 bits or more");
            base64::engine::general_purpose::STANDARD.encode(sealed)
        })
        .collect()
}

/// A private key made ready to open blocks, by aws-lc's constant-time RSA-OAEP (SHA-1,
/// MGF1-SHA-1, no label).
pub struct Opener {
    key: aws_lc_rs::rsa::OaepPrivateDecryptingKey,
}

impl Opener {
    pub fn new(key: &RsaPrivateKey) -> Result<Opener, NlError> {
        use rsa::pkcs8::EncodePrivateKey;
        let der = key.to_pkcs8_der().map_err(|_| NlError::Key)?;
        let key = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(der.as_bytes()).map_err(|_| NlError::Key)?;
        let key = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(key).map_err(|_| NlError::Key)?;
        Ok(Opener { key })
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener(..)")
    }
}

/// Decrypts the `messages` of a raw packet with `key` into the command JSON.
pub fn decrypt(messages: &[String], key: &Opener) -> Result<String, NlError> {
    if messages.len() > MAX_BLOCKS {
        return Err(NlError::TooManyBlocks(MAX_BLOCKS));
    }
    let mut plain = Vec::new();
    let mut opened = vec![0; key.key.key_size_bytes()];
    for block in messages {
        let sealed = base64::engine::general_purpose::STANDARD.decode(block.trim()).map_err(|_| NlError::Base64)?;
        let block = key
            .key
            .decrypt(&aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1, &sealed, &mut opened, None)
            .map_err(|_| NlError::Decrypt)?;
        plain.extend_from_slice(block);
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
