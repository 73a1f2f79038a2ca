//! T16: segment-id ranges from an `rsm.segmentid` file (path overridable by
//! `RSM_SEGMENTID_FILE`; default `/etc/rsm/rsm.segmentid`).

use rsm::{Error, ExportFlags, ExportSegment, ImportSegment, segmentid_range_in};
use rsm_testkit::{Puppet, TestAgent};
use std::path::PathBuf;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }
    fn with(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

const GOOD: &str = "#keyword   appid     baseid    length\n\
                    # another comment\n\
                    \t  # an indented comment\n\
                    reserved   SUNWfoo   0x600000  1000\n\
                    reserved   APP       0x600400  100\n\
                    reserved   app       0x700000  5\n";

#[test]
fn t16_lookup() {
    let f = Files::new();
    let p = f.with("good", GOOD);
    assert_eq!(segmentid_range_in(&p, "SUNWfoo"), Ok((0x600000, 1000)));
    assert_eq!(segmentid_range_in(&p, "APP"), Ok((0x600400, 100)));
    // Case-insensitive, and the first matching line decides.
    assert_eq!(segmentid_range_in(&p, "sunwFOO"), Ok((0x600000, 1000)));
    assert_eq!(segmentid_range_in(&p, "app"), Ok((0x600400, 100)));
    assert_eq!(segmentid_range_in(&p, "nosuchapp"), Err(Error::BadAppid));
    assert_eq!(segmentid_range_in(&p, ""), Err(Error::BadAppid));
}

#[test]
fn t16_malformed_files() {
    let f = Files::new();
    assert_eq!(segmentid_range_in(&f.dir.path().join("missing"), "APP"), Err(Error::BadConf));
    // A blank line before the match stops the scan; after it, it does not matter.
    let p = f.with("blank", "reserved X 0x600000 1\n\nreserved APP 0x600400 100\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Err(Error::BadConf));
    assert_eq!(segmentid_range_in(&p, "X"), Ok((0x600000, 1)));
    // The keyword is checked only on the matching line.
    let p = f.with("keyword", "foo X 1 1\nfoo APP 0x600400 100\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Err(Error::BadConf));
    let p = f.with("keyword2", "foo X 1 1\nreserved APP 0x600400 100\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Ok((0x600400, 100)));
    // Fewer than four fields before the match.
    let p = f.with("short", "reserved X 0x600000\nreserved APP 0x600400 100\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Err(Error::BadConf));
    // Numbers that overflow.
    let p = f.with("overflow", "reserved APP 0x1ffffffff 100\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Err(Error::BadConf));
    // Trailing garbage after a number is ignored; the docs' keyword "reserve" is accepted too.
    let p = f.with("lenient", "reserve APP 600400xyz 100 ids\n");
    assert_eq!(segmentid_range_in(&p, "APP"), Ok((0x600400, 100)));
    // A file that cannot be read.
    assert_eq!(segmentid_range_in(f.dir.path(), "APP"), Err(Error::BadConf));
}

#[test]
fn t16_through_the_environment_and_into_publish() {
    assert_eq!(rsm::SEGMENTID_DEFAULT_PATH, "/etc/rsm/rsm.segmentid");
    let f = Files::new();
    let p = f.with("rsm.segmentid", GOOD);
    let agent = TestAgent::start(1);
    let mut app = Puppet::on(&agent).env("RSM_SEGMENTID_FILE", p.to_str().unwrap()).spawn();
    assert_eq!(app.ok("segrange APP"), "0x600400 100");
    assert_eq!(app.err("segrange other"), "RSMERR_BAD_APPID");
    let mut missing = Puppet::on(&agent).env("RSM_SEGMENTID_FILE", "/nonexistent/rsm.segmentid").spawn();
    assert_eq!(missing.err("segrange APP"), "RSMERR_BAD_CONF");
    // The application computes its ids as base + k and publishes under them.
    let (base, len) = segmentid_range_in(&p, "APP").unwrap();
    let ctl = agent.controller("loopback");
    let segs: Vec<ExportSegment> =
        (0..3).map(|_| ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap()).collect();
    for (k, s) in segs.iter().enumerate() {
        assert_eq!(s.publish(base + k as u32, &[]).unwrap(), base + k as u32);
    }
    assert!(3 < len);
    let h = app.ok(&format!("connect 1 {} 400", base + 2));
    assert!(!h.is_empty());
    assert!(ImportSegment::connect(&ctl, 1, base + 1, rsm::perm::READ).is_ok());
}
