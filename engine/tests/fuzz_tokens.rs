//! Property-based fuzzing (proptest, stable Rust) of token verification: whatever arrives in an
//! `Authorization` header, [`Signer::verify`] never panics and accepts only a token it signed,
//! byte for byte. A failing input proptest finds is kept in
//! `engine/proptest-regressions/fuzz_tokens.txt` and replayed first on every later run.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Map, Value};
use switchboard_core::ErrorCode;
use switchboard_engine::crypto::{Key, KeyRing};
use switchboard_engine::db::Db;
use switchboard_engine::metrics::Metrics;
use switchboard_engine::tokens::{claims, Signer, TokenKind};

const CASES: u32 = 256;

/// A fixed number of cases; failures are kept (relative to the crate root, where cargo runs
/// tests) and replayed before new cases on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_tokens.txt"))),
        ..ProptestConfig::default()
    }
}

/// One runtime, one SQLite store with one signing key, one signer, a valid token and its key
/// id, shared by every case.
struct Fixture {
    rt: tokio::runtime::Runtime,
    db: Db,
    ring: KeyRing,
    signer: Signer,
    valid: String,
    kid: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("sb-fuzz-tokens-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::new(Key::generate(), vec![]);
        let (db, signer) = rt.block_on(async {
            let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
            // A long reload interval: unknown key ids re-read the store once, not per case.
            let signer = Signer::load(&db, &ring, Duration::from_secs(3600), Arc::new(Metrics::default()))
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            (db, signer)
        });
        let valid = signer
            .issue(claims(TokenKind::Scoped, "client-1", "org-1", Some(("ws-1", "acme")), None), 3600)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let kid = jsonwebtoken::decode_header(&valid).ok().and_then(|h| h.kid).unwrap_or_else(|| panic!("no kid"));
        Fixture { rt, db, ring, signer, valid, kid }
    })
}

/// Whether `token` verifies; a rejection must be an `authentication` error.
fn accepted(token: &str) -> bool {
    let f = fixture();
    match f.rt.block_on(f.signer.verify(token, &f.db, &f.ring)) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Authentication, "{token:?}: {}", e.message);
            false
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Arbitrary JSON, scalars and small nested values.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,6}", inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A header: mostly `HS256` with the real key id (so the signature check is reached), with
/// arbitrary extra fields, or arbitrary values in `alg` and `kid`.
fn header(kid: String) -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        4 => Just(json!("HS256")),
        1 => prop::sample::select(vec!["none", "None", "hs256", "HS384", "HS512", "RS256", "ES256", ""]).prop_map(Value::from),
        1 => json_value(),
    ];
    let kid = prop_oneof![4 => Just(Value::String(kid)), 1 => json_value()];
    let extra = prop::collection::vec(("[a-z]{1,4}", json_value()), 0..3);
    (alg, kid, extra, any::<bool>()).prop_map(|(alg, kid, extra, typ)| {
        let mut h: Map<String, Value> = extra.into_iter().collect();
        h.insert("alg".into(), alg);
        h.insert("kid".into(), kid);
        if typ {
            h.insert("typ".into(), json!("JWT"));
        }
        Value::Object(h)
    })
}

/// Claims: a well-formed set (unexpired, right issuer) with arbitrary fields changed, or any JSON.
fn claims_value() -> impl Strategy<Value = Value> {
    let well_formed = (prop::collection::vec(("[a-z]{1,5}", json_value()), 0..3)).prop_map(|changes| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut c = json!({
            "iss": "switchboard", "sub": "client-1", "org": "org-1", "kind": "application",
            "iat": now, "exp": now + 3600, "jti": "j"
        });
        if let Value::Object(m) = &mut c {
            for (k, v) in changes {
                m.insert(k, v);
            }
        }
        c
    });
    prop_oneof![3 => well_formed, 1 => json_value()]
}

proptest! {
    #![proptest_config(config())]

    /// Any string at all: no panic, no acceptance.
    #[test]
    fn arbitrary_strings_are_rejected(token in prop_oneof!["\\PC{0,64}", ".{0,64}", "[A-Za-z0-9_.=-]{0,80}"]) {
        prop_assert!(!accepted(&token), "{token:?}");
    }

    /// Three base64url parts: random bytes, or a JSON header with random claims and signature.
    #[test]
    fn three_base64url_parts_are_rejected(
        parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 3),
        head in json_value(),
        json_head in any::<bool>(),
    ) {
        let first = if json_head { b64(head.to_string().as_bytes()) } else { b64(&parts[0]) };
        let token = format!("{first}.{}.{}", b64(&parts[1]), b64(&parts[2]));
        prop_assert!(!accepted(&token), "{token:?}");
    }

    /// Arbitrary headers and claims, HMAC-signed with a key other than the signer's: rejected,
    /// whatever the header names.
    #[test]
    fn tokens_signed_with_a_wrong_key_are_rejected(
        (head, body) in (header(fixture().kid.clone()), claims_value()),
        key in prop::collection::vec(any::<u8>(), 1..64),
        alg in prop::sample::select(vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
    ) {
        let message = format!("{}.{}", b64(head.to_string().as_bytes()), b64(body.to_string().as_bytes()));
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(&key), alg)
            .unwrap_or_else(|e| panic!("{e}"));
        let token = format!("{message}.{sig}");
        prop_assert!(!accepted(&token), "{token:?}");
        prop_assert!(!accepted(&format!("{message}.")), "no signature");
    }

    /// The signer's own token is accepted; with any one byte changed (to another ASCII byte),
    /// it is rejected.
    #[test]
    fn a_valid_token_with_one_byte_changed_is_rejected(at in any::<Index>(), mask in 1u8..128) {
        let valid = &fixture().valid;
        prop_assert!(accepted(valid), "the untouched token verifies");
        let mut bytes = valid.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let token = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(!accepted(&token), "byte {i} changed: {token:?}");
    }
}
