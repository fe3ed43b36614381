//! Per-request loaders, batched by [`Batcher`]. They are built for the request's route, so a
//! mutation's payload and nested fields load from the primary and a query's from a replica.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;

use diesel::QueryResult;
use scoped_futures::ScopedBoxFuture;

use super::batch::Batcher;
use super::list::gid;
use crate::db::{Database, DbConn, Held, Route, Token};
use crate::error::AppError;
use crate::permission::loader::{PermissionsByRole, PermissionsByUser};
use crate::role::loader::RolesByUser;
use crate::user::loader::{UserById, UsersByRole};
use async_graphql::dataloader::Loader;

/// What a loader needs to reach the database for its request.
#[derive(Clone)]
pub struct LoaderDb {
    db: Database,
    route: Route,
    token: Option<Token>,
    held: Arc<Held>,
}

/// A loader failure; the cause is logged where it happens.
pub type LoadError = Arc<str>;

impl LoaderDb {
    /// Runs one batch query the way the request reads (see [`read_on`]).
    pub async fn read<'a, T, F>(&self, f: F) -> Result<T, LoadError>
    where
        T: Send + 'a,
        F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
    {
        self.db
            .read_on(self.route, self.token.as_ref(), Some(&self.held), f)
            .await
            .map_err(|e| fail(&e))
    }
}

/// Logs a loader failure once and keeps only a generic message.
pub fn fail(error: &dyn std::fmt::Display) -> LoadError {
    tracing::error!(%error, "data loader failed");
    Arc::from("loading related records failed")
}

/// Groups `(key, value)` rows by key; every requested key gets an entry, empty or not.
pub fn group<V>(keys: &[i64], rows: Vec<(i64, V)>) -> HashMap<i64, Vec<V>> {
    let mut map: HashMap<i64, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for (key, value) in rows {
        map.entry(key).or_default().push(value);
    }
    map
}

/// Declares a loader from row ids to the rows related to each, loaded in one statement by
/// `$query(conn, ids) -> QueryResult<Vec<(id, row)>>`.
macro_rules! grouped_loader {
    ($(#[$doc:meta])* $name:ident, $row:ty, $query:path) => {
        $(#[$doc])*
        pub struct $name(pub $crate::graphql::loaders::LoaderDb);

        impl ::async_graphql::dataloader::Loader<i64> for $name {
            type Value = Vec<$row>;
            type Error = $crate::graphql::loaders::LoadError;

            async fn load(&self, keys: &[i64]) -> Result<::std::collections::HashMap<i64, Self::Value>, Self::Error> {
                use ::scoped_futures::ScopedFutureExt as _;
                if keys.is_empty() {
                    return Ok(::std::collections::HashMap::new());
                }
                let rows = self.0.read(|c| $query(c, keys).scope_boxed()).await?;
                Ok($crate::graphql::loaders::group(keys, rows))
            }
        }
    };
}
pub(crate) use grouped_loader;

/// Declares `$type`'s relation fields (its `#[ComplexObject]`): each the rows the request's
/// `$loader` relates to the object's `row_id`, as the schema's `$item`, and where an `ids`
/// name follows, a field beside it with only their ids (what react-admin's reference inputs
/// read), under the same guard.
macro_rules! relations {
    ($type:ident {
        $(
            $(#[doc = $doc:literal])*
            $field:ident: $item:ty = $loader:ident, guard $guard:tt
            $(, $(#[doc = $ids_doc:literal])* ids $ids:ident)?;
        )+
    }) => {
        #[::async_graphql::ComplexObject]
        impl $type {
            $(
                $(#[doc = $doc])*
                #[graphql(guard = $guard)]
                async fn $field(
                    &self,
                    ctx: &::async_graphql::Context<'_>,
                ) -> ::async_graphql::Result<Vec<$item>> {
                    $crate::graphql::loaders::loaders(ctx).$loader.related(self.row_id).await
                }

                $(
                    $(#[doc = $ids_doc])*
                    #[graphql(guard = $guard)]
                    async fn $ids(
                        &self,
                        ctx: &::async_graphql::Context<'_>,
                    ) -> ::async_graphql::Result<Vec<::async_graphql::ID>> {
                        let loader = &$crate::graphql::loaders::loaders(ctx).$loader;
                        loader.related_ids(self.row_id, |row| row.id).await
                    }
                )?
            )+
        }
    };
}

pub(crate) use relations;

pub struct Loaders {
    pub user_by_id: Batcher<UserById>,
    pub users_by_role: Batcher<UsersByRole>,
    pub roles_by_user: Batcher<RolesByUser>,
    pub permissions_by_user: Batcher<PermissionsByUser>,
    pub permissions_by_role: Batcher<PermissionsByRole>,
}

impl Loaders {
    pub fn new(db: &Database, route: Route, token: Option<Token>, held: Arc<Held>) -> Self {
        let at = LoaderDb {
            db: db.clone(),
            route,
            token,
            held,
        };
        Loaders {
            user_by_id: Batcher::new(UserById(at.clone())),
            users_by_role: Batcher::new(UsersByRole(at.clone())),
            roles_by_user: Batcher::new(RolesByUser(at.clone())),
            permissions_by_user: Batcher::new(PermissionsByUser(at.clone())),
            permissions_by_role: Batcher::new(PermissionsByRole(at)),
        }
    }
}

pub fn loaders<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// Turns a loader error into the client-facing internal error.
pub fn load_error(error: LoadError) -> AppError {
    AppError::internal(anyhow::anyhow!("{error}"))
}

impl<L, T> Batcher<L>
where
    L: Loader<i64, Value = Vec<T>, Error = LoadError>,
    T: Clone + Send + Sync + 'static,
{
    /// The rows related to `key` (none when it has none), as the schema's type.
    pub async fn related<G: From<T>>(&self, key: i64) -> async_graphql::Result<Vec<G>> {
        Ok(self.rows(key).await?.into_iter().map(G::from).collect())
    }

    /// The ids of the rows related to `key` (react-admin's reference inputs).
    pub async fn related_ids(
        &self,
        key: i64,
        id: impl Fn(&T) -> i64,
    ) -> async_graphql::Result<Vec<async_graphql::ID>> {
        Ok(self
            .rows(key)
            .await?
            .iter()
            .map(|row| gid(id(row)))
            .collect())
    }

    async fn rows(&self, key: i64) -> Result<Vec<T>, AppError> {
        Ok(self
            .load_one(key)
            .await
            .map_err(load_error)?
            .unwrap_or_default())
    }
}
