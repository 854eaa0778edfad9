//! The request bodies and query filters of the careers routes: each converts with
//! `try_into_domain()` into validated domain types before reaching a use case.

use serde::{Deserialize, Deserializer};
use surge_kernel::{parse_rfc3339, ApiError};
use uuid::Uuid;

use crate::domain::{
    capacity, optional, points, required, web_url, EmploymentType, Experience, InvalidInput,
    PostingSort, PostingStatus, ProgramStatus, Skills,
};
use crate::points::Grant;
use crate::postings::{skill_filter, NewPosting, PostingChanges, PostingListing};
use crate::programs::{NewProgram, ProgramChanges, ProgramListing};

/// An invalid input answers 422 `validation_failed`, naming the field.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::validation(e.to_string())
            .with("field", e.field())
            .with("reason", e.code())
    }
}

/// `null` clears, absent leaves as is.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn time(s: Option<&str>, field: &str) -> Result<Option<i64>, ApiError> {
    s.map(|s| parse_rfc3339(s, field)).transpose()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PostingDraft {
    pub title: String,
    pub company: String,
    pub location: String,
    #[serde(default)]
    pub district: String,
    pub category: String,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub experience_min: i32,
    pub experience_max: Option<i32>,
    #[serde(default)]
    pub newbie: bool,
    pub employment_type: EmploymentType,
    /// RFC 3339; none = open until filled.
    pub deadline: Option<String>,
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// RFC 3339; default now.
    pub posted_at: Option<String>,
}

impl PostingDraft {
    pub fn try_into_domain(self) -> Result<NewPosting, ApiError> {
        Ok(NewPosting {
            title: required(&self.title, "title", 200)?,
            company: required(&self.company, "company", 100)?,
            location: required(&self.location, "location", 50)?,
            district: optional(&self.district, "district", 50)?,
            category: required(&self.category, "category", 50)?,
            skills: Skills::new(&self.skills)?,
            experience: Experience::new(self.experience_min, self.experience_max)?,
            newbie: self.newbie,
            employment_type: self.employment_type,
            deadline: time(self.deadline.as_deref(), "deadline")?,
            url: web_url(&self.url)?,
            description: optional(&self.description, "description", 20_000)?,
            posted_at: time(self.posted_at.as_deref(), "posted_at")?,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PostingPatch {
    pub title: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub skills: Option<Vec<String>>,
    pub experience_min: Option<i32>,
    /// `null` removes the upper bound.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<i32>)]
    pub experience_max: Option<Option<i32>>,
    pub newbie: Option<bool>,
    pub employment_type: Option<EmploymentType>,
    /// RFC 3339; `null` removes the deadline.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub deadline: Option<Option<String>>,
    pub url: Option<String>,
    pub description: Option<String>,
    /// `OPEN` reopens a closed posting, `CLOSED` closes it.
    pub status: Option<PostingStatus>,
}

impl PostingPatch {
    pub fn try_into_domain(self) -> Result<PostingChanges, ApiError> {
        let req = |v: Option<String>, f: &'static str, max| -> Result<_, ApiError> {
            Ok(v.map(|v| required(&v, f, max)).transpose()?)
        };
        Ok(PostingChanges {
            title: req(self.title, "title", 200)?,
            company: req(self.company, "company", 100)?,
            location: req(self.location, "location", 50)?,
            district: self
                .district
                .map(|d| optional(&d, "district", 50))
                .transpose()?,
            category: req(self.category, "category", 50)?,
            skills: self.skills.map(|s| Skills::new(&s)).transpose()?,
            experience_min: self.experience_min,
            experience_max: self.experience_max,
            newbie: self.newbie,
            employment_type: self.employment_type,
            deadline: self
                .deadline
                .map(|d| time(d.as_deref(), "deadline"))
                .transpose()?,
            url: self.url.map(|u| web_url(&u)).transpose()?,
            description: self
                .description
                .map(|d| optional(&d, "description", 20_000))
                .transpose()?,
            status: self.status,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostingFilter {
    pub category: Option<String>,
    pub location: Option<String>,
    /// Comma-separated; a posting must have every one (case-insensitive).
    pub skills: Option<String>,
    pub newbie: Option<bool>,
    /// Years of experience: postings whose range includes them.
    pub experience: Option<i32>,
    /// `true` (the default): open and before the deadline; `false`: closed or past it;
    /// `all`: both.
    pub open: Option<OpenFilter>,
    /// `relevance` (default with `q`), `recent` (default without) or `deadline`.
    pub sort: Option<PostingSort>,
    /// Words to search for in title, skills, company, category, location and description
    /// (Korean with or without particles; one typo in Latin words of 5+ letters).
    pub q: Option<String>,
}

/// Which postings a list shows by their state: a job seeker wants the ones still taking
/// applications, so that is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum OpenFilter {
    #[default]
    #[serde(rename = "true")]
    Open,
    #[serde(rename = "false")]
    Closed,
    #[serde(rename = "all")]
    All,
}

impl PostingFilter {
    pub fn try_into_domain(self) -> Result<PostingListing, ApiError> {
        let q = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(InvalidInput::Length {
                field: "q",
                max: 200,
            }
            .into());
        }
        let sort = self.sort.unwrap_or(if q.is_some() {
            PostingSort::Relevance
        } else {
            PostingSort::Recent
        });
        Ok(PostingListing {
            q,
            category: self.category.filter(|c| !c.trim().is_empty()),
            location: self.location.filter(|l| !l.trim().is_empty()),
            skills: self.skills.as_deref().map(skill_filter).unwrap_or_default(),
            newbie: self.newbie,
            experience: self.experience,
            open: match self.open.unwrap_or_default() {
                OpenFilter::Open => Some(true),
                OpenFilter::Closed => Some(false),
                OpenFilter::All => None,
            },
            sort,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GrantDraft {
    pub user_id: Uuid,
    /// 1..=1,000,000.
    pub amount: i64,
    pub reason: String,
}

impl GrantDraft {
    pub fn try_into_domain(self) -> Result<Grant, ApiError> {
        if self.amount == 0 {
            return Err(InvalidInput::Points { field: "amount" }.into());
        }
        Ok(Grant {
            user: self.user_id,
            amount: points(self.amount, "amount")?,
            reason: required(&self.reason, "reason", 100).map_err(|_| InvalidInput::Reason)?,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProgramDraft {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub skills: Vec<String>,
    /// 1..=100.
    pub capacity: i32,
    /// What an accepted mentee pays, 0..=1,000,000.
    pub cost_points: i64,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339, after `starts_at`.
    pub ends_at: String,
}

impl ProgramDraft {
    pub fn try_into_domain(self) -> Result<NewProgram, ApiError> {
        let starts_at = parse_rfc3339(&self.starts_at, "starts_at")?;
        let ends_at = parse_rfc3339(&self.ends_at, "ends_at")?;
        if ends_at <= starts_at {
            return Err(InvalidInput::Period.into());
        }
        Ok(NewProgram {
            title: required(&self.title, "title", 200)?,
            description: optional(&self.description, "description", 20_000)?,
            skills: Skills::new(&self.skills)?,
            capacity: capacity(self.capacity)?,
            cost_points: points(self.cost_points, "cost_points")?,
            starts_at,
            ends_at,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProgramPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub skills: Option<Vec<String>>,
    /// Never below the accepted mentees.
    pub capacity: Option<i32>,
    pub cost_points: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

impl ProgramPatch {
    pub fn try_into_domain(self) -> Result<ProgramChanges, ApiError> {
        Ok(ProgramChanges {
            title: self.title.map(|t| required(&t, "title", 200)).transpose()?,
            description: self
                .description
                .map(|d| optional(&d, "description", 20_000))
                .transpose()?,
            skills: self.skills.map(|s| Skills::new(&s)).transpose()?,
            capacity: self.capacity.map(capacity).transpose()?,
            cost_points: self
                .cost_points
                .map(|p| points(p, "cost_points"))
                .transpose()?,
            starts_at: time(self.starts_at.as_deref(), "starts_at")?,
            ends_at: time(self.ends_at.as_deref(), "ends_at")?,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgramFilter {
    /// Default `OPEN`.
    pub status: Option<ProgramStatus>,
    pub mentor_id: Option<Uuid>,
    pub skill: Option<String>,
}

impl ProgramFilter {
    /// A skill to filter by is one skill (at most 40 characters) without the
    /// characters the stored tag list and its `LIKE` match give a meaning to
    /// (`|`, `%`, `_`, `\`): `?skill=%` must not match every program.
    pub fn try_into_domain(self) -> Result<ProgramListing, InvalidInput> {
        let skill = self.skill.filter(|s| !s.trim().is_empty());
        if let Some(s) = &skill {
            if s.trim().chars().count() > 40 || s.contains(['|', '%', '_', '\\']) {
                return Err(InvalidInput::Skills);
            }
        }
        Ok(ProgramListing {
            status: self.status,
            mentor: self.mentor_id,
            skill,
        })
    }
}
