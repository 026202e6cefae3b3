//! Test plugin: a logging plugin and nothing else. Its log-success logs each text of the
//! answer with its path (`answer-logger {"request_id": ..., "texts": [[path, text], ...]}`),
//! so a test sees the answer the logging hooks got. Having no stream hooks, it lets a
//! client stream several choices (`n`), which a plugin that checks streams refuses.

use hookgate_sdk::log;
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::json;

struct AnswerLogger;

#[hookgate_sdk::plugin]
impl Plugin for AnswerLogger {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(AnswerLogger)
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, resp: &Response, _entry: &LogEntry) -> Result<(), String> {
        let texts: Vec<_> = resp.texts().into_iter().map(|text| json!([text.path, text.text])).collect();
        log::info(format!("answer-logger {}", json!({"request_id": req.id(), "texts": texts})));
        Ok(())
    }
}
