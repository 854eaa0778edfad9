//! Notification rules: which notifications a "mark read" touches, the list cursor, the
//! welcome greeting. Pure values, parsed once at the edge.

use surge_kernel::ports::NewNotification;
use thiserror::Error;
use uuid::Uuid;

/// Most ids one "mark read" request may name.
pub const MAX_MARK_IDS: usize = 1000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("send either up to 1000 `ids` or `all: true`")]
    MarkSelection,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidInput::MarkSelection => "validation_failed",
        }
    }
}

/// The notifications a "mark read" applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkSelection {
    All,
    /// At most [`MAX_MARK_IDS`]; may be empty (then nothing changes).
    These(Vec<Uuid>),
}

impl MarkSelection {
    /// Exactly one of `ids` and `all` must be given.
    pub fn new(ids: Option<Vec<Uuid>>, all: bool) -> Result<Self, InvalidInput> {
        match (ids, all) {
            (None, true) => Ok(MarkSelection::All),
            (Some(ids), false) if ids.len() <= MAX_MARK_IDS => Ok(MarkSelection::These(ids)),
            _ => Err(InvalidInput::MarkSelection),
        }
    }
}

/// Where a page of the list starts: the list shows the unread part, then the read
/// part, each newest first. Encoded as `u:<id>` / `r:<id>` inside the page cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCursor {
    /// After this notification, inside the unread part.
    Unread(Uuid),
    /// After this notification, inside the read part.
    Read(Uuid),
}

impl ListCursor {
    pub fn parse(raw: &str) -> Option<Self> {
        let (part, id) = raw.split_once(':')?;
        let id = id.parse::<Uuid>().ok()?;
        match part {
            "u" => Some(ListCursor::Unread(id)),
            "r" => Some(ListCursor::Read(id)),
            _ => None,
        }
    }

    /// The cursor after `id`, which is read or not.
    pub fn after(id: Uuid, read: bool) -> Self {
        if read {
            ListCursor::Read(id)
        } else {
            ListCursor::Unread(id)
        }
    }

    pub fn encode(self) -> String {
        match self {
            ListCursor::Unread(id) => format!("u:{id}"),
            ListCursor::Read(id) => format!("r:{id}"),
        }
    }
}

/// The kind of the greeting every new account gets.
pub const WELCOME_KIND: &str = "welcome";

/// The first notification a user sees.
pub fn welcome(nickname: &str) -> NewNotification {
    NewNotification {
        kind: WELCOME_KIND.into(),
        title: format!("Welcome to Surge, {nickname}!"),
        body: "Your account is ready.".into(),
        data: serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_selection_names_ids_or_all_never_both() {
        let id = Uuid::now_v7();
        assert_eq!(MarkSelection::new(None, true), Ok(MarkSelection::All));
        assert_eq!(
            MarkSelection::new(Some(vec![id]), false),
            Ok(MarkSelection::These(vec![id]))
        );
        assert_eq!(
            MarkSelection::new(Some(Vec::new()), false),
            Ok(MarkSelection::These(Vec::new()))
        );
        for (ids, all) in [
            (None, false),
            (Some(vec![id]), true),
            (Some(vec![id; MAX_MARK_IDS + 1]), false),
        ] {
            assert_eq!(
                MarkSelection::new(ids, all),
                Err(InvalidInput::MarkSelection)
            );
        }
        assert_eq!(InvalidInput::MarkSelection.code(), "validation_failed");
    }

    #[test]
    fn list_cursors_round_trip_and_refuse_other_parts() {
        let id = Uuid::now_v7();
        for c in [ListCursor::Unread(id), ListCursor::Read(id)] {
            assert_eq!(ListCursor::parse(&c.encode()), Some(c));
        }
        assert_eq!(ListCursor::after(id, true), ListCursor::Read(id));
        assert_eq!(ListCursor::after(id, false), ListCursor::Unread(id));
        for bad in ["", "u", "x:00000000-0000-0000-0000-000000000000", "u:nope"] {
            assert_eq!(ListCursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_welcome_names_the_user() {
        let n = welcome("김서울");
        assert_eq!(n.kind, "welcome");
        assert_eq!(n.title, "Welcome to Surge, 김서울!");
    }
}
