//! xenflux restores SIGPIPE's default action (so `xenflux plan | head` ends quietly). Feeding
//! input to a child that exits without reading it — ssh failing to connect while the batch script
//! is being written — must then not kill xenflux. This binary sets the same disposition as
//! xenflux's `main` and does exactly that; without the fix the process dies of SIGPIPE.

use xenflux::transport::{Cmd, Local, Transport};

#[test]
fn input_to_a_child_that_exited_does_not_kill_xenflux() {
    // SAFETY: set once, before any other thread of this test binary writes to a pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let input = "x".repeat(1 << 20);
    for _ in 0..20 {
        let out = Local::new()
            .run_batch("here", &[Cmd::new(["true"]).with_stdin(input.clone())])
            .unwrap();
        assert_eq!(out[0].status, Some(0));
    }
}
