//! SeaORM entities for reads and simple writes; counts move through conditional updates.
//! States are typed with the enums of `domain.rs` (stored as the same strings).

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod room {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Category, RoomStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_rooms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub author_id: Uuid,
        pub category: Category,
        pub title: String,
        pub body: String,
        pub capacity: i32,
        pub member_count: i32,
        pub meets_at: i64,
        pub anonymous: bool,
        /// `Conditions` as JSON.
        pub conditions: String,
        pub tags: String,
        pub status: RoomStatus,
        pub deleted: bool,
        pub match_id: Option<Uuid>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub room_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub joined_at: i64,
    }
    no_relations!();
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_comments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub room_id: Uuid,
        pub author_id: Uuid,
        pub parent_id: Option<Uuid>,
        pub body: String,
        pub deleted: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod application {
    use sea_orm::entity::prelude::*;

    use crate::domain::{ApplicationStatus, Category};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_applications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub category: Category,
        pub conditions: String,
        pub status: ApplicationStatus,
        pub live_key: Option<String>,
        pub match_id: Option<Uuid>,
        pub created_at: i64,
        pub expires_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod matched {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Category, MatchKind};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_matches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub category: Category,
        pub source: MatchKind,
        pub room_id: Option<Uuid>,
        pub conditions: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod match_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_match_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub match_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
    }
    no_relations!();
}

pub mod review {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub match_id: Uuid,
        pub reviewer_id: Uuid,
        pub reviewee_id: Uuid,
        pub stars: i32,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_activity")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reason: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_id: Uuid,
        pub points: i32,
        pub created_at: i64,
    }
    no_relations!();
}
