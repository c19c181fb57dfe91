//! API errors: `{"error": {"code", "message"}}` with the right status.
//! User mistakes are 4xx with a plain message; only real faults are 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Seconds after which to try again (503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() && self.retry_after.is_none() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<smimed_store::Error> for ApiError {
    fn from(e: smimed_store::Error) -> Self {
        use smimed_store::Error as E;
        let status = match &e {
            E::NotFound(_)
            | E::NoPrivateKey(_)
            | E::NoGroup(_)
            | E::NoToken(_)
            | E::NoMessage(_)
            | E::NoPending(_) => StatusCode::NOT_FOUND,
            E::AmbiguousId { .. } | E::InvalidId(_) => StatusCode::BAD_REQUEST,
            E::TokenExists(_) => StatusCode::CONFLICT,
            E::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::CONFLICT => "conflict",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
            _ => "internal",
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<smime::Error> for ApiError {
    fn from(e: smime::Error) -> Self {
        match e {
            smime::Error::OpenSsl(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
            other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                other.to_string(),
            ),
        }
    }
}

impl From<smimed_engine::Error> for ApiError {
    fn from(e: smimed_engine::Error) -> Self {
        use smimed_engine::Error as E;
        match e {
            E::NotPossible { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_possible",
                e.to_string(),
            ),
            E::Disabled => ApiError::new(StatusCode::CONFLICT, "disabled", e.to_string()),
            E::NotAMessage => ApiError::bad_request(e.to_string()),
            E::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            E::Invalid(_) => ApiError::bad_request(e.to_string()),
            E::Unusable(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                e.to_string(),
            ),
            E::Busy(_) => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            },
            E::TooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            E::InvalidAddress(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_address",
                e.to_string(),
            ),
            E::NotAGroupAddress(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_group_address",
                e.to_string(),
            ),
            E::Store(s) => s.into(),
            E::Smime(s) => s.into(),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// The request body, with size-limit and read errors answered as JSON
/// (413 `too_large`) like every other error.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))
    }
}

/// A request body that could not be read, as the JSON error shape: over
/// the size limit (413 `too_large`), stalled past the body timeout (408
/// `request_timeout`), or otherwise cut (400).
pub(crate) fn unreadable_body(
    status: StatusCode,
    text: String,
    error: &(dyn std::error::Error + 'static),
) -> ApiError {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request's body stopped arriving for longer than the body timeout \
                 (body_timeout_secs); nothing of it was used",
            );
        }
        cause = e.source();
    }
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "bad_request"
    };
    ApiError::new(status, code, text)
}

/// A query string, with a malformed one answered as the JSON error shape
/// (axum's own rejection is plain text).
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A path parameter, with a malformed one answered as the JSON error shape.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}
