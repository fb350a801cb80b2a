//! Secrets at rest: AES-256-GCM per record with a random nonce, the key id stored beside the
//! ciphertext and the record's id bound in as associated data (a ciphertext moved to another
//! row does not decrypt).
//!
//! Client secrets are long random strings, so a keyed fast hash is as strong as a slow one and
//! costs microseconds instead of an Argon2 run (time and 19 MiB per attempt, which let anyone
//! exhaust the server's memory with wrong secrets): they are stored as HMAC-SHA-256 under a
//! server key that is kept sealed in the database beside the signing keys ([`SecretHasher`]).
//! Argon2id hashes of older rows are still verified, one at a time on one thread
//! ([`Argon2Checker`]), and replaced by the HMAC on their next successful use.
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
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// The thread that checks Argon2 hashes cannot start.
    #[error("cannot start the secret checker: {0}")]
    Worker(String),
}

impl CryptoError {
    /// This error met when a process starts on a store: a record the configured keys do not
    /// open means the master key is not the store's, which the operator fixes (a master key
    /// error, `configuration`).
    pub fn at_start(self) -> CryptoError {
        match self {
            CryptoError::UnknownKey(id) => CryptoError::MasterKey(format!(
                "this store's secrets are sealed with master key {id}, which is not configured: set \
                 SWITCHBOARD_MASTER_KEY (or the master key file) to the key the store was made with, or list it in \
                 SWITCHBOARD_OLD_MASTER_KEYS during a rotation"
            )),
            CryptoError::Decrypt => CryptoError::MasterKey(
                "this store's secrets do not decrypt with the configured master key: set SWITCHBOARD_MASTER_KEY \
                 (or the master key file) to the key the store was made with"
                    .into(),
            ),
            e => e,
        }
    }
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

    /// The keys of `SWITCHBOARD_OLD_MASTER_KEYS` (comma-separated), readable after a rotation.
    pub fn old_keys(list: Option<&str>) -> Result<Vec<Key>, CryptoError> {
        list.unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|k| Key::parse(k).map_err(|e| CryptoError::MasterKey(format!("SWITCHBOARD_OLD_MASTER_KEYS: {e}"))))
            .collect()
    }

    /// Loads the ring from `SWITCHBOARD_MASTER_KEY` (+ `SWITCHBOARD_OLD_MASTER_KEYS`), or from the
    /// key file in `data_dir` (created 0600 when missing) when no environment key is set and a
    /// data directory is in use.
    pub fn load(
        master_key: Option<&str>,
        old_keys: Option<&str>,
        data_dir: Option<&Path>,
    ) -> Result<Self, CryptoError> {
        let old = Self::old_keys(old_keys)?;
        if let Some(k) = master_key.filter(|k| !k.trim().is_empty()) {
            let current = Key::parse(k).map_err(|e| CryptoError::MasterKey(format!("SWITCHBOARD_MASTER_KEY: {e}")))?;
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
    // Twice at most: a process that loses the race to create the file reads the winner's key.
    for _ in 0..2 {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut keys = text.lines().filter(|l| !l.trim().is_empty()).map(Key::parse);
                let current = keys
                    .next()
                    .ok_or_else(|| CryptoError::MasterKey(format!("{} is empty", path.display())))?
                    .map_err(in_file)?;
                let old = keys.collect::<Result<Vec<_>, _>>().map_err(in_file)?;
                return Ok((current, old));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Key::generate();
                if create_key_file(dir, &key)? {
                    return Ok((key, Vec::new()));
                }
            }
            Err(e) => return Err(CryptoError::MasterKey(format!("cannot read {}: {e}", path.display()))),
        }
    }
    Err(CryptoError::MasterKey(format!("cannot read {}: it keeps disappearing", path.display())))
}

/// Creates `dir` and its missing parents with mode 0700 (an existing directory is left as it
/// is): the data directory holds the key file and the database.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn key_file_error(what: &str, p: &Path, e: std::io::Error) -> CryptoError {
    CryptoError::MasterKey(format!("cannot {what} {}: {e}", p.display()))
}

/// Writes the keys (the current one first) to a new temporary file (mode 0600) in `dir`, named
/// for this call alone so that concurrent writers never share one.
fn write_temp_key_file(dir: &Path, current: &Key, old: &[Key]) -> Result<std::path::PathBuf, CryptoError> {
    use std::io::Write;
    create_private_dir(dir).map_err(|e| key_file_error("create", dir, e))?;
    let tmp = dir.join(format!("master.key.tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut text = current.to_base64();
    for k in old {
        text.push('\n');
        text.push_str(&k.to_base64());
    }
    text.push('\n');
    let written = opts.open(&tmp).and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(key_file_error("write", &tmp, e));
    }
    Ok(tmp)
}

/// Creates `master.key` holding `key` unless it exists: `false` when another process made it
/// first (its key is the one to use). The complete file is linked into place, which fails on an
/// existing name, so a key file is never replaced and never seen half written.
fn create_key_file(dir: &Path, key: &Key) -> Result<bool, CryptoError> {
    let path = dir.join("master.key");
    let tmp = write_temp_key_file(dir, key, &[])?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(key_file_error("create", &path, e)),
    }
}

/// Replaces `master.key` (mode 0600) with the current key first, then older ones (a rotation).
pub fn write_key_file(dir: &Path, current: &Key, old: &[Key]) -> Result<(), CryptoError> {
    let path = dir.join("master.key");
    let tmp = write_temp_key_file(dir, current, old)?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        key_file_error("replace", &path, e)
    })
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

/// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// How a stored client secret hash made with [`SecretHasher`] starts.
pub const SECRET_HMAC_PREFIX: &str = "hmac-sha256$";

/// Compared against when a client id is unknown, so that costs what a known one costs.
const DUMMY_SECRET_HASH: &str = "hmac-sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// What a presented client secret is, against the stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// The secret matches the stored HMAC.
    Match,
    /// Wrong secret, unknown client or an unreadable hash.
    Mismatch,
    /// The stored hash is Argon2 (a row from before HMACs): check it with [`Argon2Checker`].
    Legacy,
}

/// The keyed hash of client secrets: HMAC-SHA-256 under a 256-bit server key, over the client
/// id (length-prefixed) and the secret, so a hash moved to another application does not match.
#[derive(Clone)]
pub struct SecretHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher").finish_non_exhaustive()
    }
}

impl SecretHasher {
    /// A hasher with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A fresh random key (to store sealed).
    pub fn generate_key() -> [u8; 32] {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        raw
    }

    fn mac(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let len = (client_id.len() as u64).to_be_bytes();
        hmac_sha256(&self.key, &[&len, client_id.as_bytes(), secret.as_bytes()])
    }

    /// The stored form of `secret` for application `client_id`: `hmac-sha256$<base64>`.
    pub fn hash(&self, client_id: &str, secret: &str) -> String {
        let mac = self.mac(client_id, secret);
        format!("{SECRET_HMAC_PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac))
    }

    /// Checks `secret` against the `stored` hash of `client_id` (`None`: no such client, which
    /// takes the same steps against a dummy hash). Never runs Argon2: an Argon2 hash answers
    /// [`SecretCheck::Legacy`].
    pub fn check(&self, client_id: &str, secret: &str, stored: Option<&str>) -> SecretCheck {
        if stored.is_some_and(|s| s.starts_with("$argon2")) {
            return SecretCheck::Legacy;
        }
        let mac = self.mac(client_id, secret);
        let expected = stored
            .unwrap_or(DUMMY_SECRET_HASH)
            .strip_prefix(SECRET_HMAC_PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b).ok())
            .unwrap_or_default();
        match constant_time_eq(&expected, &mac) && stored.is_some() {
            true => SecretCheck::Match,
            false => SecretCheck::Mismatch,
        }
    }
}

type Argon2Job = (String, String, tokio::sync::oneshot::Sender<bool>);

/// Most Argon2 memory a stored hash may ask for, in KiB blocks (64 MiB; ours use 19 MiB).
const ARGON2_MAX_BLOCKS: usize = 64 * 1024;

/// Checks `secret` against the Argon2 PHC string `hash`, in `memory` (grown to the hash's
/// memory cost once, then reused: allocating 19 MiB per check fragments the allocator's arenas
/// and the process keeps growing).
fn verify_secret_in(memory: &mut Vec<Block>, secret: &str, hash: &str) -> bool {
    let Ok(h) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else {
        return false;
    };
    let Ok(version) = h.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let blocks = params.block_count();
    if blocks > ARGON2_MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2.hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut memory[..blocks]).is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

/// Checks Argon2 hashes of not-yet-migrated client secrets on one dedicated thread, one at a
/// time, in one reused block of memory, from a short queue: each check takes 19 MiB and tens of
/// milliseconds, so however many attempts arrive the memory stays that of one check, and a full
/// queue is refused at once instead of piling up.
#[derive(Debug)]
pub struct Argon2Checker {
    jobs: std::sync::mpsc::SyncSender<Argon2Job>,
}

impl Argon2Checker {
    /// Starts the thread, with room for `queue` waiting checks. It ends when the checker is
    /// dropped.
    pub fn start(queue: usize) -> Result<Self, CryptoError> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Argon2Job>(queue);
        std::thread::Builder::new()
            .name("switchboard-argon2".into())
            .spawn(move || {
                let mut memory = Vec::new();
                while let Ok((secret, hash, reply)) = rx.recv() {
                    let _ = reply.send(verify_secret_in(&mut memory, &secret, &hash));
                }
            })
            .map_err(|e| CryptoError::Worker(e.to_string()))?;
        Ok(Self { jobs })
    }

    /// Whether `secret` matches the Argon2 `hash`; `None` when the queue is full.
    pub async fn verify(&self, secret: String, hash: String) -> Option<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs.try_send((secret, hash, tx)).ok()?;
        Some(rx.await.unwrap_or(false))
    }
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
    fn hmac_matches_rfc_4231() {
        let hex = |b: [u8; 32]| hex::encode(b);
        // Test case 1.
        assert_eq!(
            hex(hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2, the message in two parts.
        assert_eq!(
            hex(hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(hmac_sha256(&[0xaa; 131], &[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn client_secrets_check_by_keyed_hash() {
        let h = SecretHasher::new(SecretHasher::generate_key());
        let stored = h.hash("sb_app", "s3cret");
        assert!(stored.starts_with(SECRET_HMAC_PREFIX) && !stored.contains("s3cret"));
        assert_eq!(h.check("sb_app", "s3cret", Some(&stored)), SecretCheck::Match);
        assert_eq!(h.check("sb_app", "s3cret!", Some(&stored)), SecretCheck::Mismatch);
        assert_eq!(h.check("sb_other", "s3cret", Some(&stored)), SecretCheck::Mismatch, "bound to the client id");
        assert_eq!(h.check("sb_app", "s3cret", None), SecretCheck::Mismatch, "unknown client");
        assert_eq!(h.check("sb_app", "", Some("garbage")), SecretCheck::Mismatch);
        let other = SecretHasher::new(SecretHasher::generate_key());
        assert_eq!(other.check("sb_app", "s3cret", Some(&stored)), SecretCheck::Mismatch, "keyed");
        let argon = hash_secret("s3cret").unwrap_or_default();
        assert_eq!(h.check("sb_app", "s3cret", Some(&argon)), SecretCheck::Legacy);
    }

    #[test]
    fn argon2_checks_in_reused_memory_agree_with_the_library() {
        let hash = hash_secret("s3cret").unwrap_or_default();
        let mut memory = Vec::new();
        assert!(verify_secret_in(&mut memory, "s3cret", &hash));
        let size = memory.len();
        assert!(size >= 19 * 1024, "{size} blocks");
        assert!(!verify_secret_in(&mut memory, "s3cret!", &hash));
        assert!(verify_secret_in(&mut memory, "s3cret", &hash));
        assert_eq!(memory.len(), size, "the memory is reused");
        for bad in ["", "garbage", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ", &hash[..hash.len() - 2]] {
            assert!(!verify_secret_in(&mut memory, "s3cret", bad), "{bad}");
        }
        let huge = "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify_secret_in(&mut memory, "s3cret", huge), "a 1 GiB memory cost is refused");
        assert_eq!(memory.len(), size);
        // Argon2i and Argon2d hashes check too.
        for alg in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let params = Params::new(1024, 1, 1, None).unwrap_or_else(|e| panic!("{e}"));
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let h = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"s3cret", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(verify_secret_in(&mut memory, "s3cret", &h) && !verify_secret_in(&mut memory, "x", &h), "{h}");
        }
    }

    #[tokio::test]
    async fn argon2_checks_run_on_the_worker_and_a_full_queue_is_refused() {
        let hash = hash_secret("s3cret").unwrap_or_default();
        let checker = Argon2Checker::start(4).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checker.verify("s3cret".into(), hash.clone()).await, Some(true));
        assert_eq!(checker.verify("nope".into(), hash.clone()).await, Some(false));
        let many = (0..32).map(|_| checker.verify("nope".into(), hash.clone()));
        let answers = futures::future::join_all(many).await;
        assert!(answers.contains(&None), "more checks than the queue holds are refused");
        assert!(answers.iter().flatten().all(|ok| !ok));
    }

    #[test]
    fn keys_parse_from_base64_and_hex() {
        let k = Key::generate();
        assert_eq!(Key::parse(&k.to_base64()).map(|x| x.id().to_string()).ok(), Some(k.id().to_string()));
        assert!(Key::parse(&hex::encode([7u8; 32])).is_ok());
        assert!(Key::parse("short").is_err());
    }
}
