//! Secrets at rest: AES-256-GCM per record with a random nonce, the key id stored beside the
//! ciphertext and the record's id bound in as associated data (a ciphertext moved to another
//! row does not decrypt). Client secrets are hashed with Argon2id.
//!
//! The master key comes from `SWITCHBOARD_MASTER_KEY` (base64 or hex of 32 bytes) or, on the
//! embedded default only, a key file created with mode 0600 in the data directory. Older keys
//! listed in `SWITCHBOARD_OLD_MASTER_KEYS` stay readable until `switchboard admin rotate-key`
//! re-encrypts every record under the current key.

use std::collections::HashMap;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What can go wrong with secrets at rest. The texts name keys and records, never a secret;
/// [`crate::error`] turns them into the API's error (a master key problem is `configuration`,
/// the rest `internal`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A master key that cannot be read or written (environment, key file).
    #[error("{0}")]
    MasterKey(String),
    #[error("encryption failed")]
    Seal,
    /// A record sealed with a key this process does not have.
    #[error(
        "a stored secret is sealed with master key {0} which this server does not have; set SWITCHBOARD_OLD_MASTER_KEYS"
    )]
    UnknownKey(String),
    #[error("a stored secret is corrupt")]
    Corrupt,
    #[error("a stored secret failed to decrypt (wrong key or tampered data)")]
    Decrypt,
    #[error("cannot hash a secret")]
    Hash,
}

/// One 256-bit key.
#[derive(Clone)]
pub struct Key {
    id: String,
    cipher: Aes256Gcm,
    raw: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Key {
    /// A key from raw bytes; its id is derived from the key (first 8 bytes of its SHA-256).
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(raw)[..8]);
        Self { id, cipher: Aes256Gcm::new(&raw.into()), raw }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::from_bytes(raw)
    }

    /// Parses base64 or hex text of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let t = text.trim();
        let bad = |m: &str| CryptoError::MasterKey(m.to_string());
        let bytes = if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|_| bad("not valid hex"))?
        } else {
            B64.decode(t).map_err(|_| bad("not valid base64 or hex"))?
        };
        let raw: [u8; 32] = bytes.try_into().map_err(|_| bad("a master key must be 32 bytes"))?;
        Ok(Self::from_bytes(raw))
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Base64 text of the key (to hand to an operator once).
    pub fn to_base64(&self) -> String {
        B64.encode(self.raw)
    }
}

/// A ciphertext and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// base64(nonce || ciphertext+tag)
    pub ciphertext: String,
}

/// The current key plus older ones that can still decrypt.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: Key,
    all: HashMap<String, Key>,
}

impl KeyRing {
    /// A ring with `current` for encryption and `old` keys for decryption only.
    pub fn new(current: Key, old: Vec<Key>) -> Self {
        let mut all: HashMap<String, Key> = old.into_iter().map(|k| (k.id.clone(), k)).collect();
        all.insert(current.id.clone(), current.clone());
        Self { current, all }
    }

    /// This ring with `new` as the current key; every key of this ring stays readable.
    pub fn rotated(&self, new: Key) -> KeyRing {
        let mut all = self.all.clone();
        all.insert(new.id.clone(), new.clone());
        KeyRing { current: new, all }
    }

    /// The id of the key new records are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// The current key.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// Encrypts `plaintext`, bound to `aad` (the record id).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<Sealed, CryptoError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: aad.as_bytes() })
            .map_err(|_| CryptoError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(Sealed { key_id: self.current.id.clone(), ciphertext: B64.encode(out) })
    }

    /// Decrypts a record sealed with any key of the ring.
    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<Vec<u8>, CryptoError> {
        let key = self.all.get(&sealed.key_id).ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let raw = B64.decode(&sealed.ciphertext).map_err(|_| CryptoError::Corrupt)?;
        if raw.len() < 12 {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ct) = raw.split_at(12);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: aad.as_bytes() })
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Loads the ring from `SWITCHBOARD_MASTER_KEY` (+ `SWITCHBOARD_OLD_MASTER_KEYS`), or from the
    /// key file in `data_dir` (created 0600 when missing) when no environment key is set and a
    /// data directory is in use.
    pub fn load(
        master_key: Option<&str>,
        old_keys: Option<&str>,
        data_dir: Option<&Path>,
    ) -> Result<Self, CryptoError> {
        fn named(var: &'static str) -> impl Fn(CryptoError) -> CryptoError {
            move |e| CryptoError::MasterKey(format!("{var}: {e}"))
        }
        let old: Vec<Key> = match old_keys {
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|k| Key::parse(k).map_err(named("SWITCHBOARD_OLD_MASTER_KEYS")))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        if let Some(k) = master_key.filter(|k| !k.trim().is_empty()) {
            let current = Key::parse(k).map_err(named("SWITCHBOARD_MASTER_KEY"))?;
            return Ok(Self::new(current, old));
        }
        let Some(dir) = data_dir else {
            return Err(CryptoError::MasterKey("SWITCHBOARD_MASTER_KEY is required with --database-url (a key file is only used on the embedded SQLite default)".into()));
        };
        let (current, file_old) = key_file(dir)?;
        let mut all_old = old;
        all_old.extend(file_old);
        Ok(Self::new(current, all_old))
    }
}

/// Reads (or creates) `master.key` in `dir`: the first line is the current key, later lines are
/// older keys kept readable after a rotation.
fn key_file(dir: &Path) -> Result<(Key, Vec<Key>), CryptoError> {
    let path = dir.join("master.key");
    let in_file = |e: CryptoError| CryptoError::MasterKey(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut keys = text.lines().filter(|l| !l.trim().is_empty()).map(Key::parse);
            let current = keys
                .next()
                .ok_or_else(|| CryptoError::MasterKey(format!("{} is empty", path.display())))?
                .map_err(in_file)?;
            let old = keys.collect::<Result<Vec<_>, _>>().map_err(in_file)?;
            Ok((current, old))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate();
            write_key_file(dir, &key, &[])?;
            Ok((key, Vec::new()))
        }
        Err(e) => Err(CryptoError::MasterKey(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes `master.key` (mode 0600): the current key first, then older ones.
pub fn write_key_file(dir: &Path, current: &Key, old: &[Key]) -> Result<(), CryptoError> {
    use std::io::Write;
    let fail =
        |what: &str, p: &Path, e: std::io::Error| CryptoError::MasterKey(format!("cannot {what} {}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail("create", dir, e))?;
    let path = dir.join("master.key");
    let tmp = dir.join("master.key.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| fail("write", &tmp, e))?;
    let mut text = current.to_base64();
    for k in old {
        text.push('\n');
        text.push_str(&k.to_base64());
    }
    text.push('\n');
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| fail("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail("replace", &path, e))
}

/// Argon2id hash of a client secret (PHC string with its salt).
pub fn hash_secret(secret: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| CryptoError::Hash)
}

/// Checks a client secret against its hash (constant time in the hash comparison).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok())
}

/// A random token of `bytes` bytes, URL-safe base64.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_bind_to_the_record() {
        let ring = KeyRing::new(Key::generate(), vec![]);
        let s = ring.seal(b"top secret", "conn-1").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!s.ciphertext.contains("top secret"));
        assert_eq!(ring.open(&s, "conn-1").ok().as_deref(), Some(&b"top secret"[..]));
        assert!(ring.open(&s, "conn-2").is_err(), "a ciphertext moved to another record must not open");
        let s2 = ring.seal(b"top secret", "conn-1").unwrap_or_else(|e| panic!("{e:?}"));
        assert_ne!(s.ciphertext, s2.ciphertext, "random nonces");
    }

    #[test]
    fn old_keys_stay_readable() {
        let old = Key::generate();
        let sealed = KeyRing::new(old.clone(), vec![]).seal(b"x", "a").unwrap_or_else(|e| panic!("{e:?}"));
        let new = KeyRing::new(Key::generate(), vec![old]);
        assert_eq!(new.open(&sealed, "a").ok().as_deref(), Some(&b"x"[..]));
        let only_new = KeyRing::new(new.current().clone(), vec![]);
        assert!(only_new.open(&sealed, "a").is_err());
        let next = new.rotated(Key::generate());
        assert_ne!(next.current_id(), new.current_id());
        assert_eq!(next.open(&sealed, "a").ok().as_deref(), Some(&b"x"[..]), "rotation keeps older keys readable");
    }

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("s3cret").unwrap_or_default();
        assert!(verify_secret("s3cret", &h));
        assert!(!verify_secret("s3cret!", &h));
        assert!(!h.contains("s3cret"));
    }

    #[test]
    fn keys_parse_from_base64_and_hex() {
        let k = Key::generate();
        assert_eq!(Key::parse(&k.to_base64()).map(|x| x.id().to_string()).ok(), Some(k.id().to_string()));
        assert!(Key::parse(&hex::encode([7u8; 32])).is_ok());
        assert!(Key::parse("short").is_err());
    }
}
