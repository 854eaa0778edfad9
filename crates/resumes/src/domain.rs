//! Resume rules: the states of a resume and their legal moves, who may see one, the
//! positions and schools a resume is filed under, and the validated contents (a GitHub
//! login, the sections, an edit instruction, a comment). Pure Rust: the only SeaORM here
//! is `DeriveActiveEnum`.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

/// What is wrong with an input: 422 `validation_failed` naming the field and a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("{field} must be 1..={max} characters")]
    Length { field: &'static str, max: usize },
    #[error("{field} has at most {max} entries")]
    TooMany { field: &'static str, max: usize },
    #[error("github_username must be a GitHub login: 1..=39 letters, digits or single hyphens, not at either end")]
    Login,
    #[error("{field} must be an http(s) URL")]
    Url { field: &'static str },
    #[error("github_username is required unless you signed in with GitHub")]
    LoginRequired,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Length { .. } => "invalid_length",
            Self::TooMany { .. } => "too_many",
            Self::Login => "invalid_login",
            Self::Url { .. } => "invalid_url",
            Self::LoginRequired => "required",
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            Self::Length { field, .. } | Self::TooMany { field, .. } | Self::Url { field } => field,
            Self::Login | Self::LoginRequired => "github_username",
        }
    }
}

/// Where a resume is in its life. A generation or an AI edit runs in the background;
/// while it runs nothing else may change the resume.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResumeStatus {
    /// The first version is being written.
    #[sea_orm(string_value = "GENERATING")]
    Generating,
    /// An AI edit is being written; the current version stays readable.
    #[sea_orm(string_value = "EDITING")]
    Editing,
    #[sea_orm(string_value = "READY")]
    Ready,
    /// The first version could not be written (`failure` says why).
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl ResumeStatus {
    pub fn can_become(self, next: ResumeStatus) -> bool {
        use ResumeStatus::*;
        matches!(
            (self, next),
            (Generating, Ready) | (Generating, Failed) | (Ready, Editing) | (Editing, Ready)
        )
    }

    /// A background writer is working on it.
    pub fn is_busy(self) -> bool {
        matches!(self, ResumeStatus::Generating | ResumeStatus::Editing)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    /// Listed in the community and readable by anyone.
    #[sea_orm(string_value = "PUBLIC")]
    Public,
    /// Only its owner sees it (the default).
    #[sea_orm(string_value = "PRIVATE")]
    Private,
}

/// The job a resume is written for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Position {
    #[sea_orm(string_value = "BACKEND")]
    Backend,
    #[sea_orm(string_value = "FRONTEND")]
    Frontend,
    #[sea_orm(string_value = "FULLSTACK")]
    Fullstack,
    #[sea_orm(string_value = "MOBILE")]
    Mobile,
    #[sea_orm(string_value = "DATA")]
    Data,
    #[sea_orm(string_value = "AI")]
    Ai,
    #[sea_orm(string_value = "DEVOPS")]
    Devops,
    #[sea_orm(string_value = "SECURITY")]
    Security,
    #[sea_orm(string_value = "GAME")]
    Game,
    #[sea_orm(string_value = "EMBEDDED")]
    Embedded,
}

impl Position {
    /// How the template writer names the position (Korean).
    pub fn korean(self) -> &'static str {
        match self {
            Position::Backend => "백엔드",
            Position::Frontend => "프론트엔드",
            Position::Fullstack => "풀스택",
            Position::Mobile => "모바일",
            Position::Data => "데이터",
            Position::Ai => "AI",
            Position::Devops => "DevOps",
            Position::Security => "보안",
            Position::Game => "게임",
            Position::Embedded => "임베디드",
        }
    }
}

/// The school or path the developer came through.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchoolType {
    #[sea_orm(string_value = "HIGH_SCHOOL")]
    HighSchool,
    /// 전문대.
    #[sea_orm(string_value = "ASSOCIATE")]
    Associate,
    #[sea_orm(string_value = "BACHELOR")]
    Bachelor,
    #[sea_orm(string_value = "GRADUATE")]
    Graduate,
    #[sea_orm(string_value = "BOOTCAMP")]
    Bootcamp,
    #[sea_orm(string_value = "SELF_TAUGHT")]
    SelfTaught,
}

impl SchoolType {
    pub fn korean(self) -> &'static str {
        match self {
            SchoolType::HighSchool => "고등학교",
            SchoolType::Associate => "전문대",
            SchoolType::Bachelor => "대학교",
            SchoolType::Graduate => "대학원",
            SchoolType::Bootcamp => "부트캠프",
            SchoolType::SelfTaught => "독학",
        }
    }
}

/// How a version came to be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Origin {
    /// Written from the GitHub profile.
    #[sea_orm(string_value = "GENERATED")]
    Generated,
    /// Rewritten by the model from an instruction.
    #[sea_orm(string_value = "AI_EDIT")]
    AiEdit,
    /// Written by the owner.
    #[sea_orm(string_value = "MANUAL")]
    Manual,
}

/// A GitHub login as GitHub allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let ok = (1..=39).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        ok.then(|| Login(s.to_owned())).ok_or(InvalidInput::Login)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const SUMMARY_MAX: usize = 2_000;
pub const ITEM_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 1_000;
pub const SKILLS_MAX: usize = 40;
pub const ENTRIES_MAX: usize = 20;
pub const HIGHLIGHTS_MAX: usize = 10;
pub const HIGHLIGHT_MAX: usize = 300;
pub const INSTRUCTION_MAX: usize = 1_000;
pub const COMMENT_MAX: usize = 1_000;

/// What a resume says. Every version holds one; the writers produce them and the
/// owner may write one by hand, all through [`Sections::validated`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sections {
    /// 1..=2000 characters.
    pub summary: String,
    /// At most 40, each 1..=100 characters.
    #[serde(default)]
    pub skills: Vec<String>,
    /// At most 20.
    #[serde(default)]
    pub projects: Vec<Project>,
    /// At most 20.
    #[serde(default)]
    pub experience: Vec<Experience>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Project {
    /// 1..=100 characters.
    pub name: String,
    /// An http(s) URL, or empty.
    #[serde(default)]
    pub url: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: String,
    /// At most 40, each 1..=100 characters.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub stars: u64,
    /// The author's commits in the last year, as the code host counted them.
    #[serde(default)]
    pub commits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Experience {
    /// 1..=100 characters.
    pub title: String,
    /// At most 100 characters.
    #[serde(default)]
    pub organization: String,
    /// e.g. `2024.03 – 2025.02`; at most 100 characters.
    #[serde(default)]
    pub period: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: String,
}

fn required(field: &'static str, s: &str, max: usize) -> Result<String, InvalidInput> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(InvalidInput::Length { field, max });
    }
    Ok(t.to_owned())
}

fn at_most(field: &'static str, s: &str, max: usize) -> Result<String, InvalidInput> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(InvalidInput::Length { field, max });
    }
    Ok(t.to_owned())
}

fn list(field: &'static str, items: &[String], max: usize) -> Result<Vec<String>, InvalidInput> {
    if items.len() > max {
        return Err(InvalidInput::TooMany { field, max });
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for s in items {
        let s = required(field, s, ITEM_MAX)?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
            out.push(s);
        }
    }
    Ok(out)
}

impl Sections {
    /// Trimmed, within every limit, repeated skills and languages dropped.
    pub fn validated(self) -> Result<Sections, InvalidInput> {
        if self.projects.len() > ENTRIES_MAX {
            return Err(InvalidInput::TooMany {
                field: "projects",
                max: ENTRIES_MAX,
            });
        }
        if self.experience.len() > ENTRIES_MAX {
            return Err(InvalidInput::TooMany {
                field: "experience",
                max: ENTRIES_MAX,
            });
        }
        let projects = self
            .projects
            .into_iter()
            .map(|p| {
                let url = p.url.trim().to_owned();
                if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(InvalidInput::Url {
                        field: "projects.url",
                    });
                }
                Ok(Project {
                    name: required("projects.name", &p.name, ITEM_MAX)?,
                    url,
                    description: at_most("projects.description", &p.description, DESCRIPTION_MAX)?,
                    languages: list("projects.languages", &p.languages, SKILLS_MAX)?,
                    stars: p.stars,
                    commits: p.commits,
                })
            })
            .collect::<Result<_, _>>()?;
        let experience = self
            .experience
            .into_iter()
            .map(|e| {
                Ok(Experience {
                    title: required("experience.title", &e.title, ITEM_MAX)?,
                    organization: at_most("experience.organization", &e.organization, ITEM_MAX)?,
                    period: at_most("experience.period", &e.period, ITEM_MAX)?,
                    description: at_most(
                        "experience.description",
                        &e.description,
                        DESCRIPTION_MAX,
                    )?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Sections {
            summary: required("summary", &self.summary, SUMMARY_MAX)?,
            skills: list("skills", &self.skills, SKILLS_MAX)?,
            projects,
            experience,
        })
    }
}

/// The owner's own notes for the writer: at most 10 lines of 1..=300 characters.
pub fn highlights(items: &[String]) -> Result<Vec<String>, InvalidInput> {
    if items.len() > HIGHLIGHTS_MAX {
        return Err(InvalidInput::TooMany {
            field: "highlights",
            max: HIGHLIGHTS_MAX,
        });
    }
    items
        .iter()
        .map(|h| required("highlights", h, HIGHLIGHT_MAX))
        .collect()
}

/// What an AI edit should change: 1..=1000 characters.
pub fn instruction(s: &str) -> Result<String, InvalidInput> {
    required("instruction", s, INSTRUCTION_MAX)
}

/// A comment: 1..=1000 characters.
pub fn comment_body(s: &str) -> Result<String, InvalidInput> {
    required("body", s, COMMENT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_what_github_allows() {
        assert_eq!(
            Login::parse(" octo-cat ").map(|l| l.0),
            Ok("octo-cat".into())
        );
        for bad in ["", "-a", "a-", "a--b", "a_b", "한글", &"a".repeat(40)] {
            assert_eq!(Login::parse(bad), Err(InvalidInput::Login), "{bad}");
        }
    }

    #[test]
    fn only_a_running_writer_finishes_and_only_a_ready_resume_is_edited() {
        use ResumeStatus::*;
        assert!(Generating.can_become(Ready) && Generating.can_become(Failed));
        assert!(Ready.can_become(Editing) && Editing.can_become(Ready));
        assert!(!Failed.can_become(Ready) && !Ready.can_become(Generating));
        assert!(
            !Editing.can_become(Failed),
            "a failed edit keeps the resume"
        );
    }

    #[test]
    fn sections_are_trimmed_bounded_and_deduplicated() {
        let s = Sections {
            summary: "  백엔드 개발자  ".into(),
            skills: vec!["Rust".into(), "rust".into(), " Go ".into()],
            projects: vec![Project {
                name: "surge".into(),
                url: "https://github.com/a/surge".into(),
                ..Default::default()
            }],
            experience: vec![],
        }
        .validated()
        .unwrap_or_default();
        assert_eq!(s.summary, "백엔드 개발자");
        assert_eq!(s.skills, vec!["Rust", "Go"]);
        let bad_url = Sections {
            summary: "x".into(),
            projects: vec![Project {
                name: "p".into(),
                url: "javascript:alert(1)".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            bad_url.validated(),
            Err(InvalidInput::Url {
                field: "projects.url"
            })
        );
        let empty = Sections::default().validated();
        assert_eq!(empty.map_err(|e| e.field()), Err("summary"));
    }
}
