//! A real listening HTTP proxy that forwards nothing: it records the first line of every
//! request that reaches it (a forward-proxy `POST http://...`, or a `CONNECT`) and answers 502.
//! A test points HTTP_PROXY, HTTPS_PROXY and ALL_PROXY at it to see what would have gone
//! through a proxy.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct ProxyTrap {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ProxyTrap {
    pub fn start() -> ProxyTrap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut first = String::new();
                let mut reader = BufReader::new(&stream);
                let _ = reader.read_line(&mut first);
                record.lock().unwrap().push(first.trim_end().to_owned());
                let _ = (&stream).write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        ProxyTrap { url, seen }
    }

    /// Points every proxy variable (both spellings) at the trap, with no exemption.
    pub fn install(&self, env: &mut super::TestEnv) {
        env.unset("NO_PROXY");
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            env.set(var, &self.url);
            env.set(&var.to_ascii_lowercase(), &self.url);
        }
    }

    /// The first line of every request the trap received.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
