//! SQL functions both backends have, for use in repository queries.

diesel::define_sql_function!(
    /// `lower(text)`: case-insensitive matching that does not depend on the column collation.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);
