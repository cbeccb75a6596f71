//! A cap on the memory one piece of work may allocate, for work driven by untrusted input that
//! no other limit bounds: an inventory's template can join or concatenate strings ever larger
//! within its instruction budget (each `a ~ a` doubles), and minijinja has no limit on that.
//!
//! [`Budgeted`] wraps the global allocator (the binary installs it): while [`within`] runs on a
//! thread, every byte that thread allocates is counted against the budget. An allocation beyond
//! it cannot be refused in a way the code above could report (Rust aborts on a failed
//! allocation), so the process says why (once, in one piece, however many threads went over
//! together) and ends with status 1: the build had not switched the web root yet, so the live
//! release is left as it was (a release it had taken over is put back by the next build, see
//! `output::take_over`). Outside `within`, nothing is counted.
//!
//! While an older commit is rendered ([`rendering_past`]: the numbering, the comparison with a
//! parent), going over restarts the program instead, where [`allow_restart`] prepared it: the
//! new run counts that commit as not building ([`overran`]), so that one bad commit in history
//! does not stop every build after it.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

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
        // Another thread went over at the same time and is writing the message (or restarting
        // the process): wait for its `_exit` (or `execve`), which ends this thread too, rather
        // than write a second message into the first one.
        loop {
            // SAFETY: pause(2) allocates nothing and only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    let mut past = [0u8; ID_MAX];
    let past_len = PAST_LEN.load(Ordering::SeqCst).min(ID_MAX);
    for (b, a) in past.iter_mut().zip(&PAST[..past_len]) {
        *b = a.load(Ordering::SeqCst);
    }
    if past_len > 0 && RESTART_OK.load(Ordering::SeqCst) {
        if let Some(restart) = RESTART.get() {
            // SAFETY: only this thread gets here (`ENDING`), once.
            unsafe { restart.exec(&past[..past_len]) };
        }
    }
    let (name, len) = WHAT.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    // The message is put together on the stack (nothing may be allocated here, inside the
    // allocator) and written with one write(2), so it arrives whole.
    let mut message = [0u8; BEFORE.len() + NAME_MAX + 11 + ID_MAX + AFTER.len()];
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
    if past_len > 0 {
        put(b" of commit ");
        put(&past[..past_len]);
    }
    put(AFTER);
    // SAFETY: write(2) and _exit(2) allocate nothing; a short write loses only text.
    unsafe {
        libc::write(2, message.as_ptr().cast(), at);
        libc::_exit(1)
    }
}

/// The longest commit id (SHA-256 repositories: 64 hex digits).
const ID_MAX: usize = 64;

/// The older commit being rendered (hex, `PAST_LEN` bytes; none when 0): set by
/// [`rendering_past`] for every thread, as one older commit is rendered at a time, and never
/// beside the build's own render.
static PAST: [AtomicU8; ID_MAX] = [const { AtomicU8::new(0) }; ID_MAX];
static PAST_LEN: AtomicUsize = AtomicUsize::new(0);

/// Through this variable a process restarted after an older commit's render went over its budget
/// passes itself the commits that did (their ids, comma-separated): those count as not building
/// (see [`overran`]). Internal: set by provsite for itself.
pub const OVERRUN_VAR: &str = "PROVSITE_INTERNAL_OVERRUN";

/// The most restarts: beyond, the process ends with the message, naming the commit.
const MAX_OVERRUN: usize = 16;

fn is_commit_id(id: &[u8]) -> bool {
    matches!(id.len(), 40 | 64) && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The commits that [`OVERRUN_VAR`] names (none when it is not a list of commit ids).
fn overrun_list() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let value = std::env::var(OVERRUN_VAR).unwrap_or_default();
        let ids: Vec<String> = value
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if ids.iter().all(|id| is_commit_id(id.as_bytes())) {
            ids
        } else {
            Vec::new()
        }
    })
}

/// Whether rendering `commit` (hex) went over a template's memory budget in this process's
/// earlier life (see [`allow_restart`]): such a commit does not build.
pub fn overran(commit: &str) -> bool {
    overrun_list().iter().any(|c| c == commit)
}

/// Runs `work`, which renders the older commit `commit` (hex): if a template goes over its
/// budget meanwhile, the process restarts with that commit counted as not building, where
/// [`allow_restart`] allowed it, instead of ending. An older commit that does not build must
/// not stop every later build (its templates cannot be mended: they are history).
pub fn rendering_past<R>(commit: &str, work: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            PAST_LEN.store(0, Ordering::SeqCst);
        }
    }
    if is_commit_id(commit.as_bytes()) {
        for (a, b) in PAST.iter().zip(commit.bytes()) {
            a.store(b, Ordering::SeqCst);
        }
        PAST_LEN.store(commit.len(), Ordering::SeqCst);
    }
    let _clear = Clear;
    work()
}

/// What a restart runs: this program again, with the same arguments and environment, and one
/// more commit in [`OVERRUN_VAR`]. Made before any render, as the restart happens inside the
/// allocator, where nothing may be allocated.
struct Restart {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// `OVERRUN_VAR=<ids>` and room for one more id, NUL-terminated; `envp`'s last entry.
    var: *mut u8,
    var_len: usize,
    /// Owns what `argv` and `envp` point at.
    _strings: Vec<std::ffi::CString>,
}

// SAFETY: the pointers point into `_strings` and a leaked buffer, which live as long as the
// process and are written only by `exec`, once, on the one thread that got past `ENDING`.
unsafe impl Sync for Restart {}
unsafe impl Send for Restart {}

static RESTART: OnceLock<Restart> = OnceLock::new();

/// Cleared once the run has read something it could not read again (a secret file that is a
/// pipe gives its bytes once): then there is no restart, and the message names the commit.
static RESTART_OK: AtomicBool = AtomicBool::new(true);

/// No restart from here on (see `RESTART_OK`).
pub fn forbid_restart() {
    RESTART_OK.store(false, Ordering::SeqCst);
}

impl Restart {
    /// Replaces this process with a new run of the program that counts `commit` as not
    /// building. Returns only when that fails.
    ///
    /// # Safety
    /// Called once, by one thread (the buffer behind `var` is written).
    unsafe fn exec(&self, commit: &[u8]) {
        let prefix = OVERRUN_VAR.len() + 1;
        let mut at = self.var_len;
        // SAFETY: `var` has room for `var_len` bytes, a comma, `ID_MAX` bytes and a NUL.
        unsafe {
            if at > prefix {
                *self.var.add(at) = b',';
                at += 1;
            }
            for &b in commit.iter().take(ID_MAX) {
                *self.var.add(at) = b;
                at += 1;
            }
            *self.var.add(at) = 0;
            libc::execve(
                c"/proc/self/exe".as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
        }
    }
}

/// Lets an older commit's render that goes over its budget restart the process instead of
/// ending it (see [`rendering_past`]): for commands that render older commits (build, check,
/// diff). Not after 16 restarts, nor where the arguments or environment cannot be
/// passed on.
pub fn allow_restart() {
    if overrun_list().len() >= MAX_OVERRUN {
        return;
    }
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let mut strings = Vec::new();
    for arg in std::env::args_os() {
        let Ok(c) = CString::new(arg.as_bytes()) else {
            return;
        };
        strings.push(c);
    }
    let argc = strings.len();
    for (k, v) in std::env::vars_os() {
        if k.as_bytes() == OVERRUN_VAR.as_bytes() {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        let Ok(c) = CString::new(kv) else {
            return;
        };
        strings.push(c);
    }
    let mut var = format!("{OVERRUN_VAR}={}", overrun_list().join(",")).into_bytes();
    let var_len = var.len();
    var.resize(var_len + 1 + ID_MAX + 1, 0);
    let var: *mut u8 = Box::leak(var.into_boxed_slice()).as_mut_ptr();
    let ptrs =
        |s: &[CString]| -> Vec<*const libc::c_char> { s.iter().map(|c| c.as_ptr()).collect() };
    let mut argv = ptrs(&strings[..argc]);
    argv.push(std::ptr::null());
    let mut envp = ptrs(&strings[argc..]);
    envp.push(var.cast_const().cast());
    envp.push(std::ptr::null());
    let _ = RESTART.set(Restart {
        argv,
        envp,
        var,
        var_len,
        _strings: strings,
    });
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
    fn only_commit_ids_are_counted_as_overrun() {
        assert!(is_commit_id(b"dd353c8055d3d8a661ea6a415827f1dc31900280"));
        assert!(is_commit_id(&[b'a'; 64]));
        for bad in [
            &b"dd353c8"[..],
            b"DD353C8055D3D8A661EA6A415827F1DC31900280",
            b"HEAD",
        ] {
            assert!(!is_commit_id(bad), "{}", String::from_utf8_lossy(bad));
        }
        assert!(!overran("dd353c8055d3d8a661ea6a415827f1dc31900280"));
    }

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
