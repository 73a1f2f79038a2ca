//! The C boundary: the panic guard every exported function runs its body in, and the
//! conversion of results to `RSMERR_*` codes.

use crate::types::{RSM_SUCCESS, RSMERR_INTERNAL_ERROR};
use core::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs the body of an `int` entry point: `Ok` is [`RSM_SUCCESS`], an error its `RSMERR_*`
/// number, and a panic [`RSMERR_INTERNAL_ERROR`] (it never unwinds into C).
pub(crate) fn call(body: impl FnOnce() -> rsm::Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RSM_SUCCESS,
        Ok(Err(e)) => e.code(),
        Err(_) => RSMERR_INTERNAL_ERROR,
    }
}

/// Runs the body of a `void` entry point; a panic is caught and ignored.
pub(crate) fn call_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// Fails with `err` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T, err: rsm::Error) -> rsm::Result<()> {
    if p.is_null() { Err(err) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_panics_become_codes() {
        assert_eq!(call(|| Ok(())), 0);
        assert_eq!(call(|| Err(rsm::Error::BadSegHndl)), 5);
        assert_eq!(call(|| panic!("boom")), RSMERR_INTERNAL_ERROR);
        call_void(|| panic!("boom"));
    }
}
