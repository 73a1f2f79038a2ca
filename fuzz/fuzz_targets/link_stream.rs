#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rsm_proto::fuzzing::link_stream(data));
