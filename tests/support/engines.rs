//! The store engines a test runs on, the throwaway PostgreSQL server that
//! `scripts/with-postgres.sh` starts, and `on_every_engine!`. Shared by the HTTP suite and the
//! property tests, each of which includes this file as the `engines` module of its crate root.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The throwaway PostgreSQL server `scripts/with-postgres.sh` started. A PostgreSQL test run
/// without one fails here, naming what it needs, rather than passing having tested nothing.
pub fn postgres_admin_url() -> String {
    std::env::var("ERYXON_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs PostgreSQL and ERYXON_TEST_POSTGRES_URL is not set: run it through \
             ./scripts/with-postgres.sh (./scripts/test.sh does), or leave out ignored tests"
        )
    })
}

/// A new, empty database on the test PostgreSQL server.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
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

/// Declares each listed `async fn name(engine: Engine)` as two tests, `sqlite::name` and
/// `postgres::name`, each on a Tokio runtime of its own; `blocking:` before the list declares
/// plain `fn`s the same way.
///
/// The PostgreSQL tests are `#[ignore]`d, so plain `cargo test` lists them as ignored instead
/// of passing them untested. `scripts/test.sh` starts a server and runs them with
/// `-- --include-ignored`; run without a server, they fail.
#[macro_export]
macro_rules! on_every_engine {
    (blocking: $($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::engines::Engine::Sqlite)
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: ./scripts/test.sh starts one"]
                fn $name() {
                    $crate::engines::postgres_admin_url();
                    super::$name($crate::engines::Engine::Postgres)
                }
            )+
        }
    };
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::engines::Engine::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: ./scripts/test.sh starts one"]
                async fn $name() {
                    $crate::engines::postgres_admin_url();
                    super::$name($crate::engines::Engine::Postgres).await
                }
            )+
        }
    };
}
