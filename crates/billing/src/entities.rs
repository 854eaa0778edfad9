//! SeaORM entities for reads and simple writes; counts and states move through
//! conditional updates. States are typed with the enums of `domain.rs`.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_usage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day_start: i64,
        pub used: i32,
    }
    no_relations!();
}

pub mod subscription {
    use sea_orm::entity::prelude::*;

    use crate::domain::SubscriptionStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub plan: String,
        pub status: SubscriptionStatus,
        pub amount: i64,
        pub first_tid: Option<String>,
        pub sid: Option<String>,
        pub period_end: i64,
        pub due_at: Option<i64>,
        pub failed_charges: i32,
        pub live_key: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod charge {
    use sea_orm::entity::prelude::*;

    use crate::domain::ChargeStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_charges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub subscription_id: Uuid,
        pub user_id: Uuid,
        pub period_start: i64,
        pub period_end: i64,
        pub order_id: String,
        pub amount: i64,
        pub status: ChargeStatus,
        pub attempts: i32,
        pub attempt_day: i64,
        pub tid: Option<String>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod batch_run {
    use sea_orm::entity::prelude::*;

    use crate::domain::RunState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_batch_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub job: String,
        pub day: String,
        pub state: RunState,
        pub charged: i64,
        pub failed: i64,
        pub downgraded: i64,
        pub skipped: i64,
        pub held: i64,
        pub deleted_usage: i64,
        pub runner: String,
        pub started_at: i64,
        pub finished_at: Option<i64>,
        pub error: Option<String>,
    }
    no_relations!();
}
