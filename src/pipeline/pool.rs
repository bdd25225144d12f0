//! Hits on their way back from the sender to the request path. A capture fills a recycled hit,
//! buffer included, so the request path allocates nothing once the pool has warmed up, and a hit
//! travels from the request path through the queue to the sender as one pointer, never copied.

use crossbeam_queue::ArrayQueue;

use crate::hit::Hit;

pub(crate) struct HitPool(ArrayQueue<Box<Hit>>);

impl HitPool {
    /// A pool of at most `capacity` hits (each with at most
    /// [`MAX_POOLED`](crate::hit::text::MAX_POOLED) bytes of buffer).
    pub(crate) fn new(capacity: usize) -> Self {
        HitPool(ArrayQueue::new(capacity.max(1)))
    }

    /// A recycled hit, if there is one. Never waits.
    pub(crate) fn take(&self) -> Option<Box<Hit>> {
        self.0.pop()
    }

    /// Keeps a hit for reuse, cleared; a full pool lets it go.
    pub(crate) fn give(&self, mut hit: Box<Hit>) {
        hit.clear();
        let _ = self.0.push(hit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::text::MAX_POOLED;

    fn hit(path: &str) -> Box<Hit> {
        let mut req = http::Request::builder()
            .method("X".repeat(20).as_str())
            .uri(path)
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(crate::PageTitle::new("a title"));
        Box::new(Hit::from_request(&req, false))
    }

    #[test]
    fn recycled_hits_keep_small_buffers_and_nothing_else() {
        let pool = HitPool::new(2);
        pool.give(hit("/small"));
        pool.give(hit(&format!("/{}", "x".repeat(MAX_POOLED + 1))));
        pool.give(hit("/over-capacity"));
        let first = pool.take().unwrap();
        assert!(first.page_title().is_none() && first.route().is_none());
        assert_eq!(first.method(), http::Method::GET);
        let second = pool.take().unwrap();
        assert!(pool.take().is_none(), "a full pool lets hits go");
        // A recycled hit captures like a new one.
        let req = http::Request::get("/next?q=1").body(()).unwrap();
        let rules = crate::hit::CaptureRules {
            credential_header: None,
            trust_proxy: false,
            trusted: &crate::http_text::forwarded::Trusted::Hops(1),
            named: None,
            geo: &[],
        };
        for slot in [first, second] {
            let h = Hit::capture(
                req.method(),
                req.uri(),
                req.headers(),
                req.extensions(),
                &rules,
                Some(slot),
            );
            assert_eq!((h.path(), h.query()), ("/next", Some("q=1")));
            assert!(h.page_title().is_none());
        }
    }
}
