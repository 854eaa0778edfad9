//! Administration: listing users, changing roles and the active flag, the bootstrap
//! admin account.

use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use surge_kernel::auth::{AuthUser, Role};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::{Email, Nickname, Password};
use crate::entities::user;
use crate::service::{IdentityService, UserView};

impl IdentityService {
    /// A page of users by id, optionally only those whose email or nickname contains
    /// `search`.
    #[tracing::instrument(skip(self, q, search))]
    pub async fn list_users(
        &self,
        q: &PageQuery,
        search: Option<&str>,
    ) -> Result<Page<UserView>, ApiError> {
        let limit = q.limit()?;
        let mut query = user::Entity::find().order_by_asc(user::Column::Id);
        if let Some(after) = q.uuid_cursor()? {
            query = query.filter(user::Column::Id.gt(after));
        }
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", s.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(
                sea_orm::Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(user::Column::Email))).like(&pattern))
                    .add(user::Column::NicknameKey.like(&pattern)),
            );
        }
        let rows = query.limit(limit + 1).all(&self.read_db).await?;
        let rows: Vec<UserView> = rows.into_iter().map(Into::into).collect();
        Ok(Page::from_rows(rows, limit, |u| u.id.to_string()))
    }

    /// Changes a user's role and/or active flag. Either change ends the user's
    /// sessions, so the new role applies from the next login.
    #[tracing::instrument(skip(self, admin), fields(admin_id = %admin.id))]
    pub async fn admin_update(
        &self,
        admin: &AuthUser,
        id: Uuid,
        role: Option<Role>,
        active: Option<bool>,
    ) -> Result<UserView, ApiError> {
        if id == admin.id && (role.is_some_and(|r| r != Role::Admin) || active == Some(false)) {
            return Err(ApiError::conflict(
                "cannot_demote_self",
                "admins cannot remove their own role or deactivate themselves",
            ));
        }
        let u = self.load_user(id).await?;
        let was_active = u.active;
        // Only a real role change ends sessions (tokens carry the role); setting the
        // role a user already has signs no one out.
        let role_changed = role.is_some_and(|r| r != u.role);
        let mut am: user::ActiveModel = u.into();
        if let Some(r) = role {
            am.role = Set(r);
        }
        if let Some(a) = active {
            am.active = Set(a);
        }
        am.updated_at = Set(self.now());
        let u = am.update(&self.db).await?;
        if active == Some(false) && was_active {
            self.deactivate(id).await?;
        } else if role_changed {
            self.revoke_sessions(id, None).await?;
        }
        Ok(u.into())
    }

    /// Makes sure an admin account with this email exists (bootstrap at start-up).
    #[tracing::instrument(skip_all)]
    pub async fn ensure_admin(&self, email: &str, password: &str) -> anyhow::Result<bool> {
        let email = Email::parse(email).map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
        let password =
            Password::parse(password).map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let base = Nickname::sanitized(email.as_str().split('@').next().unwrap_or("admin"));
        let mut nickname = base.clone();
        for attempt in 0..20u32 {
            if self
                .nickname_free(&nickname)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                break;
            }
            nickname = base.with_suffix(attempt + 1);
        }
        self.create_user(&email, Some(&password), &nickname, Role::Admin)
            .await
            .map_err(|e| anyhow::anyhow!("creating bootstrap admin: {e}"))?;
        Ok(true)
    }
}
