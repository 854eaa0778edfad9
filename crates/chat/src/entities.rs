//! SeaORM entities. A room's `last_seq` moves only through the conditional update in
//! `messages.rs`; states are typed with the enums of `domain.rs`. The weather-alert
//! tables (alerts, follows, notices, polls, leases) belong to `alerts/`.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod room {
    use sea_orm::entity::prelude::*;

    use crate::domain::{RoomKind, RoomStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_rooms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: RoomKind,
        pub name: String,
        pub description: String,
        pub status: RoomStatus,
        /// The seq of the newest message (0: none yet); every message takes the next.
        pub last_seq: i64,
        pub member_count: i32,
        pub created_by: Uuid,
        pub created_at: i64,
        /// When the newest message was sent (or the room created): lists sort by it.
        pub last_message_at: i64,
        /// A weather-alert room's province (unique: one room per province).
        pub province_code: Option<String>,
        /// When it was last closed (an alert room is deleted 7 days after).
        pub closed_at: Option<i64>,
    }
    no_relations!();
}

pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub room_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        /// The member has read every message up to this seq.
        pub last_read_seq: i64,
        pub joined_at: i64,
    }
    no_relations!();
}

pub mod message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub room_id: Uuid,
        pub seq: i64,
        pub sender_id: Uuid,
        pub client_id: String,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub sent_at: i64,
    }
    no_relations!();
}

pub mod weather_alert {
    use sea_orm::entity::prelude::*;

    use crate::domain::AlertStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_weather_alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `WeatherAlert::key`: zone, announcement, effect and kind (unique).
        pub alert_key: String,
        pub province_code: String,
        pub region_code: String,
        pub region_name: String,
        /// `AlertKind::code`, `AlertLevel::code`.
        pub kind: String,
        pub level: String,
        pub announced_at: i64,
        pub effective_at: i64,
        pub ends_at: Option<i64>,
        pub station: Option<String>,
        pub status: AlertStatus,
        pub first_seen_at: i64,
        pub updated_at: i64,
        pub ended_at: Option<i64>,
    }
    no_relations!();
}

pub mod follow {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_province_follows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub province_code: String,
        pub followed_at: i64,
    }
    no_relations!();
}

pub mod notice {
    use sea_orm::entity::prelude::*;

    /// One follower to tell of one opening of an alert room.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_alert_notices")]
    pub struct Model {
        /// The id of the opening's event.
        #[sea_orm(primary_key, auto_increment = false)]
        pub opening_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub room_id: Uuid,
        pub created_at: i64,
        /// Set by the instance that sends it, before it sends (cleared if that fails).
        pub sent_at: Option<i64>,
    }
    no_relations!();
}

pub mod poll {
    use sea_orm::entity::prelude::*;

    use crate::domain::PollStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_alert_polls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub source: String,
        pub started_at: i64,
        pub finished_at: Option<i64>,
        pub status: PollStatus,
        pub alerts: i32,
        pub unreadable: i32,
        pub opened: i32,
        pub reopened: i32,
        pub renamed: i32,
        pub closed: i32,
        pub error: Option<String>,
    }
    no_relations!();
}
