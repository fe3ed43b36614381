//! Authentication and authorization: JWT access tokens, rotating refresh tokens, password
//! hashing, sign-in rate limits, the per-request principal, and the permission guards.

pub mod graphql;
pub mod jwt;
pub mod keys;
pub mod middleware;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod repo;
pub mod session;
