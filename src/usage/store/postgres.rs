//! The PostgreSQL usage store (feature `postgres`): one database for a fleet, every replica
//! adding its own deltas. tokio-postgres, driven by a current-thread runtime of the store's own
//! thread: nothing runs on the application's runtime.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

use super::backend::{
    schema_sql, upsert_numbers, upsert_sql, version_check, Backend, Declared, RowDelta, Stored,
    KEEP_CONSUMERS, VERSION,
};
use crate::text::date::Day;
use crate::usage::delta::{Counts, BUCKETS, BUCKET_COLUMNS};

/// How long connecting may take, and any one statement.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock that serialises replicas creating the schema at once.
const SCHEMA_LOCK: i64 = 0x746f_7765_725f_6761; // "tower_ga"

pub(crate) struct Postgres {
    rt: Runtime,
    client: Client,
}

fn err(what: &'static str) -> impl Fn(tokio_postgres::Error) -> String {
    move |e| format!("{what}: {e}")
}

impl Postgres {
    /// Connects and creates or checks the schema. The error says what to fix; it never shows
    /// the URL's password.
    pub(crate) fn open(url: &str) -> Result<Postgres, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the PostgreSQL client's runtime: {e}"))?;
        let client = rt.block_on(async {
            let connect = tokio_postgres::connect(url, NoTls);
            let (client, connection) = tokio::time::timeout(TIMEOUT, connect)
                .await
                .map_err(|_| format!("no answer from PostgreSQL within {TIMEOUT:?}"))?
                .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("tower-ga: usage store connection: {e}");
                }
            });
            Ok::<_, String>(client)
        })?;
        let mut store = Postgres { rt, client };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), String> {
        let sql = schema_sql();
        let client = &mut self.client;
        self.rt.block_on(async {
            let tx = client
                .transaction()
                .await
                .map_err(err("cannot start a transaction"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(err("cannot lock the schema"))?;
            tx.batch_execute(&sql).await.map_err(err(
                "cannot create the schema (does the user have CREATE on the database?)",
            ))?;
            let version: Option<i64> = tx
                .query_one("SELECT MAX(version) FROM tower_ga_schema", &[])
                .await
                .map_err(err("cannot read the schema version"))?
                .get(0);
            if version_check(version)? {
                tx.execute(
                    "INSERT INTO tower_ga_schema (version) VALUES ($1)",
                    &[&VERSION],
                )
                .await
                .map_err(err("cannot write the schema version"))?;
            }
            tx.commit().await.map_err(err("cannot commit the schema"))
        })
    }
}

impl Backend for Postgres {
    fn write(
        &mut self,
        rows: &[RowDelta],
        declared: &[Declared],
        today: Day,
    ) -> Result<(), String> {
        let upsert = upsert_sql('$', "LEAST", "GREATEST");
        let client = &mut self.client;
        self.rt.block_on(async {
            let work = async {
                let tx = client
                    .transaction()
                    .await
                    .map_err(err("cannot start a transaction"))?;
                let upsert = tx.prepare(&upsert).await.map_err(err("cannot prepare"))?;
                let consumers = tx
                    .prepare(
                        "INSERT INTO tower_ga_consumers (day, method, route, consumer, calls)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (day, method, route, consumer) DO UPDATE SET
                           calls = tower_ga_consumers.calls + EXCLUDED.calls",
                    )
                    .await
                    .map_err(err("cannot prepare"))?;
                for r in rows {
                    let c = &r.counts;
                    let day = r.day.iso();
                    let (values, tail) = upsert_numbers(c);
                    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                        vec![&day, &r.method, &r.route];
                    params.extend(values.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)));
                    params.extend(tail.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)));
                    tx.execute(&upsert, &params)
                        .await
                        .map_err(err("cannot write usage"))?;
                    for (label, calls) in &c.consumers {
                        tx.execute(&consumers, &[&day, &r.method, &r.route, label, &(*calls as i64)])
                            .await
                            .map_err(err("cannot write consumers"))?;
                    }
                    if r.trim {
                        let keep = KEEP_CONSUMERS as i64;
                        tx.execute(
                            "INSERT INTO tower_ga_consumers (day, method, route, consumer, calls)
                             SELECT $1, $2, $3, '(others)', SUM(calls) FROM (
                               SELECT calls FROM tower_ga_consumers
                               WHERE day = $1 AND method = $2 AND route = $3 AND consumer <> '(others)'
                               ORDER BY calls DESC, consumer OFFSET $4) AS beyond
                             HAVING COUNT(*) > 0
                             ON CONFLICT (day, method, route, consumer) DO UPDATE SET
                               calls = tower_ga_consumers.calls + EXCLUDED.calls",
                            &[&day, &r.method, &r.route, &keep],
                        )
                        .await
                        .map_err(err("cannot trim consumers"))?;
                        tx.execute(
                            "DELETE FROM tower_ga_consumers
                             WHERE day = $1 AND method = $2 AND route = $3 AND consumer <> '(others)'
                               AND consumer NOT IN (
                                 SELECT consumer FROM tower_ga_consumers
                                 WHERE day = $1 AND method = $2 AND route = $3 AND consumer <> '(others)'
                                 ORDER BY calls DESC, consumer LIMIT $4)",
                            &[&day, &r.method, &r.route, &keep],
                        )
                        .await
                        .map_err(err("cannot trim consumers"))?;
                    }
                }
                let today = today.iso();
                for d in declared {
                    tx.execute(
                        "INSERT INTO tower_ga_declared (method, route, first_declared, last_declared, deprecated)
                         VALUES ($1, $2, $3, $3, $4)
                         ON CONFLICT (method, route) DO UPDATE SET
                           last_declared = GREATEST(tower_ga_declared.last_declared, EXCLUDED.last_declared),
                           deprecated = EXCLUDED.deprecated",
                        &[&d.method, &d.route, &today, &d.deprecated],
                    )
                    .await
                    .map_err(err("cannot declare routes"))?;
                }
                tx.commit().await.map_err(err("cannot commit usage"))
            };
            tokio::time::timeout(TIMEOUT * 6, work)
                .await
                .map_err(|_| "PostgreSQL didn't finish the write within 60 s".to_owned())?
        })
    }

    fn read(&mut self, from: Day) -> Result<Stored, String> {
        let from_iso = from.iso();
        let columns = BUCKET_COLUMNS.join(", ");
        let client = &self.client;
        self.rt.block_on(async {
            let mut out = Stored::default();
            let rows = client
                .query(
                    &format!(
                        "SELECT day, method, route, calls, method_not_allowed, s2xx, s3xx, s4xx,
                           s5xx, s_other, first_call, last_call, deprecated_since, sunset, {columns}
                         FROM tower_ga_usage WHERE day >= $1"
                    ),
                    &[&from_iso],
                )
                .await
                .map_err(err("cannot read usage"))?;
            for row in rows {
                let n = |i: usize| row.get::<_, i64>(i) as u64;
                let o = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v as u64);
                let mut c = Counts {
                    calls: n(3),
                    not_allowed: n(4),
                    status: [n(5), n(6), n(7), n(8), n(9)],
                    first: o(10),
                    last: o(11),
                    deprecation: o(12).map(|s| (s, o(13))),
                    ..Counts::default()
                };
                for i in 0..BUCKETS {
                    c.latency[i] = n(14 + i);
                }
                let day = Day::parse(row.get(0)).unwrap_or(from);
                let key = (row.get::<_, String>(1), row.get::<_, String>(2));
                let (total, days) = out.routes.entry(key).or_default();
                total.merge(&c);
                days.push((day, c.calls));
            }
            let rows = client
                .query(
                    "SELECT method, route, consumer, SUM(calls)::BIGINT FROM tower_ga_consumers
                     WHERE day >= $1 GROUP BY method, route, consumer ORDER BY 4 DESC",
                    &[&from_iso],
                )
                .await
                .map_err(err("cannot read consumers"))?;
            for row in rows {
                let key = (row.get::<_, String>(0), row.get::<_, String>(1));
                if let Some((c, _)) = out.routes.get_mut(&key) {
                    c.consumers.push((row.get(2), row.get::<_, i64>(3) as u64));
                }
            }
            let rows = client
                .query(
                    "SELECT method, route, MAX(last_call) FROM tower_ga_usage
                     WHERE last_call IS NOT NULL GROUP BY method, route",
                    &[],
                )
                .await
                .map_err(err("cannot read last calls"))?;
            for row in rows {
                let key = (row.get::<_, String>(0), row.get::<_, String>(1));
                out.last_called.insert(key, row.get::<_, i64>(2) as u64);
            }
            let rows = client
                .query(
                    "SELECT method, route, first_declared, deprecated FROM tower_ga_declared",
                    &[],
                )
                .await
                .map_err(err("cannot read declared routes"))?;
            for row in rows {
                out.declared.push(Declared {
                    method: row.get(0),
                    route: row.get(1),
                    first_declared: Day::parse(row.get(2)).unwrap_or(from),
                    deprecated: row.get(3),
                });
            }
            Ok(out)
        })
    }

    fn retain(&mut self, before: Day) -> Result<u64, String> {
        let before = before.iso();
        let client = &self.client;
        self.rt.block_on(async {
            let a = client
                .execute("DELETE FROM tower_ga_usage WHERE day < $1", &[&before])
                .await
                .map_err(err("cannot forget old days"))?;
            let b = client
                .execute("DELETE FROM tower_ga_consumers WHERE day < $1", &[&before])
                .await
                .map_err(err("cannot forget old days"))?;
            Ok(a + b)
        })
    }
}
