//! The fleet's shared key from the environment (`TOWER_GA_CLIENT_ID_KEY`): its own test binary,
//! since the environment is the process's.

mod common;
use common::ga4::{collector, layer, WAIT};
use common::get_req;

use axum::routing::get;
use axum::Router;

#[tokio::test]
async fn the_shared_key_comes_from_the_environment_and_the_builder_wins() {
    let c = collector().await;
    let ids = |ga: tower_ga::GaLayer| {
        let c = &c;
        async move {
            let handle = ga.handle();
            let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
            get_req(&app, "/a", &[("authorization", "Bearer one")]).await;
            assert!(handle.flush(WAIT).await);
            let e = c.ga4_events().pop().unwrap();
            (e.client_id.clone(), e.param_u64("session_id"))
        }
    };
    // Without the variable: a key of each process's own (each layer's, here).
    std::env::remove_var(tower_ga::CLIENT_ID_KEY_ENV);
    let own = (ids(layer(&c)).await, ids(layer(&c)).await);
    assert_ne!(own.0 .0, own.1 .0);
    std::env::set_var(tower_ga::CLIENT_ID_KEY_ENV, "fleet secret");
    let from_env = (ids(layer(&c)).await, ids(layer(&c)).await);
    assert_eq!(from_env.0, from_env.1, "ids and sessions agree");
    // The same secret given to the builder is the same key; another secret given wins.
    assert_eq!(
        ids(layer(&c).client_id_key("fleet secret")).await,
        from_env.0
    );
    assert_ne!(ids(layer(&c).client_id_key("other")).await.0, from_env.0 .0);
    // An empty variable is no key.
    std::env::set_var(tower_ga::CLIENT_ID_KEY_ENV, "");
    assert_ne!(ids(layer(&c)).await.0, ids(layer(&c)).await.0);
}
