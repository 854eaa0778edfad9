//! Identity's value types: parsed once at the edge, trusted afterwards.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("email must look like name@example.com (at most 254 characters)")]
    Email,
    #[error("nickname must be 2 to 20 letters, digits, '_', '-' or '.'")]
    Nickname,
    #[error("password must be 8 to 128 characters")]
    Password,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidInput::Email => "invalid_email",
            InvalidInput::Nickname => "invalid_nickname",
            InvalidInput::Password => "invalid_password",
        }
    }
}

/// A lower-cased email address (unique case-insensitively by construction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let e = raw.trim().to_lowercase();
        let (local, domain) = e.split_once('@').ok_or(InvalidInput::Email)?;
        let ok = e.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !e.chars().any(|c| c.is_whitespace() || c.is_control())
            && mailer_accepts(&e);
        ok.then_some(Email(e)).ok_or(InvalidInput::Email)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A non-deliverable address for an OAuth account whose provider shared no email.
    pub fn placeholder(provider: &str, subject: &str) -> Email {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(40)
                .collect::<String>()
                .to_lowercase()
        };
        Email(format!(
            "{}-{}@users.noreply.surge",
            clean(provider),
            clean(subject)
        ))
    }
}

/// Whether the mailer (lettre, as `surge_infra::mail` parses recipients) takes `e` as a
/// plain address: one it would refuse would make every mail to this user fail forever.
fn mailer_accepts(e: &str) -> bool {
    use std::str::FromStr;
    lettre::Address::from_str(e).is_ok()
        && lettre::message::Mailbox::from_str(e)
            .is_ok_and(|m| m.name.is_none() && AsRef::<str>::as_ref(&m.email) == e)
}

/// A display nickname (2..=20 characters, Hangul welcome); `key()` is its unique form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

pub const NICKNAME_MAX: usize = 20;

impl Nickname {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        // NFKC first: the same name typed composed (NFC) or decomposed (NFD, e.g. from
        // macOS input) or with compatibility forms (full-width letters) is one nickname.
        let n: String = unicode_normalization::UnicodeNormalization::nfkc(raw.trim()).collect();
        let n = n.trim();
        let len = n.chars().count();
        let ok = (2..=NICKNAME_MAX).contains(&len)
            && n.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        ok.then(|| Nickname(n.to_owned()))
            .ok_or(InvalidInput::Nickname)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Case-insensitive identity of a nickname: what the unique index holds.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// A valid nickname made from anything (an OAuth login), for generated accounts.
    pub fn sanitized(raw: &str) -> Nickname {
        let mut n: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(NICKNAME_MAX - 5)
            .collect();
        while n.chars().count() < 2 {
            n.push('_');
        }
        Nickname(n)
    }

    /// This nickname with a numeric suffix, still within the length limit.
    pub fn with_suffix(&self, suffix: u32) -> Nickname {
        let s = suffix.to_string();
        let keep = NICKNAME_MAX.saturating_sub(s.len());
        let mut n: String = self.0.chars().take(keep).collect();
        n.push_str(&s);
        Nickname(n)
    }
}

/// A password as typed; never logged (Debug is redacted).
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let len = raw.chars().count();
        (8..=128)
            .contains(&len)
            .then(|| Password(raw.to_owned()))
            .ok_or(InvalidInput::Password)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A sign-up, every field valid.
#[derive(Debug)]
pub struct Signup {
    pub email: Email,
    pub nickname: Nickname,
    pub password: Password,
}

/// A password change: the new password is valid; the current one is whatever was typed
/// (it is checked against the stored hash, not against the rules of today).
pub struct PasswordReplacement {
    pub current: String,
    pub new: Password,
}

impl std::fmt::Debug for PasswordReplacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordReplacement(***)")
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse(" Kim@Example.COM ").map(|e| e.0),
            Ok("kim@example.com".into())
        );
        for bad in [
            "",
            "kim",
            "kim@",
            "@x.com",
            "kim@localhost",
            "a b@x.com",
            "k@x..com",
            "k@@x.com",
            // Refused by the mailer (found in an audit): such a user's mails would fail forever.
            "x,y<z>@audit.test",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "\"quoted\"<q@example.com>",
            "kim <kim@example.com>",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidInput::Email), "{bad}");
        }
    }

    #[test]
    fn nicknames_allow_hangul_and_limit_length() {
        assert!(Nickname::parse("김서울").is_ok());
        assert!(Nickname::parse("surge_fan.99").is_ok());
        assert!(Nickname::parse("가").is_err());
        assert!(Nickname::parse(&"가".repeat(21)).is_err());
        assert!(Nickname::parse(&"가".repeat(20)).is_ok());
        assert!(Nickname::parse("no spaces").is_err());
        assert!(Nickname::parse("<script>").is_err());
        assert_eq!(
            Nickname::parse("Kim").map(|n| n.key()),
            Ok("kim".to_owned())
        );
    }

    #[test]
    fn generated_nicknames_are_valid() {
        let n = Nickname::sanitized("!");
        assert!(Nickname::parse(n.as_str()).is_ok());
        let long = Nickname::sanitized("a-very-long-github-login-name");
        let s = long.with_suffix(123_456);
        assert!(Nickname::parse(s.as_str()).is_ok(), "{}", s.as_str());
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse").ok();
        assert_eq!(format!("{p:?}"), "Some(Password(***))");
        let change = PasswordReplacement {
            current: "old secret".into(),
            new: Password::parse("new secret!").expect("a valid password"),
        };
        assert_eq!(format!("{change:?}"), "PasswordReplacement(***)");
    }
}
