//! SeaORM entities for reads and simple writes; counters move only through relative
//! conditional updates in the transaction of the row they count.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_posts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub author_id: Uuid,
        pub title: String,
        pub body: String,
        pub latitude: f64,
        pub longitude: f64,
        pub place_name: Option<String>,
        /// Geohashes of length 4, 5 and 6 (`geo::LEVELS`): what a radius search narrows by.
        pub cell4: String,
        pub cell5: String,
        pub cell6: String,
        /// The attached images' ids, a JSON array in order.
        pub image_ids: String,
        pub up_count: i64,
        pub down_count: i64,
        pub view_count: i64,
        pub comment_count: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub deleted_at: Option<i64>,
    }
    no_relations!();
}

pub mod vote {
    use sea_orm::entity::prelude::*;

    use crate::domain::VoteKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_votes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub post_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub kind: VoteKind,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_comments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub post_id: Uuid,
        /// A reply's top-level comment (one level of replies).
        pub parent_id: Option<Uuid>,
        pub author_id: Uuid,
        pub body: String,
        pub created_at: i64,
        pub updated_at: i64,
        pub deleted_at: Option<i64>,
    }
    no_relations!();
}

pub mod image {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_images")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub owner_id: Uuid,
        /// `image/jpeg`, `image/png` or `image/webp`: what was stored (re-encoded).
        pub content_type: String,
        pub width: i32,
        pub height: i32,
        pub size_bytes: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod mission {
    use sea_orm::entity::prelude::*;

    use crate::domain::Slot;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_missions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub description: String,
        pub points: i64,
        pub slot: Slot,
        pub active: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod mission_history {
    use sea_orm::entity::prelude::*;

    use crate::domain::{MissionState, Slot};

    /// A mission given to a user for one slot of one KST day (unique per user, day, slot).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_mission_histories")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub mission_id: Uuid,
        /// The KST day, `YYYY-MM-DD`.
        pub day: String,
        pub slot: Slot,
        pub status: MissionState,
        /// The points the mission was worth when given (an edit later changes nothing).
        pub points: i64,
        pub proof_image_id: Option<Uuid>,
        pub submitted_at: Option<i64>,
        pub decided_at: Option<i64>,
        pub decided_by: Option<Uuid>,
        pub reject_reason: Option<String>,
        /// Why the automatic verifier left the proof to the admins.
        pub verifier_note: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod point_entry {
    use sea_orm::entity::prelude::*;

    /// One award: unique per mission history, so a mission pays once.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_point_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub history_id: Uuid,
        pub points: i64,
        pub reason: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod point_total {
    use sea_orm::entity::prelude::*;

    /// A user's points in one period (`all`, `d2026-12-06`, `w2026-11-30`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_point_totals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub points: i64,
        pub updated_at: i64,
    }
    no_relations!();
}
