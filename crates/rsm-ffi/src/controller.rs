//! Controller operations (RSMAPI 3.1): `rsm_get_controller`, `rsm_release_controller`,
//! `rsm_get_controller_attr`.
//!
//! # Safety
//!
//! The exported functions read C strings and write out-parameters the caller passes; each
//! pointer is NULL-checked first and otherwise trusted to be valid, as in C. Handles are
//! never dereferenced (see [`crate::handle`]).
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::handle::{Lookup, TAG_CONTROLLER, Table};
use crate::types::{rsmapi_controller_attr_t, rsmapi_controller_handle_t};
use core::ffi::{c_char, c_int};
use rsm::{Controller, Error};
use std::ffi::CStr;

/// A controller handle: the controller and the number of gets not yet released.
#[derive(Clone)]
pub(crate) struct CtlEntry {
    ctl: Controller,
    refs: u32,
}

pub(crate) static CONTROLLERS: Table<CtlEntry> = Table::new(TAG_CONTROLLER);

/// The controller of a live handle, or [`Error::BadCtlrHndl`].
pub(crate) fn controller(h: rsmapi_controller_handle_t) -> rsm::Result<Controller> {
    CONTROLLERS.get(h.cast_const().cast(), Error::BadCtlrHndl).map(|e| e.ctl)
}

/// Gets a controller: `name` `"loopback"`, `"tcp0"`...; NULL is the loopback controller.
/// Getting the same controller again returns the same handle and counts one more reference.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `controller` is NULL or valid for writing a
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_get_controller(name: *mut c_char, controller: *mut rsmapi_controller_handle_t) -> c_int {
    boundary::call(|| {
        non_null(controller, Error::BadCtlrHndl)?;
        let ctl = if name.is_null() {
            Controller::loopback()?
        } else {
            // SAFETY: name is a NUL-terminated string (caller contract), not NULL (checked).
            let name = unsafe { CStr::from_ptr(name) };
            Controller::get(name.to_str().map_err(|_| Error::CtlrNotPresent)?)?
        };
        let h = {
            let mut t = CONTROLLERS.write();
            match t.find(|e| e.ctl.same(&ctl)) {
                Some(h) => {
                    if let Lookup::Live(e) = t.get_mut(h) {
                        e.refs = e.refs.checked_add(1).ok_or(Error::InsufficientResources)?;
                    }
                    h
                }
                None => t.insert(CtlEntry { ctl, refs: 1 }).ok_or(Error::InsufficientResources)?,
            }
        };
        // SAFETY: controller is valid for writing (caller contract), not NULL (checked).
        unsafe { controller.write(h.cast()) };
        Ok(())
    })
}

/// Drops one reference to a controller; the last release frees the handle.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_release_controller(controller: rsmapi_controller_handle_t) -> c_int {
    boundary::call(|| {
        let h = controller.cast_const().cast();
        let released = {
            let mut t = CONTROLLERS.write();
            match t.get_mut(h) {
                Lookup::Live(e) => {
                    e.refs -= 1;
                    if e.refs == 0 { t.remove(h) } else { None }
                }
                Lookup::Stale | Lookup::Invalid => return Err(Error::BadCtlrHndl),
            }
        };
        // The last reference of this handle goes outside the table lock.
        drop(released);
        Ok(())
    })
}

/// Copies the controller's attributes into `*attr`.
///
/// # Safety
///
/// `attr` is NULL or valid for writing an `rsmapi_controller_attr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_get_controller_attr(
    chdl: rsmapi_controller_handle_t,
    attr: *mut rsmapi_controller_attr_t,
) -> c_int {
    boundary::call(|| {
        non_null(chdl, Error::BadCtlrHndl)?;
        non_null(attr, Error::BadAddr)?;
        let ctl = match CONTROLLERS.lookup(chdl.cast_const().cast()) {
            Lookup::Live(e) => e.ctl,
            // A released controller (reference count 0).
            Lookup::Stale => return Err(Error::CtlrNotPresent),
            Lookup::Invalid => return Err(Error::BadCtlrHndl),
        };
        let a = ctl.attr();
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let out = rsmapi_controller_attr_t {
            attr_direct_access_sizes: a.direct_access_sizes,
            attr_atomic_sizes: a.atomic_sizes,
            attr_page_size: size(a.page_size),
            attr_max_export_segment_size: size(a.max_export_segment_size),
            attr_tot_export_segment_size: size(a.tot_export_segment_size),
            attr_max_export_segments: a.max_export_segments,
            attr_max_import_map_size: size(a.max_import_map_size),
            attr_tot_import_map_size: size(a.tot_import_map_size),
            attr_max_import_segments: a.max_import_segments,
        };
        // SAFETY: attr is valid for writing (caller contract), not NULL (checked).
        unsafe { attr.write(out) };
        Ok(())
    })
}
