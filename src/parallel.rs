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
}
