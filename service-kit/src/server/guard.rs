//! The service every request of a listener goes through before the application: it refuses
//! what the services do not serve (upgrades, tunnels, unknown expectations) before the
//! dispatcher reads a body to its end, tells the connection when a request is being served,
//! puts deadlines on request bodies and answers 408 when one is missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use actix_http::body::{BoxBody, EitherBody, MessageBody};
use actix_http::header;
use actix_http::{ConnectionType, Method, Payload, Request, RequestHead, Response, StatusCode};
use actix_service::{Service, ServiceFactory};
use futures_util::future::LocalBoxFuture;

use super::conn::ConnState;
use super::deadline::Deadlined;
use super::tracked::{InFlight, Tracked};
use crate::errors::json_error;

/// Wraps the application's service factory `S` (`S::Error` already an answer).
#[derive(Debug)]
pub struct GuardFactory<S>(pub S);

impl<S, B> ServiceFactory<Request> for GuardFactory<S>
where
    S: ServiceFactory<Request, Config = (), Response = Response<B>, Error = Response<BoxBody>>,
    S::Future: 'static,
    S::Service: 'static,
    B: MessageBody,
{
    type Response = Response<Tracked<EitherBody<B>>>;
    type Error = Response<BoxBody>;
    type Config = ();
    type Service = Guard<S::Service>;
    type InitError = S::InitError;
    type Future = LocalBoxFuture<'static, Result<Self::Service, Self::InitError>>;

    fn new_service(&self, (): ()) -> Self::Future {
        let inner = self.0.new_service(());
        Box::pin(async move { inner.await.map(Guard) })
    }
}

/// The guarding service around the application's.
#[derive(Debug)]
pub struct Guard<S>(S);

/// A 4xx or 5xx JSON answer after which the connection is closed.
fn closing(status: StatusCode, message: &str) -> Response<BoxBody> {
    let mut res: Response<BoxBody> = json_error(status, message).into();
    res.head_mut().set_connection_type(ConnectionType::Close);
    res
}

/// The answer to a request the services never serve, if `head` is one.
fn refusal(head: &RequestHead) -> Option<Response<BoxBody>> {
    if head.method == Method::CONNECT {
        return Some(closing(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not supported.",
        ));
    }
    let websocket = head.headers.get_all(header::UPGRADE).any(|value| {
        let value = value.as_bytes();
        value
            .split(|b| *b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    });
    if websocket {
        return Some(closing(
            StatusCode::BAD_REQUEST,
            "Protocol upgrades are not supported.",
        ));
    }
    let odd_expectation = head.headers.get_all(header::EXPECT).any(|value| {
        !value
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"100-continue")
    });
    if odd_expectation {
        return Some(closing(
            StatusCode::EXPECTATION_FAILED,
            "Only the expectation 100-continue is supported.",
        ));
    }
    None
}

impl<S, B> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response<B>, Error = Response<BoxBody>>,
    B: MessageBody,
{
    type Response = Response<Tracked<EitherBody<B>>>;
    type Error = Response<BoxBody>;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, mut req: Request) -> Self::Future {
        if let Some(res) = refusal(req.head()) {
            return GuardFuture::Refused { res: Some(res) };
        }
        let state = req.conn_data::<Arc<ConnState>>().cloned();
        let tracking = state.map(|state| {
            let in_flight = InFlight::begin(Arc::clone(&state));
            // On HTTP/2 each request's body has flags of its own: requests run side by side.
            let body = if state.multiplexed {
                Arc::new(ConnState::new(state.limits, true))
            } else {
                state
            };
            let payload = req.take_payload();
            let has_body = !matches!(payload, Payload::None);
            body.body_open.store(has_body, Ordering::Release);
            if has_body {
                let deadlined = Deadlined::new(payload, Arc::clone(&body));
                *req.payload() = Payload::Stream {
                    payload: Box::pin(deadlined),
                };
            }
            (in_flight, body)
        });
        let (in_flight, body) = tracking.unzip();
        GuardFuture::Called {
            fut: self.0.call(req),
            in_flight,
            body,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer to a guarded request, once the application has given it.
    #[project = GuardProj]
    pub enum GuardFuture<F> {
        /// Refused before the application saw it.
        Refused { res: Option<Response<BoxBody>> },
        /// With the application.
        Called {
            #[pin]
            fut: F,
            in_flight: Option<InFlight>,
            // Whose flags say whether the request's body missed a deadline.
            body: Option<Arc<ConnState>>,
        },
    }
}

impl<F, B> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response<B>, Response<BoxBody>>>,
    B: MessageBody,
{
    type Output = Result<Response<Tracked<EitherBody<B>>>, Response<BoxBody>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Refused { res } => {
                let res = res
                    .take()
                    .unwrap_or_else(|| closing(StatusCode::BAD_REQUEST, "Refused."));
                Poll::Ready(Ok(
                    res.map_body(|_, body| Tracked::new(EitherBody::right(body), None))
                ))
            }
            GuardProj::Called {
                fut,
                in_flight,
                body,
            } => {
                let res = match ready!(fut.poll(cx)) {
                    Ok(res) => res.map_body(|_, body| EitherBody::left(body)),
                    Err(res) => res.map_body(|_, body| EitherBody::right(body)),
                };
                let mut in_flight = in_flight.take();
                let timed_out = body
                    .as_ref()
                    .is_some_and(|b| b.body_timed_out.swap(false, Ordering::AcqRel));
                if timed_out && let Some(in_flight) = &mut in_flight {
                    // An HTTP/1.1 connection cannot be read on past a body cut short; an
                    // HTTP/2 stream ends alone.
                    if !in_flight.state().multiplexed {
                        in_flight.close_after(cx);
                    }
                    // The request's own log line gives the status the application chose.
                    tracing::info!(status = 408, "request body too slow; answered 408, closing");
                }
                let res = if timed_out {
                    closing(
                        StatusCode::REQUEST_TIMEOUT,
                        "The request body did not arrive in time.",
                    )
                    .map_body(|_, body| EitherBody::right(body))
                } else {
                    res
                };
                Poll::Ready(Ok(res.map_body(|_, body| Tracked::new(body, in_flight))))
            }
        }
    }
}
