//! `GET /openapi.json`: the public API's document, merged from stand-in upstreams' small
//! documents (`openapi_upstreams.rs`) and the gateway's own answers per route: which paths,
//! which statuses. `openapi_merge.rs`: components, the cache, an upstream missing.

use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::openapi_upstreams::{app, document, statuses};

#[tokio::test]
async fn only_the_paths_the_route_table_sends_to_an_upstream_are_kept() {
    let (app, _) = app(false).await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["servers"],
        json!([{"url": app.settings.public_url}])
    );
    let mut paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    paths.sort();
    let expected = [
        "/",
        "/admin/users",
        "/health/live",
        "/health/ready",
        "/login",
        "/openapi.json",
        "/protected",
    ];
    assert_eq!(
        paths, expected,
        "/internal has no route; /login and /login/extra go to auth, not resource"
    );
    let login = document["paths"]["/login"].as_object().unwrap();
    assert_eq!(
        login.keys().collect::<Vec<_>>(),
        ["post"],
        "the resource's /login is dropped"
    );
    assert_eq!(
        document["paths"]["/health/live"]["get"]["operationId"], "live",
        "the gateway's own path is the gateway's operation"
    );
    assert!(
        login["post"].get("servers").is_none()
            && document["paths"]["/login"].get("servers").is_none()
    );
}

#[tokio::test]
async fn protected_routes_require_the_token_and_declare_the_gateways_refusals() {
    let (app, _) = app(false).await;
    let document = document(&app).await;
    let protected = &document["paths"]["/protected"]["get"];
    assert_eq!(
        protected["security"],
        json!([{"bearer": []}, {"access_token": []}])
    );
    let statuses_of_protected = statuses(protected);
    for status in [
        "200", "400", "401", "403", "404", "405", "414", "431", "502", "503", "504",
    ] {
        assert!(
            statuses_of_protected.contains(&status),
            "{status} in {statuses_of_protected:?}"
        );
    }
    assert!(
        !statuses_of_protected.contains(&"429"),
        "no rate limit on /protected"
    );
    assert!(
        protected["responses"]["401"]["headers"]
            .get("WWW-Authenticate")
            .is_some()
    );
    assert!(
        protected["responses"]["403"]["description"]
            .as_str()
            .unwrap()
            .starts_with("upstream 403"),
        "the upstream's own 403 keeps its text"
    );
    let admin = &document["paths"]["/admin/users"]["get"];
    let role = admin["responses"]["403"]["description"].as_str().unwrap();
    assert!(role.contains("roles"), "{role}");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["access_token"]["name"], "x-access-token");
}

#[tokio::test]
async fn rate_limited_and_public_routes_declare_what_the_gateway_answers_there() {
    let (app, _) = app(false).await;
    let document = document(&app).await;
    let login = &document["paths"]["/login"]["post"];
    assert!(login.get("security").is_none(), "public");
    assert_eq!(
        statuses(login),
        [
            "200", "400", "401", "404", "405", "408", "413", "414", "429", "431", "502", "503",
            "504"
        ]
    );
    let too_many = &login["responses"]["429"];
    assert_eq!(too_many["headers"]["Retry-After"]["required"], true);
    assert!(too_many["headers"].get("RateLimit-Remaining").is_some());
    assert!(
        login["responses"]["200"]["headers"]
            .get("RateLimit-Limit")
            .is_some()
    );
    let error = &login["responses"]["502"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(error, "#/components/schemas/ErrorBody");
}

#[tokio::test]
async fn forward_authentication_is_described_where_it_is_on() {
    let (app, _) = app(false).await;
    assert!(document(&app).await["paths"].get("/auth/verify").is_none());
    let with = spawn_app_with(|s| s.forward_auth.path = "/auth/verify".into()).await;
    let document = document(&with).await;
    let verify = &document["paths"]["/auth/verify"];
    for method in ["get", "post"] {
        let statuses = statuses(&verify[method]);
        for status in ["200", "400", "403", "404", "429", "431"] {
            assert!(
                statuses.contains(&status),
                "{method}: {status} in {statuses:?}"
            );
        }
    }
}
