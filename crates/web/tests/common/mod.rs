//! A cookie-keeping browser for the page tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use surge_testkit::reqwest::{header, StatusCode};
use surge_testkit::TestApp;

/// A browser: keeps cookies as a browser would (Max-Age=0 deletes), follows nothing.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: Mutex<BTreeMap<String, String>>,
    /// Every Set-Cookie line seen, for the flag checks.
    pub set_lines: Mutex<Vec<String>>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    pub fn csrf(&self) -> String {
        field_value(&self.body, "_csrf")
    }
}

pub fn field_value(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            cookies: Mutex::new(BTreeMap::new()),
            set_lines: Mutex::new(Vec::new()),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub async fn send(&self, req: surge_testkit::reqwest::RequestBuilder) -> Page {
        let res = req
            .header(header::COOKIE, self.cookie_header())
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        for line in res.headers().get_all(header::SET_COOKIE) {
            let line = line.to_str().unwrap().to_owned();
            let (kv, attrs) = line.split_once(';').unwrap_or((&line, ""));
            let (k, v) = kv.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), v.to_owned());
            }
            self.set_lines.lock().unwrap().push(line.clone());
        }
        Page {
            status: res.status(),
            location: res
                .headers()
                .get(header::LOCATION)
                .map(|l| l.to_str().unwrap().to_owned()),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.app.client.get(self.app.url(path))).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.app.client.post(self.app.url(path)).form(form))
            .await
    }

    pub async fn post_owned(&self, path: &str, form: &[(&str, String)]) -> Page {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(path, &pairs).await
    }

    pub async fn sign_up(&self, email: &str, nickname: &str) {
        let form = self.get("/signup").await;
        let csrf = form.csrf();
        let done = self
            .post(
                "/signup",
                &[
                    ("_csrf", &csrf),
                    ("email", email),
                    ("nickname", nickname),
                    ("password", "password-1234"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }

    pub async fn sign_in(&self, email: &str) {
        let form = self.get("/login").await;
        let done = self
            .post(
                "/login",
                &[
                    ("_csrf", &form.csrf()),
                    ("email", email),
                    ("password", "password-1234"),
                    ("next", "/me"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/me"));
    }
}
