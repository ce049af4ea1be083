//! The store engines a test runs on, and the throwaway PostgreSQL server that
//! `scripts/with-postgres.sh` starts. Shared by the HTTP suite and the property tests.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The throwaway PostgreSQL server `scripts/with-postgres.sh` started, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("ERYXON_TEST_POSTGRES_URL").ok()
}

/// Whether a test on `engine` can run here. PostgreSQL tests are skipped (with a note) when no
/// server was provided, unless the test script demands them.
pub fn engine_available(engine: Engine) -> bool {
    match engine {
        Engine::Sqlite => true,
        Engine::Postgres if postgres_admin_url().is_some() => true,
        Engine::Postgres => {
            assert!(
                std::env::var("ERYXON_REQUIRE_POSTGRES").is_err(),
                "ERYXON_REQUIRE_POSTGRES is set but ERYXON_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: no PostgreSQL (run ./scripts/test.sh for both engines)");
            false
        }
    }
}

/// A new, empty database on the test PostgreSQL server.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url().expect("a PostgreSQL server");
    let name = format!("eryxon_test_{}", uuid::Uuid::now_v7().simple());
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("a fresh database");
    let (server, _) = admin.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}
