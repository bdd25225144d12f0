//! The SQLite usage store (feature `sqlite`): one file, written by any number of processes
//! (SQLite's own locking; WAL so that readers don't wait on a writer).

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::backend::{
    schema_sql, upsert_numbers, upsert_sql, version_check, Backend, Declared, RowDelta, Stored,
    KEEP_CONSUMERS, VERSION,
};
use crate::text::date::Day;
use crate::usage::delta::{Counts, BUCKETS, BUCKET_COLUMNS};

/// How long a write waits for another process's lock before it fails (and is retried later).
const BUSY: Duration = Duration::from_millis(500);

pub(crate) struct Sqlite {
    conn: Connection,
}

fn err(what: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Sqlite {
    /// Opens (or creates) the file and its schema. The error says what to fix.
    pub(crate) fn open(path: &Path) -> Result<Sqlite, String> {
        let shown = path.display();
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the SQLite usage store {shown}: {e}"))?;
        conn.busy_timeout(BUSY)
            .map_err(err("cannot set the busy timeout"))?;
        // WAL lets the page read while a replica writes; a file system without it keeps the
        // default journal.
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        let mut store = Sqlite { conn };
        store
            .migrate()
            .map_err(|e| format!("the SQLite usage store {shown}: {e}"))?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), String> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("cannot lock the file to create the schema"))?;
        tx.execute_batch(&schema_sql())
            .map_err(err("cannot create the schema"))?;
        let version: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM tower_ga_schema", [], |r| r.get(0))
            .optional()
            .map_err(err("cannot read the schema version"))?
            .flatten();
        if version_check(version)? {
            tx.execute(
                "INSERT INTO tower_ga_schema (version) VALUES (?1)",
                [VERSION],
            )
            .map_err(err("cannot write the schema version"))?;
        }
        tx.commit().map_err(err("cannot commit the schema"))
    }
}

impl Backend for Sqlite {
    fn write(
        &mut self,
        rows: &[RowDelta],
        declared: &[Declared],
        today: Day,
    ) -> Result<(), String> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("cannot lock the usage store"))?;
        {
            let sql = upsert_sql('?', "min", "max");
            let mut upsert = tx.prepare_cached(&sql).map_err(err("cannot prepare"))?;
            let mut consumers = tx
                .prepare_cached(
                    "INSERT INTO tower_ga_consumers (day, method, route, consumer, calls)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (day, method, route, consumer) DO UPDATE SET
                       calls = calls + excluded.calls",
                )
                .map_err(err("cannot prepare"))?;
            let mut trim_others = tx
                .prepare_cached(
                    "INSERT INTO tower_ga_consumers (day, method, route, consumer, calls)
                     SELECT ?1, ?2, ?3, '(others)', SUM(calls) FROM (
                       SELECT calls FROM tower_ga_consumers
                       WHERE day = ?1 AND method = ?2 AND route = ?3 AND consumer <> '(others)'
                       ORDER BY calls DESC, consumer LIMIT -1 OFFSET ?4)
                     WHERE true
                     GROUP BY 1 HAVING COUNT(*) > 0
                     ON CONFLICT (day, method, route, consumer) DO UPDATE SET
                       calls = calls + excluded.calls",
                )
                .map_err(err("cannot prepare"))?;
            let mut trim_delete = tx
                .prepare_cached(
                    "DELETE FROM tower_ga_consumers
                     WHERE day = ?1 AND method = ?2 AND route = ?3 AND consumer <> '(others)'
                       AND consumer NOT IN (
                         SELECT consumer FROM tower_ga_consumers
                         WHERE day = ?1 AND method = ?2 AND route = ?3 AND consumer <> '(others)'
                         ORDER BY calls DESC, consumer LIMIT ?4)",
                )
                .map_err(err("cannot prepare"))?;
            for r in rows {
                let c = &r.counts;
                let day = r.day.iso();
                let (numbers, times) = upsert_numbers(c);
                let mut values: Vec<rusqlite::types::Value> = vec![
                    day.clone().into(),
                    r.method.clone().into(),
                    r.route.clone().into(),
                ];
                values.extend(numbers.into_iter().map(Into::into));
                values.extend(times.into_iter().map(Into::into));
                upsert
                    .execute(rusqlite::params_from_iter(values))
                    .map_err(err("cannot write usage"))?;
                for (label, calls) in &c.consumers {
                    consumers
                        .execute(params![day, r.method, r.route, label, *calls as i64])
                        .map_err(err("cannot write consumers"))?;
                }
                if r.trim {
                    let keep = KEEP_CONSUMERS as i64;
                    trim_others
                        .execute(params![day, r.method, r.route, keep])
                        .map_err(err("cannot trim consumers"))?;
                    trim_delete
                        .execute(params![day, r.method, r.route, keep])
                        .map_err(err("cannot trim consumers"))?;
                }
            }
            let mut declare = tx
                .prepare_cached(
                    "INSERT INTO tower_ga_declared (method, route, first_declared, last_declared, deprecated)
                     VALUES (?1, ?2, ?3, ?3, ?4)
                     ON CONFLICT (method, route) DO UPDATE SET
                       last_declared = max(last_declared, excluded.last_declared),
                       deprecated = excluded.deprecated",
                )
                .map_err(err("cannot prepare"))?;
            let today = today.iso();
            for d in declared {
                declare
                    .execute(params![d.method, d.route, today, d.deprecated])
                    .map_err(err("cannot declare routes"))?;
            }
        }
        tx.commit().map_err(err("cannot commit usage"))
    }

    fn read(&mut self, from: Day) -> Result<Stored, String> {
        let mut out = Stored::default();
        let from_iso = from.iso();
        let columns = BUCKET_COLUMNS.join(", ");
        let mut q = self
            .conn
            .prepare_cached(&format!(
                "SELECT day, method, route, calls, method_not_allowed, s2xx, s3xx, s4xx, s5xx,
                   s_other, first_call, last_call, deprecated_since, sunset, {columns}
                 FROM tower_ga_usage WHERE day >= ?1"
            ))
            .map_err(err("cannot read usage"))?;
        let mut rows = q.query([&from_iso]).map_err(err("cannot read usage"))?;
        while let Some(row) = rows.next().map_err(err("cannot read usage"))? {
            let get = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v.map(|v| v as u64));
            let n = |i: usize| get(i).map(Option::unwrap_or_default);
            let day: String = row.get(0).map_err(err("day"))?;
            let key = (
                row.get::<_, String>(1).map_err(err("method"))?,
                row.get::<_, String>(2).map_err(err("route"))?,
            );
            let read = || -> rusqlite::Result<Counts> {
                let mut c = Counts {
                    calls: n(3)?,
                    not_allowed: n(4)?,
                    status: [n(5)?, n(6)?, n(7)?, n(8)?, n(9)?],
                    first: get(10)?,
                    last: get(11)?,
                    deprecation: get(12)?.map(|s| (s, None)),
                    ..Counts::default()
                };
                if let Some(d) = &mut c.deprecation {
                    d.1 = get(13)?;
                }
                for i in 0..BUCKETS {
                    c.latency[i] = n(14 + i)?;
                }
                Ok(c)
            };
            let counts = read().map_err(err("cannot read usage"))?;
            let day = Day::parse(&day).unwrap_or(from);
            let (total, days) = out.routes.entry(key).or_default();
            total.merge(&counts);
            days.push((day, counts.calls));
        }
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT method, route, consumer, SUM(calls) FROM tower_ga_consumers
                 WHERE day >= ?1 GROUP BY method, route, consumer ORDER BY SUM(calls) DESC",
            )
            .map_err(err("cannot read consumers"))?;
        let mut rows = q.query([&from_iso]).map_err(err("cannot read consumers"))?;
        while let Some(row) = rows.next().map_err(err("cannot read consumers"))? {
            let key: (String, String) = (
                row.get(0).map_err(err("method"))?,
                row.get(1).map_err(err("route"))?,
            );
            let label: String = row.get(2).map_err(err("consumer"))?;
            let calls: i64 = row.get(3).map_err(err("calls"))?;
            if let Some((c, _)) = out.routes.get_mut(&key) {
                c.consumers.push((label, calls as u64));
            }
        }
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT method, route, MAX(last_call) FROM tower_ga_usage
                 WHERE last_call IS NOT NULL GROUP BY method, route",
            )
            .map_err(err("cannot read last calls"))?;
        let mut rows = q.query([]).map_err(err("cannot read last calls"))?;
        while let Some(row) = rows.next().map_err(err("cannot read last calls"))? {
            let key = (
                row.get(0).map_err(err("method"))?,
                row.get(1).map_err(err("route"))?,
            );
            let last: i64 = row.get(2).map_err(err("last call"))?;
            out.last_called.insert(key, last as u64);
        }
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT method, route, first_declared, deprecated FROM tower_ga_declared",
            )
            .map_err(err("cannot read declared routes"))?;
        let mut rows = q.query([]).map_err(err("cannot read declared routes"))?;
        while let Some(row) = rows.next().map_err(err("cannot read declared routes"))? {
            let first: String = row.get(2).map_err(err("first_declared"))?;
            out.declared.push(Declared {
                method: row.get(0).map_err(err("method"))?,
                route: row.get(1).map_err(err("route"))?,
                first_declared: Day::parse(&first).unwrap_or(from),
                deprecated: row.get(3).map_err(err("deprecated"))?,
            });
        }
        Ok(out)
    }

    fn retain(&mut self, before: Day) -> Result<u64, String> {
        let before = before.iso();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("cannot lock the usage store"))?;
        let mut gone = tx
            .execute("DELETE FROM tower_ga_usage WHERE day < ?1", [&before])
            .map_err(err("cannot forget old days"))?;
        gone += tx
            .execute("DELETE FROM tower_ga_consumers WHERE day < ?1", [&before])
            .map_err(err("cannot forget old days"))?;
        tx.commit().map_err(err("cannot commit"))?;
        Ok(gone as u64)
    }
}
