//! Forward authentication: stage 1 alone, for a proxy in front of the services that asks
//! before it forwards (nginx `auth_request`, Traefik `forwardAuth`). The route, and so its
//! access and roles, are found from the original request the proxy describes
//! (`X-Original-URI` / `X-Original-Method` as nginx is usually set up, `X-Forwarded-Uri` /
//! `X-Forwarded-Method` as Traefik sends them); the token comes with the request's own
//! headers, as the proxy passes them on. A granted request gets 200 with the identity
//! headers the gateway would have forwarded, signed for that method and path, so services
//! behind the other proxy can keep checking them; a refused one gets the gateway's own
//! refusal (401/403 with `WWW-Authenticate`, which nginx passes on).

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use service_kit::RequestId;
use service_kit::clock::unix_seconds;
use shared::headers::IDENTITY_SIGNATURE;

use super::request_filter::request_filter;
use super::{Proxy, RequestContext};
use crate::error::GatewayError;

/// The headers that name the original request, in the order they are believed.
const URI_HEADERS: [&str; 2] = ["x-original-uri", "x-forwarded-uri"];
const METHOD_HEADERS: [&str; 2] = ["x-original-method", "x-forwarded-method"];

/// The method and path (without query) the proxy in front was asked for.
fn original_request(headers: &HeaderMap) -> Result<(String, String), GatewayError> {
    let first = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
    };
    let uri = first(URI_HEADERS).ok_or(GatewayError::BadForwardAuth(
        "X-Original-URI or X-Forwarded-Uri is required.",
    ))?;
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(GatewayError::BadForwardAuth(
            "The original URI must be a path starting with '/'.",
        ));
    }
    let method = first(METHOD_HEADERS).unwrap_or("GET");
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(GatewayError::BadForwardAuth(
            "The original method must be an upper-case HTTP method.",
        ));
    }
    Ok((method.to_owned(), path.to_owned()))
}

impl Proxy {
    /// Answers whether the original request `req` describes may go through, as the
    /// request filter would decide it here.
    pub async fn verify(
        &self,
        req: &HttpRequest,
        request_id: &RequestId,
    ) -> Result<HttpResponse, GatewayError> {
        let mut ctx = self.context(req, request_id);
        let result = self.grant(req, &mut ctx).await;
        self.finish(&ctx, result)
    }

    async fn grant<'a>(
        &'a self,
        req: &HttpRequest,
        ctx: &mut RequestContext<'a>,
    ) -> Result<HttpResponse, GatewayError> {
        let (method, path) = original_request(req.headers())?;
        request_filter(
            &self.routes,
            &self.verifier,
            self.refusal_status,
            &path,
            req.headers(),
            ctx,
        )
        .await?;
        let Some(verified) = ctx.identity.as_deref() else {
            return Ok(HttpResponse::Ok().json(json!({"access": "public"})));
        };
        let mut response = HttpResponse::Ok();
        for (name, value) in &verified.headers {
            response.insert_header((name.as_str(), value.as_bytes()));
        }
        let assertion = self
            .signer
            .sign(unix_seconds(), &method, &path, |name| verified.header(name));
        response.insert_header((IDENTITY_SIGNATURE, assertion));
        Ok(response.json(json!({
            "access": "protected",
            "user": verified.identity.user,
            "roles": verified.identity.roles,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn the_original_request_comes_from_nginx_or_traefik_headers() {
        let nginx = headers(&[
            ("x-original-uri", "/api/x?q=1"),
            ("x-original-method", "POST"),
        ]);
        assert_eq!(
            original_request(&nginx).unwrap(),
            ("POST".into(), "/api/x".into())
        );
        let traefik = headers(&[("x-forwarded-uri", "/protected")]);
        assert_eq!(
            original_request(&traefik).unwrap(),
            ("GET".into(), "/protected".into())
        );
    }

    #[test]
    fn a_missing_or_odd_original_request_is_the_callers_mistake() {
        for bad in [
            headers(&[]),
            headers(&[("x-original-uri", "http://elsewhere/")]),
            headers(&[("x-original-uri", "/a"), ("x-original-method", "get")]),
        ] {
            assert!(matches!(
                original_request(&bad),
                Err(GatewayError::BadForwardAuth(_))
            ));
        }
    }
}
