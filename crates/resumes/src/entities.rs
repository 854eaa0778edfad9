//! SeaORM entities for reads and simple writes; counters move only through relative
//! updates in the transaction of the row they count, and a writer's result lands only
//! through a conditional update on the attempt it claimed.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod resume {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Position, ResumeStatus, SchoolType, Visibility};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "resumes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub owner_id: Uuid,
        pub github_login: String,
        pub position: Position,
        pub school_type: Option<SchoolType>,
        /// The owner's notes for the writer, a JSON array of strings.
        pub highlights: String,
        pub visibility: Visibility,
        pub status: ResumeStatus,
        /// Why the first version could not be written, or why the last AI edit failed.
        pub failure: Option<String>,
        /// The current version (0 until the first is written).
        pub version: i32,
        /// Who wrote the current version: `template`, the model's name, or `owner`.
        pub writer: String,
        /// The current version's sections as JSON (`None` until the first is written).
        pub sections: Option<String>,
        /// The instruction of the AI edit in progress.
        pub pending_instruction: Option<String>,
        /// Attempts of the job in progress (a generation or an AI edit).
        pub attempts: i32,
        /// When a writer should next work on the job in progress: a claim moves it past
        /// the claim's lease, a transient failure to the retry. `None`: no job.
        pub due_at: Option<i64>,
        /// When the job in progress took its use of the daily quota (given back if the
        /// job fails).
        pub use_taken_at: Option<i64>,
        pub like_count: i64,
        pub comment_count: i64,
        pub view_count: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub deleted_at: Option<i64>,
    }
    no_relations!();
}

pub mod version {
    use sea_orm::entity::prelude::*;

    use crate::domain::Origin;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resume_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resume_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub origin: Origin,
        /// JSON.
        pub sections: String,
        pub instruction: Option<String>,
        pub writer: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod like {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resume_likes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resume_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resume_comments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub resume_id: Uuid,
        pub author_id: Uuid,
        pub body: String,
        pub created_at: i64,
        pub updated_at: i64,
        pub deleted_at: Option<i64>,
    }
    no_relations!();
}
