use crate::helpers::spawn_app;

const FULL_IDENTITY: &[(&str, &str)] = &[
    ("x-auth-user", "user1"),
    ("x-auth-subject", "user1"),
    ("x-auth-roles", "reader,admin"),
    ("x-auth-token-id", "0b7c-jti"),
];

#[tokio::test]
async fn protected_answers_the_seeds_message_for_the_forwarded_user() {
    let app = spawn_app().await;
    let response = app.get_protected(FULL_IDENTITY).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "message": "This is a protected route!",
            "user": "user1",
            "roles": ["reader", "admin"],
        })
    );
}

#[tokio::test]
async fn percent_encoded_unicode_usernames_are_decoded() {
    let app = spawn_app().await;
    let headers = [
        ("x-auth-user", "zo%C3%AB"),
        ("x-auth-subject", "s"),
        ("x-auth-token-id", "t"),
    ];
    let body: serde_json::Value = app.get_protected(&headers).await.json().await.unwrap();
    assert_eq!(body["user"], "zoë");
    assert_eq!(body["roles"], serde_json::json!([]));
}

#[tokio::test]
async fn requests_without_a_forwarded_identity_are_refused_with_401_json() {
    let app = spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "no identity headers at all"),
        (
            &[("x-access-token", "eyJ.a.b")],
            "a raw token is not an identity",
        ),
        (&FULL_IDENTITY[1..], "no user"),
        (&[("x-auth-user", "")], "empty user"),
        (
            &[
                ("x-auth-user", "%E2%28"),
                ("x-auth-subject", "s"),
                ("x-auth-token-id", "t"),
            ],
            "user that is not UTF-8",
        ),
    ];
    for (headers, why) in cases {
        let response = app.get_protected(headers).await;
        assert_eq!(response.status().as_u16(), 401, "{why}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["message"], "This service only answers requests forwarded by the gateway.",
            "{why}"
        );
    }
}
