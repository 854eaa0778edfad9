//! Accounts: sign-up, the caller's own profile, password changes, deactivation.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use surge_kernel::auth::{AuthUser, Role};
use surge_kernel::error::unique_violation;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::{new_id, ApiError};
use uuid::Uuid;

use crate::domain::{Email, Nickname, Password, PasswordReplacement, Signup};
use crate::entities::user;
use crate::service::{
    IdentityService, UserView, MAX_PASSWORD_LEN, TOPIC_USER_DEACTIVATED, TOPIC_USER_REGISTERED,
};

fn taken(err: &sea_orm::DbErr) -> Option<ApiError> {
    let msg = unique_violation(err)?;
    Some(if msg.contains("nickname") {
        ApiError::conflict("nickname_taken", "that nickname is already in use")
    } else {
        ApiError::conflict("email_taken", "an account with that email already exists")
    })
}

impl IdentityService {
    /// A new USER account with a password.
    #[tracing::instrument(skip_all)]
    pub async fn signup(&self, new: &Signup) -> Result<UserView, ApiError> {
        self.create_user(&new.email, Some(&new.password), &new.nickname, Role::User)
            .await
    }

    /// Creates an account; the unique indexes decide races between concurrent signups.
    #[tracing::instrument(skip(self, email, password, nickname), fields(role = role.as_str()))]
    pub async fn create_user(
        &self,
        email: &Email,
        password: Option<&Password>,
        nickname: &Nickname,
        role: Role,
    ) -> Result<UserView, ApiError> {
        // Cheap early answers; the unique indexes below are what actually guarantee it.
        self.ensure_free(email, nickname).await?;
        let hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let txn = self.db.begin().await?;
        let u = self.insert_user(&txn, email, nickname, hash, role).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(u.into())
    }

    /// The account of `email`, if there is one (for tools: generated data's authors).
    pub async fn user_id_by_email(&self, email: &Email) -> Result<Option<Uuid>, ApiError> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .map(|u| u.id))
    }

    async fn ensure_free(&self, email: &Email, nickname: &Nickname) -> Result<(), ApiError> {
        let by_email = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?;
        if by_email.is_some() {
            return Err(ApiError::conflict(
                "email_taken",
                "an account with that email already exists",
            ));
        }
        if !self.nickname_free(nickname).await? {
            return Err(ApiError::conflict(
                "nickname_taken",
                "that nickname is already in use",
            ));
        }
        Ok(())
    }

    /// Inserts the account and its `user_registered` event on `conn` (a transaction).
    pub(crate) async fn insert_user(
        &self,
        conn: &impl ConnectionTrait,
        email: &Email,
        nickname: &Nickname,
        password_hash: Option<String>,
        role: Role,
    ) -> Result<user::Model, ApiError> {
        let now = self.now();
        let model = user::ActiveModel {
            id: Set(new_id()),
            email: Set(email.as_str().to_owned()),
            nickname: Set(nickname.as_str().to_owned()),
            nickname_key: Set(nickname.key()),
            password_hash: Set(password_hash),
            role: Set(role),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let u = model
            .insert(conn)
            .await
            .map_err(|e| taken(&e).unwrap_or_else(|| ApiError::internal(e)))?;
        let event = EventEnvelope::new(
            TOPIC_USER_REGISTERED,
            u.id,
            serde_json::json!({"user_id": u.id, "nickname": u.nickname}),
            now,
        );
        enqueue(conn, &event).await?;
        Ok(u)
    }

    pub async fn nickname_free(&self, nickname: &Nickname) -> Result<bool, ApiError> {
        Ok(user::Entity::find()
            .filter(user::Column::NicknameKey.eq(nickname.key()))
            .one(&self.db)
            .await?
            .is_none())
    }

    #[tracing::instrument(skip(self, who), fields(user_id = %who.id))]
    pub async fn me(&self, who: &AuthUser) -> Result<UserView, ApiError> {
        Ok(self.load_user(who.id).await?.into())
    }

    #[tracing::instrument(skip(self, who, nickname), fields(user_id = %who.id))]
    pub async fn change_nickname(
        &self,
        who: &AuthUser,
        nickname: &Nickname,
    ) -> Result<UserView, ApiError> {
        let mut u: user::ActiveModel = self.load_user(who.id).await?.into();
        u.nickname = Set(nickname.as_str().to_owned());
        u.nickname_key = Set(nickname.key());
        u.updated_at = Set(self.now());
        let u = u
            .update(&self.db)
            .await
            .map_err(|e| taken(&e).unwrap_or_else(|| ApiError::internal(e)))?;
        Ok(u.into())
    }

    /// Changes the password and signs out every other session.
    #[tracing::instrument(skip(self, who, change), fields(user_id = %who.id))]
    pub async fn change_password(
        &self,
        who: &AuthUser,
        change: &PasswordReplacement,
    ) -> Result<(), ApiError> {
        let u = self.load_user(who.id).await?;
        self.check_current_password(&u, &change.current).await?;
        let hash = self.hash_password(&change.new).await?;
        let mut am: user::ActiveModel = u.into();
        am.password_hash = Set(Some(hash));
        am.updated_at = Set(self.now());
        am.update(&self.db).await?;
        self.revoke_sessions(who.id, Some(who.session_id)).await
    }

    /// Confirms a signed-in user's current password before a sensitive change (accounts
    /// that only ever used OAuth have none). Failures are throttled like logins, per
    /// account and counted before checking, so a stolen access token cannot be used to
    /// guess the password that would let it take the account over.
    async fn check_current_password(&self, u: &user::Model, given: &str) -> Result<(), ApiError> {
        let Some(hash) = u.password_hash.as_deref() else {
            return Ok(());
        };
        let lim = &self.cfg.login_limits;
        let key = format!("identity:password_fail:{}", u.id);
        if self.security.incr(&key, lim.window).await? > lim.per_account {
            let retry = self.security.ttl_secs(&key).await?.unwrap_or(60);
            return Err(ApiError::too_many(
                retry,
                "too many wrong passwords; try again later",
            ));
        }
        if given.len() > MAX_PASSWORD_LEN || !self.verify_password(given, Some(hash)).await? {
            return Err(ApiError::unauthorized(
                "wrong_password",
                "the current password is not correct",
            ));
        }
        self.security.delete(&key).await?;
        Ok(())
    }

    /// The account holder closes their account: needs the current password.
    #[tracing::instrument(skip(self, who, password), fields(user_id = %who.id))]
    pub async fn deactivate_self(&self, who: &AuthUser, password: &str) -> Result<(), ApiError> {
        let u = self.load_user(who.id).await?;
        self.check_current_password(&u, password).await?;
        self.deactivate(who.id).await
    }

    /// Deactivates the account and ends all its sessions; nothing is deleted.
    #[tracing::instrument(skip(self))]
    pub async fn deactivate(&self, id: Uuid) -> Result<(), ApiError> {
        let now = self.now();
        let txn = self.db.begin().await?;
        let res = user::Entity::update_many()
            .col_expr(user::Column::Active, Expr::value(false))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(ApiError::not_found("no such user"));
        }
        let event = EventEnvelope::new(
            TOPIC_USER_DEACTIVATED,
            id,
            serde_json::json!({"user_id": id}),
            now,
        );
        enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox.wake();
        self.revoke_sessions(id, None).await
    }
}
