//! HTTP: the client side of the API.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
}

pub struct Answer {
    pub took: Duration,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Request> {
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .build()?)
    }

    /// Sends a ready request; the time runs until the whole answer is read.
    pub async fn send(&self, request: reqwest::Request) -> Result<Answer> {
        let start = Instant::now();
        let response = self.client.execute(request).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let took = start.elapsed();
        Ok(Answer {
            took,
            status,
            body: bytes.to_vec(),
        })
    }

    pub async fn bulk(&self, entity: &str, body: Vec<u8>) -> Result<Answer> {
        let request = self.request(
            reqwest::Method::POST,
            &format!("/api-{entity}/bulk-sync"),
            body,
        )?;
        self.send(request).await
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

pub fn counts(answer: &Answer) -> Result<Counts> {
    let text = || String::from_utf8_lossy(&answer.body[..answer.body.len().min(500)]).into_owned();
    ensure!(
        answer.status == 200,
        "bulk answered {}: {}",
        answer.status,
        text()
    );
    let body: Value = serde_json::from_slice(&answer.body)?;
    let data = &body["data"];
    let count = |name: &str| data[name].as_u64().unwrap_or(u64::MAX);
    ensure!(count("errors") == 0, "bulk had errors: {}", text());
    Ok(Counts {
        created: count("created"),
        updated: count("updated"),
        unchanged: count("unchanged"),
    })
}

pub fn expect(answer: &Answer, created: u64, updated: u64, unchanged: u64) -> Result<()> {
    let got = counts(answer)?;
    let want = Counts {
        created,
        updated,
        unchanged,
    };
    ensure!(
        got == want,
        "expected {want:?}, the server answered {got:?}"
    );
    Ok(())
}
