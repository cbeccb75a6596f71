//! The memory budget of a template's render, seen from outside the process it ends: when
//! several threads go over their budget at once, stderr carries one whole message, not pieces
//! of several.

use provsite::alloc_budget::{within, Budgeted};
use std::process::Command;
use std::sync::{Arc, Barrier};

#[global_allocator]
static ALLOCATOR: Budgeted<std::alloc::System> = Budgeted(std::alloc::System);

/// Set in the child process, which does the overrunning.
const CHILD: &str = "PROVSITE_ALLOC_BUDGET_CHILD";

/// Threads released together, each over its budget at once.
const THREADS: usize = 16;

fn overrun_from_many_threads() -> ! {
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                within(1024, "phone.txt", || std::hint::black_box(vec![1u8; 4096]));
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    unreachable!("no thread went over its budget");
}

#[test]
fn threads_over_budget_at_once_write_one_whole_message() {
    if std::env::var_os(CHILD).is_some() {
        overrun_from_many_threads();
    }
    let expected = "error: the template phone.txt took more than 64 MiB of memory to render one \
                    file (the inventory's templates/ build ever larger text?); the live release \
                    was left as it was (an older release this build had taken over is put back \
                    by the next build)\n";
    for round in 0..20 {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "threads_over_budget_at_once_write_one_whole_message",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "round {round}: {err}");
        assert_eq!(err, expected, "round {round}");
    }
}
