//! The webhook routes answer what the document says, and its request examples are accepted:
//! every route called for real, each answer checked against its schema.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{assert_documented, fetch_document, request_examples};
use crate::common::{Engine, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;

async fn webhook_answers_match_the_schemas(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;
    let receiver = Receiver::start().await;

    for (name, example) in request_examples(&doc, "/api-webhooks", "post") {
        let reply = server.post("/api-webhooks", &key, &example).await;
        assert_eq!(reply.status, 201, "example {name}: {:#}", reply.body);
        assert_documented(&doc, "/api-webhooks", "post", &reply);
    }
    let refused = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": "https://10.0.0.1/", "events": ["job.*"]}),
        )
        .await
        .expect(400);
    assert_documented(&doc, "/api-webhooks", "post", &refused);
    let made = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": receiver.url, "events": ["job.*"]}),
        )
        .await
        .expect(201);
    assert_documented(&doc, "/api-webhooks", "post", &made);
    let id = made.data()["id"].as_str().unwrap().to_owned();
    let one = format!("/api-webhooks/{id}");

    for path in ["/api-webhooks".to_owned(), format!("/api-webhooks?id={id}")] {
        let reply = server.get(&path, &key).await.expect(200);
        assert_documented(&doc, "/api-webhooks", "get", &reply);
    }
    let reply = server.get(&one, &key).await.expect(200);
    assert_documented(&doc, "/api-webhooks/{id}", "get", &reply);
    let missing = format!("/api-webhooks/{}", uuid::Uuid::now_v7());
    let reply = server.get(&missing, &key).await.expect(404);
    assert_documented(&doc, "/api-webhooks/{id}", "get", &reply);
    for (name, example) in request_examples(&doc, "/api-webhooks/{id}", "patch") {
        let reply = server.json(Method::PATCH, &one, &key, &example).await;
        assert_eq!(reply.status, 200, "example {name}: {:#}", reply.body);
        assert_documented(&doc, "/api-webhooks/{id}", "patch", &reply);
    }
    let reply = server
        .json(
            Method::PATCH,
            &format!("/api-webhooks?id={id}"),
            &key,
            &json!({"active": true}),
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-webhooks", "patch", &reply);

    let reply = server
        .post(&format!("{one}/test"), &key, &json!({}))
        .await
        .expect(202);
    assert_documented(&doc, "/api-webhooks/{id}/test", "post", &reply);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let deliveries = loop {
        let reply = server
            .get(&format!("{one}/deliveries"), &key)
            .await
            .expect(200);
        if reply.data()["deliveries"][0]["status"] == "delivered" {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_documented(&doc, "/api-webhooks/{id}/deliveries", "get", &deliveries);
    let reply = server
        .get(
            &format!("/api-webhook-logs?webhook_id={id}&status=delivered"),
            &key,
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-webhook-logs", "get", &reply);
    let delivery = deliveries.data()["deliveries"][0]["id"].as_str().unwrap();
    let path = "/api-webhooks/{id}/deliveries/{delivery_id}/retry";
    let reply = server
        .post(
            &format!("{one}/deliveries/{delivery}/retry"),
            &key,
            &json!({}),
        )
        .await
        .expect(202);
    assert_documented(&doc, path, "post", &reply);
    for (name, example) in request_examples(&doc, "/api-webhooks/{id}/replay", "post") {
        let reply = server.post(&format!("{one}/replay"), &key, &example).await;
        assert_eq!(reply.status, 202, "example {name}: {:#}", reply.body);
        assert_documented(&doc, "/api-webhooks/{id}/replay", "post", &reply);
    }
    let reply = server
        .post(&format!("{one}/rotate-secret"), &key, &json!({}))
        .await
        .expect(200);
    assert_documented(&doc, "/api-webhooks/{id}/rotate-secret", "post", &reply);
    assert!(reply.data()["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));

    let reply = server
        .send(Method::DELETE, &one, Some(&key), None, None)
        .await
        .expect(200);
    assert_documented(&doc, "/api-webhooks/{id}", "delete", &reply);
    let other = server.get("/api-webhooks", &key).await.data()["webhooks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = server
        .send(
            Method::DELETE,
            &format!("/api-webhooks?id={other}"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-webhooks", "delete", &reply);
}

// Decided before the store is asked except the deliveries' shape; both engines all the same.
on_every_engine!(webhook_answers_match_the_schemas);
