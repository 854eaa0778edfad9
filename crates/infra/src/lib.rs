//! Adapters for the kernel ports. The server picks one per port from configuration:
//! embedded (in-process) by default, Redis / PostgreSQL / MySQL when their URLs are set.

pub mod bus;
pub mod cache;
pub mod chat;
pub mod db;
pub mod delivery;
pub mod mail;
pub mod nats;
pub mod payment;
pub mod pubsub;
pub mod redis_conn;
pub mod relay;
pub mod waiting_room;
