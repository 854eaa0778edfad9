//! Local fakes of external HTTP APIs the resumes adapters call (wiremock, fixtures of
//! the documented shapes): GitHub's REST API and an OpenAI-compatible chat API.

pub mod code_hosts;
pub mod llms;
