//! SQL functions both backends have, for use in repository queries.

diesel::define_sql_function!(
    /// `lower(text)`: case-insensitive matching that does not depend on the column collation.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

/// The earliest `DATETIME` MySQL accepts, so a bound every stored timestamp meets.
pub const EARLIEST: chrono::NaiveDateTime = chrono::NaiveDateTime::new(
    chrono::NaiveDate::from_ymd_opt(1000, 1, 1).expect("1000-01-01 is a date"),
    chrono::NaiveTime::MIN,
);
