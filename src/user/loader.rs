//! Users by id (audit actors) and users of roles, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::UserRow;
use super::repo;
use crate::graphql::loaders::{LoadError, LoaderDb, fail, group};

pub struct UserById(pub LoaderDb);

impl Loader<i64> for UserById {
    type Value = UserRow;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.0.conn().await?;
        let rows = repo::by_ids(&mut conn, keys).await.map_err(|e| fail(&e))?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}

pub struct UsersByRole(pub LoaderDb);

impl Loader<i64> for UsersByRole {
    type Value = Vec<UserRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.0.conn().await?;
        let rows = repo::by_roles(&mut conn, keys)
            .await
            .map_err(|e| fail(&e))?;
        Ok(group(keys, rows))
    }
}
