//! The web page in-process, without a browser: sign-in and its cookie,
//! CSRF and origin checks on every changing route, roles, security headers
//! and the absence of inline script. The browser test (crates/cli/tests/
//! browser.rs) walks the flow itself.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use smimed_store::Store;
use tower::ServiceExt;

mod common;

struct Web {
    app: axum::Router,
    store: Store,
    admin: String,
    agent: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn web() -> Web {
    let common::Service {
        app,
        store,
        admin,
        agent,
        dir,
        ..
    } = common::service().await;
    Web {
        app,
        store,
        admin,
        agent,
        _dir: dir,
    }
}

/// A signed-in browser: its cookie and its CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Web {
    fn store(&self) -> &Store {
        &self.store
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        }
    }

    fn request(method: Method, path: &str, b: Option<&Browser>) -> axum::http::request::Builder {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "smimed.test");
        if let Some(b) = b {
            req = req.header("cookie", format!("smimed_session={}", b.cookie));
        }
        req
    }

    async fn get(&self, path: &str, b: Option<&Browser>) -> Reply {
        self.send(
            Self::request(Method::GET, path, b)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// An htmx POST: form body, the CSRF header when given.
    async fn post(&self, path: &str, b: &Browser, csrf: Option<&str>, form: &str) -> Reply {
        // The two forms with files post multipart, as the page does.
        let multipart = matches!(path, "/ui/compose" | "/ui/incoming");
        let (content_type, body) = if multipart {
            (
                "multipart/form-data; boundary=B",
                "--B\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nx@example.org\r\n--B--\r\n"
                    .to_string(),
            )
        } else {
            ("application/x-www-form-urlencoded", form.to_string())
        };
        let mut req = Self::request(Method::POST, path, Some(b))
            .header("content-type", content_type)
            .header("hx-request", "true");
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    async fn login(&self, token: &str, extra: &[(&str, &str)]) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header("host", "smimed.test")
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.send(req.body(Body::from(format!("token={token}"))).unwrap())
            .await
    }

    async fn sign_in(&self, token: &str) -> Browser {
        let r = self.login(token, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = set_cookie(&r);
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("smimed_session=")
            .unwrap()
            .to_string();
        let mut b = Browser {
            cookie: value,
            csrf: String::new(),
        };
        let page = self.get("/compose", Some(&b)).await;
        assert_eq!(page.status, StatusCode::OK);
        let at = page.body.find("name=\"csrf\" value=\"").unwrap() + 19;
        b.csrf = page.body[at..at + 64].to_string();
        b
    }
}

fn set_cookie(r: &Reply) -> String {
    r.headers
        .get("set-cookie")
        .expect("set-cookie")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sign_in_sets_a_strict_httponly_cookie_and_refuses_bad_tokens() {
    let w = web().await;
    let bad = w.login("smimed_nope", &[]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("unknown or was revoked"));
    assert!(bad.headers.get("set-cookie").is_none());

    let ok = w.login(&w.admin, &[]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let c = set_cookie(&ok);
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Strict"), "{c}");
    assert!(!c.contains("Secure"), "plain http: {c}");

    let https = w.login(&w.admin, &[("x-forwarded-proto", "https")]).await;
    assert!(set_cookie(&https).contains("; Secure"));

    // A login form posted from another site is refused.
    let cross = w
        .login(&w.admin, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn home_sends_each_role_to_its_page_and_strangers_to_sign_in() {
    let w = web().await;
    let anon = w.get("/", None).await;
    assert_eq!(anon.status, StatusCode::OK);
    assert!(anon.body.contains("name=\"token\""));
    for page in ["/smime", "/compose", "/check"] {
        let r = w.get(page, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(r.headers["location"], "/");
    }
    // htmx asks for a fragment: 401 and a redirect htmx follows.
    let mut req = Web::request(Method::GET, "/ui/certificates", None);
    req = req.header("hx-request", "true");
    let r = w.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["hx-redirect"], "/");

    let admin = w.sign_in(&w.admin).await;
    assert_eq!(w.get("/", Some(&admin)).await.headers["location"], "/smime");
    let agent = w.sign_in(&w.agent).await;
    assert_eq!(
        w.get("/", Some(&agent)).await.headers["location"],
        "/compose"
    );
}

/// Every route that changes something, with a form body it would accept.
const CHANGING: &[(&str, &str)] = &[
    ("/ui/enabled", "enabled=on"),
    ("/ui/groups/new", "name=Support&email=support%40example.org"),
    (
        "/ui/groups",
        "orig_0=Support&name_0=Support&email_0=support%40example.org",
    ),
    ("/ui/groups/Support/delete", ""),
    ("/ui/certificates", "data=x"),
    ("/ui/private-keys", "data=x"),
    ("/ui/certificates/0123456789abcdef/delete", ""),
    ("/ui/certificates/0123456789abcdef/private-key/delete", ""),
    ("/ui/incoming", ""),
    ("/ui/incoming/abc/retry", ""),
    ("/ui/incoming/retry", "id=abc"),
    ("/ui/compose", ""),
    ("/logout", ""),
];

#[tokio::test]
async fn every_change_needs_the_csrf_token_and_our_origin() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    for (path, form) in CHANGING {
        for csrf in [None, Some("0".repeat(64))] {
            let r = w.post(path, &b, csrf.as_deref(), form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with {csrf:?}");
            assert!(r.body.contains("reload the page"), "{path}: {}", r.body);
        }
    }
    // Nothing changed.
    assert!(!w.store().enabled().await.unwrap());
    assert!(w.store().groups().await.unwrap().is_empty());
    assert!(w.store().session(&b.cookie).await.unwrap().is_some());

    // The right token from another origin is refused too.
    let req = Web::request(Method::POST, "/ui/enabled", Some(&b))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrf-token", &b.csrf)
        .header("origin", "http://evil.example")
        .body(Body::from("enabled=on"))
        .unwrap();
    assert_eq!(w.send(req).await.status, StatusCode::FORBIDDEN);
    assert!(!w.store().enabled().await.unwrap());

    // And with both, it works.
    let r = w.post("/ui/enabled", &b, Some(&b.csrf), "enabled=on").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(w.store().enabled().await.unwrap());
    assert!(r.body.contains("enabled"));
}

#[tokio::test]
async fn agents_get_the_composer_and_the_check_but_nothing_of_the_admin_page() {
    let w = web().await;
    let b = w.sign_in(&w.agent).await;
    assert_eq!(
        w.get("/smime", Some(&b)).await.headers["location"],
        "/compose"
    );
    for page in ["/compose", "/check", "/ui/compose/options?group=&to="] {
        assert_eq!(w.get(page, Some(&b)).await.status, StatusCode::OK, "{page}");
    }
    let compose = w.get("/compose", Some(&b)).await.body;
    assert!(
        !compose.contains("href=\"/smime\""),
        "no admin link for agents"
    );
    for path in [
        "/ui/certificates",
        "/ui/groups",
        "/ui/logs",
        "/ui/logs/ops/1",
        "/ui/certificates/0123456789abcdef/download",
        "/ui/certificates/0123456789abcdef/private-key/download",
    ] {
        let r = w.get(path, Some(&b)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.body.contains("admin"), "{path}: {}", r.body);
    }
    for (path, form) in CHANGING {
        if matches!(
            *path,
            "/ui/incoming"
                | "/ui/incoming/abc/retry"
                | "/ui/incoming/retry"
                | "/ui/compose"
                | "/logout"
        ) {
            continue;
        }
        let r = w.post(path, &b, Some(&b.csrf), form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(!w.store().enabled().await.unwrap());
}

#[tokio::test]
async fn signing_out_or_revoking_the_token_ends_the_session() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let req = Web::request(Method::POST, "/logout", Some(&b))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={}", b.csrf)))
        .unwrap();
    let r = w.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&r).contains("Max-Age=0"));
    assert_eq!(
        w.get("/smime", Some(&b)).await.status,
        StatusCode::SEE_OTHER
    );

    let agent = w.sign_in(&w.agent).await;
    assert_eq!(w.get("/check", Some(&agent)).await.status, StatusCode::OK);
    w.store().revoke_token("desk", "test").await.unwrap();
    assert_eq!(
        w.get("/check", Some(&agent)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn fragments_and_downloads_are_never_stored_but_assets_may_be() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    for path in ["/ui/certificates", "/ui/groups", "/ui/logs"] {
        let r = w.get(path, Some(&b)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
    }
    let r = w.get("/static/app.js", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn pages_send_a_strict_csp_and_carry_no_inline_script_or_style() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let mut pages = vec![("/".to_string(), w.get("/", None).await)];
    for p in ["/smime", "/compose", "/check"] {
        pages.push((p.to_string(), w.get(p, Some(&b)).await));
    }
    for (path, r) in &pages {
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        // Back after sign-out shows nothing from the store (issue 16).
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        let html = r.body.to_ascii_lowercase();
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            assert!(tag.contains(" src="), "{path}: inline script {tag}");
        }
        assert!(!html.contains("<style"), "{path}: inline style element");
        assert!(!html.contains(" style="), "{path}: inline style attribute");
        for handler in [
            " onclick=",
            " onload=",
            " onchange=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!html.contains(handler), "{path}: {handler}");
        }
        // Every input has a label.
        for (at, _) in html.match_indices("<input") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("{path}: input without id {tag}"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{path}: input {id} has no label"
            );
        }
    }
    let js = w.get("/static/htmx.min.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.headers["content-type"], "text/javascript");
    assert_eq!(
        w.get("/static/../Cargo.toml", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_bad_paste_is_refused_with_its_reason_and_nothing_is_stored() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let pem = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    let form = format!(
        "data={}",
        pem.replace(' ', "+")
            .replace('\n', "%0A")
            .replace('!', "%21")
    );
    let req = Web::request(Method::POST, "/ui/certificates", Some(&b))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrf-token", &b.csrf)
        .body(Body::from(form))
        .unwrap();
    // The page posts multipart; a urlencoded post is taken as a raw body and
    // refused as not a certificate, which is what matters here.
    let r = w.send(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("role=\"alert\""));

    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{pem}\r\n--{boundary}--\r\n"
    );
    let req = Web::request(Method::POST, "/ui/certificates", Some(&b))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("x-csrf-token", &b.csrf)
        .body(Body::from(body))
        .unwrap();
    let r = w.send(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("PEM block 1"), "{}", r.body);
    assert!(w.store().list_certificates().await.unwrap().is_empty());
}

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/data/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A multipart POST with one file field, as the page's dialogs send it.
/// The table row (`<tr …</tr>`) of `html` that holds `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    let start = html[..at].rfind("<tr").unwrap();
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

async fn post_file(w: &Web, b: &Browser, path: &str, field: &str, data: &[u8]) -> Reply {
    post_file_with(w, b, path, field, data, &[]).await
}

/// The same with more form fields (a passphrase).
async fn post_file_with(
    w: &Web,
    b: &Browser,
    path: &str,
    field: &str,
    data: &[u8],
    fields: &[(&str, &str)],
) -> Reply {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--B\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"upload\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let req = Web::request(Method::POST, path, Some(b))
        .header("content-type", "multipart/form-data; boundary=B")
        .header("x-csrf-token", &b.csrf)
        .header("hx-request", "true")
        .body(Body::from(body))
        .unwrap();
    w.send(req).await
}

#[tokio::test]
async fn the_incoming_check_offers_retry_and_retry_succeeds_once_the_ca_is_there() {
    let w = web().await;
    w.store().set_enabled(true, "test").await.unwrap();
    let b = w.sign_in(&w.agent).await;
    let eml = repo_file("thunderbird/alice.dsig.SHA256.multipart.eml");
    let r = post_file(&w, &b, "/ui/incoming", "message", &eml).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Signature not verified (unknown_signer)"),
        "{}",
        r.body
    );
    let at = r
        .body
        .find("hx-post=\"/ui/incoming/")
        .expect("a retry button")
        + 22;
    let id = &r.body[at..at + r.body[at..].find('/').unwrap()];

    let admin = w.sign_in(&w.admin).await;
    let ca = post_file(
        &w,
        &admin,
        "/ui/certificates",
        "file",
        &repo_file("thunderbird/TestCA.pem"),
    )
    .await;
    assert_eq!(ca.status, StatusCode::OK, "{}", ca.body);
    assert_eq!(ca.headers["hx-trigger"], "certs-changed");
    assert!(ca.body.contains("imported"));

    let again = w
        .post(&format!("/ui/incoming/{id}/retry"), &b, Some(&b.csrf), "")
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.body.contains("Signature verified"), "{}", again.body);
    assert!(!again.body.contains("Retry security process"));

    // By the id typed in, as for mail from the SMTP gateway.
    let check = w.get("/check", Some(&b)).await.body;
    assert!(check.contains("X-Smimed-Incoming-Id"), "{check}");
    let typed = w
        .post(
            "/ui/incoming/retry",
            &b,
            Some(&b.csrf),
            &format!("id=+{id}+"),
        )
        .await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    assert!(typed.body.contains("Signature verified"), "{}", typed.body);
    let unknown = w
        .post("/ui/incoming/retry", &b, Some(&b.csrf), "id=0000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert!(unknown.body.contains("role=\"alert\""), "{}", unknown.body);

    // Not a message at all: a clear error, nothing kept.
    let bad = post_file(&w, &b, "/ui/incoming", "message", b"\x00\x01 not mail").await;
    assert!(bad.status.is_client_error(), "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
}

/// Content signed by Alice that claims another author and subject: the
/// page shows the message's own fields and says that the inner ones differ.
#[tokio::test]
async fn the_incoming_check_shows_outer_fields_and_names_the_ones_that_differ() {
    let w = web().await;
    let pki = testpki::Pki::committed();
    for name in [testpki::files::CHAIN, testpki::files::ALICE] {
        let bundle = smime::bundle::parse(&std::fs::read(pki.path(name)).unwrap(), None).unwrap();
        assert!(
            w.store()
                .import(bundle, None, &|_| {}, "test")
                .await
                .unwrap()
                .stored
        );
    }
    w.store().set_enabled(true, "test").await.unwrap();
    let cert =
        openssl::x509::X509::from_pem(&std::fs::read(pki.path(testpki::files::ALICE)).unwrap())
            .unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(
        &std::fs::read(pki.path(testpki::files::ALICE_KEY)).unwrap(),
    )
    .unwrap();
    let inner = b"From: The CEO <ceo@example.org>\r\nSubject: URGENT wire\r\nContent-Type: text/plain\r\n\r\nPay now.\r\n";
    let flags = openssl::cms::CMSOptions::DETACHED | openssl::cms::CMSOptions::BINARY;
    let sig = openssl::cms::CmsContentInfo::sign(Some(&cert), Some(&key), None, Some(inner), flags)
        .unwrap()
        .to_der()
        .unwrap();
    let outer = b"From: alice@example.org\r\nTo: support@example.org\r\nSubject: Lunch\r\n";
    let eml = smime::mime::multipart_signed(outer, inner, &sig, "sha-256");
    let b = w.sign_in(&w.agent).await;
    let r = post_file(&w, &b, "/ui/incoming", "message", &eml).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Signature verified"), "{}", r.body);
    assert!(
        r.body.contains("Header fields differ inside") && r.body.contains("from, subject"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Lunch") && !r.body.contains("URGENT"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_key_without_its_certificate_is_refused_in_the_dialog() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let r = post_file(
        &w,
        &b,
        "/ui/private-keys",
        "file",
        &repo_file("pki/stray.key.pem"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("rejected"), "{}", r.body);
    assert!(r.body.contains("certificate"), "{}", r.body);
    // A certificate file in the key dialog: no key in it.
    let r = post_file(
        &w,
        &b,
        "/ui/private-keys",
        "file",
        &repo_file("pki/bob.pem"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("holds no private key"), "{}", r.body);
    assert!(w.store().list_certificates().await.unwrap().is_empty());
}

#[tokio::test]
async fn groups_are_added_renamed_saved_and_checked() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let r = w
        .post(
            "/ui/groups/new",
            &b,
            Some(&b.csrf),
            "name=Support&email=support%40example.org",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Support") && r.body.contains("added."),
        "{}",
        r.body
    );
    let dup = w
        .post(
            "/ui/groups/new",
            &b,
            Some(&b.csrf),
            "name=Support&email=x%40example.org",
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(dup.body.contains("exists already"));
    let bad = w
        .post(
            "/ui/groups/new",
            &b,
            Some(&b.csrf),
            "name=Sales&email=not-an-address",
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("is not an email address"), "{}", bad.body);
    // What was typed survives the refusal (issue 16).
    assert!(bad.body.contains("value=\"Sales\""), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"not-an-address\""),
        "{}",
        bad.body
    );

    // Rename, change the address, sign on, encrypt off.
    let r = w
        .post(
            "/ui/groups",
            &b,
            Some(&b.csrf),
            "orig_0=Support&name_0=Helpdesk&email_0=help%40example.org&sign_0=on",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let groups = w.store().groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "Helpdesk");
    assert_eq!(groups[0].email, "help@example.org");
    assert_eq!(groups[0].default_sign, Some(true));
    assert_eq!(groups[0].default_encrypt, Some(false));
    // "Saved." beside the group that was saved; saving again without a
    // change says so instead.
    let row = &r.body[r.body.find("id=\"group-0\"").expect("row 0")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("Saved."), "{row}");
    let again = w
        .post(
            "/ui/groups",
            &b,
            Some(&b.csrf),
            "orig_0=Helpdesk&name_0=Helpdesk&email_0=help%40example.org&sign_0=on",
        )
        .await;
    assert!(!again.body.contains("Saved."), "{}", again.body);
    assert!(again.body.contains("Nothing changed."), "{}", again.body);

    let r = w
        .post("/ui/groups/Helpdesk/delete", &b, Some(&b.csrf), "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(w.store().groups().await.unwrap().is_empty());
    let audit = w.store().audit_entries(10, 0).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "group.delete"));
}

#[tokio::test]
async fn a_large_store_pages_own_certificates_first_sorts_and_filters_by_kind() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let ca = testpki::BulkCa::new("smimed Web Test CA").unwrap();
    let key = testpki::ec_p256().unwrap();
    let mut pem = ca.cert.to_pem().unwrap();
    for i in 0..1010 {
        let cert = ca.issue(&key, &format!("user{i}@many.example")).unwrap();
        pem.extend(cert.to_pem().unwrap());
    }
    for file in ["pki/expired.pem", "pki/alice.pem", "pki/alice.key.pem"] {
        pem.extend(repo_file(file));
    }
    let bundle = smime::bundle::parse(&pem, None).unwrap();
    let report = w
        .store()
        .import(bundle, None, &|_| {}, "test")
        .await
        .unwrap();
    assert!(report.stored);
    let total = w.store().certificate_count().await.unwrap();
    assert_eq!(total, 1013);
    let rows = |body: &str| body.matches("<tr id=\"cert-").count();
    let first_row = |body: &str| {
        let row = &body[body.find("<tr id=\"cert-").expect("a row")..];
        row[..row.find("</tr>").unwrap()].to_string()
    };
    let expires = |body: &str| -> Vec<String> {
        body.split("data-label=\"Expires\">")
            .skip(1)
            .map(|cell| cell[..10].to_string())
            .collect()
    };

    // Own certificates first (Alice, with her key, sorts after "smimed
    // Web Test CA" by subject but comes first), then the CA, then contacts;
    // 50 rows a page.
    let all = w.get("/ui/certificates", Some(&b)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        all.body.contains("1013 of 1013 certificates; 1–50 shown"),
        "{}",
        all.body
    );
    assert_eq!(rows(&all.body), 50);
    assert!(
        first_row(&all.body).contains("alice@example.org"),
        "{}",
        first_row(&all.body)
    );
    let rows_from = all.body.find("<tr id=\"cert-").unwrap();
    let second = &all.body[rows_from + 1..];
    assert!(first_row(second).contains(">CA<"), "{}", first_row(second));

    // The last page, and a page past the end (its rows were just deleted)
    // shows the last one.
    let last = w.get("/ui/certificates?page=21", Some(&b)).await;
    assert!(last.body.contains("1001–1013 shown"), "{}", last.body);
    assert!(last.body.contains("disabled>Next"), "{}", last.body);
    let past = w.get("/ui/certificates?page=99", Some(&b)).await;
    assert!(past.body.contains("1001–1013 shown"), "{}", past.body);
    assert!(
        past.body.contains("name=\"page\" value=\"21\""),
        "{}",
        past.body
    );

    // By expiry: soonest first (the expired certificate), in order, on
    // every page; the order is kept by the table's state for what comes next.
    let by_expiry = w.get("/ui/certificates?sort=not_after", Some(&b)).await;
    assert!(
        first_row(&by_expiry.body).contains("expired"),
        "{}",
        first_row(&by_expiry.body)
    );
    let dates = expires(&by_expiry.body);
    assert_eq!(dates.len(), 50);
    assert!(dates.windows(2).all(|d| d[0] <= d[1]), "{dates:?}");
    assert!(by_expiry.body.contains("name=\"sort\" value=\"not_after\""));
    assert!(by_expiry.body.contains("aria-sort=\"ascending\""));
    let page2 = w
        .get("/ui/certificates?sort=not_after&page=2", Some(&b))
        .await;
    let later = expires(&page2.body);
    assert!(dates.last().unwrap() <= &later[0], "{dates:?} {later:?}");

    // By kind.
    let own = w.get("/ui/certificates?kind=own", Some(&b)).await;
    assert!(own.body.contains("1 of 1013 certificates"), "{}", own.body);
    assert!(own.body.contains("alice@example.org"));
    let cas = w.get("/ui/certificates?kind=ca", Some(&b)).await;
    assert!(cas.body.contains("1 of 1013 certificates"), "{}", cas.body);
    assert!(cas.body.contains("smimed Web Test CA"));
    let contacts = w
        .get("/ui/certificates?kind=contact&email=user20", Some(&b))
        .await;
    // user20, user200 .. user209
    assert!(
        contacts
            .body
            .contains("11 of 1013 certificates matching “user20”"),
        "{}",
        contacts.body
    );
    assert_eq!(rows(&contacts.body), 11);
    let issues = w.get("/ui/certificates?kind=issues", Some(&b)).await;
    assert!(issues.body.contains("expired"), "{}", issues.body);
    assert!(
        !issues.body.contains("user20@many.example"),
        "{}",
        issues.body
    );
    let wrong = w.get("/ui/certificates?kind=friends", Some(&b)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(
        wrong.body.contains("own, ca, contact or issues"),
        "{}",
        wrong.body
    );
    let wrong = w.get("/ui/certificates?sort=colour", Some(&b)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);

    // A filter's matches are counted up to 1,000 (or to the page asked for).
    let dense = w.get("/ui/certificates?email=user", Some(&b)).await;
    assert!(
        dense
            .body
            .contains("More than 1000 of 1013 certificates matching “user”"),
        "{}",
        dense.body
    );
    let under = w.get("/ui/certificates?email=user1", Some(&b)).await;
    // user1, user10..19, user100..199, user1000..1009
    assert!(
        under.body.contains("121 of 1013 certificates"),
        "{}",
        under.body
    );

    // A filter longer than any address is refused, saying so.
    let long = w
        .get(
            &format!("/ui/certificates?email={}", "u".repeat(300)),
            Some(&b),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST, "{}", long.body);
    assert!(long.body.contains("at most 256"), "{}", long.body);

    // A deletion keeps the filter, the order and the page, and the total
    // (remembered per store generation) follows it.
    let gone = w
        .store()
        .certificates_for_email("user209@many.example")
        .await
        .unwrap()[0]
        .certificate
        .fingerprint()
        .to_string();
    let after = w
        .post(
            &format!("/ui/certificates/{gone}/delete"),
            &b,
            Some(&b.csrf),
            "email=user20&kind=&sort=address&page=1",
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    assert!(
        after
            .body
            .contains("10 of 1012 certificates matching “user20”"),
        "{}",
        after.body
    );
    assert!(
        after.body.contains("name=\"sort\" value=\"address\""),
        "{}",
        after.body
    );
    assert!(
        after.body.contains("Deleted the certificate"),
        "{}",
        after.body
    );
}

/// The audit log reads as words, filters by who, what and when, and pages
/// over the whole history; failed sign-ins are there too.
#[tokio::test]
async fn the_audit_log_says_what_changed_filters_and_pages() {
    let w = web().await;
    let refused = w.login("not-a-token", &[]).await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER);
    let b = w.sign_in(&w.admin).await;
    let r = w.post("/ui/enabled", &b, Some(&b.csrf), "enabled=on").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut pem = repo_file("pki/alice.pem");
    pem.extend(repo_file("pki/alice.key.pem"));
    let bundle = smime::bundle::parse(&pem, None).unwrap();
    assert!(
        w.store()
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored
    );
    let r = w
        .post(
            "/ui/groups/new",
            &b,
            Some(&b.csrf),
            "name=Helpdesk&email=help%40example.org",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = w
        .post(
            "/ui/groups",
            &b,
            Some(&b.csrf),
            "orig_0=Helpdesk&name_0=Helpdesk&email_0=help%40example.org&sign_0=on",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let audit = w.get("/ui/logs?tab=audit", Some(&b)).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    for words in [
        "S/MIME switched on",
        "Certificate added",
        "CN=Alice (4ee80b4b86efa40d…)",
        "Private key added",
        "Group saved",
        "signs by default",
        "Sign-in refused",
        "unknown token",
        "Signed in",
    ] {
        assert!(audit.body.contains(words), "{words}: {}", audit.body);
    }
    // The filters are on the page, with every choice.
    assert!(audit.body.contains("id=\"log-filter\""));
    assert!(
        audit
            .body
            .contains("<option value=\"certificate.\">Certificates</option>")
    );

    let rows = |body: &str| body.matches("<tr>").count() - 1;
    let failed = w
        .get(
            "/ui/logs?tab=audit&action=web.sign_in_failed&part=table",
            Some(&b),
        )
        .await;
    assert_eq!(rows(&failed.body), 1, "{}", failed.body);
    assert!(failed.body.contains("Sign-in refused"));
    assert!(!failed.body.contains("id=\"log-filter\""), "only the table");
    let certificates = w
        .get("/ui/logs?tab=audit&action=certificate.", Some(&b))
        .await;
    assert_eq!(rows(&certificates.body), 1, "{}", certificates.body);
    let by_test = w.get("/ui/logs?tab=audit&actor=test", Some(&b)).await;
    let mine = by_test.body.matches("<td>test</td>").count();
    assert!(mine >= 2 && rows(&by_test.body) == mine, "{}", by_test.body);
    assert!(
        by_test.body.contains("value=\"test\""),
        "the filter keeps what was typed"
    );
    let later = w.get("/ui/logs?tab=audit&from=2999-01-01", Some(&b)).await;
    assert!(
        later.body.contains("No audit entry matches."),
        "{}",
        later.body
    );
    let today = &smimed_store_day();
    let until_today = w
        .get(
            &format!("/ui/logs?tab=audit&from={today}&to={today}"),
            Some(&b),
        )
        .await;
    assert!(rows(&until_today.body) >= 6, "{}", until_today.body);
    for (query, says) in [
        ("action=everything", "unknown action"),
        ("from=yesterday", "is not a day like"),
        ("page=0", "is not a number from 1"),
    ] {
        let bad = w
            .get(&format!("/ui/logs?tab=audit&{query}"), Some(&b))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}: {}", bad.body);
        assert!(bad.body.contains(says), "{query}: {}", bad.body);
    }

    // Paging over the whole history, 50 a page.
    for _ in 0..60 {
        w.store()
            .audit("bulk", "web.sign_in", "", "")
            .await
            .unwrap();
    }
    let first = w.get("/ui/logs?tab=audit&actor=bulk", Some(&b)).await;
    assert_eq!(rows(&first.body), 50);
    assert!(first.body.contains("Page 1"));
    let second = w
        .get("/ui/logs?tab=audit&actor=bulk&page=2&part=table", Some(&b))
        .await;
    assert_eq!(rows(&second.body), 10, "{}", second.body);
    assert!(second.body.contains("disabled>Older"), "{}", second.body);
}

/// Today (UTC) as the date inputs send it.
fn smimed_store_day() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

// --- the composer: the agent's own choice, fail closed, addresses ---------------

/// S/MIME on; the CA chain, Alice's and Bob's certificates (no private
/// key: nothing can be signed); "Quiet" with both defaults off and
/// "Support" with both defaults on (never set).
async fn composer_store(w: &Web) {
    w.store().set_enabled(true, "test").await.unwrap();
    for file in ["pki/chain.pem", "pki/alice.pem", "pki/bob.pem"] {
        let bundle = smime::bundle::parse(&repo_file(file), None).unwrap();
        let report = w
            .store()
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap();
        assert!(report.stored, "{file}");
    }
    for (name, default) in [("Quiet", Some(false)), ("Support", None)] {
        w.store()
            .set_group(
                &smimed_store::Group {
                    name: name.into(),
                    email: "alice@example.org".into(),
                    default_sign: default,
                    default_encrypt: default,
                },
                "test",
                "",
            )
            .await
            .unwrap();
    }
}

/// The options fragment for these query pairs (values are URL-encoded here).
async fn options(w: &Web, b: &Browser, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|c| match c {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                        (c as char).to_string()
                    }
                    _ => format!("%{c:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect();
    let r = w
        .get(&format!("/ui/compose/options?{}", query.join("&")), Some(b))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The `<input …>` tag whose id is `id`.
fn input_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind("<input").unwrap();
    &html[start..at + html[at..].find('>').unwrap() + 1]
}

/// The text of the `<p id="{id}" …>` element (its HTML, escaped as sent).
fn element_text<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open = at + html[at..].find('>').unwrap() + 1;
    &html[open..open + html[open..].find('<').unwrap()]
}

fn hint_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\"")).unwrap();
    let start = html[..at].rfind("<p").unwrap();
    &html[start..at + html[at..].find('>').unwrap() + 1]
}

#[tokio::test]
async fn an_encrypt_switched_on_by_hand_stays_on_and_warns_when_a_recipient_has_no_certificate() {
    let w = web().await;
    composer_store(&w).await;
    let b = w.sign_in(&w.agent).await;

    // Quiet encrypts only when asked: off by default, possible for Bob.
    let html = options(&w, &b, &[("group", "Quiet"), ("to", "bob@example.org")]).await;
    assert!(!input_tag(&html, "encrypt").contains(" checked"), "{html}");
    assert!(input_tag(&html, "encrypt_choice").contains("value=\"default\""));

    // Switched on by hand, then a Cc without a certificate: still on, not
    // disabled, the reason in a warning, and the choice carried on.
    let html = options(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "bob@example.org"),
            ("cc", "nobody@example.net"),
            ("encrypt_choice", "on"),
        ],
    )
    .await;
    let switch = input_tag(&html, "encrypt");
    assert!(switch.contains(" checked"), "{switch}");
    assert!(!switch.contains(" disabled"), "{switch}");
    assert!(switch.contains("data-possible=\"false\""), "{switch}");
    assert!(switch.contains("aria-invalid=\"true\""), "{switch}");
    let hint = hint_tag(&html, "encrypt-hint");
    assert!(hint.contains("alert error"), "{hint}");
    assert!(hint.contains("role=\"alert\""), "{hint}");
    let text = element_text(&html, "encrypt-hint");
    assert!(
        text.contains("cannot encrypt: nobody@example.net has no certificate"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(input_tag(&html, "encrypt_choice").contains("value=\"on\""));

    // Without a choice of the agent, the same recipients leave it off and
    // disabled, with the reason but no warning.
    let html = options(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "bob@example.org"),
            ("cc", "nobody@example.net"),
            ("encrypt_choice", "default"),
        ],
    )
    .await;
    let switch = input_tag(&html, "encrypt");
    assert!(!switch.contains(" checked") && switch.contains(" disabled"));
    assert!(!hint_tag(&html, "encrypt-hint").contains("alert"));
    assert!(element_text(&html, "encrypt-hint").contains("nobody@example.net has no certificate"));

    // Switched off by hand where the group encrypts by default: stays off.
    let html = options(
        &w,
        &b,
        &[
            ("group", "Support"),
            ("to", "bob@example.org"),
            ("encrypt_choice", "off"),
        ],
    )
    .await;
    let switch = input_tag(&html, "encrypt");
    assert!(!switch.contains(" checked") && !switch.contains(" disabled"));
    assert!(input_tag(&html, "encrypt_choice").contains("value=\"off\""));

    // A group default that cannot be honoured is said so next to the switch.
    let html = options(
        &w,
        &b,
        &[("group", "Support"), ("to", "nobody@example.net")],
    )
    .await;
    assert!(!input_tag(&html, "encrypt").contains(" checked"));
    assert!(
        element_text(&html, "encrypt-hint").contains(
            "The group encrypts by default, but: cannot encrypt: nobody@example.net has no certificate"
        ),
        "{html}"
    );
    assert!(
        element_text(&html, "sign-hint").contains("The group signs by default, but: cannot sign"),
        "{html}"
    );
}

/// "Create message" as the page posts it: multipart with the CSRF field.
async fn create(w: &Web, b: &Browser, fields: &[(&str, &str)]) -> Reply {
    let mut body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
        b.csrf
    );
    for (k, v) in fields {
        body.push_str(&format!(
            "--B\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str("--B--\r\n");
    let req = Web::request(Method::POST, "/ui/compose", Some(b))
        .header("content-type", "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .unwrap();
    w.send(req).await
}

#[tokio::test]
async fn create_refuses_an_explicit_encrypt_that_is_not_possible_and_keeps_the_fields() {
    let w = web().await;
    composer_store(&w).await;
    let b = w.sign_in(&w.agent).await;
    let fields = [
        ("group", "Quiet"),
        ("to", "Bob <bob@example.org>"),
        ("cc", "nobody@example.net"),
        ("subject", "Ticket 4711"),
        ("body", "Your secret reply"),
        ("sign_choice", "default"),
        ("encrypt_choice", "on"),
    ];
    // The choice alone is enough (a switch not submitted does not turn it off),
    // and so is the checked switch.
    for extra in [None, Some(("encrypt", "on"))] {
        let mut f = fields.to_vec();
        f.extend(extra);
        let r = create(&w, &b, &f).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.headers.get("content-disposition").is_none());
        assert!(!r.body.contains("Your secret reply\r\n"), "{}", r.body);
        assert!(!r.body.contains("quoted-printable"), "{}", r.body);
        assert!(
            element_text(&r.body, "compose-error")
                .contains("nobody@example.net has no certificate"),
            "{}",
            r.body
        );
        // The fields, the choice and the switch are kept.
        let to = input_tag(&r.body, "to");
        assert!(
            to.contains("value=\"Bob &#60;bob@example.org&#62;\""),
            "{to}"
        );
        assert!(input_tag(&r.body, "cc").contains("value=\"nobody@example.net\""));
        assert!(input_tag(&r.body, "subject").contains("value=\"Ticket 4711\""));
        assert!(r.body.contains(">Your secret reply</textarea>"));
        assert!(input_tag(&r.body, "encrypt").contains(" checked"));
        assert!(input_tag(&r.body, "encrypt_choice").contains("value=\"on\""));
    }
    let failures = w.store().operations(10, 0).await.unwrap();
    assert!(
        failures
            .iter()
            .any(|o| o.operation == "encrypt" && o.status == "failure"),
        "the refusal is logged"
    );

    // An untouched switch the page showed on is not dropped either (the
    // certificates may have changed since the page was shown).
    let r = create(
        &w,
        &b,
        &[
            ("group", "Support"),
            ("to", "nobody@example.net"),
            ("encrypt", "on"),
            ("encrypt_choice", "default"),
            ("sign_choice", "off"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        element_text(&r.body, "compose-error").contains("nobody@example.net has no certificate")
    );

    // Without the Cc the same choice makes an encrypted message.
    let mut f = fields.to_vec();
    f.retain(|(k, _)| *k != "cc");
    let r = create(&w, &b, &f).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["content-type"], "message/rfc822");
    assert!(r.body.contains("application/pkcs7-mime"), "{}", r.body);
    assert!(!r.body.contains("Your secret reply"));
    assert!(r.body.contains("To: <bob@example.org>"), "{}", r.body);

    // Untouched and shown off: the group default decides. Support cannot
    // encrypt to nobody@ nor sign (no key), so the message is plain, as the
    // page said next to each switch.
    let r = create(
        &w,
        &b,
        &[
            ("group", "Support"),
            ("to", "nobody@example.net"),
            ("body", "plain"),
            ("sign_choice", "default"),
            ("encrypt_choice", "default"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("application/pkcs7-mime"));
}

#[tokio::test]
async fn names_in_to_and_cc_are_understood_and_a_non_address_is_named() {
    let w = web().await;
    composer_store(&w).await;
    let b = w.sign_in(&w.agent).await;
    let html = options(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "Alice <alice@example.org>"),
            ("cc", "\"Doe, Bob\" <Bob@Example.org>; "),
        ],
    )
    .await;
    assert!(
        element_text(&html, "encrypt-hint")
            .contains("can encrypt to alice@example.org, bob@example.org"),
        "{html}"
    );
    assert!(!input_tag(&html, "encrypt").contains(" disabled"));

    // Not an address: the hint names it, the fragment is no error page.
    let html = options(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "not an address"),
            ("encrypt_choice", "on"),
        ],
    )
    .await;
    let text = element_text(&html, "encrypt-hint");
    assert!(
        text.contains("not an address") && text.contains("is not an email address"),
        "{html}"
    );
    assert!(input_tag(&html, "encrypt").contains(" checked"));
    assert!(hint_tag(&html, "encrypt-hint").contains("alert error"));

    // "Create message" says the same and makes nothing.
    let r = create(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "alice@example.org"),
            ("cc", "not an address"),
        ],
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let error = element_text(&r.body, "compose-error");
    assert!(
        error.contains("not an address") && error.contains("is not an email address"),
        "{error}"
    );
    // With names, the message is made to the plain addresses.
    let r = create(
        &w,
        &b,
        &[
            ("group", "Quiet"),
            ("to", "Alice <alice@example.org>"),
            ("cc", "\"Doe, Bob\" <bob@example.org>"),
            ("sign_choice", "off"),
            ("encrypt_choice", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("To: <alice@example.org>"), "{}", r.body);
    assert!(r.body.contains("Cc: <bob@example.org>"), "{}", r.body);
    assert!(r.body.contains("application/pkcs7-mime"));
}

/// Issue 16: a success says only that, a SHA-1 signature that is accepted
/// gets a warning banner, and retry is offered only where an import could
/// change the result.
#[tokio::test]
async fn the_incoming_check_says_plainly_warns_and_offers_retry_only_where_it_helps() {
    let w = web().await;
    w.store().set_enabled(true, "test").await.unwrap();
    let admin = w.sign_in(&w.admin).await;
    let ca = post_file(
        &w,
        &admin,
        "/ui/certificates",
        "file",
        &repo_file("thunderbird/TestCA.pem"),
    )
    .await;
    assert_eq!(ca.status, StatusCode::OK, "{}", ca.body);
    let b = w.sign_in(&w.agent).await;
    let check = |name: &'static str| {
        let (w, b) = (&w, &b);
        async move {
            let r = post_file(w, b, "/ui/incoming", "message", &repo_file(name)).await;
            assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.body);
            r.body
        }
    };

    let plain = check("thunderbird/alice.dsig.SHA256.multipart.eml").await;
    assert!(
        plain.contains("<strong>Signature verified</strong>\n"),
        "{plain}"
    );
    assert!(!plain.contains("Signature verified</strong>:"), "{plain}");
    assert!(!plain.contains("Retry security process"), "{plain}");

    let sha1 = check("thunderbird/alice.dsig.SHA1.multipart.eml").await;
    assert!(sha1.contains("banner warn"), "{sha1}");
    assert!(
        sha1.contains("Signature verified, with a warning</strong>: SHA-1"),
        "{sha1}"
    );
    assert!(!sha1.contains("Retry security process"), "{sha1}");

    // A broken signature: no import can mend it, so no retry.
    let bad = check("thunderbird/alice.dsig.SHA256.multipart.bad.eml").await;
    assert!(
        bad.contains("Signature not verified (bad_signature)"),
        "{bad}"
    );
    assert!(!bad.contains("Retry security process"), "{bad}");

    // No key for an encrypted message: importing it helps, so retry.
    let locked = check("thunderbird/alice.env.eml").await;
    assert!(locked.contains("Not decrypted (no_key)"), "{locked}");
    assert!(locked.contains("Retry security process"), "{locked}");
}

/// Issue 16: each group says whether it can sign and encrypt to itself, and
/// why not.
#[tokio::test]
async fn group_rows_say_whether_they_can_sign_and_encrypt_to_themselves() {
    let w = web().await;
    w.store().set_enabled(true, "test").await.unwrap();
    let b = w.sign_in(&w.admin).await;
    for (path, file) in [
        ("/ui/certificates", "pki/chain.pem"),
        ("/ui/certificates", "pki/alice.pem"),
        ("/ui/private-keys", "pki/alice.key.pem"),
    ] {
        let r = post_file(&w, &b, path, "file", &repo_file(file)).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.body);
    }
    for form in [
        "name=Support&email=alice%40example.org",
        "name=Sales&email=sales%40example.org",
    ] {
        let r = w.post("/ui/groups/new", &b, Some(&b.csrf), form).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let page = w.get("/ui/groups", Some(&b)).await.body;
    let row = |name: &str| row_with(&page, &format!("value=\"{name}\"")).to_string();
    let support = row("Support");
    assert!(
        support.contains("can sign") && !support.contains("cannot sign"),
        "{support}"
    );
    assert!(support.contains("encrypts to itself"), "{support}");
    let sales = row("Sales");
    assert!(sales.contains("cannot sign"), "{sales}");
    assert!(sales.contains("cannot encrypt to itself"), "{sales}");
    assert!(
        sales.contains("sales@example.org"),
        "the reason names the address: {sales}"
    );
}

/// Issue 16: deleting a CA says how many stored certificates it issued; a
/// deletion says what it removed.
#[tokio::test]
async fn a_ca_delete_counts_what_it_issued_and_a_deletion_says_what_went() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    for file in [
        "pki/chain.pem",
        "pki/alice.pem",
        "pki/bob.pem",
        "pki/carol.pem",
    ] {
        let r = post_file(&w, &b, "/ui/certificates", "file", &repo_file(file)).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.body);
    }
    let table = w.get("/ui/certificates", Some(&b)).await.body;
    let confirm_of = |subject_part: &str| {
        let row = row_with(&table, subject_part);
        let at = row.rfind("hx-confirm=\"").unwrap() + 12;
        row[at..at + row[at..].find('"').unwrap()].to_string()
    };
    let intermediate = confirm_of("Intermediate");
    assert!(
        intermediate.contains("3 stored certificates were issued by this CA"),
        "{intermediate}"
    );
    let root = confirm_of("Root");
    assert!(
        root.contains("1 stored certificate was issued by this CA"),
        "{root}"
    );
    let bob = confirm_of("CN=Bob");
    assert!(!bob.contains("issued by this CA"), "{bob}");

    let fp = {
        let row = row_with(&table, "CN=Bob");
        let at = row.find("data-fingerprint=\"").unwrap() + 18;
        row[at..at + 64].to_string()
    };
    let r = w
        .post(
            &format!("/ui/certificates/{fp}/delete"),
            &b,
            Some(&b.csrf),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Deleted the certificate"), "{}", r.body);
    assert!(r.body.contains("CN=Bob"), "the notice names it: {}", r.body);
    assert!(!r.body.contains(&format!("data-fingerprint=\"{fp}\"")));
}

/// Issue 16: a key that downloads in clear asks first; a key of no address
/// of the organisation's is flagged.
#[tokio::test]
async fn keys_in_clear_ask_before_download_and_foreign_keys_are_flagged() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    for file in [
        "pki/chain.pem",
        "pki/alice.pem",
        "pki/bob.pem",
        "pki/alice.key.pem",
    ] {
        let path = if file.contains("key") {
            "/ui/private-keys"
        } else {
            "/ui/certificates"
        };
        let r = post_file(&w, &b, path, "file", &repo_file(file)).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.body);
    }
    let r = post_file_with(
        &w,
        &b,
        "/ui/private-keys",
        "file",
        &repo_file("pki/bob.key.enc.pem"),
        &[("passphrase", "bob-secret")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let row_of = |table: &str, cn: &str| row_with(table, cn).to_string();
    let add = |form: &'static str| {
        let (w, b) = (&w, &b);
        async move {
            let r = w.post("/ui/groups/new", b, Some(&b.csrf), form).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };

    add("name=Help&email=help%40example.net").await;
    let table = w.get("/ui/certificates", Some(&b)).await.body;
    let (alice, bob) = (row_of(&table, "CN=Alice"), row_of(&table, "CN=Bob"));
    assert!(
        alice.contains("data-confirm=\"This file holds the private key"),
        "{alice}"
    );
    assert!(
        !bob.contains("data-confirm"),
        "a protected key downloads protected: {bob}"
    );
    for row in [&alice, &bob] {
        assert!(row.contains("not one of your addresses?"), "{row}");
    }

    // A group at their domain makes them the organisation's own.
    add("name=Support&email=alice%40example.org").await;
    let table = w.get("/ui/certificates", Some(&b)).await.body;
    for cn in ["CN=Alice", "CN=Bob"] {
        assert!(
            !row_of(&table, cn).contains("not one of your addresses?"),
            "{cn}"
        );
    }
}

/// Issue 16: every section of the S/MIME page is one click away, from a
/// navigation that names each and points at it.
#[tokio::test]
async fn the_smime_page_has_a_section_navigation_that_points_at_each_section() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let page = w.get("/smime", Some(&b)).await.body;
    let nav_at = page.find("class=\"subnav\"").expect("a section navigation");
    let nav = &page[nav_at..nav_at + page[nav_at..].find("</nav>").unwrap()];
    for (label, id) in [
        ("Status", "status"),
        ("Certificates", "certificates"),
        ("Groups", "groups-section"),
        ("Logs", "logs-section"),
    ] {
        assert!(
            nav.contains(&format!("<a href=\"#{id}\">{label}</a>")),
            "{nav}"
        );
        assert!(page.contains(&format!("<section id=\"{id}\"")), "no #{id}");
    }
    assert!(page.contains("Filter by address or subject"));
}

/// The S/MIME page warns about an own certificate that expires within 30
/// days, and louder about one that has expired; a contact's is no concern.
#[tokio::test]
async fn the_page_warns_before_and_after_an_own_certificate_expires() {
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let quiet = w.get("/smime", Some(&b)).await;
    assert!(!quiet.body.contains("expiring"), "{}", quiet.body);
    let mut pem = Vec::new();
    for file in [
        "pki/soon.pem",
        "pki/soon.key.pem",
        "pki/expired.pem",
        "pki/expired.key.pem",
        "pki/bob.pem",
    ] {
        pem.extend(repo_file(file));
    }
    let bundle = smime::bundle::parse(&pem, None).unwrap();
    assert!(
        w.store()
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored
    );
    let page = w.get("/smime", Some(&b)).await;
    let banners: Vec<&str> = page
        .body
        .split("<p class=\"banner ")
        .skip(1)
        .filter(|b| b.contains("expiring"))
        .collect();
    assert_eq!(banners.len(), 2, "{}", page.body);
    assert!(
        banners[0].starts_with("bad")
            && banners[0].contains("expired@example.org")
            && banners[0].contains("has expired"),
        "{}",
        banners[0]
    );
    assert!(
        banners[1].starts_with("warn")
            && banners[1].contains("soon@example.org")
            && banners[1].contains("expires in"),
        "{}",
        banners[1]
    );
    assert!(
        !page.body.contains("bob@example.org) expires"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_pending_certificate_is_shown_for_reading_aloud_and_accepted_or_rejected() {
    let w = web().await;
    w.store().set_enabled(true, "test").await.unwrap();
    let agent = w.sign_in(&w.agent).await;
    let eml = repo_file("thunderbird/alice.dsig.SHA256.multipart.eml");
    let r = post_file(&w, &agent, "/ui/incoming", "message", &eml).await;
    assert!(
        r.body.contains("certificate waits for an admin"),
        "{}",
        r.body
    );
    let admin = w.sign_in(&w.admin).await;
    let page = w.get("/smime", Some(&admin)).await;
    assert!(page.body.contains("Certificates from signed mail"));
    let pending = w.get("/ui/pending", Some(&admin)).await;
    let at = pending.body.find("id=\"pending-").expect("a pending row") + 12;
    let fp = pending.body[at..at + 64].to_string();
    // Sixteen groups of four, uppercase, as read aloud.
    let groups: Vec<String> = fp
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    assert!(
        pending.body.contains(&format!(
            "<span>{}</span> <span>{}</span>",
            groups[0], groups[1]
        )),
        "{}",
        pending.body
    );
    assert!(
        pending.body.contains("alice@example.com"),
        "{}",
        pending.body
    );
    // Agents cannot decide; a stale form cannot either.
    let r = w
        .post(
            &format!("/ui/pending/{fp}/accept"),
            &agent,
            Some(&agent.csrf),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = w
        .post(&format!("/ui/pending/{fp}/accept"), &admin, None, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = w
        .post(
            &format!("/ui/pending/{fp}/accept"),
            &admin,
            Some(&admin.csrf),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["hx-trigger"], "certs-changed");
    assert!(
        r.body
            .contains("as a contact. 1 kept message checked again: 1 verified."),
        "{}",
        r.body
    );
    assert!(r.body.contains("No certificate from signed mail waits"));
    let certs = w.get("/ui/certificates", Some(&admin)).await;
    assert!(certs.body.contains(&fp), "{}", certs.body);
    // Decided already: the answer says so.
    let r = w
        .post(
            &format!("/ui/pending/{fp}/reject"),
            &admin,
            Some(&admin.csrf),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.body.contains("no pending certificate"), "{}", r.body);
}

#[tokio::test]
async fn a_crl_is_added_in_its_dialog_and_the_table_shows_revoked() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let shop = testpki::openssl_ca::RevokedUser::new(root.path());
    let crl = shop.crl.clone();
    let w = web().await;
    let b = w.sign_in(&w.admin).await;
    let page = w.get("/smime", Some(&b)).await;
    assert!(page.body.contains("No CRL is stored"), "{}", page.body);

    // Refused while its CA is not stored: the reason, in the dialog.
    let r = post_file(&w, &b, "/ui/crls", "file", &crl).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Shop CA"), "{}", r.body);

    let files = shop.certificates();
    let r = post_file(&w, &b, "/ui/certificates", "file", &files).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = post_file(&w, &b, "/ui/crls", "file", &crl).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("1 stored certificate is revoked"),
        "{}",
        r.body
    );
    assert_eq!(r.headers["hx-trigger"], "certs-changed, crls-changed");
    let list = w.get("/ui/crls", Some(&b)).await;
    assert!(
        list.body.contains("Shop CA") && list.body.contains("import"),
        "{}",
        list.body
    );
    let table = w.get("/ui/certificates?kind=issues", Some(&b)).await;
    assert!(
        row_with(&table.body, "user@shop.example").contains("revoked"),
        "{}",
        table.body
    );
    let audit = w.get("/ui/logs?tab=audit&action=crl.", Some(&b)).await;
    assert!(audit.body.contains("CRL stored"), "{}", audit.body);
}
