//! What the fake SMTP server keeps of a message, and the decoding of what lettre
//! encodes (RFC 2047 headers, base64 or quoted-printable bodies), so tests compare the
//! text a reader would see.

use surge_kernel::ports::Mail;

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Envelope sender (`MAIL FROM`), without the angle brackets; empty for `<>`.
    pub from: String,
    /// Envelope recipients (`RCPT TO`), in order.
    pub to: Vec<String>,
    /// The message as sent, dot-stuffing undone, without the final `CRLF.CRLF`.
    pub data: Vec<u8>,
    /// The user of a successful `AUTH PLAIN` on this connection.
    pub auth_user: Option<String>,
}

impl Received {
    /// The message as text (lossy UTF-8).
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    fn parts(&self) -> (String, String) {
        let raw = self.raw();
        for sep in ["\r\n\r\n", "\n\n"] {
            if let Some((head, body)) = raw.split_once(sep) {
                return (head.to_owned(), body.to_owned());
            }
        }
        (raw, String::new())
    }

    /// The header fields in order, unfolded, values undecoded and trimmed.
    pub fn headers(&self) -> Vec<(String, String)> {
        let (head, _) = self.parts();
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in head.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_owned(), value.to_owned()));
            }
        }
        fields
            .into_iter()
            .map(|(n, v)| (n, v.trim().to_owned()))
            .collect()
    }

    /// The first header field called `name` (any case), undecoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|v| decode_words(&v))
    }

    /// The decoded body (`Content-Transfer-Encoding` undone, UTF-8), with `\n` line ends.
    pub fn text(&self) -> String {
        let (_, body) = self.parts();
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "base64" => base64_decode(&body).unwrap_or_else(|| body.clone().into_bytes()),
            "quoted-printable" => quoted_printable_decode(body.as_bytes(), false),
            _ => body.into_bytes(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    /// The message as the port's `Mail`, once per envelope recipient.
    pub fn mails(&self) -> Vec<Mail> {
        let subject = self.subject().unwrap_or_default();
        let text = self.text();
        self.to
            .iter()
            .map(|to| Mail {
                to: to.clone(),
                subject: subject.clone(),
                text: text.clone(),
            })
            .collect()
    }
}

/// Standard base64, ignoring whitespace and padding; `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Quoted-printable (RFC 2045); `underscore_is_space` for RFC 2047 "Q" words.
fn quoted_printable_decode(s: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'=' if s[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if s[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => match (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Parses the encoded word at the start of `s` (`=?charset?B|Q?text?=`): its bytes
/// (charset assumed UTF-8-compatible) and length.
fn encoded_word(s: &str) -> Option<(Vec<u8>, usize)> {
    let rest = s.strip_prefix("=?")?;
    let (_charset, rest) = rest.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains([' ', '\t', '\r', '\n']) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64_decode(text)?,
        "Q" | "q" => quoted_printable_decode(text.as_bytes(), true),
        _ => return None,
    };
    let len = s.len() - rest.len() + end + 2;
    Some((bytes, len))
}

/// Decodes RFC 2047 encoded words in an unfolded header value; whitespace between two
/// encoded words is dropped, and adjacent words are joined before UTF-8 decoding (a
/// character may be split across words).
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut after_word = false;
    let mut rest = value;
    loop {
        let found = rest
            .match_indices("=?")
            .find_map(|(i, _)| encoded_word(&rest[i..]).map(|(bytes, len)| (i, bytes, len)));
        let Some((start, bytes, len)) = found else {
            break;
        };
        let before = &rest[..start];
        if !(after_word && before.trim().is_empty()) {
            out.push_str(&String::from_utf8_lossy(&pending));
            pending.clear();
            out.push_str(before);
        }
        pending.extend(bytes);
        after_word = true;
        rest = &rest[start + len..];
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode_words("plain text"), "plain text");
        assert_eq!(decode_words("=?utf-8?b?7ZWc6riA?="), "한글");
        // A character split across two words, joined by folding whitespace.
        assert_eq!(
            decode_words("=?utf-8?b?7ZU=?= \t=?UTF-8?B?nOq4gA==?="),
            "한글"
        );
        assert_eq!(
            decode_words("=?utf-8?q?a_b=3Dc?= and more"),
            "a b=c and more"
        );
        assert_eq!(decode_words("x =?bogus =?utf-8?Q?y?="), "x =?bogus y");
    }

    #[test]
    fn decodes_bodies() {
        assert_eq!(base64_decode("7Z Wc\r\n6riA").unwrap(), "한글".as_bytes());
        assert_eq!(
            quoted_printable_decode(b"a=3Db=\r\nc\r\nd=", false),
            b"a=bc\r\nd="
        );
    }
}
