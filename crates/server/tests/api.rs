//! The HTTP API in-process: every route against no token, an agent token
//! and an admin token; bad input answers 4xx with a JSON error; the
//! incoming retry gives the new result after the missing CA arrives.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use testpki::{P12_PASSWORD, files};
use tower::ServiceExt;

mod common;

type Api = common::Service;

async fn api() -> Api {
    common::service().await
}

impl Api {
    async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, b) = self
            .request(
                method,
                path,
                Some(&self.admin.clone()),
                "application/json",
                body.to_string().into_bytes(),
            )
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

#[tokio::test]
async fn every_route_checks_the_role() {
    let a = api().await;
    a.request(
        Method::POST,
        "/api/v1/certificates",
        Some(&a.admin),
        "",
        fixture(files::ALICE),
    )
    .await;
    let fp = {
        let (_, b) = a
            .request(
                Method::GET,
                "/api/v1/certificates",
                Some(&a.admin),
                "",
                vec![],
            )
            .await;
        let v: Value = serde_json::from_slice(&b).unwrap();
        v["items"][0]["fingerprint"].as_str().unwrap().to_string()
    };
    let admin_only = [
        (Method::GET, "/api/v1/settings".to_string()),
        (Method::PUT, "/api/v1/settings".to_string()),
        (Method::GET, "/api/v1/certificates".to_string()),
        (Method::POST, "/api/v1/certificates".to_string()),
        (Method::GET, format!("/api/v1/certificates/{fp}")),
        (Method::GET, format!("/api/v1/certificates/{fp}/download")),
        (Method::DELETE, format!("/api/v1/certificates/{fp}")),
        (Method::POST, "/api/v1/private-keys".to_string()),
        (
            Method::GET,
            format!("/api/v1/certificates/{fp}/private-key/download"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/certificates/{fp}/private-key"),
        ),
        (Method::GET, "/api/v1/groups".to_string()),
        (Method::GET, "/api/v1/groups/support".to_string()),
        (Method::PUT, "/api/v1/groups/support".to_string()),
        (Method::DELETE, "/api/v1/groups/support".to_string()),
        (Method::GET, "/api/v1/logs".to_string()),
        (Method::GET, "/api/v1/audit".to_string()),
        (Method::GET, "/api/v1/status".to_string()),
        (Method::GET, "/api/v1/pending-certificates".to_string()),
        (Method::GET, "/api/v1/crls".to_string()),
        (Method::POST, "/api/v1/crls".to_string()),
        (
            Method::POST,
            format!("/api/v1/pending-certificates/{fp}/accept"),
        ),
        (
            Method::POST,
            format!("/api/v1/pending-certificates/{fp}/reject"),
        ),
    ];
    let agent_routes = [
        (Method::POST, "/api/v1/security-options".to_string()),
        (Method::POST, "/api/v1/outgoing".to_string()),
        (Method::POST, "/api/v1/incoming".to_string()),
        (Method::GET, "/api/v1/incoming/0000".to_string()),
        (Method::POST, "/api/v1/incoming/0000/retry".to_string()),
    ];
    for (method, path) in admin_only.iter().chain(agent_routes.iter()) {
        let (s, body) = a.request(method.clone(), path, None, "", vec![]).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "unauthorized");
        let (s, _) = a
            .request(method.clone(), path, Some("smimed_forged"), "", vec![])
            .await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged token"
        );
    }
    for (method, path) in &admin_only {
        let (s, _) = a
            .request(method.clone(), path, Some(&a.agent), "", vec![])
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as agent");
    }
    for (method, path) in &agent_routes {
        for token in [&a.agent, &a.admin] {
            let (s, _) = a
                .request(method.clone(), path, Some(token), "", vec![])
                .await;
            assert!(
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN && !s.is_server_error(),
                "{method} {path}: {s}"
            );
        }
    }
    // Admin reaches every admin route (bad or empty input is 4xx, never 5xx).
    for (method, path) in admin_only.iter().rev() {
        let (s, _) = a
            .request(method.clone(), path, Some(&a.admin), "", vec![])
            .await;
        assert!(
            s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN && !s.is_server_error(),
            "{method} {path}: {s}"
        );
    }
    // Unauthenticated routes.
    assert_eq!(
        a.request(Method::GET, "/healthz", None, "", vec![]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        a.request(Method::GET, "/metrics", None, "", vec![]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn import_send_receive_retry_and_audit() {
    let a = api().await;
    let (s, v) = a
        .json(
            Method::PUT,
            "/api/v1/settings",
            serde_json::json!({"enabled": true, "cipher": "aes-256-gcm"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cipher"], "aes-256-gcm");
    let (s, v) = a
        .json(
            Method::PUT,
            "/api/v1/settings",
            serde_json::json!({"cipher": "rot13"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("rot13"));

    // Pasted PKCS#12 in JSON? No: a P12 is binary, so upload it raw with a
    // passphrase in a form; paste the PEM chain as JSON.
    let pem = String::from_utf8(fixture(files::CHAIN)).unwrap();
    let (s, _) = a
        .json(
            Method::POST,
            "/api/v1/certificates",
            serde_json::json!({"data": pem}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let boundary = "XyZ";
    let mut form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"passphrase\"\r\n\r\n{P12_PASSWORD}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"alice.p12\"\r\nContent-Type: application/x-pkcs12\r\n\r\n").into_bytes();
    form.extend(fixture(files::ALICE_P12));
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (s, b) = a
        .request(
            Method::POST,
            "/api/v1/certificates",
            Some(&a.admin),
            &format!("multipart/form-data; boundary={boundary}"),
            form,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    a.request(
        Method::POST,
        "/api/v1/certificates",
        Some(&a.admin),
        "",
        fixture(files::BOB),
    )
    .await;

    // A certificate that cannot serve S/MIME is stored with its issues.
    let (s, b) = a
        .request(
            Method::POST,
            "/api/v1/certificates",
            Some(&a.admin),
            "",
            fixture(files::NOEMAIL),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["certificates"][0]["outcome"], "imported");
    assert_eq!(
        v["certificates"][0]["issues"],
        serde_json::json!(["no_email_address"])
    );

    let (s, _) = a
        .json(
            Method::PUT,
            "/api/v1/groups/support",
            serde_json::json!({"email": "alice@example.org"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The agent sends: JSON in, JSON out.
    let msg =
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nsecret text\r\n";
    let body =
        serde_json::json!({"message": openssl::base64::encode_block(msg), "group": "support"});
    let (s, b) = a
        .request(
            Method::POST,
            "/api/v1/outgoing",
            Some(&a.agent),
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (v["signed"].as_bool(), v["encrypted"].as_bool()),
        (Some(true), Some(true))
    );
    let sent = openssl::base64::decode_block(v["message"].as_str().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&sent).contains("authEnveloped-data"));

    // Fail closed: 422 naming the address.
    let to_nobody = b"From: alice@example.org\r\nTo: nobody@example.org\r\n\r\nx\r\n".to_vec();
    let (s, b) = a
        .request(
            Method::POST,
            "/api/v1/outgoing?group=support&encrypt=true",
            Some(&a.agent),
            "message/rfc822",
            to_nobody,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&b).contains("nobody@example.org has no certificate"));

    // Incoming on a second service that lacks the CA: unknown signer; after
    // the CA import, retry verifies.
    let b_api = api().await;
    b_api
        .json(
            Method::PUT,
            "/api/v1/settings",
            serde_json::json!({"enabled": true}),
        )
        .await;
    let signed = {
        let (_, b) = a
            .request(
                Method::POST,
                "/api/v1/outgoing?group=support&encrypt=false",
                Some(&a.agent),
                "message/rfc822",
                msg.to_vec(),
            )
            .await;
        b
    };
    let (s, b) = b_api
        .request(
            Method::POST,
            "/api/v1/incoming",
            Some(&b_api.agent),
            "message/rfc822",
            signed,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["report"]["sign"]["code"], "unknown_signer");
    let id = v["id"].as_str().unwrap().to_string();
    b_api
        .request(
            Method::POST,
            "/api/v1/certificates",
            Some(&b_api.admin),
            "",
            fixture(files::CA),
        )
        .await;
    let (s, b) = b_api
        .request(
            Method::POST,
            &format!("/api/v1/incoming/{id}/retry"),
            Some(&b_api.agent),
            "",
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["report"]["sign"]["code"], "verified");
    let (_, b) = b_api
        .request(
            Method::GET,
            &format!("/api/v1/incoming/{id}"),
            Some(&b_api.agent),
            "",
            vec![],
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v["report"]["sign"]["code"], "verified",
        "the kept report was updated"
    );

    // Key download: as uploaded (protected), audited; logs hold the operations.
    let (_, b) = a
        .request(
            Method::GET,
            "/api/v1/certificates?has_key=true",
            Some(&a.admin),
            "",
            vec![],
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["total"], 1);
    let fp = v["items"][0]["fingerprint"].as_str().unwrap().to_string();
    let (s, key) = a
        .request(
            Method::GET,
            &format!("/api/v1/certificates/{}/private-key/download", &fp[..12]),
            Some(&a.admin),
            "",
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(key.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let (_, audit) = a.json(Method::GET, "/api/v1/audit", Value::Null).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "private_key.download",
        "group.update",
        "settings.update",
        "certificate.import",
        "private_key.import",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let (_, logs) = a.json(Method::GET, "/api/v1/logs", Value::Null).await;
    let ops: Vec<(String, String, String)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().into(),
                e["status"].as_str().unwrap().into(),
                e["token_name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        ops.contains(&("encrypt".into(), "failure".into(), "desk".into())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("sign".into(), "success".into(), "desk".into())),
        "{ops:?}"
    );
    let (_, b) = a.request(Method::GET, "/metrics", None, "", vec![]).await;
    assert!(
        String::from_utf8_lossy(&b)
            .contains("smimed_operations_total{operation=\"sign\",status=\"success\"} 2")
    );

    // Passphrases never come back.
    let all = String::from_utf8_lossy(&serde_json::to_vec(&audit).unwrap()).to_string();
    assert!(!all.contains(P12_PASSWORD));
}

#[tokio::test]
async fn size_limits_answer_413() {
    let a = api().await;
    let big = vec![b'a'; 6 * 1024 * 1024];
    let (s, _) = a
        .request(
            Method::POST,
            "/api/v1/certificates",
            Some(&a.admin),
            "",
            big,
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let a = api().await;
    let (s, body) = a
        .request(Method::GET, "/api/v1/openapi.json", None, "", vec![])
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let expected = [
        ("get", "/api/v1/settings"),
        ("put", "/api/v1/settings"),
        ("get", "/api/v1/certificates"),
        ("post", "/api/v1/certificates"),
        ("get", "/api/v1/certificates/{id}"),
        ("delete", "/api/v1/certificates/{id}"),
        ("get", "/api/v1/certificates/{id}/download"),
        ("post", "/api/v1/private-keys"),
        ("get", "/api/v1/certificates/{id}/private-key/download"),
        ("delete", "/api/v1/certificates/{id}/private-key"),
        ("get", "/api/v1/groups"),
        ("get", "/api/v1/groups/{name}"),
        ("put", "/api/v1/groups/{name}"),
        ("delete", "/api/v1/groups/{name}"),
        ("get", "/api/v1/logs"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/status"),
        ("get", "/api/v1/pending-certificates"),
        ("get", "/api/v1/crls"),
        ("post", "/api/v1/crls"),
        ("post", "/api/v1/pending-certificates/{fingerprint}/accept"),
        ("post", "/api/v1/pending-certificates/{fingerprint}/reject"),
        ("post", "/api/v1/security-options"),
        ("post", "/api/v1/outgoing"),
        ("post", "/api/v1/incoming"),
        ("get", "/api/v1/incoming/{id}"),
        ("post", "/api/v1/incoming/{id}/retry"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} documented");
        assert!(op["security"].is_array(), "{method} {path} needs a token");
        // And the route really exists: no 404 from the router.
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let real = path
            .replace("{id}", "00000000")
            .replace("{name}", "g")
            .replace("{fingerprint}", &"0".repeat(64));
        let (s, _) = a.request(m, &real, Some(&a.admin), "", vec![]).await;
        assert!(s != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let a = api().await;
    let req = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "ticket-42")
        .body(Body::empty())
        .unwrap();
    let resp = a.app.clone().oneshot(req).await.unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "ticket-42",
        "kept when the client sends one"
    );
    let req = Request::builder()
        .uri("/api/v1/settings")
        .body(Body::empty())
        .unwrap();
    let resp = a.app.clone().oneshot(req).await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID is made otherwise: {id}");
}

/// Every admin action the API offers writes its audit entry, under the
/// token's name, with what it acted on (the CLI's twin is in
/// crates/cli/tests/cli.rs).
#[tokio::test]
async fn every_admin_action_is_audited_under_its_token() {
    let a = api().await;
    let alice = smime::bundle::parse(&fixture(files::ALICE), None)
        .unwrap()
        .certificates
        .remove(0);
    let fp = alice.fingerprint().to_string();
    let json = "application/json";
    // (method, path, content type, body, audit action, audit subject)
    type Step<'a> = (Method, String, &'a str, Vec<u8>, &'a str, String);
    let steps: Vec<Step> = vec![
        (
            Method::POST,
            "/api/v1/certificates".into(),
            "",
            fixture(files::ALICE),
            "certificate.import",
            fp.clone(),
        ),
        (
            Method::POST,
            "/api/v1/private-keys".into(),
            "",
            fixture(files::ALICE_KEY),
            "private_key.import",
            fp.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/certificates/{fp}/private-key/download"),
            "",
            vec![],
            "private_key.download",
            fp.clone(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/certificates/{fp}/private-key"),
            "",
            vec![],
            "private_key.delete",
            fp.clone(),
        ),
        (
            Method::PUT,
            "/api/v1/settings".into(),
            json,
            br#"{"enabled": true}"#.to_vec(),
            "settings.update",
            "settings".into(),
        ),
        (
            Method::PUT,
            "/api/v1/groups/support".into(),
            json,
            br#"{"email": "Support <alice@example.org>"}"#.to_vec(),
            "group.update",
            "support".into(),
        ),
        (
            Method::DELETE,
            "/api/v1/groups/support".into(),
            "",
            vec![],
            "group.delete",
            "support".into(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/certificates/{fp}"),
            "",
            vec![],
            "certificate.delete",
            fp.clone(),
        ),
    ];
    for (method, path, content_type, body, action, subject) in steps {
        let (status, answer) = a
            .request(method.clone(), &path, Some(&a.admin), content_type, body)
            .await;
        assert!(
            status.is_success(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        let newest = newest_audit_entry(&a).await;
        assert_eq!(
            (
                newest["action"].as_str(),
                newest["token_name"].as_str(),
                newest["subject"].as_str()
            ),
            (Some(action), Some("root"), Some(subject.as_str())),
            "{method} {path}"
        );
    }

    // Retry of a kept message.
    let (_, kept) = a
        .request(
            Method::POST,
            "/api/v1/incoming",
            Some(&a.agent),
            "message/rfc822",
            b"From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n".to_vec(),
        )
        .await;
    let id = serde_json::from_slice::<Value>(&kept).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = a
        .request(
            Method::POST,
            &format!("/api/v1/incoming/{id}/retry"),
            Some(&a.agent),
            "",
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let newest = newest_audit_entry(&a).await;
    assert_eq!(newest["action"], "incoming.retry");
    assert_eq!(newest["token_name"], "desk");
    assert_eq!(newest["subject"], id.as_str());
}

async fn newest_audit_entry(a: &Api) -> Value {
    let (_, body) = a
        .request(
            Method::GET,
            "/api/v1/audit?limit=1",
            Some(&a.admin),
            "",
            vec![],
        )
        .await;
    serde_json::from_slice::<Value>(&body).unwrap()[0].clone()
}

/// `GET /certificates` filters, searches and sorts in the store: `email=`
/// is a substring of an address in any case, `q=` also searches the
/// subject, `sort=` orders, and an unknown order is a 400 naming it.
#[tokio::test]
async fn certificate_lists_filter_search_and_sort() {
    let a = api().await;
    for name in [files::ALL_VALID, files::EXPIRED, files::SOON, files::ORPHAN] {
        let (s, _) = a
            .request(
                Method::POST,
                "/api/v1/certificates",
                Some(&a.admin),
                "",
                fixture(name),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
    }
    let list = |query: &'static str| {
        let a = &a;
        async move {
            let (s, v) = a
                .json(
                    Method::GET,
                    &format!("/api/v1/certificates?{query}"),
                    Value::Null,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{query}: {v}");
            v
        }
    };
    let emails = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["email_addresses"].as_array().unwrap().clone())
            .map(|e| e.as_str().unwrap().to_string())
            .collect()
    };

    let v = list("email=ARO").await;
    assert_eq!(v["total"], 1, "{v}");
    assert!(emails(&v).contains(&"carol@example.org".to_string()));
    let v = list("email=carol%40example.org").await;
    assert_eq!(v["total"], 1, "a whole address still finds its certificate");
    assert_eq!(list("email=%25").await["total"], 0, "% is a character");
    assert_eq!(list("email=Intermediate").await["total"], 0);
    let v = list("q=Intermediate").await;
    assert_eq!(v["total"], 1, "q= searches the subject too: {v}");
    assert_eq!(v["items"][0]["kind"], "ca");
    let v = list("q=ORPHAN&kind=end_entity").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["issues"][0], "issuer_not_in_store");

    // A search text an attacker would choose (a URI is at most 64 KiB) is
    // refused before any query, naming the bound; one at the bound is
    // searched.
    for (param, n, status) in [
        ("q", 60_000, StatusCode::BAD_REQUEST),
        ("email", 257, StatusCode::BAD_REQUEST),
        ("q", 256, StatusCode::OK),
    ] {
        let (s, v) = a
            .json(
                Method::GET,
                &format!("/api/v1/certificates?{param}={}", "u".repeat(n)),
                Value::Null,
            )
            .await;
        assert_eq!(s, status, "{param} {n}: {v}");
        if status == StatusCode::OK {
            assert_eq!(v["total"], 0);
        } else {
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains("at most 256"), "{v}");
        }
    }
    assert_eq!(list("per_page=5000").await["per_page"], 1000, "clamped");
    assert_eq!(list("per_page=0").await["per_page"], 1, "clamped");
    let v = list("sort=not_after&per_page=1000").await;
    let expiry: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["not_after"].as_str().unwrap())
        .collect();
    assert!(expiry.len() >= 8);
    let mut sorted = expiry.clone();
    sorted.sort();
    assert_eq!(expiry, sorted, "soonest first");
    assert!(
        v["items"][0]["issues"]
            .as_array()
            .unwrap()
            .contains(&Value::from("expired"))
    );
    let v = list("sort=subject").await;
    let subjects: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    let mut sorted = subjects.clone();
    sorted.sort();
    assert_eq!(subjects, sorted);
    let v = list("sort=imported&per_page=1").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert!(v["total"].as_u64().unwrap() >= 8);
    let v = list("sort=imported&per_page=2&page=2&email=example.org").await;
    assert_eq!(v["page"], 2);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);

    let (s, v) = a
        .json(Method::GET, "/api/v1/certificates?sort=newest", Value::Null)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "bad_request");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"newest\"") && message.contains("not_after"),
        "{message}"
    );
}

/// Own certificates and CAs are watched: `/metrics` exports their expiry
/// for any Prometheus to alert on, and `GET /status` lists the own ones that
/// expire within 30 days (or have expired). Contacts are neither.
#[tokio::test]
async fn own_certificates_and_cas_expiry_is_exported_and_the_soon_ones_listed() {
    let a = api().await;
    a.import_fixtures(&[
        "chain.pem",
        "alice.pem",
        "alice.key.pem",
        "soon.pem",
        "soon.key.pem",
        "expired.pem",
        "expired.key.pem",
        "bob.pem",
    ])
    .await;
    let (_, body) = a.request(Method::GET, "/metrics", None, "", vec![]).await;
    let text = String::from_utf8(body).unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("smimed_certificate_expiry_timestamp_seconds{"))
        .collect();
    assert!(text.contains("# TYPE smimed_certificate_expiry_timestamp_seconds gauge"));
    // Alice, soon, expired (own) and the root and intermediate (CAs); not Bob.
    assert_eq!(series.len(), 5, "{text}");
    assert!(
        series
            .iter()
            .any(|l| l.contains("email=\"alice@example.org\",kind=\"own\""))
    );
    assert_eq!(
        series.iter().filter(|l| l.contains("kind=\"ca\"")).count(),
        2
    );
    assert!(!text.contains("bob@example.org"), "{text}");
    // Soonest first, with the certificate's own expiry.
    let expiry: Vec<i64> = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(expiry.windows(2).all(|w| w[0] <= w[1]), "{expiry:?}");
    assert!(series[0].contains("expired@example.org"), "{}", series[0]);

    let (status, body) = a.json(Method::GET, "/api/v1/status", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expiring = body["expiring"].as_array().unwrap();
    assert_eq!(expiring.len(), 2, "{body}");
    assert_eq!(expiring[0]["emails"][0], "expired@example.org");
    assert!(expiring[0]["days_left"].as_i64().unwrap() < 0, "{body}");
    assert_eq!(expiring[1]["emails"][0], "soon@example.org");
    let left = expiring[1]["days_left"].as_i64().unwrap();
    assert!((0..30).contains(&left), "{body}");
}

/// A message signed by Alice on a service of her own (sign only).
async fn signed_by_alice() -> Vec<u8> {
    let alice = api().await;
    alice
        .import_fixtures(&[files::CHAIN, files::ALICE, files::ALICE_KEY])
        .await;
    alice
        .enable_with_group("support", "alice@example.org")
        .await;
    let msg = b"From: alice@example.org\r\nTo: help@example.net\r\nSubject: Order\r\n\r\nHello\r\n";
    let (s, signed) = alice
        .request(
            Method::POST,
            "/api/v1/outgoing?group=support&sign=true&encrypt=false",
            Some(&alice.agent),
            "message/rfc822",
            msg.to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    signed
}

#[tokio::test]
async fn pending_certificates_are_listed_accepted_and_rejected_over_http() {
    let signed = signed_by_alice().await;
    let a = api().await;
    a.json(
        Method::PUT,
        "/api/v1/settings",
        serde_json::json!({"enabled": true}),
    )
    .await;
    let (s, v) = a.incoming(signed.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["sign"]["code"], "unknown_signer", "{v}");
    let fp = v["report"]["pending"][0].as_str().unwrap().to_string();
    let id = v["id"].as_str().unwrap().to_string();

    let (s, list) = a
        .json(Method::GET, "/api/v1/pending-certificates", Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["fingerprint"], fp.as_str());
    assert_eq!(list["items"][0]["sender"], "alice@example.org");
    assert_eq!(list["items"][0]["messages_kept"], 1);
    // Page numbers from a query string: the largest is an empty page, a
    // word a 400; neither is a 500.
    let (s, far) = a
        .json(
            Method::GET,
            "/api/v1/pending-certificates?page=18446744073709551615&per_page=1000000",
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{far}");
    assert_eq!(
        (far["total"].as_i64(), far["items"].as_array().map(Vec::len)),
        (Some(1), Some(0))
    );
    let (s, _) = a
        .json(
            Method::GET,
            "/api/v1/pending-certificates?page=first",
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Bad input: a prefix, then a fingerprint nobody waits with.
    let (s, v) = a
        .json(
            Method::POST,
            &format!("/api/v1/pending-certificates/{}/accept", &fp[..16]),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("64 hex"));
    let (s, v) = a
        .json(
            Method::POST,
            &format!("/api/v1/pending-certificates/{}/reject", "1".repeat(64)),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, v) = a
        .json(
            Method::POST,
            &format!("/api/v1/pending-certificates/{fp}/accept"),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["fingerprint"], fp.as_str());
    assert_eq!(v["retried"][0]["id"], id.as_str());
    assert_eq!(v["retried"][0]["sign"], "verified");
    let (_, kept) = a
        .call(
            Method::GET,
            &format!("/api/v1/incoming/{id}"),
            &a.agent,
            "",
            vec![],
        )
        .await;
    assert_eq!(kept["report"]["sign"]["code"], "verified", "{kept}");
    let (_, cert) = a
        .json(
            Method::GET,
            &format!("/api/v1/certificates/{fp}"),
            Value::Null,
        )
        .await;
    assert_eq!(cert["fingerprint"], fp.as_str());
    let (_, audit) = a
        .json(
            Method::GET,
            "/api/v1/audit?action=certificate.accept",
            Value::Null,
        )
        .await;
    assert_eq!(audit[0]["subject"], fp.as_str(), "{audit}");

    // Rejected: not listed, not offered again.
    let b = api().await;
    b.json(
        Method::PUT,
        "/api/v1/settings",
        serde_json::json!({"enabled": true}),
    )
    .await;
    b.incoming(signed.clone()).await;
    let (s, _) = b
        .json(
            Method::POST,
            &format!("/api/v1/pending-certificates/{fp}/reject"),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(newest_audit_entry(&b).await["action"], "certificate.reject");
    let (_, v) = b.incoming(signed).await;
    assert!(v["report"].get("pending").is_none(), "{v}");
    let (_, list) = b
        .json(Method::GET, "/api/v1/pending-certificates", Value::Null)
        .await;
    assert_eq!(list["total"], 0);

    // The setting is read and changed through /settings.
    let (_, v) = b
        .json(
            Method::PUT,
            "/api/v1/settings",
            serde_json::json!({"learn_certificates": false}),
        )
        .await;
    assert_eq!(v["learn_certificates"], false);
}

#[tokio::test]
async fn crls_are_imported_listed_and_bad_ones_refused_over_http() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let shop = testpki::openssl_ca::RevokedUser::new(root.path());
    let crl = shop.crl.clone();
    let a = api().await;
    let post = |body: Vec<u8>| {
        let a = &a;
        async move {
            let (s, b) = a
                .request(Method::POST, "/api/v1/crls", Some(&a.admin), "", body)
                .await;
            (
                s,
                serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
            )
        }
    };
    // Before its CA is stored: refused, naming the issuer.
    let (s, v) = post(crl.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Shop CA"),
        "{v}"
    );
    // Garbage, and 50 MB: refused, the latter by size before it is read.
    let (s, v) =
        post(b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n".to_vec()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = post(vec![b'A'; 50 << 20]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (s, v) = post(vec![0x30; smime::crl::MAX_CRL_BYTES + 1]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("10 MiB"),
        "{v}"
    );

    let files = shop.certificates();
    let (s, _) = a
        .request(
            Method::POST,
            "/api/v1/certificates",
            Some(&a.admin),
            "",
            files,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let pasted = serde_json::json!({"data": String::from_utf8(crl.clone()).unwrap()});
    let (s, v) = a.json(Method::POST, "/api/v1/crls", pasted).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["entries"], 1);
    assert_eq!(v["revoked"].as_array().unwrap().len(), 1, "{v}");
    let (s, v) = post(crl).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not newer"),
        "{v}"
    );

    let (_, list) = a.json(Method::GET, "/api/v1/crls", Value::Null).await;
    assert_eq!(list[0]["revoked_stored"], 1, "{list}");
    assert_eq!(list[0]["source"], "import");
    let (_, certs) = a
        .json(
            Method::GET,
            "/api/v1/certificates?has_issues=true",
            Value::Null,
        )
        .await;
    let issues = certs["items"][0]["issues"].to_string();
    assert!(issues.contains("revoked"), "{certs}");
    let (_, audit) = a
        .json(Method::GET, "/api/v1/audit?action=crl.import", Value::Null)
        .await;
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 stored certificates revoked"),
        "{audit}"
    );
}
