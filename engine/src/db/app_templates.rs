//! Storage of an application's template allow-list: the connector types (slugs) its widget
//! tokens may list, create and start OAuth consents for (see [`crate::widget`]). No row means
//! every type. Keyed by the application's client id, always read with its organization.

use sqlx::Row;

use super::{now, Db, StoreError, StoreResult};

/// An application's allow-list as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTemplates {
    /// Slugs, in the order they were set.
    pub slugs: Vec<String>,
    /// RFC 3339.
    pub updated_at: String,
}

impl Db {
    /// The allow-list of application `client_id` of `organization_id`; `None` when it has none
    /// (every type).
    pub async fn application_templates(
        &self,
        organization_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<AppTemplates>> {
        let row = sqlx::query(
            "SELECT slugs, updated_at FROM application_templates WHERE client_id = $1 AND organization_id = $2",
        )
        .bind(client_id)
        .bind(organization_id)
        .fetch_optional(&self.here())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let text: String = r.try_get("slugs")?;
        let slugs: Vec<String> = serde_json::from_str(&text)
            .map_err(|_| StoreError::Inconsistent(format!("the template allow-list of {client_id} is not a list")))?;
        Ok(Some(AppTemplates { slugs, updated_at: r.try_get("updated_at")? }))
    }

    /// Sets (`Some`) or removes (`None`: every type) the allow-list of application
    /// `client_id` of `organization_id`; answers what is stored now.
    pub async fn set_application_templates(
        &self,
        organization_id: &str,
        client_id: &str,
        slugs: Option<&[String]>,
    ) -> StoreResult<Option<AppTemplates>> {
        let Some(slugs) = slugs else {
            sqlx::query("DELETE FROM application_templates WHERE client_id = $1 AND organization_id = $2")
                .bind(client_id)
                .bind(organization_id)
                .execute(&self.here())
                .await?;
            return Ok(None);
        };
        let text = serde_json::to_string(slugs)
            .map_err(|e| StoreError::Inconsistent(format!("cannot encode a template allow-list: {e}")))?;
        let at = now();
        sqlx::query(
            "INSERT INTO application_templates (client_id, organization_id, slugs, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id) DO UPDATE SET organization_id = excluded.organization_id, slugs = excluded.slugs, \
             updated_at = excluded.updated_at",
        )
        .bind(client_id)
        .bind(organization_id)
        .bind(&text)
        .bind(&at)
        .execute(&self.here())
        .await?;
        Ok(Some(AppTemplates { slugs: slugs.to_vec(), updated_at: at }))
    }
}
