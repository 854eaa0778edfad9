//! Who writes a resume: the facts of a developer's public work read from the code host
//! ([`gather`]), and the two writers: the deterministic template writer (the embedded
//! default: no network, no model, labelled `template`) and the model writer, which asks
//! an OpenAI-compatible model for the sections as JSON and then puts the code host's
//! numbers back (a model may word a project, not count its stars).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use surge_kernel::code_host::{excerpt, CodeHost, CodeHostError};
use surge_kernel::llm::{Llm, LlmError, Message, Prompt};
use surge_kernel::Millis;

use crate::domain::{Experience, Position, Project, SchoolType, Sections};

/// Repositories looked at, most recently pushed first (forks and archives left out).
const REPOS_READ: usize = 30;
const REPOS_USED: usize = 8;
/// Projects a template resume shows.
const PROJECTS_SHOWN: usize = 5;
const README_CHARS: usize = 600;
const YEAR_MS: Millis = 365 * 86_400_000;

/// What the writer is asked for, besides the profile.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub position: Position,
    pub school_type: Option<SchoolType>,
    pub highlights: Vec<String>,
}

/// One repository's facts as the code host gave them.
#[derive(Debug, Clone, Serialize)]
pub struct RepoFacts {
    pub name: String,
    pub url: String,
    pub description: String,
    pub topics: Vec<String>,
    /// Largest first, with byte counts.
    pub languages: Vec<(String, u64)>,
    pub readme: Option<String>,
    pub stars: u64,
    /// The owner's commits in the last 365 days.
    pub commits_last_year: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub login: String,
    pub repositories: Vec<RepoFacts>,
}

/// Why a resume could not be written. Transient failures are tried again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Permanent(String),
    #[error("{detail}")]
    Transient {
        detail: String,
        retry_at: Option<Millis>,
    },
}

impl From<CodeHostError> for WriteError {
    fn from(e: CodeHostError) -> Self {
        match e {
            CodeHostError::NotFound { .. } => WriteError::Permanent(e.to_string()),
            CodeHostError::RateLimited { reset_at } => WriteError::Transient {
                detail: e.to_string(),
                retry_at: Some(reset_at),
            },
            CodeHostError::Unavailable { .. } => WriteError::Transient {
                detail: e.to_string(),
                retry_at: None,
            },
        }
    }
}

impl From<LlmError> for WriteError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Refused { .. } => WriteError::Permanent(e.to_string()),
            LlmError::RateLimited { retry_at } => WriteError::Transient {
                detail: e.to_string(),
                retry_at,
            },
            LlmError::Unavailable { .. } => WriteError::Transient {
                detail: e.to_string(),
                retry_at: None,
            },
        }
    }
}

/// Reads the public work of `login`: its most recently pushed own repositories, each
/// with languages, a README excerpt and the owner's commits of the last year (four
/// repositories read at a time).
pub async fn gather(
    host: &dyn CodeHost,
    login: &str,
    now: Millis,
) -> Result<Profile, CodeHostError> {
    let repos = host.repositories(login, REPOS_READ).await?;
    let own: Vec<_> = repos
        .into_iter()
        .filter(|r| !r.fork && !r.archived)
        .take(REPOS_USED)
        .collect();
    let mut repositories: Vec<RepoFacts> = futures::stream::iter(own)
        .map(|r| async move {
            let languages = host.languages(&r.owner, &r.name).await?;
            let readme = host.readme(&r.owner, &r.name, README_CHARS).await?;
            let commits = host
                .commit_count(&r.owner, &r.name, login, now - YEAR_MS)
                .await?;
            Ok::<_, CodeHostError>(RepoFacts {
                name: r.name,
                url: r.url,
                description: r.description,
                topics: r.topics,
                languages,
                readme,
                stars: r.stars,
                commits_last_year: commits,
            })
        })
        .buffered(4)
        .try_collect()
        .await?;
    repositories.sort_by(|a, b| {
        (b.commits_last_year, b.stars)
            .cmp(&(a.commits_last_year, a.stars))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(Profile {
        login: login.to_owned(),
        repositories,
    })
}

/// A written version and who wrote it (`template`, or `model:<name>`).
#[derive(Debug, Clone)]
pub struct Written {
    pub sections: Sections,
    pub writer: String,
}

#[async_trait]
pub trait Writer: Send + Sync {
    /// Whether this writer can follow an edit instruction (a model can; the template
    /// cannot).
    fn edits(&self) -> bool;
    async fn write(&self, brief: &Brief, profile: &Profile) -> Result<Written, WriteError>;
    async fn edit(&self, current: &Sections, instruction: &str) -> Result<Written, WriteError>;
}

/// The embedded writer: the same profile always gives the same resume.
pub struct TemplateWriter;

pub const TEMPLATE: &str = "template";

#[async_trait]
impl Writer for TemplateWriter {
    fn edits(&self) -> bool {
        false
    }

    async fn write(&self, brief: &Brief, profile: &Profile) -> Result<Written, WriteError> {
        let repos = &profile.repositories;
        let mut bytes: HashMap<&str, u64> = HashMap::new();
        let mut topics: HashMap<&str, usize> = HashMap::new();
        for r in repos {
            for (lang, n) in &r.languages {
                *bytes.entry(lang).or_default() += n;
            }
            for t in &r.topics {
                *topics.entry(t).or_default() += 1;
            }
        }
        let mut langs: Vec<(&str, u64)> = bytes.into_iter().collect();
        langs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut tops: Vec<(&str, usize)> = topics.into_iter().collect();
        tops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let commits: u64 = repos.iter().map(|r| r.commits_last_year).sum();
        let position = brief.position.korean();
        let mut summary = if repos.is_empty() {
            format!(
                "{position} 개발자입니다. GitHub({}) 공개 저장소는 아직 없습니다.",
                profile.login
            )
        } else {
            let main: Vec<&str> = langs.iter().take(3).map(|l| l.0).collect();
            format!(
                "{position} 개발자입니다. GitHub({})에 공개 저장소 {}개가 있고, 주로 {}을(를) 씁니다. 최근 1년 동안 커밋 {commits}개를 남겼습니다.",
                profile.login,
                repos.len(),
                if main.is_empty() { "여러 언어".to_owned() } else { main.join(", ") },
            )
        };
        for h in &brief.highlights {
            summary.push(' ');
            summary.push_str(h);
        }
        let skills = langs
            .iter()
            .take(10)
            .map(|l| l.0.to_owned())
            .chain(tops.iter().take(10).map(|t| t.0.to_owned()))
            .collect();
        let projects = repos
            .iter()
            .take(PROJECTS_SHOWN)
            .map(|r| Project {
                name: r.name.clone(),
                url: r.url.clone(),
                description: if r.description.trim().is_empty() {
                    r.readme
                        .as_deref()
                        .map(|t| excerpt(t, 300))
                        .unwrap_or_default()
                } else {
                    r.description.clone()
                },
                languages: r.languages.iter().take(5).map(|l| l.0.clone()).collect(),
                stars: r.stars,
                commits: r.commits_last_year,
            })
            .collect();
        let experience = brief
            .highlights
            .iter()
            .map(|h| Experience {
                title: excerpt(h, 90),
                description: h.clone(),
                ..Default::default()
            })
            .collect();
        let sections = Sections {
            summary: excerpt(&summary, crate::domain::SUMMARY_MAX - 1),
            skills,
            projects,
            experience,
        }
        .validated()
        .map_err(|e| WriteError::Permanent(format!("the template wrote an invalid resume: {e}")))?;
        Ok(Written {
            sections,
            writer: TEMPLATE.into(),
        })
    }

    async fn edit(&self, _: &Sections, _: &str) -> Result<Written, WriteError> {
        Err(WriteError::Permanent(
            "the template writer cannot follow instructions; configure [resumes.llm]".into(),
        ))
    }
}

/// A language model behind the `Llm` port.
pub struct ModelWriter {
    pub llm: Arc<dyn Llm>,
}

const SHAPE: &str = r#"Answer with one JSON object and nothing else, of this shape: {"summary": string, "skills": [string], "projects": [{"name": string, "url": string, "description": string, "languages": [string]}], "experience": [{"title": string, "organization": string, "period": string, "description": string}]}. Write in Korean. Use only the facts given: never invent employers, dates, numbers or links."#;

impl ModelWriter {
    async fn ask(&self, system: String, user: String) -> Result<Written, WriteError> {
        let answer = self
            .llm
            .complete(&Prompt {
                messages: vec![Message::system(system), Message::user(user)],
                json: true,
                max_tokens: None,
            })
            .await?;
        let sections = parse_sections(&answer.text).ok_or_else(|| WriteError::Transient {
            detail: "the model's answer was not a resume of the asked shape".into(),
            retry_at: None,
        })?;
        Ok(Written {
            sections,
            writer: format!("model:{}", answer.model),
        })
    }
}

/// The sections in a model's answer (a bare JSON object, or one inside a code fence),
/// validated; `None` when there is none. Models often write experience as plain
/// sentences: each becomes an entry titled by its start.
pub fn parse_sections(text: &str) -> Option<Sections> {
    let t = text.trim();
    let start = t.find('{')?;
    let end = t.rfind('}')?;
    let mut v: serde_json::Value = serde_json::from_str(t.get(start..=end)?).ok()?;
    if let Some(entries) = v.get_mut("experience").and_then(|e| e.as_array_mut()) {
        for e in entries.iter_mut() {
            if let Some(line) = e.as_str().map(str::to_owned) {
                *e = serde_json::json!({"title": excerpt(&line, 90), "description": line});
            }
        }
    }
    let s: Sections = serde_json::from_value(v).ok()?;
    s.validated().ok()
}

#[async_trait]
impl Writer for ModelWriter {
    fn edits(&self) -> bool {
        true
    }

    async fn write(&self, brief: &Brief, profile: &Profile) -> Result<Written, WriteError> {
        let system = format!(
            "You write a developer's resume from facts about their public GitHub work. {SHAPE}"
        );
        let user = serde_json::json!({"brief": brief, "profile": profile}).to_string();
        let mut w = self.ask(system, user).await?;
        // The host's facts, not the model's: links, stars and commit counts.
        let facts: HashMap<&str, &RepoFacts> = profile
            .repositories
            .iter()
            .map(|r| (r.name.as_str(), r))
            .collect();
        w.sections
            .projects
            .retain_mut(|p| match facts.get(p.name.as_str()) {
                Some(r) => {
                    p.url = r.url.clone();
                    p.stars = r.stars;
                    p.commits = r.commits_last_year;
                    true
                }
                None => p.url.is_empty(), // a project without a repository (from highlights)
            });
        Ok(w)
    }

    async fn edit(&self, current: &Sections, instruction: &str) -> Result<Written, WriteError> {
        let system = format!(
            "You revise a developer's resume as the owner instructs, keeping every fact that the instruction does not ask to remove. {SHAPE}"
        );
        let user = serde_json::json!({"resume": current, "instruction": instruction}).to_string();
        let mut w = self.ask(system, user).await?;
        // Numbers stay what the host counted.
        let before: HashMap<&str, &Project> = current
            .projects
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        for p in &mut w.sections.projects {
            if let Some(old) = before.get(p.name.as_str()) {
                (p.url, p.stars, p.commits) = (old.url.clone(), old.stars, old.commits);
            }
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_answer_is_read_from_a_bare_or_fenced_object_and_validated() {
        let bare = r#"{"summary": " 백엔드 개발자 ", "skills": ["Rust"]}"#;
        assert_eq!(
            parse_sections(bare).map(|s| s.summary),
            Some("백엔드 개발자".into())
        );
        let fenced = "Here it is:\n```json\n{\"summary\": \"요약\"}\n```";
        assert_eq!(
            parse_sections(fenced).map(|s| s.summary),
            Some("요약".into())
        );
        assert_eq!(parse_sections("no resume here"), None);
        let sentences =
            r#"{"summary": "요약", "experience": ["Built an outbox relay used by every module."]}"#;
        let e = parse_sections(sentences)
            .map(|s| s.experience)
            .unwrap_or_default();
        assert_eq!(
            e.first().map(|e| e.description.as_str()),
            Some("Built an outbox relay used by every module.")
        );
        assert_eq!(
            parse_sections(r#"{"summary": ""}"#),
            None,
            "an empty summary is invalid"
        );
    }
}
