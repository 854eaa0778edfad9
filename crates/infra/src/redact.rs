//! The one place that hides secrets in URLs before they reach `Debug`, logs or errors.
//! Which part is the secret depends on the service: a database or SMTP URL carries a
//! password in its user info; a Slack webhook URL *is* the secret, in its path.

use reqwest::Url;

/// What of a URL is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The password in the user info (`scheme://user:password@host/…`): it becomes `***`;
    /// the rest (user, host, path, query) is kept. A URL without one is unchanged.
    Password,
    /// Everything but scheme and host (with the port when one is written): user info,
    /// path, query and fragment (a webhook URL). What is hidden shows as `/***`; anything
    /// that does not parse as a URL with a host is shown as `<invalid URL>`.
    AllButEndpoint,
}

/// `url` with its `secret` part hidden.
pub fn redact_url(url: &str, secret: Secret) -> String {
    match secret {
        Secret::Password => without_password(url),
        Secret::AllButEndpoint => match Url::parse(url.trim()) {
            Ok(url) => endpoint_of(&url),
            Err(_) => "<invalid URL>".to_owned(),
        },
    }
}

/// [`Secret::AllButEndpoint`] of a parsed URL.
pub fn endpoint_of(url: &Url) -> String {
    let Some(host) = url.host_str() else {
        return "<invalid URL>".to_owned();
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let hidden = url.path() != "/" || url.query().is_some() || url.fragment().is_some();
    let tail = if hidden { "/***" } else { "" };
    format!("{}://{host}{port}{tail}", url.scheme())
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`; other URLs unchanged.
/// The user info ends at the last `@` of the whole string, not at the first `/`, `?` or
/// `#`: a password written with those characters unescaped (`p#ss`) would otherwise end
/// the authority early and leave the password in plain sight. Hiding too much (an `@`
/// in a path) is harmless in a log; hiding too little is not.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, after)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{after}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(url: &str) -> String {
        redact_url(url, Secret::Password)
    }

    fn endpoint(url: &str) -> String {
        redact_url(url, Secret::AllButEndpoint)
    }

    #[test]
    fn a_password_with_unescaped_url_characters_is_still_hidden() {
        for url in [
            "postgres://app:p#ss@db/surge",
            "postgres://app:p/ss@db/surge",
            "postgres://app:p?ss@db/surge",
            "mysql://root:a@b@db:3306/x",
        ] {
            let shown = password(url);
            assert!(
                shown.starts_with("postgres://app:***@") || shown.starts_with("mysql://root:***@"),
                "{url} -> {shown}"
            );
            assert!(
                !shown.contains("ss@") && !shown.contains("a@b"),
                "{url} -> {shown}"
            );
        }
    }

    #[test]
    fn hides_the_password_only() {
        assert_eq!(
            password("smtps://me%40x.com:p%40ss@smtp.x.com:465/helo.example?tls=required"),
            "smtps://me%40x.com:***@smtp.x.com:465/helo.example?tls=required"
        );
        assert_eq!(
            password("postgres://app:s3cret@db:5432/surge"),
            "postgres://app:***@db:5432/surge"
        );
        assert_eq!(password("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(password("smtp://user@host"), "smtp://user@host");
        assert_eq!(
            password("sqlite://./data/surge.db"),
            "sqlite://./data/surge.db"
        );
        assert_eq!(
            password("sqlite://./data/a@b.db"),
            "sqlite://./data/a@b.db",
            "an @ in the path is not user info"
        );
        assert_eq!(password("not a url"), "not a url");
    }

    #[test]
    fn hides_everything_but_scheme_and_host() {
        assert_eq!(
            endpoint("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/***"
        );
        assert_eq!(
            endpoint("http://user:pw@127.0.0.1:8080/hook?token=s#f"),
            "http://127.0.0.1:8080/***"
        );
        assert_eq!(endpoint("https://example.com"), "https://example.com");
        assert_eq!(
            endpoint("https://example.com/?q=1"),
            "https://example.com/***"
        );
        assert_eq!(endpoint("not a url/with/secret"), "<invalid URL>");
        assert_eq!(endpoint("mailto:secret@x.com"), "<invalid URL>");
    }
}
