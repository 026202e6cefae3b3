//! Test plugin: on a request containing `TRIGGER`, tries to connect to the TCP address
//! in its config (`{"addr": "127.0.0.1:PORT"}`). If it connects, it says so in the
//! body; if the sandbox denies it, it panics saying so. Other requests proceed.

use std::net::TcpStream;

use hookgate_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    addr: String,
}

struct OpenSocket {
    addr: String,
}

#[hookgate_sdk::plugin]
impl Plugin for OpenSocket {
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        let Settings { addr } = config.parse()?;
        Ok(OpenSocket { addr })
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if !req.body().contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        match TcpStream::connect(&self.addr) {
            Ok(_) => {
                req.set_body(r#"{"leaked": "connected"}"#)?;
                Ok(PreCall::Proceed)
            }
            Err(e) => panic!("open-socket denied: {e}"),
        }
    }
}
