//! Device resources kept between calls, so that repeated calls of the same shape stop
//! paying for allocation: a caller takes an item of a size class, uses it, and gives it
//! back. Items are kept up to a byte budget; past it the least recently given back go.

use std::sync::Mutex;

/// The size class of `n`: `n` rounded up to one of 8 steps per power of two (at most 12.5%
/// more). Items of one class serve every size in it.
pub(crate) fn size_class(n: u64) -> u64 {
    let n = n.max(1);
    // One eighth of the largest power of two not above n.
    let step = ((1u64 << (63 - n.leading_zeros())) / 8).max(1);
    n.div_ceil(step).saturating_mul(step)
}

/// Items of type `T` by key, with their sizes in bytes.
pub(crate) struct Pool<K, T> {
    /// Given back and not yet taken, least recently given back first.
    free: Mutex<Vec<(K, T, u64)>>,
    /// The most bytes kept.
    budget: u64,
}

impl<K: PartialEq, T> Pool<K, T> {
    /// An empty pool that keeps at most `budget` bytes of items.
    pub(crate) fn new(budget: u64) -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
            budget,
        }
    }

    /// An item of `key` given back earlier, if one is free.
    pub(crate) fn take(&self, key: &K) -> Option<T> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let at = free.iter().rposition(|(k, _, _)| k == key)?;
        Some(free.remove(at).1)
    }

    /// Gives `item` (of `key`, `bytes` large) back for later calls; the least recently
    /// given back go first when the pool passes its budget. An item larger than the whole
    /// budget is dropped at once, and the others stay.
    pub(crate) fn give(&self, key: K, item: T, bytes: u64) {
        if bytes > self.budget {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.push((key, item, bytes));
        let mut total: u64 = free.iter().map(|(_, _, b)| b).sum();
        while total > self.budget {
            let (_, _, b) = free.remove(0);
            total -= b;
        }
    }

    /// Drops every item kept.
    pub(crate) fn clear(&self) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Items kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.free.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_round_up_by_at_most_an_eighth() {
        assert_eq!(size_class(0), 1);
        assert_eq!(size_class(5), 5);
        assert_eq!(size_class(64), 64);
        assert_eq!(size_class(65), 72);
        assert_eq!(size_class(1000), 1024);
        for n in 1..5000u64 {
            let class = size_class(n);
            assert!(class >= n && class * 8 <= n * 9 + 8, "{n}: {class}");
        }
    }

    #[test]
    fn items_come_back_by_key_and_the_budget_holds() {
        let pool: Pool<u32, &str> = Pool::new(100);
        pool.give(1, "a", 40);
        pool.give(2, "b", 40);
        assert_eq!(pool.take(&3), None);
        assert_eq!(pool.take(&1), Some("a"));
        assert_eq!(pool.take(&1), None);
        pool.give(1, "a", 40);
        pool.give(3, "c", 40);
        // 120 bytes: the least recently given back ("b") went.
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.take(&2), None);
        pool.give(4, "huge", 500);
        assert_eq!(pool.take(&4), None);
        // The huge one went alone: the others stayed.
        assert_eq!(pool.len(), 2);
    }
}
