//! Roles of users, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::RoleRow;
use super::repo;
use scoped_futures::ScopedFutureExt;

use crate::graphql::loaders::{LoadError, LoaderDb, group};

pub struct RolesByUser(pub LoaderDb);

impl Loader<i64> for RolesByUser {
    type Value = Vec<RoleRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .0
            .read(|c| repo::by_users(c, keys).scope_boxed())
            .await?;
        Ok(group(keys, rows))
    }
}
