//! Identity's tables (SeaORM entities) and its migrations.

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub nickname: String,
        pub nickname_key: String,
        pub password_hash: Option<String>,
        pub role: String,
        pub active: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    /// One refresh token. Tokens descended from one login share a `family_id`, which
    /// is also the session id carried in access tokens.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub family_id: Uuid,
        pub user_id: Uuid,
        /// SHA-256 of the token: a leaked table does not leak usable tokens.
        pub token_hash: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub spent_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oauth_identity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_oauth_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub user_id: Uuid,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod migration {
    use sea_orm_migration::prelude::*;

    pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateIdentityTables)]
    }

    struct CreateIdentityTables;

    impl MigrationName for CreateIdentityTables {
        fn name(&self) -> &str {
            "m20261121_000100_identity_tables"
        }
    }

    fn a(name: &str) -> Alias {
        Alias::new(name)
    }

    #[async_trait::async_trait]
    impl MigrationTrait for CreateIdentityTables {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(a("identity_users"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                    .col(ColumnDef::new(a("email")).string_len(254).not_null())
                    .col(ColumnDef::new(a("nickname")).string_len(80).not_null())
                    .col(ColumnDef::new(a("nickname_key")).string_len(80).not_null())
                    .col(ColumnDef::new(a("password_hash")).string_len(200).null())
                    .col(ColumnDef::new(a("role")).string_len(10).not_null())
                    .col(ColumnDef::new(a("active")).boolean().not_null())
                    .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("updated_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
            // The unique indexes are what make "one account per email / nickname" hold
            // under concurrent signups; index names appear in violation messages.
            for (name, col) in [
                ("uq_identity_users_email", "email"),
                ("uq_identity_users_nickname", "nickname_key"),
            ] {
                m.create_index(
                    Index::create()
                        .name(name)
                        .table(a("identity_users"))
                        .col(a(col))
                        .unique()
                        .to_owned(),
                )
                .await?;
            }
            m.create_table(
                Table::create()
                    .table(a("identity_refresh_tokens"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                    .col(ColumnDef::new(a("family_id")).uuid().not_null())
                    .col(ColumnDef::new(a("user_id")).uuid().not_null())
                    .col(ColumnDef::new(a("token_hash")).string_len(64).not_null())
                    .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("expires_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("spent_at")).big_integer().null())
                    .col(ColumnDef::new(a("revoked_at")).big_integer().null())
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("uq_identity_refresh_hash")
                    .table(a("identity_refresh_tokens"))
                    .col(a("token_hash"))
                    .unique()
                    .to_owned(),
            )
            .await?;
            for (name, col) in [
                ("ix_identity_refresh_family", "family_id"),
                ("ix_identity_refresh_user", "user_id"),
            ] {
                m.create_index(
                    Index::create()
                        .name(name)
                        .table(a("identity_refresh_tokens"))
                        .col(a(col))
                        .to_owned(),
                )
                .await?;
            }
            m.create_table(
                Table::create()
                    .table(a("identity_oauth_identities"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("provider")).string_len(20).not_null())
                    .col(ColumnDef::new(a("subject")).string_len(100).not_null())
                    .col(ColumnDef::new(a("user_id")).uuid().not_null())
                    .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                    .primary_key(Index::create().col(a("provider")).col(a("subject")))
                    .to_owned(),
            )
            .await?;
            Ok(())
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            for t in [
                "identity_oauth_identities",
                "identity_refresh_tokens",
                "identity_users",
            ] {
                m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
            }
            Ok(())
        }
    }
}
