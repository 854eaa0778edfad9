//! Text helpers the adapters share: HTML to plain text, regions split into location and
//! district, skills found in free text, Korean dates.

use chrono::NaiveDate;
use surge_kernel::clock::kst;
use surge_kernel::Millis;

/// Decodes the entities job boards use: the five of XML, `&nbsp;` and numeric ones.
/// An unknown entity is kept as written.
pub(crate) fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail[1..].find(';').map(|i| i + 1).filter(|i| *i <= 10);
        let decoded = end.and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// HTML (possibly entity-escaped once more, as Greenhouse sends `content`) as plain
/// text: tags dropped, block ends as line breaks, runs of spaces collapsed.
pub(crate) fn plain_text(html: &str) -> String {
    let html = if html.contains("&lt;") && !html.contains('<') {
        decode_entities(html)
    } else {
        html.to_owned()
    };
    let mut text = String::with_capacity(html.len());
    let mut rest = html.as_str();
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close]
            .trim_start_matches('/')
            .to_ascii_lowercase();
        if [
            "p", "br", "li", "div", "h1", "h2", "h3", "h4", "ul", "ol", "tr",
        ]
        .iter()
        .any(|t| {
            tag == *t || tag.starts_with(&format!("{t} ")) || tag.starts_with(&format!("{t}/"))
        }) {
            text.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    let text = decode_entities(&text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// `서울 > 강남구` or `서울 강남구` → (`서울`, `강남구`); the first of a comma list.
pub(crate) fn split_region(raw: &str) -> (String, String) {
    let first = decode_entities(raw);
    let first = first.split(',').next().unwrap_or_default();
    let mut parts = first
        .split(['>', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let location = parts.next().unwrap_or_default().to_owned();
    let district = parts.next().unwrap_or_default().to_owned();
    (location, district)
}

/// Technologies recognised in free text (titles, descriptions), as they are spelled.
const KNOWN_SKILLS: [&str; 48] = [
    "Java",
    "Kotlin",
    "Spring",
    "Python",
    "Django",
    "FastAPI",
    "Go",
    "Rust",
    "C++",
    "C#",
    "JavaScript",
    "TypeScript",
    "Node.js",
    "React",
    "Vue",
    "Next.js",
    "Swift",
    "Android",
    "iOS",
    "Flutter",
    "PHP",
    "Ruby",
    "Scala",
    "SQL",
    "MySQL",
    "PostgreSQL",
    "Oracle",
    "MongoDB",
    "Redis",
    "Kafka",
    "Elasticsearch",
    "Spark",
    "Airflow",
    "Hadoop",
    "AWS",
    "GCP",
    "Azure",
    "Docker",
    "Kubernetes",
    "Terraform",
    "Linux",
    "PyTorch",
    "TensorFlow",
    "GraphQL",
    "gRPC",
    "Unity",
    "Figma",
    "Git",
];

/// The known skills that appear in `text` as whole words, in the list's order.
pub(crate) fn skills_in(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '+' || c == '#' || c == '.';
    KNOWN_SKILLS
        .iter()
        .filter(|s| {
            let s = s.to_lowercase();
            lower.match_indices(&s).any(|(at, m)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + m.len()..].chars().next();
                // A trailing '.' ends a sentence, not the word.
                before.is_none_or(|c| !is_word(c))
                    && after.is_none_or(|c| !is_word(c) || (c == '.' && !s.ends_with('.')))
            })
        })
        .map(|s| (*s).to_owned())
        .collect()
}

/// Skills listed by the source (comma separated), trimmed, at most 20 of 1..=40 chars.
pub(crate) fn listed_skills(raw: &str) -> Vec<String> {
    decode_entities(raw)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= 40)
        .take(20)
        .map(str::to_owned)
        .collect()
}

/// The end (23:59:59 KST) of a day written `YY-MM-DD` or `YYYY-MM-DD`.
pub(crate) fn kst_day_end(raw: &str) -> Option<Millis> {
    Some(kst::start_of(kst_date(raw)?) + kst::DAY_MS - 1_000)
}

/// The start (00:00 KST) of a day written `YY-MM-DD` or `YYYY-MM-DD`.
pub(crate) fn kst_day_start(raw: &str) -> Option<Millis> {
    Some(kst::start_of(kst_date(raw)?))
}

fn kst_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    // `%Y` would read `26-12-10` as the year 26.
    let two_digit_year = raw.split('-').next().is_some_and(|y| y.len() == 2);
    let format = if two_digit_year {
        "%y-%m-%d"
    } else {
        "%Y-%m-%d"
    };
    NaiveDate::parse_from_str(raw, format).ok()
}

/// The first `N년` in `text` (e.g. `경력 3년 이상` → 3).
pub(crate) fn years_in(text: &str) -> Option<i32> {
    let at = text.find('년')?;
    let digits: String = text[..at]
        .chars()
        .rev()
        .skip_while(|c| c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(
            plain_text("&lt;p&gt;We build &amp;amp; run &lt;b&gt;Rust&lt;/b&gt;&lt;/p&gt;&lt;ul&gt;&lt;li&gt;Kafka&lt;/li&gt;&lt;/ul&gt;"),
            "We build & run Rust\nKafka"
        );
        assert_eq!(
            plain_text("<p>a&nbsp;&nbsp;b</p><p>&#54620;&#xAE00;</p>"),
            "a b\n한글"
        );
        assert_eq!(decode_entities("AT&T &bogus; &"), "AT&T &bogus; &");
    }

    #[test]
    fn regions_split_into_location_and_district() {
        assert_eq!(
            split_region("서울 &gt; 강남구,서울 &gt; 서초구"),
            ("서울".into(), "강남구".into())
        );
        assert_eq!(
            split_region("경기 성남시 분당구"),
            ("경기".into(), "성남시".into())
        );
        assert_eq!(split_region(""), (String::new(), String::new()));
    }

    #[test]
    fn skills_are_found_as_whole_words() {
        assert_eq!(
            skills_in("We use Go, Rust and PostgreSQL. Node.js too; no Golang, no Javascripty."),
            ["Go", "Rust", "Node.js", "PostgreSQL"]
        );
        assert_eq!(
            listed_skills("Java, Spring ,,JPA"),
            ["Java", "Spring", "JPA"]
        );
    }

    #[test]
    fn dates_and_years() {
        // 2026-12-10 23:59:59 KST = 14:59:59 UTC.
        assert_eq!(kst_day_end("26-12-10"), Some(1_796_914_799_000));
        assert_eq!(kst_day_end("2026-12-10"), kst_day_end("26-12-10"));
        assert_eq!(kst_day_start("2026-12-10"), Some(1_796_828_400_000));
        assert_eq!(kst_day_end("채용시까지"), None);
        assert_eq!(years_in("경력 3년 이상"), Some(3));
        assert_eq!(years_in("경력(10년↑)"), Some(10));
        assert_eq!(years_in("관계없음"), None);
    }
}
