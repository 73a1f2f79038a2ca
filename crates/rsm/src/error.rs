//! The one error type of rsm: a variant per `RSMERR_*` code.

macro_rules! errors {
    ($( $(#[$m:meta])* $name:ident = $code:literal, $c:literal, $msg:literal; )*) => {
        /// An rsm error. Each variant is one `RSMERR_*` code of the RSMAPI (same number,
        /// see [`Error::code`]); the C name is in each variant's documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
        #[non_exhaustive]
        pub enum Error {
            $( $(#[$m])* #[doc = concat!("`", $c, "` (", stringify!($code), "): ", $msg)] #[error($msg)] $name, )*
        }

        impl Error {
            /// The `RSMERR_*` number.
            pub const fn code(self) -> i32 {
                match self { $( Error::$name => $code, )* }
            }

            /// The error with `RSMERR_*` number `code` (`None` for 0 and unknown numbers).
            pub const fn from_code(code: i32) -> Option<Error> {
                match code { $( $code => Some(Error::$name), )* _ => None }
            }

            /// The C name, e.g. `"RSMERR_BAD_SEG_HNDL"`.
            pub const fn c_name(self) -> &'static str {
                match self { $( Error::$name => $c, )* }
            }

            /// Every error, in code order.
            pub const ALL: &'static [Error] = &[ $( Error::$name, )* ];
        }
    };
}

errors! {
    BadLibraryVersion = 1, "RSMERR_BAD_LIBRARY_VERSION", "bad library version";
    BadTopologyPtr = 2, "RSMERR_BAD_TOPOLOGY_PTR", "bad topology pointer";
    BadCtlrHndl = 3, "RSMERR_BAD_CTLR_HNDL", "bad controller handle";
    CtlrNotPresent = 4, "RSMERR_CTLR_NOT_PRESENT", "controller not present";
    BadSegHndl = 5, "RSMERR_BAD_SEG_HNDL", "bad segment handle";
    SegAlreadyPublished = 6, "RSMERR_SEG_ALREADY_PUBLISHED", "segment already published";
    SegNotPublished = 7, "RSMERR_SEG_NOT_PUBLISHED", "segment not published";
    SegNotPublishedToNode = 8, "RSMERR_SEG_NOT_PUBLISHED_TO_NODE", "segment not published to this node";
    SegAlreadyMapped = 9, "RSMERR_SEG_ALREADY_MAPPED", "segment already mapped";
    SegStillMapped = 10, "RSMERR_SEG_STILL_MAPPED", "segment still mapped";
    SegNotMapped = 11, "RSMERR_SEG_NOT_MAPPED", "segment not mapped";
    NotCreator = 12, "RSMERR_NOT_CREATOR", "not the creator of the segment";
    BadBarrierPtr = 13, "RSMERR_BAD_BARRIER_PTR", "bad barrier pointer";
    BadSgio = 14, "RSMERR_BAD_SGIO", "bad scatter/gather descriptor";
    BadLocalmemHndl = 15, "RSMERR_BAD_LOCALMEM_HNDL", "bad local memory handle";
    BadAddr = 16, "RSMERR_BAD_ADDR", "bad address";
    BadMemAlignment = 17, "RSMERR_BAD_MEM_ALIGNMENT", "bad memory alignment";
    BadOffset = 18, "RSMERR_BAD_OFFSET", "offset outside the mapped window";
    MisalignedOffset = 19, "RSMERR_MISALIGNED_OFFSET", "misaligned offset";
    BadLength = 20, "RSMERR_BAD_LENGTH", "bad length";
    BadAcl = 21, "RSMERR_BAD_ACL", "bad access list";
    BadSegid = 22, "RSMERR_BAD_SEGID", "bad segment id";
    ReservedSegid = 23, "RSMERR_RESERVED_SEGID", "segment id in a reserved range";
    SegidInUse = 24, "RSMERR_SEGID_IN_USE", "segment id in use";
    BadMode = 25, "RSMERR_BAD_MODE", "bad barrier mode";
    BadPerms = 26, "RSMERR_BAD_PERMS", "bad permissions";
    PermDenied = 27, "RSMERR_PERM_DENIED", "permission denied";
    LocksNotSupported = 28, "RSMERR_LOCKS_NOT_SUPPORTED", "locks not supported";
    LocksNotEnabled = 29, "RSMERR_LOCKS_NOT_ENABLED", "locks not enabled";
    RebindNotAllowed = 30, "RSMERR_REBIND_NOT_ALLOWED", "rebind not allowed";
    InsufficientResources = 31, "RSMERR_INSUFFICIENT_RESOURCES", "insufficient resources";
    InsufficientMem = 32, "RSMERR_INSUFFICIENT_MEM", "insufficient memory";
    MapFailed = 33, "RSMERR_MAP_FAILED", "mapping failed";
    PollfdInUse = 34, "RSMERR_POLLFD_IN_USE", "poll descriptor in use";
    BarrierUninitialized = 35, "RSMERR_BARRIER_UNINITIALIZED", "barrier not initialized";
    BarrierOpenFailed = 36, "RSMERR_BARRIER_OPEN_FAILED", "barrier open failed";
    BarrierNotOpened = 37, "RSMERR_BARRIER_NOT_OPENED", "barrier not opened";
    BarrierFailure = 38, "RSMERR_BARRIER_FAILURE", "transfer error in the barrier window";
    RemoteNodeUnreachable = 39, "RSMERR_REMOTE_NODE_UNREACHABLE", "remote node unreachable";
    ConnAborted = 40, "RSMERR_CONN_ABORTED", "connection aborted";
    Interrupted = 41, "RSMERR_INTERRUPTED", "interrupted";
    Timeout = 42, "RSMERR_TIMEOUT", "timed out";
    BadAppid = 43, "RSMERR_BAD_APPID", "application id not in rsm.segmentid";
    BadConf = 44, "RSMERR_BAD_CONF", "rsm.segmentid missing or malformed";
    SegNotConnected = 45, "RSMERR_SEG_NOT_CONNECTED", "segment not connected";
    InternalError = 100, "RSMERR_INTERNAL_ERROR", "internal error";
    BadDriverVersion = 101, "RSMERR_BAD_DRIVER_VERSION", "agent speaks another protocol version";
    BadArgsErrors = 117, "RSMERR_BAD_ARGS_ERRORS", "bad arguments";
    UnsupportedOperation = 127, "RSMERR_UNSUPPORTED_OPERATION", "operation not supported by this controller";
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn from_wire(code: u16) -> Error {
        Error::from_code(i32::from(code)).unwrap_or(Error::InternalError)
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn codes_roundtrip_and_match_spec_numbers() {
        for e in Error::ALL {
            assert_eq!(Error::from_code(e.code()), Some(*e));
            assert!(e.c_name().starts_with("RSMERR_"));
        }
        assert_eq!(Error::BadSegHndl.code(), 5);
        assert_eq!(Error::ConnAborted.code(), 40);
        assert_eq!(Error::SegNotConnected.code(), 45);
        assert_eq!(Error::BadArgsErrors.code(), 117);
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::ALL.len(), 45 + 4);
    }
}
