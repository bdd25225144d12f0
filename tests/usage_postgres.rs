//! The PostgreSQL usage store against a real server (`TOWER_GA_TEST_POSTGRES`, which `.ci/run`
//! sets after starting Debian's cluster): the schema created on an empty database and found by
//! the next start, two replicas writing at once sum exactly and any replica reads the fleet's
//! counts, and a server stopped mid-run and started again loses no count while the API's
//! responses never wait. One test, in order: the scenarios share the database.

mod common;
use common::ga4::{collector, layer, WAIT};
use common::{get_req, skip_or_fail};

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tower_ga::usage::UsageStore;
use tower_ga::GaLayer;

fn app(ga: GaLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/legacy", get(|| async { "old" }))
        .layer(ga)
}

async fn psql(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(conn);
    client.simple_query("SELECT 1").await.unwrap();
    client.query(sql, &[]).await.unwrap()
}

fn cluster(action: &str, cluster: &str) {
    let mut args: Vec<&str> = vec!["--skip-systemctl-redirect"];
    args.extend(cluster.split_whitespace());
    args.push(action);
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    let ok = std::process::Command::new("pg_ctlcluster")
        .args(&args)
        .status()
        .expect("pg_ctlcluster runs");
    assert!(ok.success(), "pg_ctlcluster {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_one_postgres_database() {
    let Ok(url) = std::env::var("TOWER_GA_TEST_POSTGRES") else {
        return skip_or_fail(
            "TOWER_GA_TEST_POSTGRES is not set (a PostgreSQL URL; .ci/run starts one and sets it)",
        );
    };
    for table in [
        "tower_ga_usage",
        "tower_ga_consumers",
        "tower_ga_declared",
        "tower_ga_schema",
    ] {
        psql(&url, &format!("DROP TABLE IF EXISTS {table}")).await;
    }
    let c = collector().await;
    let routes = ["GET /users/{userId}", "GET /legacy"];
    let replica = || {
        let ga = layer(&c)
            .known_routes(routes)
            .usage_store(UsageStore::postgres(&url))
            .usage_flush_interval(Duration::from_millis(200))
            .build()
            .expect("the schema is created on an empty database");
        (ga.handle(), app(ga))
    };

    // Two replicas at once: 60 calls each, with their flushes racing.
    let (h1, a1) = replica();
    let (h2, a2) = replica();
    let send = |app: Router, n: u32| async move {
        for i in 0..n {
            get_req(&app, &format!("/users/{i}"), &[]).await;
        }
    };
    tokio::join!(send(a1.clone(), 60), send(a2.clone(), 60));
    let (f1, f2) = tokio::join!(h1.flush(WAIT), h2.flush(WAIT));
    assert!(f1 && f2, "{:?} {:?}", h1.stats(), h2.stats());
    let version = psql(&url, "SELECT version FROM tower_ga_schema").await;
    assert_eq!(version.len(), 1);
    assert_eq!(version[0].get::<_, i64>(0), 1);

    // Any replica reads the fleet's counts.
    for h in [&h1, &h2] {
        let u = h.usage_window(7).await;
        assert_eq!(u.store_error, None);
        let users = u
            .routes
            .iter()
            .find(|r| r.route == "/users/{userId}")
            .unwrap();
        assert_eq!(users.calls, 120);
        assert!(u
            .routes
            .iter()
            .any(|r| r.route == "/legacy" && r.calls == 0));
    }

    // The server stops mid-run and starts again: the API never waits, and no count is lost.
    match std::env::var("TOWER_GA_TEST_POSTGRES_CLUSTER") {
        Ok(name) => {
            cluster("stop", &name);
            for i in 0..100 {
                let answered =
                    tokio::time::timeout(WAIT, get_req(&a1, &format!("/users/{i}"), &[])).await;
                assert!(answered.is_ok(), "request {i} waited on the store");
            }
            assert!(!h1.flush(WAIT).await, "nothing is written while the server is down");
            assert!(h1.stats().usage_write_failures >= 1);
            assert_eq!(h1.stats().sent, 160, "GA delivery goes on");
            // `pg_ctlcluster start` returns once the server accepts connections: the next
            // flush reopens the store and writes everything kept.
            cluster("start", &name);
            assert!(h1.flush(WAIT).await, "{:?}", h1.stats());
            let u = h2.usage_window(7).await;
            let users = u.routes.iter().find(|r| r.route == "/users/{userId}").unwrap();
            assert_eq!(users.calls, 220, "{:?}", u.store_error);
        }
        Err(_) => skip_or_fail(
            "TOWER_GA_TEST_POSTGRES_CLUSTER is not set (\"15 main\"): the stop-and-start part didn't run",
        ),
    }

    // However many writes, a route keeps at most 50 consumers a day, and every call.
    for write in 0..4 {
        for i in 0..20 {
            let token = format!("Bearer w{write}-c{i}");
            get_req(&a2, "/legacy", &[("authorization", &token)]).await;
        }
        assert!(h2.flush(WAIT).await);
    }
    let kept = psql(
        &url,
        "SELECT COUNT(*), SUM(calls)::BIGINT FROM tower_ga_consumers WHERE route = '/legacy'",
    )
    .await;
    assert!(
        kept[0].get::<_, i64>(0) <= 51,
        "{} labels",
        kept[0].get::<_, i64>(0)
    );
    assert_eq!(kept[0].get::<_, i64>(1), 80);

    // A later start finds the schema and the counts.
    assert!(h1.shutdown(WAIT).await && h2.shutdown(WAIT).await);
    let (h3, _a3) = replica();
    let u = h3.usage_window(7).await;
    assert!(u
        .routes
        .iter()
        .any(|r| r.route == "/users/{userId}" && r.calls >= 120));
    assert_eq!(
        psql(&url, "SELECT version FROM tower_ga_schema")
            .await
            .len(),
        1
    );
    assert!(h3.shutdown(WAIT).await);

    // A URL that can't work is an error from build(), without the password.
    let bad = "postgresql://app:hunter2@127.0.0.1:1/nowhere";
    let err = layer(&c)
        .usage_store(UsageStore::postgres(bad))
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot connect"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
