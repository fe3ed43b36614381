//! Paging primitives the repositories take: a page (offset and limit), a validated sort, and
//! the helpers for `q` search and page order. Plain types: the GraphQL layer parses list
//! arguments into them (`graphql::list`), the repositories turn them into SQL.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A validated sort: which column (an allow-listed enum) and which way.
#[derive(Debug, Clone, Copy)]
pub struct Sort<F> {
    pub field: F,
    pub order: SortOrder,
}

/// Lower-cased `%term%` for case-insensitive `q` search, with LIKE wildcards escaped.
pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Puts `rows`, fetched by the ids of a page, back in the page's order.
pub fn in_page_order<T>(ids: &[i64], rows: &mut [T], id: impl Fn(&T) -> i64) {
    let position: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|row| position.get(&id(row)).copied().unwrap_or(usize::MAX));
}
