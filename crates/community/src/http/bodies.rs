//! The request bodies and query parameters of the community routes: each converts with
//! `try_into_domain()` into validated domain values before reaching a use case.

use serde::{Deserialize, Deserializer};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::{
    image_ids, optional, required, InvalidInput, Place, Radius, VoteKind, BODY_MAX, COMMENT_MAX,
    PLACE_NAME_MAX, TITLE_MAX,
};
use crate::posts::{NewPost, PostChanges};

/// Where and how far are query parameters (400 with their own code); the rest of a
/// body is 422 `validation_failed` naming the field.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        if e.is_bad_request() {
            ApiError::bad_request(e.code(), e.to_string()).with("field", e.field())
        } else {
            ApiError::validation(e.to_string())
                .with("field", e.field())
                .with("reason", e.code())
        }
    }
}

/// `null` clears, absent leaves as is.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PostDraft {
    /// 1..=100 characters.
    pub title: String,
    /// 1..=5000 characters.
    pub body: String,
    pub latitude: f64,
    pub longitude: f64,
    /// At most 100 characters.
    pub place_name: Option<String>,
    /// Images uploaded by the author (`POST /api/v1/community/images`), at most 10.
    #[serde(default)]
    pub image_ids: Vec<Uuid>,
}

impl PostDraft {
    pub fn try_into_domain(self) -> Result<NewPost, InvalidInput> {
        Ok(NewPost {
            title: required("title", &self.title, TITLE_MAX)?,
            body: required("body", &self.body, BODY_MAX)?,
            place: Place::new(self.latitude, self.longitude)?,
            place_name: optional("place_name", self.place_name.as_deref(), PLACE_NAME_MAX)?,
            image_ids: image_ids(&self.image_ids)?,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PostPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    /// With `longitude`: moves the post.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub place_name: Option<Option<String>>,
    pub image_ids: Option<Vec<Uuid>>,
}

impl PostPatch {
    pub fn try_into_domain(self) -> Result<PostChanges, InvalidInput> {
        Ok(PostChanges {
            title: self
                .title
                .map(|t| required("title", &t, TITLE_MAX))
                .transpose()?,
            body: self
                .body
                .map(|b| required("body", &b, BODY_MAX))
                .transpose()?,
            place: Place::maybe(self.latitude, self.longitude)?,
            place_name: self
                .place_name
                .map(|n| optional("place_name", n.as_deref(), PLACE_NAME_MAX))
                .transpose()?,
            image_ids: self.image_ids.map(|ids| image_ids(&ids)).transpose()?,
        })
    }
}

/// Which posts: `mine=true` (signed in), or near a point.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostFilter {
    /// The caller's own posts, newest first.
    pub mine: Option<bool>,
    /// With `longitude`: posts within `radius_m` of this point, newest first.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Metres, 1..=50000 (default 5000).
    pub radius_m: Option<f64>,
}

/// What a post list asks for.
pub enum PostListing {
    Mine,
    Near(Place, Radius),
}

impl PostFilter {
    pub fn try_into_domain(self) -> Result<PostListing, ApiError> {
        if self.mine == Some(true) {
            return Ok(PostListing::Mine);
        }
        let radius = Radius::new(self.radius_m)?;
        match Place::maybe(self.latitude, self.longitude)? {
            Some(p) => Ok(PostListing::Near(p, radius)),
            None => Err(ApiError::bad_request(
                "location_required",
                "give latitude and longitude (posts near a point) or mine=true",
            )),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VoteBody {
    #[serde(rename = "type")]
    pub kind: VoteKind,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentDraft {
    /// 1..=1000 characters.
    pub body: String,
    /// Replying to this top-level comment of the same post.
    pub parent_id: Option<Uuid>,
}

impl CommentDraft {
    pub fn try_into_domain(self) -> Result<(String, Option<Uuid>), InvalidInput> {
        Ok((required("body", &self.body, COMMENT_MAX)?, self.parent_id))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentPatch {
    pub body: String,
}

impl CommentPatch {
    pub fn try_into_domain(self) -> Result<String, InvalidInput> {
        required("body", &self.body, COMMENT_MAX)
    }
}
