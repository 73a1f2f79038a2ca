#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // A panic on any agent thread is a crash, not a lost thread.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |i| {
            prev(i);
            std::process::abort();
        }));
    },
    |data: &[u8]| rsm_testkit::fuzzing::agent_session(data)
);
