//! SeaORM entities for reads and simple writes; balances, places and states move through
//! conditional updates. States are typed with the enums of `domain.rs`.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod posting {
    use sea_orm::entity::prelude::*;

    use crate::domain::{EmploymentType, PostingStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_postings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub source: String,
        pub source_id: String,
        pub title: String,
        pub company: String,
        pub location: String,
        pub district: String,
        pub category: String,
        /// The skills as given, a JSON array; `careers_posting_skills` is what filters.
        pub skills: String,
        pub experience_min: i32,
        pub experience_max: Option<i32>,
        pub newbie: bool,
        pub employment_type: EmploymentType,
        pub deadline: Option<i64>,
        /// `deadline`, or year 9999 without one: what `sort=deadline` pages by.
        pub deadline_key: i64,
        /// When the deadline reminder is due (00:00 KST the day before).
        pub remind_at: Option<i64>,
        pub url: String,
        pub description: String,
        pub posted_at: i64,
        pub status: PostingStatus,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod posting_skill {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_posting_skills")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub posting_id: Uuid,
        /// Lowercase.
        #[sea_orm(primary_key, auto_increment = false)]
        pub skill: String,
    }
    no_relations!();
}

pub mod scrap {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_scraps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub posting_id: Uuid,
        pub active: bool,
        pub scrapped_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod balance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_point_balances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub balance: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod ledger {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_point_ledger")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub delta: i64,
        pub balance_after: i64,
        /// `scrap`, `grant`, `mentoring`, `refund`.
        pub reason: String,
        /// Unique: the same change (`scrap:{posting}:{user}`) is recorded once.
        pub change_key: String,
        pub subject_id: Option<Uuid>,
        pub note: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod program {
    use sea_orm::entity::prelude::*;

    use crate::domain::ProgramStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_programs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub mentor_id: Uuid,
        pub title: String,
        pub description: String,
        /// JSON array as given.
        pub skills: String,
        /// `|rust|axum|` for skill filters.
        pub tags: String,
        pub capacity: i32,
        pub accepted: i32,
        pub cost_points: i64,
        pub starts_at: i64,
        pub ends_at: i64,
        pub status: ProgramStatus,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod application {
    use sea_orm::entity::prelude::*;

    use crate::domain::ApplicationStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_applications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub program_id: Uuid,
        pub user_id: Uuid,
        pub status: ApplicationStatus,
        /// The program's price when the mentee applied: what accepting charges, whatever
        /// the mentor sets the price to later.
        pub cost_points: i64,
        /// `<program>:<user>` while pending or accepted, NULL after.
        pub live_key: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod reminder {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_reminders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub posting_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub deadline: i64,
        pub sent_at: i64,
    }
    no_relations!();
}

pub mod sync_run {
    use sea_orm::entity::prelude::*;

    use crate::domain::{SyncStatus, SyncTrigger};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_sync_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The configured source's name (what its postings carry as `source`).
        pub source: String,
        pub trigger: SyncTrigger,
        pub started_at: i64,
        pub finished_at: Option<i64>,
        pub status: SyncStatus,
        pub new_postings: i64,
        pub updated_postings: i64,
        pub closed_postings: i64,
        pub failed_items: i64,
        pub error: Option<String>,
    }
    no_relations!();
}

pub mod news_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_news")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The configured feed's name.
        pub feed: String,
        /// Unique per feed.
        pub guid: String,
        pub title: String,
        pub url: String,
        pub summary: String,
        pub published_at: i64,
        /// `|당근|토스|`: the companies of postings the item mentions.
        pub companies: String,
        /// Lowercase title and summary: what `q` matches.
        pub search_text: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod feed_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "careers_feeds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub etag: Option<String>,
        pub last_modified: Option<String>,
        pub fetched_at: i64,
    }
    no_relations!();
}
