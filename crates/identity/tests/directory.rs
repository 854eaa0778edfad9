//! `UserDirectory`: how other modules (partner's rooms and comments) see users, one at a
//! time or many in one lookup, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use surge_identity::directory::Directory;
use surge_identity::entities::user;
use surge_kernel::auth::Role;
use surge_kernel::ports::UserDirectory;
use surge_testkit::matrix;
use uuid::Uuid;

matrix! {
    async fn find_many_answers_every_known_id_and_leaves_out_unknown_ones(app) {
        let users = app.quick_users(3).await;
        let admin = app.admin("boss@example.com").await;
        let ids: Vec<Uuid> = users.iter().chain([&admin])
            .map(|s| s.user_id.parse().unwrap())
            .collect();
        let directory = Directory(app.identity.clone());

        let unknown = Uuid::now_v7();
        let found = directory.find_many(&[ids[0], unknown, ids[1], ids[2], ids[3], ids[0]]).await.unwrap();
        assert_eq!(found.len(), 4, "the four known users, once each: {found:?}");
        assert!(!found.contains_key(&unknown), "an unknown id is absent, not an error");
        for id in &ids {
            let one = directory.find(*id).await.unwrap().expect("a known user");
            assert_eq!(found[id], one, "find_many agrees with find");
            assert_eq!(one.id, *id);
            assert!(one.active);
        }
        assert_eq!(found[&ids[0]].role, Role::User);
        assert_eq!(found[&ids[3]].role, Role::Admin);
        assert_eq!(found[&ids[3]].email, "boss@example.com");
        assert_eq!(directory.find(unknown).await.unwrap(), None);
        assert!(directory.find_many(&[]).await.unwrap().is_empty());

        // More ids than one IN list takes: the known ones sit in the second chunk.
        let mut many: Vec<Uuid> = (0..600).map(|_| Uuid::now_v7()).collect();
        many.extend(&ids);
        let found = directory.find_many(&many).await.unwrap();
        assert_eq!(found.len(), 4);
        assert!(ids.iter().all(|id| found.contains_key(id)));
    }

    async fn a_stored_role_nobody_knows_is_an_error_not_a_plain_user(app) {
        let s = app.quick_users(2).await;
        let (odd, fine): (Uuid, Uuid) = (s[0].user_id.parse().unwrap(), s[1].user_id.parse().unwrap());
        user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value("ROOT"))
            .filter(user::Column::Id.eq(odd))
            .exec(&app.app_foundation.db)
            .await
            .unwrap();
        let directory = Directory(app.identity.clone());
        assert!(directory.find(odd).await.is_err(), "an unknown role is not read as USER");
        assert!(directory.find_many(&[odd, fine]).await.is_err());
        assert_eq!(directory.find(fine).await.unwrap().map(|u| u.role), Some(Role::User));
    }
}
