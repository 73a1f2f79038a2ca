//! `Mapping::recv_at`: a socket's bytes land in the mapping at the offset asked, never
//! outside it, never in a read-only mapping.

use rsm_os::mem::{Mapping, Prot};
use rustix::io::Errno;
use std::io::Write;
use std::os::unix::net::UnixStream;

#[test]
fn receives_into_the_span_only() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let m = Mapping::anonymous(8192).unwrap();
    m.write_at(0, &[0xee; 8192]).unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    a.write_all(&data).unwrap();
    let mut got = 0;
    while got < data.len() {
        let n = m.recv_at(&b, 100 + got, data.len() - got).unwrap();
        assert!(n > 0);
        got += n;
    }
    let mut back = vec![0u8; 8192];
    m.read_at(0, &mut back).unwrap();
    assert_eq!(&back[100..3100], &data[..]);
    assert!(back[..100].iter().all(|&x| x == 0xee), "bytes before the span changed");
    assert!(back[3100..].iter().all(|&x| x == 0xee), "bytes after the span changed");
}

#[test]
fn bad_spans_and_closed_peers() {
    let (a, b) = UnixStream::pair().unwrap();
    let m = Mapping::anonymous(4096).unwrap();
    assert_eq!(m.recv_at(&b, 4000, 97), Err(Errno::FAULT));
    assert_eq!(m.recv_at(&b, usize::MAX, 2), Err(Errno::FAULT));
    assert_eq!(m.recv_at(&b, 4096, 0), Ok(0));
    let fd = rsm_os::memfd::create("ro", 4096).unwrap();
    let ro = Mapping::map_shared(&fd, 4096, Prot::Read).unwrap();
    assert_eq!(ro.recv_at(&b, 0, 16), Err(Errno::FAULT));
    drop(a);
    assert_eq!(m.recv_at(&b, 0, 16), Ok(0), "a closed peer reads as 0 bytes");
}
