//! Authentication: password hashing (and, with the auth issue, tokens and principals).

pub mod password;
