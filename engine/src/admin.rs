//! Operator tasks: the first organization and application, new applications, master-key
//! rotation.

use serde_json::{json, Value};

use crate::crypto::{random_token, KeyRing, SecretHasher};
use crate::db::Db;
use crate::error::ApiResult;

/// A new application's credentials; the secret exists only here and in the caller's hands.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub organization_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl NewApplication {
    pub fn to_json(&self) -> Value {
        json!({"organization_id": self.organization_id, "client_id": self.client_id, "client_secret": self.client_secret})
    }
}

/// Creates an application in the organization called `org_name` (created if new). Its secret
/// is stored as the keyed hash of `hasher` (the engine's, [`crate::services::tokens::secret_hasher`])
/// from the start: no Argon2 run, nothing to rewrite on first use.
pub async fn create_application(db: &Db, hasher: &SecretHasher, org_name: &str) -> ApiResult<NewApplication> {
    let org = match db.find_organization_by_name(org_name).await? {
        Some(o) => o,
        None => db.create_organization(org_name).await?,
    };
    let client_id = format!("sb_{}", random_token(12));
    let client_secret = random_token(32);
    db.create_application(&org.id, &client_id, &hasher.hash(&client_id, &client_secret)).await?;
    Ok(NewApplication { organization_id: org.id, client_id, client_secret })
}

/// On an empty store, the first organization and application; `None` when there already is one.
pub async fn bootstrap(db: &Db, hasher: &SecretHasher) -> ApiResult<Option<NewApplication>> {
    if db.count_organizations().await? > 0 {
        return Ok(None);
    }
    Ok(Some(create_application(db, hasher, "default").await?))
}

/// Re-encrypts every sealed record that is not under the ring's current key. Returns how many
/// records were rewritten. Safe to run while engines serve: a record changed concurrently is
/// read again and retried.
pub async fn reseal_all(db: &Db, ring: &KeyRing) -> ApiResult<usize> {
    let mut rewritten = 0;
    for _round in 0..5 {
        let pending: Vec<_> =
            db.sealed_records().await?.into_iter().filter(|(_, _, s)| s.key_id != ring.current_id()).collect();
        if pending.is_empty() {
            return Ok(rewritten);
        }
        for (table, id, sealed) in pending {
            let aad = if table == "signing_keys" { format!("signing_key:{id}") } else { id.clone() };
            let plain = ring.open(&sealed, &aad)?;
            let new = ring.seal(&plain, &aad)?;
            if db.reseal(table, &id, &sealed, &new).await? {
                rewritten += 1;
            }
        }
    }
    Err(crate::error::ApiError::internal("records kept changing during the rotation; run it again"))
}
