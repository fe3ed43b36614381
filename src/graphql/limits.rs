//! Abuse limits checked on the parsed document before anything runs, so a refused request
//! costs no SQL (not even the auth check): selection depth, fields per operation (aliases
//! included), root fields, page size, and a complexity in which list fields weigh their page
//! size. async-graphql's own depth and complexity limits stay on as a second line.

use std::collections::HashSet;

use async_graphql::Variables;
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

use crate::error::AppError;

#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_fields: usize,
    pub max_root_fields: usize,
    pub max_complexity: usize,
    pub max_page_size: u32,
}

/// Relation fields that return lists without paging (`User.roles`, `Role.users`, ...).
const RELATION_LISTS: &[&str] = &["roles", "permissions", "users"];
/// What each row of a relation list is assumed to cost: the typical few roles per user, and
/// the occasional large role, both stay far under the limit for ordinary queries.
const RELATION_WEIGHT: usize = 5;

struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    limits: &'a QueryLimits,
    fields: usize,
    /// Fragments on the current path (cycles are a validation error; here they just stop).
    path: HashSet<&'a str>,
}

/// Checks `operation` against the limits.
pub fn check(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    variables: &Variables,
    limits: &QueryLimits,
) -> Result<(), AppError> {
    let root_fields = operation.selection_set.node.items.len();
    if root_fields > limits.max_root_fields {
        return Err(AppError::TooComplex(format!(
            "{root_fields} root fields; at most {} are allowed (GRAPHQL_MAX_ROOT_FIELDS)",
            limits.max_root_fields
        )));
    }
    let mut walk = Walk {
        document,
        variables,
        limits,
        fields: 0,
        path: HashSet::new(),
    };
    let complexity = walk.selection_set(&operation.selection_set.node, 1)?;
    if complexity > limits.max_complexity {
        return Err(AppError::TooComplex(format!(
            "query complexity {complexity} is over the limit of {} (list fields count once per row of their page)",
            limits.max_complexity
        )));
    }
    Ok(())
}

impl<'a> Walk<'a> {
    /// Returns the complexity of the set; fails on depth, field count or page size.
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<usize, AppError> {
        if depth > self.limits.max_depth {
            return Err(AppError::TooComplex(format!(
                "the query nests deeper than {} levels (GRAPHQL_MAX_DEPTH)",
                self.limits.max_depth
            )));
        }
        let mut total: usize = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.fields += 1;
                    if self.fields > self.limits.max_fields {
                        return Err(AppError::TooComplex(format!(
                            "more than {} fields in one operation (GRAPHQL_MAX_FIELDS; aliases count)",
                            self.limits.max_fields
                        )));
                    }
                    let multiplier = self.page_size(field)?;
                    let children = if field.selection_set.node.items.is_empty() {
                        0
                    } else {
                        self.selection_set(&field.selection_set.node, depth + 1)?
                    };
                    1usize.saturating_add(multiplier.saturating_mul(children))
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node, depth)?
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(&Name::new(name)) else {
                        continue;
                    };
                    if !self.path.insert(name) {
                        continue;
                    }
                    let cost = self.selection_set(&fragment.node.selection_set.node, depth)?;
                    self.path.remove(name);
                    cost
                }
            };
            total = total.saturating_add(cost);
        }
        Ok(total)
    }

    /// How many rows a field may return: its `perPage` (checked against the maximum) for
    /// list queries, [`RELATION_WEIGHT`] for relation lists, 1 for everything else.
    fn page_size(&self, field: &async_graphql::parser::types::Field) -> Result<usize, AppError> {
        let max = self.limits.max_page_size;
        let per_page = field.get_argument("perPage").and_then(|v| {
            v.node
                .clone()
                .into_const_with(|name| {
                    Ok::<_, ()>(self.variables.get(&name).cloned().unwrap_or(Value::Null))
                })
                .ok()
        });
        let per_page = match per_page {
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) if n > i64::from(max) => {
                    return Err(AppError::bad_input(
                        "perPage",
                        format!("perPage must be at most {max}"),
                    ));
                }
                Some(n) => Some(n.max(1) as usize),
                None => None,
            },
            _ => None,
        };
        Ok(match per_page {
            Some(n) => n,
            None if field.name.node.starts_with("all") => max as usize,
            None if RELATION_LISTS.contains(&field.name.node.as_str()) => RELATION_WEIGHT,
            None => 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;

    const LIMITS: QueryLimits = QueryLimits {
        max_depth: 10,
        max_fields: 200,
        max_root_fields: 20,
        max_complexity: 5000,
        max_page_size: 100,
    };

    fn run(query: &str, variables: serde_json::Value) -> Result<(), AppError> {
        let doc = parse_query(query).unwrap();
        let DocumentOperations::Single(op) = &doc.operations else {
            panic!("one operation")
        };
        check(&doc, &op.node, &Variables::from_json(variables), &LIMITS)
    }

    #[test]
    fn ordinary_queries_pass() {
        run("{ allUsers(perPage: 20) { id roles { name } permissions { code } } _allUsersMeta { count } }", serde_json::json!({})).unwrap();
    }

    #[test]
    fn refusals() {
        let deep = format!(
            "{{ me {}{}{} }}",
            "{ roles { users ".repeat(10),
            "{ id }",
            " } }".repeat(10)
        );
        assert_eq!(
            run(&deep, serde_json::json!({})).unwrap_err().code(),
            "QUERY_TOO_COMPLEX"
        );
        let aliases: String = (0..500)
            .map(|i| format!("a{i}: allUsers {{ id }} "))
            .collect();
        assert_eq!(
            run(&format!("{{ {aliases} }}"), serde_json::json!({}))
                .unwrap_err()
                .code(),
            "QUERY_TOO_COMPLEX"
        );
        let many: String = (0..30).map(|i| format!("a{i}: me {{ id }} ")).collect();
        assert_eq!(
            run(&format!("{{ {many} }}"), serde_json::json!({}))
                .unwrap_err()
                .code(),
            "QUERY_TOO_COMPLEX"
        );
        let err = run(
            "query($n: Int) { allUsers(perPage: $n) { id } }",
            serde_json::json!({ "n": 100000 }),
        )
        .unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        let heavy = "{ allRoles { users { roles { users { id } } } } }";
        assert_eq!(
            run(heavy, serde_json::json!({})).unwrap_err().code(),
            "QUERY_TOO_COMPLEX"
        );
    }

    #[test]
    fn fragment_cycles_do_not_loop() {
        // The walk stops where a fragment repeats on its own path (validation rejects the
        // cycle later), so the check passes; followed round the cycle, the walk would end
        // only at the depth limit, with QUERY_TOO_COMPLEX.
        let q = "query { me { ...A } } fragment A on User { roles { users { ...A } } }";
        run(q, serde_json::json!({})).expect("a cycle is not walked round");
        let inline = "query { me { ...A } } fragment A on User { id ... on User { roles { users { ...A } } } }";
        run(inline, serde_json::json!({})).expect("nor through an inline fragment");
    }
}
