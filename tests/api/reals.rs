//! A real number reads back as the number stored, in records and in events, so a client that
//! sends back what it read sends the same record: its re-send is `unchanged`. Records printed
//! 15 significant digits, and a stored 0.30000000000000004 read as 0.3: each re-send of it was
//! an update, with an event whose data showed no change.

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn a_real_read_back_and_sent_again_is_unchanged(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for sent in [
        0.30000000000000004_f64,
        7.123456789012345,
        1e-7,
        1.0 / 3.0,
        7.5,
    ] {
        let cell = json!({"external_id": "WC", "external_source": "SAP", "name": "Cutting",
            "capacity_hours_per_day": sent});
        let written = server.put("/api-cells/sync", &key, &cell).await;
        assert!(written.status.is_success(), "{:#}", written.body);
        let read = server
            .get("/api-cells/by-external/SAP/WC", &key)
            .await
            .expect(200);
        let shown = read.data()["capacity_hours_per_day"].clone();
        assert_eq!(
            shown.as_f64().map(f64::to_bits),
            Some(sent.to_bits()),
            "{sent}: {shown}"
        );
        let last = server.last_event("cell.*", &key).await;
        assert_eq!(
            last["data"]["capacity_hours_per_day"], shown,
            "{sent}: {last:#}"
        );

        // The ERP sends back what it read.
        let mut again = cell.clone();
        again["capacity_hours_per_day"] = shown;
        let answer = server
            .put("/api-cells/sync", &key, &again)
            .await
            .expect(200);
        assert_eq!(
            answer.data()["unchanged"],
            true,
            "{sent}: {:#}",
            answer.body
        );
    }
}

on_every_engine!(a_real_read_back_and_sent_again_is_unchanged);
