//! The HTTP status of an executed GraphQL response whose whole operation was refused, and
//! the error codes it carries.

use axum::http::StatusCode;

/// The error's `extensions.code`, if it has one.
pub fn code_of(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

/// The HTTP status (and `Retry-After`) of a response whose whole operation was refused:
/// no root field has data, and every error asks for the same status in
/// `extensions.http.status` (`RATE_LIMITED` 429, `SERVICE_UNAVAILABLE` 503). A partial
/// result stays 200, so the data that was resolved reaches the client.
pub fn whole_refusal(response: &async_graphql::Response) -> Option<(StatusCode, Option<u64>)> {
    use async_graphql::Value;
    let no_data = match &response.data {
        Value::Null => true,
        Value::Object(fields) => fields.values().all(|v| *v == Value::Null),
        _ => false,
    };
    if !no_data || response.errors.is_empty() {
        return None;
    }
    let mut status = None;
    let mut retry_after: Option<u64> = None;
    for error in &response.errors {
        let ext = error.extensions.as_ref()?;
        let Some(Value::Object(http)) = ext.get("http") else {
            return None;
        };
        let Some(Value::Number(asked)) = http.get("status") else {
            return None;
        };
        let asked = asked.as_u64().and_then(|n| u16::try_from(n).ok())?;
        if status.is_some_and(|s| s != asked) {
            return None;
        }
        status = Some(asked);
        if let Some(Value::Number(secs)) = ext.get("retryAfter")
            && let Some(secs) = secs.as_u64()
        {
            retry_after = Some(retry_after.map_or(secs, |r| r.max(secs)));
        }
    }
    let status = StatusCode::from_u16(status?)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())?;
    Some((status, retry_after))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use crate::http::metrics::ServerFailure;
    use crate::http::transport::Media;

    fn error_of(error: crate::error::AppError) -> async_graphql::ServerError {
        let mut error = async_graphql::ErrorExtensions::extend(&error)
            .into_server_error(async_graphql::Pos::default());
        error.path = vec![async_graphql::PathSegment::Field("login".into())];
        error
    }

    #[test]
    fn refused_operations_take_their_status() {
        use crate::error::AppError;
        let limited = || {
            error_of(AppError::RateLimited {
                retry_after_secs: 7,
            })
        };
        let with = |data: async_graphql::Value, errors| {
            let mut response = async_graphql::Response::new(data);
            response.errors = errors;
            super::super::transport::respond(response, Media::Json)
        };
        for data in [
            async_graphql::Value::Null,
            async_graphql::value!({ "login": null }),
        ] {
            let http = with(data, vec![limited()]);
            assert_eq!(http.status(), 429);
            assert_eq!(http.headers()[header::RETRY_AFTER], "7");
            assert!(http.extensions().get::<ServerFailure>().is_none());
        }
        let partial = with(
            async_graphql::value!({ "me": { "id": "1" }, "login": null }),
            vec![limited()],
        );
        assert_eq!(partial.status(), 200, "resolved data is still delivered");
        assert!(partial.headers().get(header::RETRY_AFTER).is_none());

        let busy = with(
            async_graphql::Value::Null,
            vec![error_of(AppError::Unavailable {
                retry_after_secs: 1,
            })],
        );
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        assert!(busy.extensions().get::<ServerFailure>().is_some());

        let mixed = with(
            async_graphql::Value::Null,
            vec![limited(), error_of(AppError::Forbidden("no".into()))],
        );
        assert_eq!(mixed.status(), 200, "only a refusal of the whole operation");

        let internal = with(
            async_graphql::Value::Null,
            vec![error_of(AppError::internal(anyhow::anyhow!("db down")))],
        );
        assert_eq!(internal.status(), 200);
        assert!(
            internal.extensions().get::<ServerFailure>().is_some(),
            "a server-side code counts for the SLI whatever the status"
        );
    }
}
