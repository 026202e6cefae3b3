//! The headers every response carries, set in one place: `x-hookgate-request-id` and
//! `x-hookgate-overhead-duration-ms`, on answers, errors, 404s and 405s alike.
//!
//! [`stamp`] runs around every route. It gives the request its id (the one hooks and logs
//! know it by) and notes when it arrived, as a [`Stamp`] in the request's extensions; on
//! the way out it writes both headers. A handler that called an upstream leaves its
//! [`Overhead`] in the response's extensions, so the header leaves the upstream's time out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Sent on every response: time spent outside the upstream call, in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-hookgate-overhead-duration-ms";
/// Sent on every response: the request id, as hooks and logs know it.
pub const REQUEST_ID_HEADER: &str = "x-hookgate-request-id";

/// The two names as header names made at compile time: inserted by `&str`, each was
/// parsed and copied into a new allocation per response (bench/instructions/count.sh).
const OVERHEAD_NAME: HeaderName = HeaderName::from_static(OVERHEAD_HEADER);
const REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// A request's id and arrival time, from its first moment in the proxy.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// A fresh UUID; never repeats.
    pub id: Arc<str>,
    /// When the router received the request (after its head was read).
    pub received: Instant,
}

impl Stamp {
    /// A stamp for a request arriving now, for a handler called without the middleware.
    pub fn now() -> Self {
        let id = uuid::Uuid::new_v4();
        Stamp { id: id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).into(), received: Instant::now() }
    }
}

/// The proxy's share of a response's time, as the handler measured it (upstream time left
/// out). Responses without one get the time since the request arrived.
#[derive(Debug, Clone, Copy)]
pub struct Overhead(pub Duration);

/// The middleware: stamps the request, then writes the two headers on its response.
pub async fn stamp(mut request: Request, next: Next) -> Response {
    let stamp = Stamp::now();
    request.extensions_mut().insert(stamp.clone());
    let mut response = next.run(request).await;
    let overhead = response.extensions().get::<Overhead>().map_or_else(|| stamp.received.elapsed(), |o| o.0);
    let headers = response.headers_mut();
    let millis = milliseconds(overhead);
    headers.insert(OVERHEAD_NAME, HeaderValue::from_str(&millis).expect("a number is a valid header"));
    headers.insert(REQUEST_ID_NAME, HeaderValue::from_str(&stamp.id).expect("a UUID is a valid header"));
    response
}

/// `duration` in milliseconds to the microsecond (`12.345`). Integer arithmetic: formatting
/// a float to a precision cost about 1,000 instructions a request
/// (`bench/instructions/count.sh`).
fn milliseconds(duration: Duration) -> String {
    let micros = duration.as_micros();
    format!("{}.{:03}", micros / 1000, micros % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overhead_is_milliseconds_to_the_microsecond() {
        assert_eq!(milliseconds(Duration::from_nanos(1_234_567_999)), "1234.567");
        assert_eq!(milliseconds(Duration::from_micros(5)), "0.005");
        assert_eq!(milliseconds(Duration::ZERO), "0.000");
        assert_eq!(milliseconds(Duration::from_millis(20)).parse::<f64>().unwrap(), 20.0);
    }

    #[test]
    fn a_request_id_is_a_lower_case_hyphenated_uuid() {
        let id = Stamp::now().id;
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().hyphenated().to_string(), *id);
        assert_ne!(Stamp::now().id, id);
    }
}
