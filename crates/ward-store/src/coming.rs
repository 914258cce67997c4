//! How many audit records are on their way to a group commit: requests that started and will
//! hand the backend a record when they finish. A backend's group commit can then wait for
//! records that are known to come, and only for them (docs/design/011-audit-file.md "A group
//! commit that knows what is coming").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count of records announced and not yet handed over, shared by the requests and the
/// backend's appender.
#[derive(Debug, Default)]
pub struct Coming(AtomicUsize);

impl Coming {
    /// Announces one record; it counts until the returned guard is dropped.
    pub fn announce(self: &Arc<Self>) -> Announced {
        self.0.fetch_add(1, Ordering::AcqRel);
        Announced(self.clone())
    }

    /// Records announced and not handed over yet.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One announced record. Dropped right before the record is handed over, or when the request
/// ends without one (an error before its record, a client that went away).
#[derive(Debug)]
pub struct Announced(Arc<Coming>);

impl Drop for Announced {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_from_its_announcement_until_its_guard_goes() {
        let coming = Arc::new(Coming::default());
        assert_eq!(coming.count(), 0);
        let a = coming.announce();
        let b = coming.announce();
        assert_eq!(coming.count(), 2);
        drop(a);
        assert_eq!(coming.count(), 1);
        drop(b);
        assert_eq!(coming.count(), 0);
    }
}
