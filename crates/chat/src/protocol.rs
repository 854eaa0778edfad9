//! The WebSocket protocol: JSON text frames with a `type`. What a client sends
//! converts into a [`Command`] of validated values before anything runs; what the
//! server sends is a [`ServerFrame`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{ClientId, InvalidInput, MessageBody, Seq};
use crate::messages::MessageView;

/// A frame from the client, as sent.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Open a room on this connection; with `after_seq`, first get every message after it.
    Join {
        room_id: Uuid,
        #[serde(default)]
        after_seq: Option<i64>,
    },
    Leave {
        room_id: Uuid,
    },
    Send {
        room_id: Uuid,
        client_id: String,
        body: String,
    },
}

/// A client frame, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Join {
        room_id: Uuid,
        after: Option<Seq>,
    },
    Leave {
        room_id: Uuid,
    },
    Send {
        room_id: Uuid,
        client_id: ClientId,
        body: MessageBody,
    },
}

/// Why a frame could not become a command: the error frame to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub detail: String,
    pub client_id: Option<String>,
    pub room_id: Option<Uuid>,
}

impl Refused {
    fn invalid(e: InvalidInput, room_id: Uuid, client_id: Option<String>) -> Self {
        Refused {
            code: e.code(),
            detail: e.to_string(),
            client_id,
            room_id: Some(room_id),
        }
    }
}

impl ClientFrame {
    pub fn parse(text: &str) -> Result<Self, Refused> {
        serde_json::from_str(text).map_err(|e| Refused {
            code: "invalid_frame",
            detail: format!("not a join, leave or send frame: {e}"),
            client_id: None,
            room_id: None,
        })
    }

    pub fn try_into_domain(self) -> Result<Command, Refused> {
        match self {
            ClientFrame::Join { room_id, after_seq } => Ok(Command::Join {
                room_id,
                after: after_seq
                    .map(Seq::new)
                    .transpose()
                    .map_err(|e| Refused::invalid(e, room_id, None))?,
            }),
            ClientFrame::Leave { room_id } => Ok(Command::Leave { room_id }),
            ClientFrame::Send {
                room_id,
                client_id,
                body,
            } => {
                let id =
                    ClientId::new(&client_id).map_err(|e| Refused::invalid(e, room_id, None))?;
                let body = MessageBody::new(&body)
                    .map_err(|e| Refused::invalid(e, room_id, Some(client_id)))?;
                Ok(Command::Send {
                    room_id,
                    client_id: id,
                    body,
                })
            }
        }
    }
}

/// A frame from the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The room is open on this connection; live messages follow anything replayed.
    Joined {
        room_id: Uuid,
        last_seq: i64,
    },
    Left {
        room_id: Uuid,
    },
    Message(MessageView),
    /// The message with this `client_id` is stored as `seq` (also for a resend).
    Ack {
        room_id: Uuid,
        client_id: String,
        seq: i64,
        id: Uuid,
    },
    /// How many connections have the room open, on every instance.
    Presence {
        room_id: Uuid,
        online: i64,
    },
    Error {
        code: String,
        detail: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        room_id: Option<Uuid>,
    },
}

impl ServerFrame {
    pub fn error(code: &str, detail: impl Into<String>) -> Self {
        ServerFrame::Error {
            code: code.to_owned(),
            detail: detail.into(),
            client_id: None,
            room_id: None,
        }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","detail":"unserializable frame"}"#.to_owned()
        })
    }
}

impl From<Refused> for ServerFrame {
    fn from(r: Refused) -> Self {
        ServerFrame::Error {
            code: r.code.to_owned(),
            detail: r.detail,
            client_id: r.client_id,
            room_id: r.room_id,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_become_commands_or_error_frames() {
        let room = Uuid::nil();
        let join = ClientFrame::parse(&format!(
            r#"{{"type":"join","room_id":"{room}","after_seq":3}}"#
        ))
        .unwrap()
        .try_into_domain()
        .unwrap();
        assert_eq!(
            join,
            Command::Join {
                room_id: room,
                after: Some(Seq::new(3).unwrap())
            }
        );
        let long = "가".repeat(1001);
        let refused = ClientFrame::parse(&format!(
            r#"{{"type":"send","room_id":"{room}","client_id":"c1","body":"{long}"}}"#
        ))
        .unwrap()
        .try_into_domain()
        .unwrap_err();
        assert_eq!(refused.code, "invalid_body_length");
        assert_eq!(refused.client_id.as_deref(), Some("c1"));
        assert_eq!(ClientFrame::parse("{}").unwrap_err().code, "invalid_frame");
        assert_eq!(
            ClientFrame::parse(r#"{"type":"shout"}"#).unwrap_err().code,
            "invalid_frame"
        );
    }

    #[test]
    fn a_message_frame_carries_the_view_flat() {
        let f = ServerFrame::Message(MessageView {
            room_id: Uuid::nil(),
            seq: 7,
            id: Uuid::nil(),
            sender: Uuid::nil(),
            body: "안녕".into(),
            sent_at: "2026-12-01T00:00:00.000Z".into(),
        });
        let v: serde_json::Value = serde_json::from_str(&f.to_text()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["body"], "안녕");
    }
}
