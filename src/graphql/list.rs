//! Arguments shared by every `allXs` / `_allXsMeta` pair (react-admin's ra-data-graphql-simple
//! convention): zero-based `page`, `perPage`, `sortField` from an allow-list, `sortOrder`.

use async_graphql::{ID, InputObject, SimpleObject};
use chrono::NaiveDateTime;

use crate::db::paging::{Matching, Page, Sort, SortOrder, Within};
use crate::error::{AppError, AppResult};

/// `count` for `_allXsMeta`: the total ignoring pagination.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct ListMetadata {
    pub count: i64,
}

/// Validates `page`/`perPage`. Without `perPage` a page holds `max` rows, or every requested
/// id when the filter lists ids (react-admin's getMany sends only `filter: { ids }`).
pub fn page(
    page: Option<i32>,
    per_page: Option<i32>,
    max: u32,
    requested_ids: Option<usize>,
) -> AppResult<Page> {
    let page = page.unwrap_or(0);
    if page < 0 {
        return Err(AppError::bad_input(
            "page",
            "page must be 0 or more (pages count from 0)",
        ));
    }
    let limit = match per_page {
        Some(n) if n < 1 => {
            return Err(AppError::bad_input("perPage", "perPage must be at least 1"));
        }
        Some(n) if n as u32 > max => {
            return Err(AppError::bad_input(
                "perPage",
                format!("perPage must be at most {max}"),
            ));
        }
        Some(n) => i64::from(n),
        None => i64::from(max).max(requested_ids.unwrap_or(0) as i64),
    };
    Ok(Page {
        offset: i64::from(page) * limit,
        limit,
    })
}

/// Validates `sortField` against `allowed` (GraphQL names) and `sortOrder` (`ASC`/`DESC`).
pub fn sort<F: Copy>(
    field: Option<&str>,
    order: Option<&str>,
    allowed: &[(&str, F)],
    default: F,
) -> AppResult<Sort<F>> {
    let field = match field {
        None | Some("") => default,
        Some(name) => allowed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                AppError::bad_input(
                    "sortField",
                    format!(
                        "cannot sort by '{name}'; sortable fields: {}",
                        names.join(", ")
                    ),
                )
            })?,
    };
    let order = match order.map(str::to_ascii_uppercase).as_deref() {
        None | Some("") | Some("ASC") => SortOrder::Asc,
        Some("DESC") => SortOrder::Desc,
        Some(_) => {
            return Err(AppError::bad_input(
                "sortOrder",
                "sortOrder must be ASC or DESC",
            ));
        }
    };
    Ok(Sort { field, order })
}

/// Parses a GraphQL `ID` into a row id.
pub fn parse_id(field: &str, id: &ID) -> AppResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AppError::bad_input(field, format!("'{}' is not a valid id", id.as_str())))
}

/// An optional id argument, parsed like [`parse_id`].
pub fn optional_id(field: &str, id: Option<&ID>) -> AppResult<Option<i64>> {
    id.map(|id| parse_id(field, id)).transpose()
}

/// A filter condition the schema accepts under two names, such as a reference list's
/// `target_id` and the output field's own `targetId`: the value given, or `BAD_USER_INPUT` if
/// both are given and differ.
pub fn either<T: PartialEq>(names: [&str; 2], values: [Option<T>; 2]) -> AppResult<Option<T>> {
    match values {
        [Some(a), Some(b)] if a != b => Err(AppError::bad_input(
            names[1],
            format!("'{}' and '{}' differ; give one of them", names[0], names[1]),
        )),
        [a, b] => Ok(a.or(b)),
    }
}

pub fn parse_ids(field: &str, ids: &[ID]) -> AppResult<Vec<i64>> {
    ids.iter().map(|id| parse_id(field, id)).collect()
}

/// Parses a date filter bound: RFC 3339 (`2026-11-23T10:00:00Z`) or a plain date
/// (`2026-11-23`, as react-admin's date inputs send), which means the start of that day for
/// `_gte` and its end for `_lte`.
pub fn parse_date(field: &str, raw: &str, end_of_day: bool) -> AppResult<NaiveDateTime> {
    use chrono::{DateTime, NaiveDate, NaiveTime};
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.naive_utc());
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999)
        } else {
            NaiveTime::from_hms_opt(0, 0, 0)
        };
        return Ok(day.and_time(time.unwrap_or_default()));
    }
    Err(AppError::bad_input(
        field,
        format!("'{raw}' is not a date (2026-11-23) or an RFC 3339 time (2026-11-23T10:00:00Z)"),
    ))
}

/// Parses an optional filter bound named `name` (`createdAt_gte`).
pub fn bound(name: &str, raw: Option<&str>, end_of_day: bool) -> AppResult<Option<NaiveDateTime>> {
    raw.map(|v| parse_date(&format!("filter.{name}"), v, end_of_day))
        .transpose()
}

/// Declares `$name`, the inclusive bounds on one time column that a filter takes as `$gte`
/// and `$lte` (each a date, `2026-11-23`, or RFC 3339), for the filter to flatten; `parse`
/// checks them into a [`Within`].
macro_rules! time_bounds {
    ($(#[$doc:meta])* $name:ident: $gte:tt, $lte:tt) => {
        $(#[$doc])*
        #[derive(::async_graphql::InputObject, Debug, Default)]
        pub struct $name {
            #[graphql(name = $gte)]
            pub gte: Option<String>,
            #[graphql(name = $lte)]
            pub lte: Option<String>,
        }

        impl $name {
            pub fn parse(&self) -> $crate::error::AppResult<$crate::db::paging::Within> {
                use $crate::graphql::list::bound;
                Ok($crate::db::paging::Within {
                    gte: bound($gte, self.gte.as_deref(), false)?,
                    lte: bound($lte, self.lte.as_deref(), true)?,
                })
            }
        }
    };
}

pub(crate) use time_bounds;

time_bounds!(
    /// When a record was created.
    CreatedAt: "createdAt_gte", "createdAt_lte"
);
time_bounds!(
    /// When a record last changed.
    UpdatedAt: "updatedAt_gte", "updatedAt_lte"
);

/// Bounds on when a record was created and last changed, flattened into a filter.
#[derive(InputObject, Debug, Default)]
pub struct Stamps {
    #[graphql(flatten)]
    pub created_at: CreatedAt,
    #[graphql(flatten)]
    pub updated_at: UpdatedAt,
}

impl Stamps {
    /// The `createdAt` and `updatedAt` bounds.
    pub fn parse(&self) -> AppResult<(Within, Within)> {
        Ok((self.created_at.parse()?, self.updated_at.parse()?))
    }
}

/// Parses the conditions every list filter has: `q`, and `ids` plus a single `id`.
pub fn matching(q: Option<String>, ids: Option<&[ID]>, id: Option<&ID>) -> AppResult<Matching> {
    Ok(Matching {
        q,
        ids: filter_ids(ids, id)?,
    })
}

/// A row id as a GraphQL `ID`.
pub fn gid(id: i64) -> ID {
    ID::from(id.to_string())
}

/// A stored UTC time as a GraphQL `DateTime`.
pub fn utc(at: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    at.and_utc()
}

/// Parses `ids` plus a single `id` from a filter into one optional list.
fn filter_ids(ids: Option<&[ID]>, id: Option<&ID>) -> AppResult<Option<Vec<i64>>> {
    let mut out = ids.map(|ids| parse_ids("filter.ids", ids)).transpose()?;
    if let Some(id) = id {
        out.get_or_insert_with(Vec::new)
            .push(parse_id("filter.id", id)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum F {
        Id,
        Email,
    }

    #[test]
    fn pages() {
        assert_eq!(
            page(None, None, 100, None).unwrap(),
            Page {
                offset: 0,
                limit: 100
            }
        );
        assert_eq!(
            page(Some(2), Some(10), 100, None).unwrap(),
            Page {
                offset: 20,
                limit: 10
            }
        );
        assert_eq!(page(None, None, 100, Some(250)).unwrap().limit, 250);
        assert_eq!(
            page(Some(-1), None, 100, None).unwrap_err().code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(
            page(None, Some(0), 100, None).unwrap_err().code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(
            page(None, Some(100_000), 100, None).unwrap_err().code(),
            "BAD_USER_INPUT"
        );
    }

    #[test]
    fn sorts() {
        let allowed = [("id", F::Id), ("email", F::Email)];
        let s = sort(Some("email"), Some("desc"), &allowed, F::Id).unwrap();
        assert_eq!((s.field, s.order), (F::Email, SortOrder::Desc));
        let s = sort(None, None, &allowed, F::Id).unwrap();
        assert_eq!((s.field, s.order), (F::Id, SortOrder::Asc));
        let e = sort(Some("password_hash"), None, &allowed, F::Id).unwrap_err();
        assert_eq!(e.code(), "BAD_USER_INPUT");
        assert!(e.message().contains("sortable fields: id, email"));
        assert!(sort(Some("id"), Some("sideways"), &allowed, F::Id).is_err());
    }

    #[test]
    fn ids_and_patterns() {
        assert_eq!(parse_id("id", &ID::from("42")).unwrap(), 42);
        assert!(parse_id("id", &ID::from("x")).is_err());
        assert!(parse_id("id", &ID::from("-1")).is_err());
        assert_eq!(optional_id("id", None).unwrap(), None);
        assert_eq!(optional_id("id", Some(&ID::from("7"))).unwrap(), Some(7));
    }

    #[test]
    fn either_name_of_a_condition() {
        let names = ["filter.target_id", "filter.targetId"];
        assert_eq!(either(names, [Some(1), None]).unwrap(), Some(1));
        assert_eq!(either(names, [None, Some(2)]).unwrap(), Some(2));
        assert_eq!(either(names, [Some(3), Some(3)]).unwrap(), Some(3));
        assert_eq!(either::<i64>(names, [None, None]).unwrap(), None);
        match either(names, [Some(1), Some(2)]) {
            Err(AppError::BadInput { field, .. }) => assert_eq!(field, "filter.targetId"),
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
        assert_eq!(crate::db::paging::like_pattern(" Ad_m%n "), "%ad\\_m\\%n%");
    }
}
