//! Users by id (audit actors) and users of roles, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::UserRow;
use super::repo;
use scoped_futures::ScopedFutureExt;

use crate::graphql::loaders::grouped_loader;
use crate::graphql::loaders::{LoadError, LoaderDb};

pub struct UserById(pub LoaderDb);

impl Loader<i64> for UserById {
    type Value = UserRow;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self.0.read(|c| repo::by_ids(c, keys).scope_boxed()).await?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}

grouped_loader!(
    /// The users holding a role.
    UsersByRole,
    UserRow,
    repo::by_roles
);
