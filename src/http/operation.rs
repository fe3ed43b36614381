//! What the edge needs to know about a GraphQL document before running it: which operation
//! runs, its route (a `query` reads from replicas, a `mutation` runs on the primary), whether
//! it introspects, whether it breaks a query limit, and a name for logs and metrics.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};

use crate::db::Route;
use crate::error::AppError;
use crate::graphql::limits::{self, QueryLimits};

/// What the handler needs to know about a request before running it.
pub struct Operation {
    pub route: Route,
    /// Every root field is an introspection field (`__schema`, `__type`, `__typename`).
    pub introspection_only: bool,
    /// For logs and metrics: the operation's name, `anonymous`, or `other` when it is not a
    /// short identifier (clients choose names; they must not explode metric labels).
    pub name: String,
    /// A query limit the operation breaks, if any.
    pub over_limit: Option<AppError>,
    /// Asks for `__schema` or `__type`.
    pub introspects: bool,
    /// The document parsed and holds the operation to run (so its name is a real one).
    pub found: bool,
}

/// Finds the operation to run: its type decides the route. An unparsable document routes as
/// a read (it fails validation without touching a database).
pub fn inspect(request: &mut async_graphql::Request, limits: &QueryLimits) -> Operation {
    let name = request.operation_name.clone();
    let variables = request.variables.clone();
    let unknown = |name: &Option<String>| Operation {
        route: Route::Read,
        introspection_only: false,
        name: label(name.as_deref()),
        over_limit: None,
        introspects: false,
        found: false,
    };
    let Ok(document) = request.parsed_query() else {
        return unknown(&name);
    };
    let (operation, name) = match &document.operations {
        DocumentOperations::Single(op) => (Some(op), name),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => (ops.get(name.as_str()), Some(name)),
            None if ops.len() == 1 => match ops.iter().next() {
                Some((n, op)) => (Some(op), Some(n.to_string())),
                None => (None, None),
            },
            None => (None, None),
        },
    };
    let Some(operation) = operation else {
        return unknown(&name);
    };
    let introspects = operation.node.selection_set.node.items.iter().any(
        |item| matches!(&item.node, Selection::Field(f) if matches!(f.node.name.node.as_str(), "__schema" | "__type")),
    );
    let introspection_only = operation.node.selection_set.node.items.iter().all(
        |item| matches!(&item.node, Selection::Field(f) if f.node.name.node.starts_with("__")),
    );
    // The standard introspection query (GraphiQL, Apollo, react-admin) nests type references
    // deeply and reads no data; it gets the introspection schema's limits.
    let introspection_limits;
    let limits = if introspection_only {
        introspection_limits = QueryLimits {
            max_depth: limits.max_depth.max(crate::graphql::INTROSPECTION_DEPTH),
            max_fields: limits.max_fields.saturating_mul(5),
            ..limits.clone()
        };
        &introspection_limits
    } else {
        limits
    };
    let over_limit = limits::check(document, &operation.node, &variables, limits).err();
    let name = label(name.as_deref().or_else(|| {
        operation
            .node
            .selection_set
            .node
            .items
            .is_empty()
            .then_some("empty")
    }));
    Operation {
        route: match operation.node.ty {
            OperationType::Mutation => Route::Write,
            _ => Route::Read,
        },
        introspection_only,
        name,
        over_limit,
        introspects,
        found: true,
    }
}

fn label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".into(),
        Some(n) if n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            n.into()
        }
        Some(_) => "other".into(),
    }
}
