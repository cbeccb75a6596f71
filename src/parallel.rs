//! One way to spread work over threads: the items cut into contiguous chunks, one thread each,
//! the results in the items' order (so the output stays deterministic).

/// Threads for CPU-bound stages: the cores, at most 8.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// Runs `work(offset, chunk)` on `threads` contiguous chunks of `items` at once and returns the
/// results in order; `offset` is the chunk's first index in `items`. A panic in a worker is
/// raised again here.
pub fn in_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| scope.spawn(move || work(i * chunk, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Runs `work(offset, part)` over contiguous parts of `items`, about `per_thread` parts for each
/// of `threads` threads, and returns the results in the parts' order; `offset` is the part's first
/// index in `items`. Each thread takes the next part when it is done with one, so a thread that
/// gets slower parts, or less of a core, does fewer of them, and the threads finish within a
/// part of each other (with one part per thread, the one left behind holds up the stage). A
/// panic in a worker is raised again here.
pub fn in_parts<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    per_thread: usize,
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = threads.max(1);
    let size = items.len().div_ceil(threads * per_thread.max(1)).max(1);
    let parts: Vec<&[T]> = items.chunks(size).collect();
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let (work, parts, next) = (&work, &parts, &next);
        let handles: Vec<_> = (0..threads.min(parts.len()))
            .map(|_| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(part) = parts.get(i) else {
                            return mine;
                        };
                        mine.push((i, work(i * size, part)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Runs `work` on each of `items` from `threads` threads of `scope`, ahead of the consumer, and
/// yields the results in the items' order: the consumer works on one item while the next ones are
/// being prepared. At most `ahead` items are in flight (taken up and not yet yielded), which
/// bounds the memory held. Dropping the iterator stops the workers; a panic in `work` is raised
/// again in the consumer.
pub fn in_order_ahead<'scope, 'env, T: Sync, R: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    items: &'env [T],
    threads: usize,
    ahead: usize,
    work: &'env (dyn Fn(&T) -> R + Sync),
) -> InOrder<R> {
    use std::sync::{Arc, Condvar, Mutex};
    let ahead = ahead.max(1);
    let gate = Arc::new((Mutex::new(Gate::default()), Condvar::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..threads.max(1) {
        let (tx, gate) = (tx.clone(), Arc::clone(&gate));
        scope.spawn(move || loop {
            let i = {
                let (lock, cv) = &*gate;
                let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !g.closed && g.taken >= g.yielded + ahead {
                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                if g.closed || g.taken >= items.len() {
                    return;
                }
                g.taken += 1;
                g.taken - 1
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&items[i])));
            let failed = r.is_err();
            if tx.send((i, r)).is_err() || failed {
                return;
            }
        });
    }
    InOrder {
        rx,
        gate,
        waiting: std::collections::BTreeMap::new(),
        next: 0,
    }
}

#[derive(Default)]
struct Gate {
    taken: usize,
    yielded: usize,
    closed: bool,
}

type Outcome<R> = std::thread::Result<R>;

/// The results of [`in_order_ahead`], in order.
pub struct InOrder<R> {
    rx: std::sync::mpsc::Receiver<(usize, Outcome<R>)>,
    gate: std::sync::Arc<(std::sync::Mutex<Gate>, std::sync::Condvar)>,
    waiting: std::collections::BTreeMap<usize, Outcome<R>>,
    next: usize,
}

impl<R> Iterator for InOrder<R> {
    type Item = R;
    fn next(&mut self) -> Option<R> {
        loop {
            if let Some(r) = self.waiting.remove(&self.next) {
                self.next += 1;
                let (lock, cv) = &*self.gate;
                lock.lock().unwrap_or_else(|e| e.into_inner()).yielded += 1;
                cv.notify_all();
                return Some(r.unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            // Every worker gone: the items are done.
            let (i, r) = self.rx.recv().ok()?;
            self.waiting.insert(i, r);
        }
    }
}

impl<R> Drop for InOrder<R> {
    fn drop(&mut self) {
        let (lock, cv) = &*self.gate;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_cover_the_items_in_order() {
        let items: Vec<u32> = (0..103).collect();
        for threads in [1, 2, 8, 200] {
            let parts = super::in_chunks(&items, threads, |offset, part| {
                assert_eq!(part[0] as usize, offset);
                part.to_vec()
            });
            assert_eq!(parts.concat(), items);
        }
        assert!(super::in_chunks(&[] as &[u32], 4, |_, p| p.len()).is_empty());
    }

    #[test]
    fn parts_cover_the_items_in_order_whichever_thread_takes_them() {
        let items: Vec<u32> = (0..1003).collect();
        for (threads, per_thread) in [(1, 1), (2, 1), (2, 16), (3, 7), (8, 4), (200, 16)] {
            let parts = super::in_parts(&items, threads, per_thread, |offset, part| {
                assert_eq!(part[0] as usize, offset);
                // Some parts take longer, so that later parts finish first now and then.
                if offset % 3 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
                part.to_vec()
            });
            assert_eq!(
                parts.concat(),
                items,
                "{threads} threads, {per_thread} a thread"
            );
            assert!(parts.len() <= threads * per_thread && parts.len() >= threads.min(1003));
        }
        assert!(super::in_parts(&[] as &[u32], 4, 8, |_, p| p.len()).is_empty());
    }

    #[test]
    fn ahead_yields_in_order_and_bounds_what_is_in_flight() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let items: Vec<u64> = (0..500).collect();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let work = |x: &u64| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // Later items finish first now and then: the order must still hold.
            if x.is_multiple_of(7) {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            running.fetch_sub(1, Ordering::SeqCst);
            x * 2
        };
        for threads in [1, 3] {
            let got: Vec<u64> = std::thread::scope(|s| {
                super::in_order_ahead(s, &items, threads, 4, &work).collect()
            });
            assert_eq!(got, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
        // No more than `ahead` items taken up beyond those yielded.
        let started = AtomicUsize::new(0);
        let count = |x: &u64| {
            started.fetch_add(1, Ordering::SeqCst);
            *x
        };
        std::thread::scope(|s| {
            for (k, x) in super::in_order_ahead(s, &items, 3, 4, &count).enumerate() {
                assert_eq!(x, k as u64);
                std::thread::sleep(std::time::Duration::from_micros(50));
                // Item k is out: k + 1 yielded, so at most k + 1 + 4 taken up.
                assert!(started.load(Ordering::SeqCst) <= k + 5);
            }
        });
        // Stopping early lets the workers go (the scope would never end otherwise).
        let first: Vec<u64> = std::thread::scope(|s| {
            super::in_order_ahead(s, &items, 2, 4, &work)
                .take(3)
                .collect()
        });
        assert_eq!(first, vec![0, 2, 4]);
    }

    #[test]
    fn ahead_raises_a_workers_panic_in_the_consumer() {
        let items: Vec<u32> = (0..50).collect();
        let work = |x: &u32| {
            assert!(*x != 20, "item 20");
            *x
        };
        let r = std::panic::catch_unwind(|| {
            std::thread::scope(|s| super::in_order_ahead(s, &items, 2, 4, &work).count())
        });
        assert!(r.is_err());
    }
}
