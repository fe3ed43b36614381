//! Roles of users, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::RoleRow;
use super::repo;
use crate::graphql::loaders::{LoadError, LoaderDb, fail, group};

pub struct RolesByUser(pub LoaderDb);

impl Loader<i64> for RolesByUser {
    type Value = Vec<RoleRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.0.conn().await?;
        let rows = repo::by_users(&mut conn, keys)
            .await
            .map_err(|e| fail(&e))?;
        Ok(group(keys, rows))
    }
}
