//! Adapters for the kernel ports. The server picks one per port from configuration:
//! embedded (in-process) by default, Redis / PostgreSQL / MySQL when their URLs are set.

pub mod bus;
pub mod cache;
pub mod chat;
pub mod code_host;
pub mod db;
pub mod delivery;
pub mod jobs;
pub mod llm;
pub mod mail;
pub mod nats;
pub mod news;
pub mod objects;
pub mod payment;
pub mod pubsub;
pub mod recorder;
pub mod redact;
pub mod redis_conn;
pub mod relay;
pub mod verifier;
pub mod waiting_room;
pub mod weather;
