//! A cap on the memory one piece of work may allocate, for work driven by untrusted input that
//! no other limit bounds: an inventory's template can join or concatenate strings ever larger
//! within its instruction budget (each `a ~ a` doubles), and minijinja has no limit on that.
//!
//! [`Budgeted`] wraps the global allocator (the binary installs it): while [`within`] runs on a
//! thread, every byte that thread allocates is counted against the budget. An allocation beyond
//! it cannot be refused in a way the code above could report (Rust aborts on a failed
//! allocation), so the process says why (once, in one piece, however many threads went over
//! together) and ends with status 1: the build had not switched the web root yet, so it is left
//! as it was. Outside `within`, nothing is counted.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// No budget on this thread.
const NONE: usize = usize::MAX;

/// What one render of a template may allocate: a phone's file takes well under a MiB. The
/// message below says the same number.
pub const TEMPLATE: usize = 64 << 20;

thread_local! {
    /// Bytes this thread may still allocate; `NONE` when it is not counted.
    static LEFT: Cell<usize> = const { Cell::new(NONE) };
    /// What is being done, for the message (a name borrowed for the time of [`within`]).
    static WHAT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// The global allocator `A`, counting what a thread allocates inside [`within`].
pub struct Budgeted<A>(pub A);

// SAFETY: every call is passed to `A` unchanged; the count only reads and writes a thread-local
// cell, which allocates nothing (const-initialized, no destructor).
unsafe impl<A: GlobalAlloc> GlobalAlloc for Budgeted<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as above.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        charge(new_size.saturating_sub(layout.size()));
        // SAFETY: as above.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

#[inline]
fn charge(bytes: usize) {
    let _ = LEFT.try_with(|left| {
        let l = left.get();
        if l == NONE {
            return;
        }
        if bytes > l {
            over_budget();
        }
        left.set(l - bytes);
    });
}

/// The message for [`TEMPLATE`], around the template's name.
const BEFORE: &[u8] = b"error: the template ";
const AFTER: &[u8] = b" took more than 64 MiB of memory to render one file (the inventory's templates/ build ever larger text?); the live release was left as it was (an older release this build had taken over is put back by the next build)\n";

/// Set by the first thread over its budget: only it writes the message and ends the process.
static ENDING: AtomicBool = AtomicBool::new(false);

/// The longest template name the message quotes (a name is a path inside `templates/`).
const NAME_MAX: usize = 256;

#[cold]
fn over_budget() -> ! {
    if ENDING.swap(true, Ordering::SeqCst) {
        // Another thread went over at the same time and is writing the message: wait for its
        // `_exit`, which ends this thread too, rather than write a second message into the
        // first one.
        loop {
            // SAFETY: pause(2) allocates nothing and only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    let (name, len) = WHAT.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    // The message is put together on the stack (nothing may be allocated here, inside the
    // allocator) and written with one write(2), so it arrives whole.
    let mut message = [0u8; BEFORE.len() + NAME_MAX + AFTER.len()];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        message[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(BEFORE);
    if !name.is_null() {
        // SAFETY: `name` points at `len` bytes borrowed by `within`, which is still running (it
        // is what allocated).
        let name = unsafe { std::slice::from_raw_parts(name, len) };
        put(&name[..len.min(NAME_MAX)]);
    }
    put(AFTER);
    // SAFETY: write(2) and _exit(2) allocate nothing; a short write loses only text.
    unsafe {
        libc::write(2, message.as_ptr().cast(), at);
        libc::_exit(1)
    }
}

/// Runs `work`, named `what` (a template's name), with at most `bytes` allocated by this thread
/// (beyond, the process ends as the module says). The budget in place before is put back after,
/// also when `work` panics.
pub fn within<R>(bytes: usize, what: &str, work: impl FnOnce() -> R) -> R {
    struct Restore(usize, (*const u8, usize));
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = LEFT.try_with(|l| l.set(self.0));
            let _ = WHAT.try_with(|w| w.set(self.1));
        }
    }
    let name = WHAT.with(|w| w.replace((what.as_ptr(), what.len())));
    let before = LEFT.with(|l| l.replace(bytes.min(NONE - 1)));
    let _restore = Restore(before, name);
    work()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_the_budget() {
        let text = String::from_utf8_lossy(AFTER);
        assert!(
            text.contains(&format!(" {} MiB ", TEMPLATE >> 20)),
            "{text}"
        );
    }

    #[test]
    fn a_budget_is_put_back_after_its_work_even_when_it_panics() {
        let left = || LEFT.with(Cell::get);
        assert_eq!(left(), NONE);
        within(1000, "outer", || {
            assert_eq!(left(), 1000);
            let r = std::panic::catch_unwind(|| within(10, "inner", || panic!("inside")));
            assert!(r.is_err());
            assert_eq!(left(), 1000);
        });
        assert_eq!(left(), NONE);
        assert_eq!(WHAT.with(Cell::get).0, std::ptr::null());
    }
}
