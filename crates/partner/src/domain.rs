//! Categories and conditions, and when two sets of conditions can meet.

use serde::{Deserialize, Serialize};
use surge_kernel::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Meal,
    Study,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Meal => "MEAL",
            Category::Study => "STUDY",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MEAL" => Some(Category::Meal),
            "STUDY" => Some(Category::Study),
            _ => None,
        }
    }
    pub const ALL: [Category; 2] = [Category::Meal, Category::Study];
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Place {
    Seocho,
    Gaepo,
    OutOfCluster,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Way {
    Delivery,
    Eatout,
    Takeout,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StudyType {
    InnerCircle,
    NotInnerCircle,
}

/// What a room offers or an applicant accepts. An empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conditions {
    #[serde(default)]
    pub places: Vec<Place>,
    /// Meals only.
    #[serde(default)]
    pub ways: Vec<Way>,
    /// Study only.
    #[serde(default)]
    pub study_types: Vec<StudyType>,
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// The common part of two acceptable lists, `None` if they cannot meet. Empty = any.
fn meet<T: Ord + Copy>(a: &[T], b: &[T]) -> Option<Vec<T>> {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => Some(b.to_vec()),
        (_, true) => Some(a.to_vec()),
        _ => {
            let both: Vec<T> = a.iter().filter(|x| b.contains(x)).copied().collect();
            (!both.is_empty()).then_some(both)
        }
    }
}

impl Conditions {
    /// Sorted, without duplicates, and only the dimensions the category has.
    pub fn normalized(self, category: Category) -> Result<Self, ApiError> {
        let c = Conditions {
            places: dedup(self.places),
            ways: dedup(self.ways),
            study_types: dedup(self.study_types),
        };
        match category {
            Category::Meal if !c.study_types.is_empty() => {
                Err(ApiError::validation("study_types apply to STUDY only")
                    .with("field", "study_types"))
            }
            Category::Study if !c.ways.is_empty() => {
                Err(ApiError::validation("ways apply to MEAL only").with("field", "ways"))
            }
            _ => Ok(c),
        }
    }

    /// What both accept, or `None` if some dimension has nothing in common.
    pub fn meet(&self, other: &Conditions) -> Option<Conditions> {
        Some(Conditions {
            places: meet(&self.places, &other.places)?,
            ways: meet(&self.ways, &other.ways)?,
            study_types: meet(&self.study_types, &other.study_types)?,
        })
    }

    /// `|SEOCHO|GAEPO|ANY_WAY|ANY_STUDY_TYPE|`: what a list filter matches with LIKE.
    pub fn tags(&self) -> String {
        fn part<T: Serialize>(out: &mut String, v: &[T], any: &str) {
            if v.is_empty() {
                out.push_str(any);
                out.push('|');
            }
            for x in v {
                if let Ok(serde_json::Value::String(s)) = serde_json::to_value(x) {
                    out.push_str(&s);
                    out.push('|');
                }
            }
        }
        let mut out = String::from("|");
        part(&mut out, &self.places, "ANY_PLACE");
        part(&mut out, &self.ways, "ANY_WAY");
        part(&mut out, &self.study_types, "ANY_STUDY_TYPE");
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(s: &str) -> Conditions {
        serde_json::from_str(s).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_any_and_lists_must_overlap() {
        let a = Conditions {
            places: vec![Place::Seocho, Place::Gaepo],
            ways: vec![],
            study_types: vec![],
        };
        let b = Conditions {
            places: vec![Place::Gaepo],
            ways: vec![Way::Delivery],
            study_types: vec![],
        };
        let both = a.meet(&b).unwrap();
        assert_eq!(both.places, vec![Place::Gaepo]);
        assert_eq!(both.ways, vec![Way::Delivery]);
        let c = Conditions {
            places: vec![Place::OutOfCluster],
            ..Conditions::default()
        };
        assert_eq!(a.meet(&c), None);
        assert_eq!(Conditions::default().meet(&c), Some(c.clone()));
    }
}
