//! Cursor pagination: `?cursor=&limit=`, answers `{items, next_cursor}`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ApiError;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 20).
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The decoded cursor (whatever the route encoded into it), if any.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        let Some(c) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        // Every cursor we hand out is short; a long one is made up.
        if c.len() > MAX_CURSOR_LEN {
            return Err(invalid_cursor());
        }
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(invalid_cursor)
    }

    /// The cursor of routes that page by a (time-ordered) id.
    pub fn uuid_cursor(&self) -> Result<Option<uuid::Uuid>, ApiError> {
        self.cursor()?
            .map(|c| c.parse().map_err(|_| invalid_cursor()))
            .transpose()
    }
}

/// Longest encoded cursor accepted.
pub const MAX_CURSOR_LEN: usize = 512;

pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "the cursor is not valid")
}

pub fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw.as_bytes())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&cursor_of(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let q = PageQuery {
            cursor: Some(encode_cursor("0|abc")),
            limit: None,
        };
        assert_eq!(q.cursor().ok().flatten().as_deref(), Some("0|abc"));
        assert_eq!(q.limit().ok(), Some(DEFAULT_LIMIT));
        let bad = PageQuery {
            cursor: Some("!!!".into()),
            limit: Some(0),
        };
        assert!(bad.cursor().is_err());
        assert!(bad.limit().is_err());
    }

    #[test]
    fn page_from_rows_sets_cursor_only_when_more() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next_cursor, Some(encode_cursor("2")));
        let last = Page::from_rows(vec![1, 2], 2, |n| n.to_string());
        assert!(last.next_cursor.is_none());
    }
}
